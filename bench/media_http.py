"""Photos through HTTP: N concurrent 12 MP uploads against a real server for D seconds.

Prints photos/s, latency p50/p99, the event loop's worst stall while it ran (the app's
own ``jiangxin_event_loop_lag_max_seconds``) and the peak RSS of the server process
and of each image worker. Run by ``bench/media.py`` (or on its own).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from statistics import median

import aiohttp

from scripts.processes import children_of, free_port, peak_rss_mb, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


async def _load(base: str, photo: bytes, concurrency: int, duration: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/api/v1/auth/wechat", json={"code": "dev:bench"}) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        stop = time.perf_counter() + duration

        async def worker(index: int) -> None:
            count = 0
            while time.perf_counter() < stop:
                count += 1
                # A unique trailer makes each upload new bytes (no dedup shortcut);
                # the pipeline still decodes every pixel.
                data = photo + f"{index}-{count}-{uuid.uuid4()}".encode()
                form = aiohttp.FormData()
                form.add_field(
                    "file", io.BytesIO(data), filename="p.jpg", content_type="image/jpeg"
                )
                started = time.perf_counter()
                async with session.post(base + "/api/v1/media", data=form, headers=headers) as r:
                    await r.read()
                    if r.status != 201:
                        raise RuntimeError(f"upload failed: {r.status}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies


def run_http_benchmark(photo: bytes, concurrency: int = 8, duration: float = 20.0) -> None:
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_media_{uuid.uuid4().hex[:8]}",
        "REDIS_PREFIX": f"jxbench:{uuid.uuid4().hex[:8]}:",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "IMAGE_WORKERS": os.environ.get("IMAGE_WORKERS", "2"),
        "RATE_LIMIT_USER_PER_MINUTE": "100000",
        "MEDIA_UPLOADS_PER_USER_PER_HOUR": "1000000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(base + "/readyz")
        asyncio.run(_load(base, photo, 2, 2.0))  # warm-up: workers spawned, imports done
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:  # noqa: S310
            lag_before = _metric(resp.read().decode(), "jiangxin_event_loop_lag_max_seconds")
        latencies = asyncio.run(_load(base, photo, concurrency, duration))
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:  # noqa: S310
            lag_after = _metric(resp.read().decode(), "jiangxin_event_loop_lag_max_seconds")
        server_rss = peak_rss_mb(server.pid)
        worker_rss = [peak_rss_mb(pid) for pid in children_of(server.pid)]
    finally:
        server.terminate()
        server.wait(timeout=60)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\nThrough HTTP: {concurrency} concurrent 12 MP uploads for {duration:.0f} s "
        f"({env['IMAGE_WORKERS']} image workers)"
    )
    print(f"  photos/s            {len(latencies) / duration:8.2f}")
    print(f"  latency p50 / p99   {median(latencies) * 1000:8.0f} / {p99 * 1000:.0f} ms")
    print(f"  worst loop stall    {max(lag_before, lag_after) * 1000:8.1f} ms   (goal < 20 ms)")
    print(f"  peak RSS server     {server_rss:8.0f} MB   (goal < 300 MB)")
    for pid_rss in worker_rss:
        print(f"  peak RSS worker     {pid_rss:8.0f} MB   (goal < 300 MB)")


def main() -> None:
    from bench.media import camera_jpeg  # the same generated 12 MP photo

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    run_http_benchmark(camera_jpeg(), args.concurrency, args.duration)


if __name__ == "__main__":
    main()
