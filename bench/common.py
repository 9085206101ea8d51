"""Load generation for the benchmarks (wrk, or our Python client; callgrind counts).

The process helpers (free port, readiness, CPU time, RSS) are in scripts/processes.py,
shared with the tests.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from redis.asyncio import Redis

from config.settings import Settings
from scripts.processes import cpu_seconds, listening_pid, stop_all, wait_until, wait_until_ok
from server.contexts import mongo_client


class LoadGenerator(Protocol):
    """(url, seconds, connections, a bearer token or "") -> (req/s, p99 latency in ms)"""

    def __call__(
        self, url: str, duration: int, connections: int, bearer: str = ""
    ) -> tuple[float, float]: ...


def pinned(core: int) -> list[str]:
    """A command prefix that runs on one CPU core (taskset), when the machine has it."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() else []


def database_pid(uri: str) -> int | None:
    """The database server's process, when it listens here (its CPU is reported)."""
    port = urlsplit(uri.split(",")[0]).port or 27017
    return listening_pid(port)


def cpu_of(pids: list[int | None]) -> float:
    """User + system CPU seconds of these processes so far (None: not here, not counted)."""
    return sum(cpu_seconds(pid) for pid in pids if pid is not None)


async def drop_run_state(database: str, redis_prefix: str) -> None:
    """Forget a run: its MongoDB database and its Redis keys (job queue included)."""
    settings = Settings(app_env="development", mongodb_db=database, redis_prefix=redis_prefix)
    client = mongo_client(settings)
    try:
        await client.drop_database(database)
    finally:
        await client.close()
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=redis_prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def _bearer_header(bearer: str) -> list[str]:
    return ["-H", f"Authorization: Bearer {bearer}"] if bearer else []


def run_wrk(url: str, duration: int, connections: int, bearer: str = "") -> tuple[float, float]:
    command = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    out = subprocess.run(
        [*command, *_bearer_header(bearer), url], capture_output=True, text=True, check=True
    ).stdout
    return _parse_wrk(out)


def _parse_wrk(out: str) -> tuple[float, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_match = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float(p99_match.group(1)) * scale[p99_match.group(2)] if p99_match else float("nan")
    return rps, p99


def run_python_load(
    url: str, duration: int, connections: int, bearer: str = ""
) -> tuple[float, float]:
    """Fallback when wrk is missing: aiohttp client, keep-alive, ``connections`` workers."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    code = f"""
import asyncio, time, aiohttp
async def main():
    lat = []
    stop = time.perf_counter() + {duration}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit={connections})) as s:
        async def worker():
            while time.perf_counter() < stop:
                t = time.perf_counter()
                async with s.get({url!r}, headers={headers!r}) as r:
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


_CLIENT = """
import asyncio, sys, aiohttp
async def main(url, n, connections, bearer=""):
    headers = {"Authorization": "Bearer " + bearer} if bearer else {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as s:
        async def one():
            async with s.get(url, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
        await asyncio.gather(*(one() for _ in range(n)))
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]))
"""


ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"


def peer_commands(port: dict[str, int], modes: tuple[str, ...]) -> dict[str, list[str]]:
    """The peers that can run here (bench/peers/), ``<peer>_<mode>`` for each of ``modes``
    (the feed: ``redis``, ``bytes``; the middleware bench: ``bytes``), listening on
    ``port[name]``; says why one cannot."""
    commands: dict[str, list[str]] = {}
    if all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn", "httptools")):
        for mode in modes:
            commands[f"fastapi_{mode}"] = [
                sys.executable, "-m", "uvicorn", "bench.peers.fastapi_peer:app",
                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--port", str(port[f"fastapi_{mode}"]),
            ]  # fmt: skip
    else:
        print("FastAPI peer skipped: its packages are missing (pip install -e '.[dev]')")
    fastify = PEERS / "fastify"
    if not shutil.which("node") or not shutil.which("npm"):
        print("Fastify peer skipped: Node and npm are not installed")
        return commands
    if not (fastify / "node_modules").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                              cwd=fastify, capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            print(f"Fastify peer skipped: npm ci failed ({done.stderr.strip()[-200:]})")
            return commands
    for mode in modes:
        commands[f"fastify_{mode}"] = ["node", str(fastify / "server.js"),
                                       str(port[f"fastify_{mode}"])]  # fmt: skip
    return commands


def serve_command(checkout: Path, port: int) -> list[str]:
    """``python -m server serve`` of ``checkout``: this one's Python, or another checkout's
    ``.venv`` (``--compare``: an older commit served in the same run)."""
    python = checkout / ".venv" / "bin" / "python" if checkout != ROOT else Path(sys.executable)
    return [str(python), "-m", "server", "serve", "--port", str(port)]


def compare_checkout(path: Path | None) -> Path | None:
    """``--compare DIR`` resolved, or exit with why it cannot be served."""
    if path is None:
        return None
    path = path.resolve()
    if not (path / ".venv" / "bin" / "python").exists():
        sys.exit(f"--compare {path}: no .venv there (run `make install` in it)")
    return path


def instructions_per_request(
    command: list[str],
    url: str,
    env: dict[str, str],
    requests: int = 2000,
    cwd: Path | None = None,
    bearer: str = "",
) -> float:
    """CPU instructions a server spends per request of ``url``, counted by valgrind's
    callgrind: unlike seconds, the count does not move with what else the machine does.
    The server runs ``command`` (listening where ``url`` points); counting starts after
    a warm-up and covers exactly ``requests`` requests (16 at a time)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", *command],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ok(url, timeout_s=600)  # everything runs ~50x slower under valgrind
            client = [sys.executable, "-c", _CLIENT, url]
            tail = [bearer] if bearer else []
            subprocess.run([*client, "300", "16", *tail], check=True)
            subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            subprocess.run([*client, str(requests), "16", *tail], check=True)
            subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            dump = Path(f"{tmp}/out.1")
            wait_until(lambda: dump.exists() and "summary:" in dump.read_text(), timeout_s=10)
            total = next(
                int(line.split()[1])
                for line in dump.read_text().splitlines()
                if line.startswith("summary:")
            )
        finally:
            stop_all([server], timeout_s=120)
    return total / requests
