"""Processes on this machine: free ports, readiness, stopping, and what /proc says of them.

Standard library only (``scripts/services`` runs it without a venv). Shared by the
benchmarks (bench/), the tests that start real servers (tests/fixtures/live_server.py)
and ``scripts/services``. Linux: the process facts come from /proc.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_INTERVAL_S = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool], timeout_s: float, interval_s: float = POLL_INTERVAL_S
) -> bool:
    """Poll ``check`` until it passes or ``timeout_s`` runs out; whether it passed."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


def answers_ok(url: str) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our own URL)
            return bool(resp.status == 200)
    except OSError:
        return False


def wait_until_ok(url: str, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200 (a server starting up); fail after the timeout."""
    if not wait_until(lambda: answers_ok(url), timeout_s):
        raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")


def _stat_fields(pid: int) -> list[str]:
    # Everything after the command name, which may itself contain spaces and ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return False
    return not state.startswith("Z")


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to end; whether it did."""
    return wait_until(lambda: not alive(pid), timeout_s, interval_s=0.1)


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The process that listens on TCP ``port`` (IPv4 or IPv6) here, if we may see it."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> int:
    """SIGTERM, then wait; past ``timeout_s`` SIGKILL (its whole process group when it
    leads one, so the workers of ``serve --workers N`` go too). Returns the exit status."""
    if process.poll() is None:
        process.terminate()
    return _wait_or_kill(process, timeout_s)


def stop_all(processes: Iterable[subprocess.Popen[bytes]], timeout_s: float = 30) -> None:
    """SIGTERM every process, then wait; one that outlives ``timeout_s`` is killed."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        _wait_or_kill(process, timeout_s)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process, and its process group if it leads one."""
    if process.poll() is not None:
        return
    try:
        leads_group = os.getpgid(process.pid) == process.pid
        if leads_group:
            os.killpg(process.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    process.kill()


def _wait_or_kill(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill(process)
        return process.wait()
