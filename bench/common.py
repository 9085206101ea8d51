"""Process helpers shared by the benchmarks and the tests that start real servers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

# (url, seconds, connections) -> (requests per second, p99 latency in ms)
LoadGenerator = Callable[[str, int, int], tuple[float, float]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ok(url: str, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200 (a server starting up); fail after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our own URL)
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")


def _stat_fields(pid: int) -> list[str]:
    # Everything after the command name, which may itself contain spaces and ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
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


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pinned(core: int) -> list[str]:
    """A command prefix that runs on one CPU core (taskset), when the machine has it."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() else []


def run_wrk(url: str, duration: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return _parse_wrk(out)


def _parse_wrk(out: str) -> tuple[float, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_match = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float(p99_match.group(1)) * scale[p99_match.group(2)] if p99_match else float("nan")
    return rps, p99


def run_python_load(url: str, duration: int, connections: int) -> tuple[float, float]:
    """Fallback when wrk is missing: aiohttp client, keep-alive, ``connections`` workers."""
    code = f"""
import asyncio, time, aiohttp
async def main():
    lat = []
    stop = time.perf_counter() + {duration}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit={connections})) as s:
        async def worker():
            while time.perf_counter() < stop:
                t = time.perf_counter()
                async with s.get({url!r}) as r:
                    await r.read()
                lat.append(time.perf_counter() - t)
        await asyncio.gather(*(worker() for _ in range({connections})))
    lat.sort()
    print(len(lat) / {duration}, lat[int(len(lat) * 0.99)] * 1000)
asyncio.run(main())
"""
    out = subprocess.run(
        [*pinned(1), sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def run_wrk_paced(url: str, rate: int, duration: int, connections: int) -> tuple[float, float]:
    """wrk below saturation: each connection waits between requests so that together they
    send about ``rate`` per second (wrk's ``delay()``; the wait is not counted as latency).
    Returns (req/s, p99 ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"function delay() return {connections * 1000 // rate} end\n")
    try:
        out = subprocess.run(
            [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
             "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    return _parse_wrk(out)


def load_generator() -> tuple[LoadGenerator, str]:
    """wrk (Debian's package) when installed, else our slower Python client; and its name."""
    if shutil.which("wrk"):
        return run_wrk, "wrk"
    return run_python_load, "python aiohttp client (install wrk for higher loads)"


def stop_all(processes: Iterable[subprocess.Popen[bytes]], timeout_s: float = 30) -> None:
    """SIGTERM every process, then wait; one that outlives ``timeout_s`` is killed."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_CLIENT = """
import asyncio, sys, aiohttp
async def main(url, n, connections):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as s:
        async def one():
            async with s.get(url) as r:
                await r.read()
                assert r.status == 200, r.status
        await asyncio.gather(*(one() for _ in range(n)))
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def instructions_per_request(
    command: list[str], url: str, env: dict[str, str], requests: int = 2000
) -> float:
    """CPU instructions a server spends per request of ``url``, counted by valgrind's
    callgrind: unlike seconds, the count does not move with what else the machine does.
    The server runs ``command`` (listening where ``url`` points); counting starts after
    a warm-up and covers exactly ``requests`` requests (16 at a time)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ok(url, timeout_s=600)  # everything runs ~50x slower under valgrind
            client = [sys.executable, "-c", _CLIENT, url]
            subprocess.run([*client, "300", "16"], check=True)
            subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            subprocess.run([*client, str(requests), "16"], check=True)
            subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            dump = Path(f"{tmp}/out.1")
            for _ in range(100):
                if dump.exists() and "summary:" in dump.read_text():
                    break
                time.sleep(0.1)
            total = next(
                int(line.split()[1])
                for line in dump.read_text().splitlines()
                if line.startswith("summary:")
            )
        finally:
            stop_all([server], timeout_s=120)
    return total / requests
