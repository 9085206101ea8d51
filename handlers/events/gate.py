"""The Redis gate: "this event is full" answered without touching MongoDB.

A snapshot of what sign-ups need from an event (status, sign-up window, seats left,
waitlist on or off) under ``<prefix>events:gate:<event id>``, written by whoever has
just read or written the event in MongoDB, and only if it is newer than what is there
(the event's ``version``, bumped by every write, decides: a slow process cannot put an
old picture back). It lives ``GATE_TTL_S``, so a write Redis missed is forgotten soon.

It only ever refuses, and only the clear case: an event that is open, full and has no
waitlist is 409 ``event_full`` at once (a popular event's burst costs one shared Redis
read per batch of requests). Otherwise it only tells a sign-up which conditional write
to try first: a seat while there are seats and nobody waits, else a waitlist place (so a
burst's late comers do not each try a seat in vain). Everything (seats, waitlist places,
the window, closed events) is decided in MongoDB. Missing (expired, Redis restarted) it
is rebuilt by the next request that reads the event; Redis down, every request goes to
MongoDB.

Reads and writes go by group commit (``server/batching.py``): a burst's concurrent
sign-ups of one event share one ``HGETALL`` (each read starts after its caller asked, so
it is as fresh as its own would be) and one write, the newest they hold (the write keeps
only a newer picture anyway, so the older ones would have changed nothing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.batching import Batcher
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.redis_state import RedisState

GATE_TTL_S = 10

# KEYS[1] gate; ARGV: version, ttl, then field/value pairs. Written only if newer.
_STORE_IF_NEWER = """
local known = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[1]) <= known then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True, slots=True)
class GateView:
    version: int
    status: str
    opens: float
    deadline: float
    seats_left: int
    waitlist: bool
    line_started: bool
    """Somebody took a waitlist place (``waitlist_seq`` > 0): newcomers queue behind."""

    def clearly_full(self, now: float) -> bool:
        """Open for sign-ups, not a seat left, no waitlist: refused without MongoDB."""
        open_now = self.status == "published" and self.opens <= now < self.deadline
        return open_now and self.seats_left <= 0 and not self.waitlist

    def seats_for_newcomers(self) -> bool:
        """A new sign-up would likely get a seat: seats left and nobody in line."""
        return self.seats_left > 0 and not self.line_started


class SeatGate:
    def __init__(self, redis: RedisState, degrade: Degrade) -> None:
        self.redis = redis
        self.degrade = degrade
        self._store = redis.client.register_script(_STORE_IF_NEWER)
        self._views: Batcher[str, GateView | None] = Batcher(self._read_views)
        self._stores: Batcher[dict[str, Any], None] = Batcher(self._write_newest)

    def _key(self, event_id: str) -> str:
        return self.redis.key("events", "gate", event_id)

    async def view(self, event_id: str) -> GateView | None:
        """The snapshot, or None (missing, unreadable, or Redis is down)."""
        try:
            return await self._views.submit(event_id)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("event_gate", exc)
            return None

    async def _read_views(self, event_ids: list[str]) -> list[GateView | None]:
        """One read per event of the batch (a burst is mostly one event: one command)."""
        distinct = list(dict.fromkeys(event_ids))
        keys = [self._key(event_id) for event_id in distinct]
        if len(keys) == 1:
            raws = [await self.redis.client.hgetall(keys[0])]  # type: ignore[misc]
        else:
            async with self.redis.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                raws = await pipe.execute()
        views = {event_id: _parse(raw) for event_id, raw in zip(distinct, raws, strict=True)}
        return [views[event_id] for event_id in event_ids]

    async def store(self, event: dict[str, Any]) -> None:
        """Record ``event`` (as MongoDB just gave it, at least ``repo.LEDGER_VIEW``) unless
        Redis knows a newer one."""
        try:
            await self._stores.submit(event)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("event_gate", exc)

    async def _write_newest(self, events: list[dict[str, Any]]) -> list[None]:
        newest: dict[str, dict[str, Any]] = {}
        for event in events:
            known = newest.get(str(event["_id"]))
            if known is None or int(event["version"]) > int(known["version"]):
                newest[str(event["_id"])] = event
        await asyncio.gather(*(self._write(event) for event in newest.values()))
        return [None] * len(events)

    async def _write(self, event: dict[str, Any]) -> None:
        opens: datetime = event["signup_opens_at"]
        deadline: datetime = event["signup_deadline"]
        await self._store(
            keys=[self._key(str(event["_id"]))],
            args=[
                int(event["version"]),
                GATE_TTL_S,
                "st", event["status"],
                "op", opens.timestamp(),
                "dl", deadline.timestamp(),
                "left", int(event["seats_left"]),
                "wl", "1" if event["waitlist_enabled"] else "0",
                "wq", "1" if event["waitlist_seq"] > 0 else "0",
            ],
        )  # fmt: skip


def _parse(raw: dict[bytes, bytes]) -> GateView | None:
    try:
        return GateView(
            version=int(raw[b"v"]),
            status=raw[b"st"].decode(),
            opens=float(raw[b"op"]),
            deadline=float(raw[b"dl"]),
            seats_left=int(raw[b"left"]),
            waitlist=raw[b"wl"] == b"1",
            line_started=raw[b"wq"] == b"1",
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
