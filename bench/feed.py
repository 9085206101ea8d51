"""The story feed: ``GET /api/v1/stories`` (20 items) cached, uncached, and bare aiohttp.

One run: a database seeded with the demo content plus enough stories for 20 items; our
server with the Redis feed cache, the same server with the cache off (MongoDB every
time), and a bare aiohttp handler returning the very same bytes; then a signed-in reader
(who liked a story, long enough ago) on the feed and that story, against the same
answers asked anonymously. Each is pinned to one
core, wrk (64 connections) to the other. Prints req/s, p99 and CPU per request at
saturation and the ratio (goal: cached / bare >= 0.75 and p99 < 10 ms), then the p99 of
bare and cached at a steady load below saturation (``--steady-rate``). ``--compare DIR``
also serves the same database from another checkout (with its own ``.venv``), e.g. an
older commit, in the same run.

    make bench-feed       # or: python -m bench.feed --duration 10
    python -m bench.feed --instructions --compare /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from statistics import median

from redis import Redis

from bench.common import (
    compare_checkout,
    instructions_per_request,
    load_generator,
    peer_commands,
    pinned,
    run_wrk_paced,
    serve_command,
)
from scripts.processes import cpu_seconds, free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
# On the event loop ours runs on (EVENT_LOOP=auto: uvloop where it imports).
BARE = """
import sys
from aiohttp import web
from server.loop import loop_factory
BODY = open(sys.argv[2], "rb").read()
async def stories(request):
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/stories", stories)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
            loop=loop_factory("auto")[1]())
