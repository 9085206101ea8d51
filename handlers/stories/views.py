"""Story view counts: counted in each process, summed in Redis, written to MongoDB by the
worker, in total and per Asia/Shanghai day (the dashboard's "most read this week").

A read of a story costs a dict increment; once a second each process adds its counts
to one Redis hash (HINCRBY, one pipeline), one field per story and day
(``<story id>:<YYYY-MM-DD>``, the Shanghai day of the flush: a view counts on the day
its process sent it, within a second of the read). The worker renames that hash to a batch and
lists the batch in a set, in one MULTI (new views go to a fresh hash), adds every listed
batch to the stories, then deletes it. A batch left by a worker that died midway, or
taken by two workers at once, is added again: each story keeps the ids of the last
``repo.RECENT_BATCHES`` batches it took and skips those, so nothing is counted twice. A
process that dies loses at most its last second of views; Redis being down loses none
until it is back (they wait in the process, up to ``MAX_PENDING`` stories and days).
A field without a day (written before days were counted) adds to the total only.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import cast

from redis.exceptions import ResponseError

from server.background import Periodic
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.redis_state import RedisState

DailyViews = dict[str, dict[str, int]]
"""Views by story id, then by Shanghai day (ISO date; ``""``: a view of no known day)."""
WriteBatch = Callable[[str, DailyViews], Awaitable[None]]


class ViewCounter:
    MAX_PENDING = 100_000

    def __init__(
        self, redis: RedisState, degrade: Degrade, clock: Clock, flush_interval_s: float = 1.0
    ) -> None:
        self.redis = redis
        self.degrade = degrade
        self.clock = clock
        self.key = redis.key("stories", "views")
        self._pending: dict[str, int] = {}  # story id -> views since the last flush
        self._unsent: dict[str, int] = {}  # "<story id>:<day>" -> views Redis did not take
        self._flusher = Periodic("view counts", flush_interval_s, self.flush)

    def record(self, story_id: str) -> None:
        """One view of a (public, existing) story."""
        self._pending[story_id] = self._pending.get(story_id, 0) + 1

    def start(self) -> None:
        self._flusher.start()

    async def stop(self) -> None:
        """Stop flushing; what is pending goes to Redis now (shutdown). With Redis gone
        those views are lost, and the shutdown report says how many."""
        await self._flusher.stop()
        fields = self._take()
        if not fields:
            return
        try:
            await self._send(fields)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.lost_at_shutdown(
                "redis", f"{sum(fields.values())} story views not flushed", exc
            )

    def _take(self) -> dict[str, int]:
        """The views to send: those Redis did not take last time, and the ones counted
        since, on today's Shanghai date."""
        fields, self._unsent = self._unsent, {}
        if self._pending:
            pending, self._pending = self._pending, {}
            day = self.clock.today().isoformat()
            for story_id, count in pending.items():
                field = f"{story_id}:{day}"
                fields[field] = fields.get(field, 0) + count
        return fields

    async def _send(self, fields: dict[str, int]) -> None:
        async with self.redis.client.pipeline(transaction=False) as pipe:
            for field, count in fields.items():
                pipe.hincrby(self.key, field, count)
            await pipe.execute()

    async def flush(self) -> None:
        """Add this process's counts to the shared hash."""
        if not self._pending and not self._unsent:
            return
        fields = self._take()
        try:
            await self._send(fields)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("views_flush", exc)
            for field, count in fields.items():  # kept for the next try
                if field in self._unsent or len(self._unsent) < self.MAX_PENDING:
                    self._unsent[field] = self._unsent.get(field, 0) + count

    async def drain(self, write: WriteBatch) -> int:
        """Worker side: hand every counted view to ``write(batch_id, counts)``; the views."""
        client = self.redis.client
        batches_key = f"{self.key}:batches"
        fresh = f"{self.key}:batch:{uuid.uuid4().hex}"
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.rename(self.key, fresh)
                pipe.sadd(batches_key, fresh)
                await pipe.execute()
        except ResponseError:
            # No views since the last drain: the RENAME failed, the SADD listed an empty
            # batch, which the loop below clears.
            pass
        total = 0
        # redis-py types the asyncio client's commands as sync-or-async
        for raw_name in await cast("Awaitable[set[bytes]]", client.smembers(batches_key)):
            batch = raw_name.decode()
            raw = await cast("Awaitable[dict[bytes, bytes]]", client.hgetall(batch))
            views: DailyViews = {}
            for field, count in raw.items():
                story_id, _, day = field.decode().partition(":")
                by_day = views.setdefault(story_id, {})
                by_day[day] = by_day.get(day, 0) + int(count)
                total += int(count)
            if views:
                await write(batch.rsplit(":", 1)[1], views)
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(batch)
                pipe.srem(batches_key, batch)
                await pipe.execute()
        return total
