"""Sign-ups in a burst: 2,000 attempts for 200 seats over two server processes.

One run: a fresh database, two ``python -m server serve`` processes on it (sharing one
Redis), an organizer's published event with 200 seats and a waitlist, 2,000 residents
signed in first (not measured); then all 2,000 sign-ups sent at once, each with its
``Idempotency-Key``, alternating between the two processes. Prints sign-ups/s (attempts
answered per second of the burst's wall time), p50/p99 latency, the final counts (asserted:
exactly 200 confirmed, 1,800 waitlisted, the seat ledger consistent), and the same
burst as raw conditional updates straight through PyMongo on the same database server
(per attempt: the seat ``find_one_and_update``, and for those who find no seat the
waitlist ``$inc``): the ceiling one MongoDB round trip per decision allows, and our ratio
to it.

    make bench-signups      # or: python -m bench.signups --attempts 2000 --seats 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient, ReturnDocument  # noqa: TID251 (the raw ceiling)
from redis import Redis

from scripts.processes import free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = f"bench-{secrets.randbelow(10**16):016d}"  # the organizer's, this run only


def _check(condition: bool, what: object) -> None:
    if not condition:
        raise RuntimeError(f"bench: {what}")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


async def _sign_in(session: aiohttp.ClientSession, base: str, count: int) -> list[str]:
    limit = asyncio.Semaphore(32)

    async def one(i: int) -> str:
        async with (
            limit,
            session.post(f"{base}/api/v1/auth/wechat", json={"code": f"dev:bench{i}"}) as resp,
        ):
            _check(resp.status == 200, await resp.text())
            return str((await resp.json())["access_token"])

    return await asyncio.gather(*(one(i) for i in range(count)))


async def _event(session: aiohttp.ClientSession, base: str, seats: int) -> str:
    async with session.post(
        f"{base}/api/v1/auth/login", json={"username": "bench-organizer", "password": PASSWORD}
    ) as resp:
        _check(resp.status == 200, await resp.text())
        headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    starts = datetime.now(UTC) + timedelta(days=7)
    body = {
        "title": "基准测试活动", "venue_type": "community", "venue_name": "示例社区",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": seats, "waitlist_enabled": True,
    }  # fmt: skip
    async with session.post(f"{base}/api/v1/admin/events", json=body, headers=headers) as resp:
        _check(resp.status == 201, await resp.text())
        event_id = str((await resp.json())["id"])
    async with session.post(
        f"{base}/api/v1/admin/events/{event_id}/publish", headers=headers
    ) as resp:
        _check(resp.status == 200, await resp.text())
    return event_id


async def _burst(
    bases: list[str], tokens: list[str], connections: int, seats: int
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        event_id = await _event(session, bases[0], seats)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        answers: dict[str, int] = {}

        async def one(i: int, token: str) -> None:
            started = time.perf_counter()
            async with session.post(
                f"{bases[i % len(bases)]}/api/v1/events/{event_id}/signups",
                json={"name": f"居民{i}", "phone": f"138{i:08d}"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"b{i}"},
            ) as resp:
                body = await resp.json()
            latencies.append(time.perf_counter() - started)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status == 201:
                answers[body["status"]] = answers.get(body["status"], 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one(i, token) for i, token in enumerate(tokens)))
        wall = time.perf_counter() - started
    return {
        "event_id": event_id, "wall": wall, "latencies": latencies, "statuses": statuses,
        "answers": answers,
    }  # fmt: skip


async def _ledger(uri: str, db_name: str, event_id: str) -> tuple[dict[str, int], bool]:
    """The final counts from the database itself, and whether the ledger is consistent."""
    from bson import ObjectId  # noqa: TID251 (reading the result straight from MongoDB)

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        db = client[db_name]
        counts: dict[str, int] = {}
        async for doc in db["event_signups"].find({"event_id": event_id}, {"status": 1}):
            counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        event = await db["events"].find_one({"_id": ObjectId(event_id)})
        if event is None:
            return counts, False
        consistent = len(event["seats"]) == event["capacity"] - event["seats_left"]
        return counts, consistent
    finally:
        await client.close()


async def _raw_ceiling(
    uri: str, db_name: str, attempts: int, seats: int, concurrency: int
) -> tuple[float, float, int]:
    """The burst as bare conditional updates on an event document: attempts/s, p99 ms,
    seats taken."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, maxPoolSize=concurrency)
    try:
        events = client[db_name]["raw_events"]
        event_id = uuid.uuid4().hex
        await events.insert_one(
            {"_id": event_id, "status": "published", "seats_left": seats, "seats": [],
             "waitlist_seq": 0, "version": 1}
        )  # fmt: skip
        limit = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        taken = 0

        async def one(i: int) -> None:
            nonlocal taken
            async with limit:
                started = time.perf_counter()
                seat = await events.find_one_and_update(
                    {"_id": event_id, "status": "published", "seats_left": {"$gt": 0},
                     "waitlist_seq": 0, "seats.s": {"$ne": str(i)}},
                    {"$inc": {"seats_left": -1, "version": 1},
                     "$push": {"seats": {"s": str(i), "at": datetime.now(UTC), "e": None}}},
                    return_document=ReturnDocument.AFTER,
                )  # fmt: skip
                if seat is None:
                    await events.find_one_and_update(
                        {"_id": event_id, "status": "published"},
                        {"$inc": {"waitlist_seq": 1, "version": 1}},
                        return_document=ReturnDocument.AFTER,
                    )
                else:
                    taken += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(attempts)))
        wall = time.perf_counter() - started
        return attempts / wall, _percentile(latencies, 0.99), taken
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--seats", type=int, default=200)
    parser.add_argument("--connections", type=int, default=200, help="in flight at once")
    args = parser.parse_args()
    unique = uuid.uuid4().hex[:8]
    db_name = f"jx_bench_signups_{unique}"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": db_name,
        "REDIS_PREFIX": f"jxbench:signups:{unique}:",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "false",
        "RATE_LIMITS": "false",
    }
    uri = env.get("MONGODB_URI", "mongodb://127.0.0.1:27018/")
    try:
        _run(args, env, uri, db_name)
    finally:
        _drop(uri, db_name, env)