"""


PEER_NAMES = ("fastapi_redis", "fastapi_bytes", "fastify_redis", "fastify_bytes")


def _call(base: str, method: str, path: str, body: object = None, token: str = "") -> object:
    request = urllib.request.Request(  # noqa: S310 (our own server)
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def _serve(env: dict[str, str], port: int, checkout: Path = ROOT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*pinned(0), *serve_command(checkout, port)],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _fill_feed(base: str, total: int) -> None:
    def token(username: str) -> str:
        tokens = _call(base, "POST", "/api/v1/auth/login",
                       {"username": username, "password": "jiangxin-demo"})  # fmt: skip
        return str(tokens["access_token"])  # type: ignore[index]

    editor, reviewer = token("editor"), token("reviewer")
    have = len(_call(base, "GET", "/api/v1/stories?limit=50")["items"])  # type: ignore[index]
    for i in range(max(0, total - have)):
        draft = {
            "title": f"【示例】基准测试稿件 {i}",
            "summary": "用于测量信息流的示例稿件。",
            "body_markdown": "> 本文为演示内容。\n\n正文。" * 5,
            "category": "frontline_worker",
            "tags": ["基准"],
        }
        story = _call(base, "POST", "/api/v1/admin/stories", draft, editor)
        sid = story["id"]  # type: ignore[index]
        submitted = _call(base, "POST", f"/api/v1/admin/stories/{sid}/submit", None, editor)
        revision = submitted["revision"]  # type: ignore[index]
        _call(base, "POST", f"/api/v1/admin/stories/{sid}/publish", {"revision": revision},
              reviewer)  # fmt: skip


def _reader(base: str) -> tuple[str, str]:
    """A resident who liked the feed's first story (a real flag to merge): their access
    token and that story's id."""
    tokens = _call(base, "POST", "/api/v1/auth/wechat", {"code": "dev:bench-reader"})
    token = str(tokens["access_token"])  # type: ignore[index]
    story_id = str(_call(base, "GET", "/api/v1/stories?limit=1")["items"][0]["id"])  # type: ignore[index]
    _call(base, "POST", f"/api/v1/stories/{story_id}/like", None, token)
    return token, story_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count CPU instructions per request under valgrind (slow, but noise-free)",
    )
    parser.add_argument(
        "--steady-rate", type=int, default=2000, help="req/s of the paced p99 run (0: skip)"
    )
    parser.add_argument(
        "--compare", type=Path, help="also serve this checkout (its .venv) in the same run"
    )
    args = parser.parse_args()
    compare = compare_checkout(args.compare)
    load, tool = load_generator()
    unique = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_feed_{unique}",
        "REDIS_PREFIX": f"jxbench:feed:{unique}:",
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_TTL_S": "86400",  # the reader's token outlives the run
        "RATE_LIMIT_IP_PER_MINUTE": "100000000",
        "RATE_LIMIT_USER_PER_MINUTE": "100000000",
    }
    for command in (["tools.demo_art"], ["server", "seed"]):  # the seed uploads the art
        subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    names = ["bare", "cached", "uncached"] + (["compare"] if compare else [])
    ports = {name: free_port() for name in names}
    # The other checkout shares the database, not the cache (its keys may differ).
    compare_env = {**env, "REDIS_PREFIX": f"jxbench:feed:{unique}:compare:"}
    servers = {
        "cached": _serve(env, ports["cached"]),
        "uncached": _serve({**env, "FEED_CACHE_TTL_S": "0"}, ports["uncached"]),
    }
    if compare is not None:
        servers["compare"] = _serve(compare_env, ports["compare"], compare)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            urls = {name: f"http://127.0.0.1:{port}/api/v1/stories?limit=20"
                    for name, port in ports.items()}  # fmt: skip
            wait_until_ok(f"http://127.0.0.1:{ports['cached']}/readyz")
            wait_until_ok(f"http://127.0.0.1:{ports['uncached']}/readyz")
            if compare is not None:
                wait_until_ok(f"http://127.0.0.1:{ports['compare']}/readyz")
            _fill_feed(f"http://127.0.0.1:{ports['cached']}", 20)
            bearer, story_id = _reader(f"http://127.0.0.1:{ports['cached']}")
            with urllib.request.urlopen(urls["cached"], timeout=10) as resp:  # noqa: S310
                body = resp.read()
            items = len(json.loads(body)["items"])
            (Path(tmp) / "bare.py").write_text(BARE)
            (Path(tmp) / "body.json").write_bytes(body)
            servers["bare"] = subprocess.Popen(
                [*pinned(0), sys.executable, str(Path(tmp) / "bare.py"), str(ports["bare"]),
                 str(Path(tmp) / "body.json")],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            wait_until_ok(urls["bare"])
            # The peers read the very page ours answered, from the same Redis.
            peer_key = env["REDIS_PREFIX"] + "peer-page"
            Redis.from_url(env["REDIS_URL"]).set(peer_key, body)
            peer_ports = {name: free_port() for name in PEER_NAMES}
            for name, command in peer_commands(peer_ports, ("redis", "bytes")).items():
                mode = name.rsplit("_", 1)[1]
                servers[name] = subprocess.Popen(
                    [*pinned(0), *command], cwd=ROOT,
                    env={**env, "PEER_KEY": peer_key, "PEER_MODE": mode},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                urls[name] = f"http://127.0.0.1:{peer_ports[name]}/api/v1/stories?limit=20"
                wait_until_ok(urls[name])
            # The reader's rows last, on the cached server: by then the stamp of their like
            # (server/recent_writes.py, 30 s) has gone, as it has for most readers.
            cached_base = f"http://127.0.0.1:{ports['cached']}/api/v1"
            urls["feed_signed_in"] = urls["cached"]
            urls["story_anonymous"] = f"{cached_base}/stories/{story_id}"
            urls["story_signed_in"] = f"{cached_base}/stories/{story_id}"
            signed_in = {"feed_signed_in", "story_signed_in"}
            server_of = {name: servers[name if name in servers else "cached"] for name in urls}
            for name, url in urls.items():
                load(url, 2, args.connections, bearer if name in signed_in else "")  # warm-up
            runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    pid = server_of[name].pid
                    cpu_before = cpu_seconds(pid)
                    token = bearer if name in signed_in else ""
                    rps, p99 = load(url, args.duration, args.connections, token)
                    cpu_us = (cpu_seconds(pid) - cpu_before) * 1e6
                    runs[name].append((rps, p99, cpu_us / (rps * args.duration)))
            steady = {
                name: run_wrk_paced(urls[name], args.steady_rate, 10, args.connections)
                for name in ("bare", "cached")
                if args.steady_rate and tool == "wrk"
            }
            instructions = {}
            if args.instructions and not shutil.which("valgrind"):
                print("--instructions needs valgrind (Debian's package): skipped")
            elif args.instructions:
                port = free_port()
                url = f"http://127.0.0.1:{port}/api/v1/stories?limit=20"
                commands = {
                    "bare": [sys.executable, str(Path(tmp) / "bare.py"), str(port),
                             str(Path(tmp) / "body.json")],
                    "cached": serve_command(ROOT, port),
                }  # fmt: skip
                if compare is not None:
                    commands["compare"] = serve_command(compare, port)
                for name, command in commands.items():
                    instructions[name] = instructions_per_request(
                        command, url, compare_env if name == "compare" else env,
                        cwd=compare if name == "compare" else ROOT,
                    )  # fmt: skip
                story_url = f"http://127.0.0.1:{port}/api/v1/stories/{story_id}"
                for name, (path, token) in {
                    "feed_signed_in": (url, bearer),
                    "story_anonymous": (story_url, ""),
                    "story_signed_in": (story_url, bearer),
                }.items():
                    instructions[name] = instructions_per_request(
                        commands["cached"], path, env, cwd=ROOT, bearer=token
                    )
        finally:
            stop_all(servers.values())
    labels = {
        "bare": "bare aiohttp, same bytes",
        "fastapi_redis": "FastAPI/uvicorn, page from Redis",
        "fastapi_bytes": "FastAPI/uvicorn, same bytes",
        "fastify_redis": "Fastify/Node, page from Redis",
        "fastify_bytes": "Fastify/Node, same bytes",
        "cached": "jiangxin, Redis feed cache",
        "uncached": "jiangxin, MongoDB every time",
        "compare": f"jiangxin at {compare.name if compare else ''}, feed cache",
        "feed_signed_in": "jiangxin, feed, signed-in reader",
        "story_anonymous": "jiangxin, one story, anonymous",
        "story_signed_in": "jiangxin, one story, signed in",
    }
    print(f"GET /api/v1/stories ({items} items, {len(body)} bytes), {tool}, "
          f"{args.connections} connections, {args.rounds} x {args.duration}s")  # fmt: skip
    summary = {
        name: tuple(median(run[i] for run in results) for i in range(3))
        for name, results in runs.items()
    }
    for name, (rps, p99, cpu) in summary.items():
        print(f"  {labels[name]:32} {rps:9.0f} req/s   p99 {p99:6.2f} ms   {cpu:6.1f} us CPU/req")
    ratio = summary["cached"][0] / summary["bare"][0]
    print(f"  cached / bare  {ratio:.2f}   (goal >= 0.75);  cached p99 "
          f"{summary['cached'][1]:.2f} ms (goal < 10 ms)")  # fmt: skip
    print(f"  cached / uncached  {summary['cached'][0] / summary['uncached'][0]:.1f}x")
    print(f"  cached p99 / bare p99  {summary['cached'][1] / summary['bare'][1]:.2f}"
          "   (goal <= 1.2)")  # fmt: skip
    for peer, goal in (("fastify_redis", "   (goal >= 1.0)"), ("fastify_bytes", ""),
                       ("fastapi_redis", ""), ("fastapi_bytes", "")):  # fmt: skip
        if peer in summary:
            print(f"  cached / {labels[peer]}  {summary['cached'][0] / summary[peer][0]:.2f}{goal}")
    for reader, anonymous in (("feed_signed_in", "cached"), ("story_signed_in", "story_anonymous")):
        print(f"  {labels[reader]} / anonymous  "
              f"{summary[reader][0] / summary[anonymous][0]:.2f}   (goal >= 0.6)")  # fmt: skip
    if compare is not None:
        print(f"  {compare.name} cached / bare  {summary['compare'][0] / summary['bare'][0]:.2f}"
              "   (the same run, the base)")  # fmt: skip
    if instructions:
        for name, count in instructions.items():
            print(f"  {labels[name]:32} {count / 1000:9.0f} k instructions/request (callgrind)")
        ratio = instructions["bare"] / instructions["cached"]
        print(f"  instructions bare / cached  {ratio:.2f}  (the noise-free form of the ratio)")
        for reader, anonymous in (("feed_signed_in", "cached"),
                                  ("story_signed_in", "story_anonymous")):  # fmt: skip
            ratio = instructions[anonymous] / instructions[reader]
            print(f"  instructions {anonymous} / {reader}  {ratio:.2f}  (goal >= 0.6)")
        if "compare" in instructions:
            base = instructions["bare"] / instructions["compare"]
            print(f"  instructions bare / {compare.name if compare else ''}  {base:.2f}")
    for name, (rps, p99) in steady.items():
        print(
            f"  {labels[name]:32} {rps:9.0f} req/s   p99 {p99:6.2f} ms   (paced, below saturation)"
        )


if __name__ == "__main__":
    main()
