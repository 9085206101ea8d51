"""Sign-ups in a burst: 2,000 attempts for 200 seats over two server processes.

One run: a fresh database, two ``python -m server serve`` processes on it (sharing one
Redis), an organizer's published event with 200 seats and a waitlist, 2,000 residents
signed in first (not measured); then all 2,000 sign-ups sent at once, each with its
``Idempotency-Key``, alternating between the two processes. Prints sign-ups/s (attempts
answered per second of the burst's wall time), p50/p99 latency, the CPU each sign-up
cost (the two servers, and the database server when it runs here), the final counts
(asserted: exactly 200 confirmed, 1,800 waitlisted, the seat ledger consistent), and the
same burst straight through PyMongo on the same database server, twice:

- the decisions only: per attempt the seat ``find_one_and_update``, and for those who
  find no seat the waitlist ``$inc`` (one MongoDB round trip per decision, nothing
  else: the ceiling of the conditional update);
- the same MongoDB operations a sign-up makes (the idempotency record claimed, the
  seat or waitlist write, the sign-up inserted, the event's status read, the record
  completed): what the database allows a correct sign-up, without HTTP, auth, Redis or
  our code.

and our ratio to each. The machine is shared: the load average is printed with them.

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

from bench.common import cpu_of, database_pid, drop_run_state
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
        positions: list[int] = []

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
                if body["status"] == "waitlisted":
                    positions.append(body["position"])

        started = time.perf_counter()
        await asyncio.gather(*(one(i, token) for i, token in enumerate(tokens)))
        wall = time.perf_counter() - started
    return {
        "event_id": event_id, "wall": wall, "latencies": latencies, "statuses": statuses,
        "answers": answers, "positions": sorted(positions),
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
    uri: str, db_name: str, attempts: int, seats: int, concurrency: int, *, same_writes: bool
) -> dict[str, Any]:
    """The burst as bare PyMongo operations on an event document: the decisions only, or
    (``same_writes``) every MongoDB operation a sign-up makes. attempts/s, p99 ms, seats
    taken, CPU seconds of this process."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, maxPoolSize=concurrency, tz_aware=True
    )
    try:
        db = client[db_name]
        events, signups, records = db["raw_events"], db["raw_signups"], db["raw_records"]
        if same_writes:
            await signups.create_index("active_key", unique=True)
        event_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        await events.insert_one(
            {"_id": event_id, "status": "published", "seats_left": seats, "seats": [],
             "waitlist_seq": 0, "waitlist_enabled": True, "version": 1,
             "signup_opens_at": now - timedelta(hours=1),
             "signup_deadline": now + timedelta(days=1), "ends_at": now + timedelta(days=2)}
        )  # fmt: skip
        open_now = {"signup_opens_at": {"$lte": now}, "signup_deadline": {"$gt": now},
                    "ends_at": {"$gt": now}}  # fmt: skip
        view = {"status": 1, "version": 1, "seats_left": 1, "waitlist_seq": 1}
        limit = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        taken = 0

        async def one(i: int) -> None:
            nonlocal taken
            async with limit:
                started = time.perf_counter()
                signup_id = f"s{i}"
                if same_writes:
                    await records.insert_one(
                        {"_id": f"u{i}:b{i}", "fingerprint": "f" * 64, "state": "pending",
                         "created_at": now, "claimed_at": now}
                    )  # fmt: skip
                seat = await events.find_one_and_update(
                    {"_id": event_id, "status": "published", "seats_left": {"$gt": 0},
                     "waitlist_seq": 0, "seats.s": {"$ne": signup_id}, **open_now},
                    {"$inc": {"seats_left": -1, "version": 1},
                     "$push": {"seats": {"s": signup_id, "at": now, "e": None}}},
                    projection=view, return_document=ReturnDocument.AFTER,
                )  # fmt: skip
                place = None
                if seat is None:
                    place = await events.find_one_and_update(
                        {"_id": event_id, "status": "published", "waitlist_enabled": True,
                         **open_now},
                        {"$inc": {"waitlist_seq": 1, "version": 1}},
                        projection=view, return_document=ReturnDocument.AFTER,
                    )  # fmt: skip
                else:
                    taken += 1
                if same_writes:
                    await signups.insert_one(
                        {"_id": signup_id, "event_id": event_id, "user_id": f"u{i}",
                         "active_key": f"{event_id}:u{i}",
                         "status": "confirmed" if seat else "waitlisted",
                         "seq": place["waitlist_seq"] if place else None,
                         "name": f"居民{i}", "phone_masked": "138****0000",
                         "phone": {"k": "root", "n": os.urandom(12), "c": os.urandom(27)},
                         "created_at": now}
                    )  # fmt: skip
                    await events.find_one({"_id": event_id}, projection={"status": 1})
                    await records.update_one(
                        {"_id": f"u{i}:b{i}"},
                        {"$set": {"state": "done", "status": 201, "body": b"x" * 700,
                                  "content_type": "application/json"}},
                    )  # fmt: skip
                latencies.append(time.perf_counter() - started)

        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(attempts)))
        wall = time.perf_counter() - started
        return {
            "rate": attempts / wall, "p99": _percentile(latencies, 0.99), "taken": taken,
            "cpu": time.process_time() - cpu_before, "wall": wall,
        }  # fmt: skip
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
        asyncio.run(drop_run_state(db_name, env["REDIS_PREFIX"]))


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
    db_pid = database_pid(uri)
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_until_ok(f"{base}/readyz")

        async def prepare() -> list[str]:
            async with aiohttp.ClientSession() as session:
                return await _sign_in(session, bases[0], args.attempts)

        tokens = asyncio.run(prepare())
        load_before = os.getloadavg()[0]
        server_cpu, db_cpu = cpu_of([s.pid for s in servers]), cpu_of([db_pid])
        client_cpu = time.process_time()
        burst = asyncio.run(_burst(bases, tokens, args.connections, args.seats))
        client_cpu = time.process_time() - client_cpu
        server_cpu = cpu_of([s.pid for s in servers]) - server_cpu
        db_cpu = cpu_of([db_pid]) - db_cpu
        load_after = os.getloadavg()[0]
    finally:
        stop_all(servers)
    counts, consistent = asyncio.run(_ledger(uri, db_name, burst["event_id"]))
    raws = {}
    for same_writes in (False, True):
        before = cpu_of([db_pid])
        raws[same_writes] = asyncio.run(
            _raw_ceiling(
                uri, db_name, args.attempts, args.seats, args.connections, same_writes=same_writes
            )
        )
        raws[same_writes]["db_cpu"] = cpu_of([db_pid]) - before
    rate = args.attempts / burst["wall"]
    latencies = burst["latencies"]
    waitlisted = args.attempts - args.seats
    n = args.attempts
    print(
        f"{n} sign-up attempts for {args.seats} seats, 2 server processes, "
        f"{args.connections} in flight, one run; load average {load_before:.1f} -> "
        f"{load_after:.1f} on {os.cpu_count()} cores"
    )
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    db_ms = f"{db_cpu / n * 1000:.2f}" if db_pid else "?"
    print(
        f"  jiangxin                  {rate:6.0f} sign-ups/s   p50 {p50:7.1f} ms"
        f"   p99 {p99:7.1f} ms   (goal >= 1000/s)"
    )
    busy = (server_cpu + db_cpu + client_cpu) / burst["wall"]
    print(
        f"      CPU per sign-up: servers {server_cpu / n * 1000:.2f} ms, database {db_ms} ms,"
        f" load generator {client_cpu / n * 1000:.2f} ms; they kept {busy:.2f} cores busy"
    )
    for same_writes, label in ((False, "decisions only"), (True, "same MongoDB ops")):
        raw = raws[same_writes]
        raw_db = f"{raw['db_cpu'] / n * 1000:.2f}" if db_pid else "?"
        print(
            f"  raw PyMongo, {label:16s} {raw['rate']:6.0f} attempts/s   p99 {raw['p99']:7.1f} ms"
            f"   ratio jiangxin / raw {rate / raw['rate']:.2f}"
        )
        print(f"      CPU per attempt: client {raw['cpu'] / n * 1000:.2f} ms, database {raw_db} ms")
    print(f"  answers {dict(sorted(burst['statuses'].items()))}  {burst['answers']}")
    print(f"  in the database: {counts}, seat ledger consistent: {consistent}")
    expected = {"confirmed": args.seats, "waitlisted": waitlisted}
    _check(burst["statuses"] == {201: args.attempts}, f"answers {burst['statuses']}")
    _check(burst["answers"] == expected, f"answered {burst['answers']}, not {expected}")
    _check(counts == expected, f"stored {counts}, not {expected}")
    _check(consistent, "the seat ledger is inconsistent")
    _check(
        burst["positions"] == list(range(1, waitlisted + 1)),
        "the waitlisted answers' positions are not 1..N",
    )
    for raw in raws.values():
        _check(raw["taken"] == args.seats, f"the raw run took {raw['taken']} seats")


if __name__ == "__main__":
    main()
