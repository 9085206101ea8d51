"""Check-ins: ``POST /api/v1/tasks/{id}/checkins`` from 100 concurrent students, each with
a photo uploaded beforehand, against the raw insert ceiling of the same documents.

One run: a fresh database; our server (pinned to one core) with a school, a class of
``--students`` who joined with a guardian's consent, ``--tasks`` daily tasks that need a
photo and one distinct photo per student and task, all made through the API first.
Then every student checks in to every task, ``--students`` requests in flight (each
with its ``Idempotency-Key``, as the mini-program sends it), timed from this process
(pinned to the other core). Then the very documents those requests wrote are inserted
again, one ``insert_one`` each with as many in flight, straight through PyMongo into a
collection with the same indexes: the most MongoDB takes. Prints both rates, the ratio
(goal >= 0.5) and the p99 of each.

    make bench-checkins       # or: python -m bench.checkins --students 100 --tasks 10
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageDraw
from pymongo import AsyncMongoClient

from bench.common import cpu_of, database_pid, drop_run_state, pinned
from scripts.processes import free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-8305-1947-2261"  # noqa: S105 (a throwaway staff account of the run)


def photo(seed: int, size: tuple[int, int] = (480, 640)) -> bytes:
    """A distinct picture per seed (so no two photos share a perceptual hash)."""
    rnd = random.Random(seed)
    im = Image.linear_gradient("L").resize(size).rotate(rnd.randint(0, 360)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y, r = rnd.randint(0, size[0]), rnd.randint(0, size[1]), rnd.randint(20, 160)
        fill = (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
        draw.rectangle((x - r, y - r, x + r, y + r), fill=fill)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(self, method: str, path: str, token: str = "", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + "/api/v1" + path, headers=headers, **kwargs
        ) as resp:
            body = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {body}")
            return body

    async def login(self, username: str) -> str:
        body = await self.call("POST", "/auth/login",
                               json={"username": username, "password": PASSWORD})  # fmt: skip
        return str(body["access_token"])


async def set_up(api: Api, students: int, tasks: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """The school, class, tasks and students; each student's token and (task, photo)s."""
    admin, teacher = await api.login("bench-admin"), await api.login("bench-teacher")
    school = await api.call("POST", "/admin/schools", admin,
                            json={"name": "株洲市基准测试小学", "district": "天元区"})  # fmt: skip
    me = await api.call("GET", "/me", teacher)
    await api.call("POST", f"/admin/schools/{school['id']}/teachers", admin,
                   json={"user_id": me["id"]})  # fmt: skip
    klass = await api.call(
        "POST", "/classes", teacher,
        json={"school_id": school["id"], "name": "六年级（1）班", "grade": 6},
    )  # fmt: skip
    today = date.today()
    task_ids = []
    for n in range(tasks):
        task = await api.call("POST", "/tasks", teacher, json={
            "title": f"每日劳动 {n + 1}",
            "category": ("daily_life", "productive", "service")[n % 3],
            "class_ids": [klass["id"]], "start_date": (today - timedelta(days=1)).isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat(), "frequency": "daily",
            "hours": 0.5, "photo_required": True,
        })  # fmt: skip
        task_ids.append(task["id"])
    consent = await api.call("GET", "/consent/guardian")

    async def student(n: int) -> tuple[str, list[tuple[str, str]]]:
        signed = await api.call("POST", "/auth/wechat", json={"code": f"dev:bench-student-{n}"})
        token = signed["access_token"]
        await api.call("POST", "/classes/join", token, json={
            "join_code": klass["join_code"], "student_name": f"学生{n:03d}",
            "guardian_consent": {"guardian_name": "家长", "relationship": "mother",
                                 "version": consent["version"]},
        })  # fmt: skip
        pairs = []
        for index, task_id in enumerate(task_ids):
            form = aiohttp.FormData()
            form.add_field("purpose", "checkin")
            form.add_field("file", io.BytesIO(photo(n * 1000 + index)), filename="p.jpg",
                           content_type="image/jpeg")  # fmt: skip
            media = await api.call("POST", "/media", token, data=form)
            pairs.append((task_id, str(media["id"])))
        return token, pairs

    jobs: list[Callable[[], Awaitable[Any]]] = [
        functools.partial(student, n) for n in range(students)
    ]
    return await gather_limited(jobs, 8)


