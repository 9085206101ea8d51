"""What our middleware stack costs: the same small JSON served bare and through the app.

Both servers run as single processes pinned to one core; the load generator (wrk from
Debian's packages, or our Python fallback) runs on the other. Rounds alternate bare /
ours so drift hits both alike. Prints req/s, p99 and the ratio (goal: >= 0.85).

    make bench            # or: python bench/overhead.py --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from statistics import median

from bench.common import load_generator, pinned
from scripts.processes import cpu_seconds, free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
BARE_SERVER = """
from aiohttp import web

BODY = b'{"status":"ok"}'

async def healthz(request):
    return web.Response(body=BODY, content_type="application/json")

app = web.Application()
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), print=None,
            access_log=None)
"""


def start_bare(port: int, script: Path, variant: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*pinned(0), sys.executable, str(script), str(port), variant],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_ours(port: int, log_file: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_{uuid.uuid4().hex[:8]}",
        "REDIS_PREFIX": f"jxbench:{uuid.uuid4().hex[:8]}:",
        "LOG_LEVEL": "INFO",
        "ACCESS_LOG": "true",  # as in production: one JSON line per request
    }
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [*pinned(0), sys.executable, "-m", "server", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    load, tool = load_generator()

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE_SERVER)
        ports = {name: free_port() for name in ("bare", "floor", "ours")}
        servers = {
            "bare": start_bare(ports["bare"], script, "bare"),
            "floor": start_bare(ports["floor"], script, "floor"),
            "ours": start_ours(ports["ours"], Path(tmp) / "ours.log"),
        }
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in servers}
        try:
            urls = {name: f"http://127.0.0.1:{port}/healthz" for name, port in ports.items()}
            for url in urls.values():
                wait_until_ok(url)
                load(url, 2, args.connections)  # warm-up
            for _ in range(args.rounds):
                for name, url in urls.items():
                    cpu_before = cpu_seconds(servers[name].pid)
                    rps, p99 = load(url, args.duration, args.connections)
                    cpu_us = (cpu_seconds(servers[name].pid) - cpu_before) * 1e6
                    runs[name].append((rps, p99, cpu_us / (rps * args.duration)))
            log_lines = sum(1 for _ in (Path(tmp) / "ours.log").open())
        finally:
            stop_all(servers.values())

    summary = {
        name: tuple(median(run[i] for run in results) for i in range(3))
        for name, results in runs.items()
    }
    labels = {
        "bare": "bare aiohttp handler",
        "floor": "aiohttp + 1 empty middleware + 1 hook",
        "ours": "jiangxin full stack",
    }
    print(f"load: {tool}, {args.connections} connections, {args.rounds} x {args.duration}s each")
    print(f"{'server':40} {'req/s':>9} {'p99 ms':>8} {'CPU us/req':>11}")
    for name, (rps, p99, cpu) in summary.items():
        print(f"{labels[name]:40} {rps:9.0f} {p99:8.2f} {cpu:11.1f}")
    ratio = summary["ours"][0] / summary["bare"][0]
    print(f"ratio ours / bare  (req/s): {ratio:.2f}   (goal >= 0.85)")
    print(f"ratio ours / floor (req/s): {summary['ours'][0] / summary['floor'][0]:.2f}")
    print(f"access-log lines written by ours: {log_lines}")


if __name__ == "__main__":
    main()
