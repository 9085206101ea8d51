"""What our middleware stack costs: the same small JSON served bare and through the app.

``/healthz`` (``{"status":"ok"}``) from a bare aiohttp handler on the event loop ours runs
on, the same with one empty middleware (what aiohttp's middleware machinery costs), our
full stack, and the FastAPI (uvicorn, uvloop, httptools) and Fastify peers of
``bench/peers/`` returning the same bytes, all in one run. Each server is a single
process pinned to one core; the load generator (wrk from Debian's packages, or our Python
fallback) runs on the other. Rounds alternate between the servers so drift hits all
alike. Prints req/s, p99 and the ratios (goals: ours / bare >= 0.85, p99 <= 1.2x bare's);
``--instructions`` also counts CPU instructions per request under callgrind (noise-free);
``--compare DIR`` also serves another checkout (with its own ``.venv``), e.g. an older
commit, in the same run, so a change is judged against its base under the same load.

    make bench            # or: python -m bench.overhead --duration 10 --rounds 3
    git worktree add /tmp/base <commit> && make -C /tmp/base install
    python -m bench.overhead --instructions --compare /tmp/base
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from statistics import median

from bench.common import (
    compare_checkout,
    instructions_per_request,
    load_generator,
    peer_commands,
    pinned,
    serve_command,
)
from scripts.processes import cpu_seconds, free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
# On the event loop ours runs on (EVENT_LOOP=auto: uvloop where it imports); "floor" adds
# one empty middleware.
BARE_SERVER = """
import sys
from aiohttp import web
from server.loop import loop_factory

BODY = b'{"status":"ok"}'

async def healthz(request):
    return web.Response(body=BODY, content_type="application/json")

@web.middleware
async def empty(request, handler):
    return await handler(request)

app = web.Application(middlewares=[empty] if sys.argv[2:] == ["floor"] else [])
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
            loop=loop_factory("auto")[1]())
"""
PEER_NAMES = ("fastapi_bytes", "fastify_bytes")


def start_bare(port: int, script: Path, variant: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*pinned(0), sys.executable, str(script), str(port), variant],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ours_env() -> dict[str, str]:
    return {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_{uuid.uuid4().hex[:8]}",
        "REDIS_PREFIX": f"jxbench:{uuid.uuid4().hex[:8]}:",
        "LOG_LEVEL": "INFO",
        "ACCESS_LOG": "true",  # as in production: one JSON line per request
    }


def start_ours(port: int, log_file: Path, checkout: Path = ROOT) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [*pinned(0), *serve_command(checkout, port)],
            cwd=checkout,
            env=ours_env(),
            stdout=log,
            stderr=log,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count CPU instructions per request under valgrind (slow, but noise-free)",
    )
    parser.add_argument(
        "--compare", type=Path, help="also serve this checkout (its .venv) in the same run"
    )
    args = parser.parse_args()
    load, tool = load_generator()
    compare = compare_checkout(args.compare)

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE_SERVER)
        names = ["bare", "floor", "ours"] + (["compare"] if compare else [])
        ports = {name: free_port() for name in names}
        servers = {
            "bare": start_bare(ports["bare"], script, "bare"),
            "floor": start_bare(ports["floor"], script, "floor"),
            "ours": start_ours(ports["ours"], Path(tmp) / "ours.log"),
        }
        if compare is not None:
            servers["compare"] = start_ours(ports["compare"], Path(tmp) / "compare.log", compare)
        peer_ports = {name: free_port() for name in PEER_NAMES}
        for name, command in peer_commands(peer_ports, ("bytes",)).items():
            servers[name] = subprocess.Popen(
                [*pinned(0), *command], cwd=ROOT, env={**os.environ, "PEER_KEY": ""},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            ports[name] = peer_ports[name]
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
        instructions: dict[str, float] = {}
        if args.instructions and not shutil.which("valgrind"):
            print("--instructions needs valgrind (Debian's package): skipped")
        elif args.instructions:
            port = free_port()
            url = f"http://127.0.0.1:{port}/healthz"
            commands = {
                "bare": ([sys.executable, str(script), str(port), "bare"], ROOT),
                "floor": ([sys.executable, str(script), str(port), "floor"], ROOT),
                "ours": (serve_command(ROOT, port), ROOT),
            }
            if compare is not None:
                commands["compare"] = (serve_command(compare, port), compare)
            for name, (command, cwd) in commands.items():
                instructions[name] = instructions_per_request(command, url, ours_env(), cwd=cwd)

    summary = {
        name: tuple(median(run[i] for run in results) for i in range(3))
        for name, results in runs.items()
    }
    labels = {
        "bare": "bare aiohttp handler",
        "floor": "aiohttp + 1 empty middleware",
        "ours": "jiangxin full stack",
        "compare": f"jiangxin at {compare}",
        "fastapi_bytes": "FastAPI/uvicorn, same bytes",
        "fastify_bytes": "Fastify/Node, same bytes",
    }
    print(f"load: {tool}, {args.connections} connections, {args.rounds} x {args.duration}s each")
    print(f"{'server':40} {'req/s':>9} {'p99 ms':>8} {'CPU us/req':>11}")
    for name, (rps, p99, cpu) in summary.items():
        print(f"{labels[name]:40} {rps:9.0f} {p99:8.2f} {cpu:11.1f}")
    ratio = summary["ours"][0] / summary["bare"][0]
    print(f"ratio ours / bare  (req/s): {ratio:.2f}   (goal >= 0.85)")
    print(f"ratio ours / floor (req/s): {summary['ours'][0] / summary['floor'][0]:.2f}")
    p99 = summary["ours"][1] / summary["bare"][1]
    print(f"ratio ours / bare  (p99):   {p99:.2f}   (goal <= 1.2)")
    for peer in PEER_NAMES:
        if peer in summary:
            print(
                f"ratio ours / {labels[peer]} (req/s): {summary['ours'][0] / summary[peer][0]:.2f}"
            )
    if compare is not None:
        before = summary["compare"][0] / summary["bare"][0]
        print(f"ratio {compare.name} / bare (req/s): {before:.2f}   (the same run, the base)")
    print(f"access-log lines written by ours: {log_lines}")
    for name, count in instructions.items():
        print(f"{labels[name]:40} {count / 1000:9.1f} k instructions/request (callgrind)")
    if instructions:
        print(f"instructions bare / ours: {instructions['bare'] / instructions['ours']:.2f}")
        if "compare" in instructions:
            base = instructions["bare"] / instructions["compare"]
            print(f"instructions bare / {compare.name if compare else ''}: {base:.2f}")


if __name__ == "__main__":
    main()