def _run(args: argparse.Namespace, env: dict[str, str], uri: str, db_name: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "server", "create-user", "--username", "bench-organizer",
         "--password", PASSWORD, "--role", "organizer"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_until_ok(f"{base}/readyz")

        async def prepare() -> list[str]:
            async with aiohttp.ClientSession() as session:
                return await _sign_in(session, bases[0], args.attempts)

        tokens = asyncio.run(prepare())
        burst = asyncio.run(_burst(bases, tokens, args.connections, args.seats))
    finally:
        stop_all(servers)
    counts, consistent = asyncio.run(_ledger(uri, db_name, burst["event_id"]))
    raw_rate, raw_p99, raw_taken = asyncio.run(
        _raw_ceiling(uri, db_name, args.attempts, args.seats, args.connections)
    )
    rate = args.attempts / burst["wall"]
    latencies = burst["latencies"]
    waitlisted = args.attempts - args.seats
    print(
        f"{args.attempts} sign-up attempts for {args.seats} seats, 2 server processes, "
        f"{args.connections} in flight, one run"
    )
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    print(
        f"  jiangxin               {rate:7.0f} sign-ups/s   p50 {p50:6.1f} ms"
        f"   p99 {p99:6.1f} ms   (goal >= 1000/s)"
    )
    print(f"  raw PyMongo ceiling    {raw_rate:7.0f} attempts/s   p99 {raw_p99:6.1f} ms"
          f"   (conditional find_one_and_update, {raw_taken} seats)")  # fmt: skip
    print(f"  ratio jiangxin / raw   {rate / raw_rate:.2f}")
    print(f"  answers {dict(sorted(burst['statuses'].items()))}  {burst['answers']}")
    print(f"  in the database: {counts}, seat ledger consistent: {consistent}")
    expected = {"confirmed": args.seats, "waitlisted": waitlisted}
    _check(burst["statuses"] == {201: args.attempts}, f"answers {burst['statuses']}")
    _check(burst["answers"] == expected, f"answered {burst['answers']}, not {expected}")
    _check(counts == expected, f"stored {counts}, not {expected}")
    _check(consistent, "the seat ledger is inconsistent")
    _check(raw_taken == args.seats, f"the raw run took {raw_taken} seats")


def _drop(uri: str, db_name: str, env: dict[str, str]) -> None:
    async def drop() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
        try:
            await client.drop_database(db_name)
        finally:
            await client.close()

    asyncio.run(drop())
    redis = Redis.from_url(env.get("REDIS_URL", "redis://127.0.0.1:6390/0"))
    keys = list(redis.scan_iter(match=env["REDIS_PREFIX"] + "*", count=1000))
    if keys:
        redis.delete(*keys)


if __name__ == "__main__":
    main()
