"""Photos through HTTP against a real server (``python -m server serve``, real services).

Two measurements, both run by ``bench/media.py`` (or this on its own):

- ``AnswerClock``: one upload at a time, as a student's phone does it; the time from
  sending ``POST /api/v1/media`` (``purpose=checkin``) to having read its answer. The
  caller interleaves these with the in-process Pillow baseline, so both see the same
  machine at the same moment.
- ``run_http_benchmark``: N concurrent uploads for D seconds: photos/s, latency
  p50/p99, the event loop's worst stall while it ran (the app's own
  ``jiangxin_event_loop_lag_max_seconds``), the peak RSS of the server and its workers.

The server gets a database and a Redis prefix of its own, dropped when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import aiohttp

from bench.common import drop_run_state, serve_command
from scripts.processes import children_of, cpu_seconds, free_port, peak_rss_mb, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


@contextlib.contextmanager
def serving(
    image_workers: int, checkout: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server of ``checkout`` (another one: ``--compare``) on a free port with
    ``image_workers``: (base URL, its process)."""
    unique = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_media_{unique}",
        "REDIS_PREFIX": f"jxbench:media:{unique}:",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "IMAGE_WORKERS": str(image_workers),
        "RATE_LIMIT_USER_PER_MINUTE": "100000",
        "MEDIA_UPLOADS_PER_USER_PER_HOUR": "1000000",
    }
    port = free_port()
    server = subprocess.Popen(serve_command(checkout, port), cwd=checkout, env=env)
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/readyz", 60)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        server.wait(timeout=60)
        asyncio.run(drop_run_state(env["MONGODB_DB"], env["REDIS_PREFIX"]))


def _form(photo: bytes, purpose: str) -> aiohttp.FormData:
    # A unique trailer makes each upload new bytes (no dedupe shortcut); the pipeline
    # still decodes every pixel, and the trailer never reaches a variant.
    form = aiohttp.FormData()
    data = photo + uuid.uuid4().bytes
    form.add_field("file", io.BytesIO(data), filename="p.jpg", content_type="image/jpeg")
    form.add_field("purpose", purpose)
    return form


async def _sign_in(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with session.post(base + "/api/v1/auth/wechat", json={"code": "dev:bench"}) as r:
        token = (await r.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _upload(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], photo: bytes, purpose: str
) -> float:
    """Seconds from sending one upload to having read its 201 answer."""
    form = _form(photo, purpose)
    started = time.perf_counter()
    async with session.post(base + "/api/v1/media", data=form, headers=headers) as r:
        await r.read()
        if r.status != 201:
            raise RuntimeError(f"upload failed: {r.status}")
    return time.perf_counter() - started


class AnswerClock:
    """One client uploading one photo at a time to ``base`` (check-in photos), served
    by process ``pid`` (whose CPU time, and its image workers', ``server_cpu_ms`` reads)."""

    def __init__(self, base: str, pid: int) -> None:
        self.base = base
        self.pid = pid
        self.loop = asyncio.new_event_loop()
        self.session = self.loop.run_until_complete(self._open())
        self.headers = self.loop.run_until_complete(_sign_in(self.session, base))

    async def _open(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def upload_ms(self, photo: bytes) -> float:
        """Milliseconds until one upload of ``photo`` is answered."""
        coro = _upload(self.session, self.base, self.headers, photo, "checkin")
        return self.loop.run_until_complete(coro) * 1000

    def server_cpu_ms(self) -> float:
        """CPU milliseconds the server and its child processes have used so far (the
        kernel counts in ticks of 10 ms: take differences over many uploads)."""
        pids = [self.pid, *children_of(self.pid)]
        return 1000 * sum(cpu_seconds(pid) for pid in pids)

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.close()


async def _load(base: str, photo: bytes, concurrency: int, duration: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        headers = await _sign_in(session, base)
        stop = time.perf_counter() + duration

        async def worker() -> None:
            while time.perf_counter() < stop:
                latencies.append(await _upload(session, base, headers, photo, "checkin"))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def run_http_benchmark(
    photo: bytes, concurrency: int = 8, duration: float = 20.0, label: str = "12 MP"
) -> None:
    workers = int(os.environ.get("IMAGE_WORKERS", "2"))
    with serving(workers) as (base, server):
        asyncio.run(_load(base, photo, 2, 2.0))  # warm-up: workers spawned, imports done
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:  # noqa: S310
            lag_before = _metric(resp.read().decode(), "jiangxin_event_loop_lag_max_seconds")
        latencies = asyncio.run(_load(base, photo, concurrency, duration))
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:  # noqa: S310
            lag_after = _metric(resp.read().decode(), "jiangxin_event_loop_lag_max_seconds")
        server_rss = peak_rss_mb(server.pid)
        worker_rss = [peak_rss_mb(pid) for pid in children_of(server.pid)]
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\nThrough HTTP: {concurrency} concurrent {label} uploads for {duration:.0f} s "
        f"({workers} image workers)"
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