async def check_in_all(
    api: Api, plan: list[tuple[str, list[tuple[str, str]]]]
) -> tuple[float, list[float]]:
    """Every student checks in to every task, all students at once; (seconds, latencies)."""
    latencies: list[float] = []

    async def student(token: str, pairs: list[tuple[str, str]]) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        for task_id, media_id in pairs:
            headers["Idempotency-Key"] = uuid.uuid4().hex
            started = time.perf_counter()
            async with api.session.post(
                f"{api.base}/api/v1/tasks/{task_id}/checkins",
                json={"media_ids": [media_id]}, headers=headers,
            ) as resp:  # fmt: skip
                await resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"check-in: {resp.status} {await resp.text()}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(student(token, pairs) for token, pairs in plan))
    return time.perf_counter() - started, latencies


async def raw_inserts(uri: str, db_name: str, concurrency: int) -> tuple[int, float, list[float]]:
    """The check-ins the API wrote, inserted again one by one into a collection with the
    same indexes, ``concurrency`` at a time; (documents, seconds, latencies)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        db = client[db_name]
        docs = [doc async for doc in db["checkins"].find({})]
        target = db["checkins_raw"]
        async for index in await db["checkins"].list_indexes():
            if index["name"] != "_id_":
                options = {k: index[k] for k in ("unique", "sparse") if k in index}
                await target.create_index(list(index["key"].items()), **options)
        queue = list(docs)
        latencies: list[float] = []

        async def worker() -> None:
            while queue:
                doc = queue.pop()
                began = time.perf_counter()
                await target.insert_one(doc)
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(docs), time.perf_counter() - started, latencies
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    unique = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_checkins_{unique}",
        "REDIS_PREFIX": f"jxbench:checkins:{unique}:",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMITS": "false",
        "IMAGE_WORKERS": "2",
    }
    uri = env.get("MONGODB_URI", "mongodb://127.0.0.1:27018/")
    for username, role in (("bench-admin", "admin"), ("bench-teacher", "teacher")):
        subprocess.run(
            [sys.executable, "-m", "server", "create-user", "--username", username,
             "--password", PASSWORD, "--role", role],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [*pinned(0), sys.executable, "-m", "server", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator on the other core
    base = f"http://127.0.0.1:{port}"

    db_pid = database_pid(uri)

    async def run() -> tuple[float, list[float], float, float]:
        connector = aiohttp.TCPConnector(limit=args.students)
        async with aiohttp.ClientSession(connector=connector) as session:
            api = Api(session, base)
            plan = await set_up(api, args.students, args.tasks)
            server_cpu, db_cpu = cpu_of([server.pid]), cpu_of([db_pid])
            seconds, latencies = await check_in_all(api, plan)
            server_cpu, db_cpu = cpu_of([server.pid]) - server_cpu, cpu_of([db_pid]) - db_cpu
            return seconds, latencies, server_cpu, db_cpu

    try:
        wait_until_ok(base + "/readyz", timeout_s=60)
        seconds, latencies, server_cpu, db_cpu = asyncio.run(run())
    finally:
        stop_all([server])
    try:
        raw_db_cpu = cpu_of([db_pid])
        count, raw_seconds, raw_latencies = asyncio.run(
            raw_inserts(uri, env["MONGODB_DB"], args.students)
        )
        raw_db_cpu = cpu_of([db_pid]) - raw_db_cpu
    finally:
        asyncio.run(drop_run_state(env["MONGODB_DB"], env["REDIS_PREFIX"]))
    http_rate, raw_rate = len(latencies) / seconds, count / raw_seconds
    print(f"POST /api/v1/tasks/{{id}}/checkins: {args.students} students at once x "
          f"{args.tasks} tasks, one photo each ({len(latencies)} check-ins)")  # fmt: skip
    print(f"  through HTTP (ours, one core)    {http_rate:8.0f} check-ins/s   "
          f"p99 {p99(latencies):7.1f} ms")  # fmt: skip
    n = len(latencies)
    db_ms = f"{db_cpu / n * 1000:.2f} ms" if db_pid else "not here"
    print(f"      CPU per check-in: server {server_cpu / n * 1000:.2f} ms, database {db_ms}")
    print(f"  raw insert_one, same documents   {raw_rate:8.0f} inserts/s     "
          f"p99 {p99(raw_latencies):7.1f} ms")  # fmt: skip
    if db_pid:
        print(f"      CPU per insert: database {raw_db_cpu / count * 1000:.2f} ms")
    print(f"  ours / raw  {http_rate / raw_rate:.2f}   (goal >= 0.5)")


if __name__ == "__main__":
    main()
