"""Live counters (views, likes, favourites, comments) over cached feed pages and story
bodies, at answer time.

Cached answers (``server/cache.py``) live ``FEED_CACHE_TTL_S``; their counters would lag
as long. So every answer takes its ``stats`` from MongoDB, the truth, which every
process shares: a like, a favourite or an approved comment has reached MongoDB before
its answer is sent, so

- a signed-in reader who may just have changed a counter, through any process
  (``Principal.recent_writer``, ``server/recent_writes.py``), gets the counters read for
  this answer: one query on ``_id`` for the story or the page's stories
  (read-your-writes, across processes);
- everyone else gets them at most ``ttl_s`` (``FEED_COUNTERS_TTL_S``, 1 s) old: each
  process keeps the answer with its counters laid over for that long, so a hit costs a
  dict lookup, and a hot answer one small query per ``ttl_s`` (one per process at a
  time: ``server.singleflight``).

The ETag is the cached answer's with a digest of the counters laid over it, so it
changes when they do. When MongoDB does not answer the counter query, the cached
answer goes out with its own counters (degraded as ``mongodb``/``story_counters``).
Why not a Redis copy of the counters: it would save that one query, but needs writes
that never step back under concurrency, a rebuild when missing and a fallback, to show
what MongoDB already says.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import orjson

from handlers.stories.engagement import EngagementService
from server.cache import CachedJson
from server.clock import Clock
from server.degrade import Degrade
from server.errors import MONGODB_UNAVAILABLE
from server.singleflight import SingleFlight

Stats = dict[str, Any]


class LiveCounters:
    def __init__(
        self,
        engagement: EngagementService,
        degrade: Degrade,
        clock: Clock,
        ttl_s: float,
        *,
        entries: int = 256,
    ) -> None:
        self.engagement = engagement
        self.degrade = degrade
        self._monotonic = clock.monotonic  # bound once: read on every hit
        self.ttl_s = ttl_s
        self.entries = entries
        # key -> (deadline, the cached answer it was laid over, the answer with counters)
        self._recent: OrderedDict[Hashable, tuple[float, CachedJson, CachedJson]] = OrderedDict()
        self._loads: SingleFlight[CachedJson] = SingleFlight()
        # (key, liked, favorited) -> (the recent answer it was made of, the answer)
        self._flagged: OrderedDict[Hashable, tuple[CachedJson, CachedJson]] = OrderedDict()

    def peek(self, key: Hashable, cached: CachedJson) -> CachedJson | None:
        """``cached`` with counters at most ``ttl_s`` old if this process holds it (no
        coroutine: the hit path); None when ``recent`` must read them."""
        held = self._recent.get(key)
        if held is not None and held[1] is cached and held[0] > self._monotonic():
            return held[2]
        return None

    async def recent(self, key: Hashable, cached: CachedJson) -> CachedJson:
        """``cached`` with counters at most ``ttl_s`` old (anonymous readers)."""
        return self.peek(key, cached) or await self._loads.run(
            (key, id(cached)), lambda: self._lay_over(key, cached)
        )

    async def _lay_over(self, key: Hashable, cached: CachedJson) -> CachedJson:
        out = await self.live(cached)
        if self.ttl_s > 0:
            self._recent[key] = (self._monotonic() + self.ttl_s, cached, out)
            self._recent.move_to_end(key)
            while len(self._recent) > self.entries:
                self._recent.popitem(last=False)
        return out

    def flagged(self, key: Hashable, story: CachedJson, liked: bool, favorited: bool) -> CachedJson:
        """``story`` (an answer of ``recent``) with one reader's ``liked``/``favorited``:
        each of the four made once per answer, not per request."""
        variant = (key, liked, favorited)
        held = self._flagged.get(variant)
        if held is not None and held[0] is story:
            return held[1]
        body = orjson.loads(story.body)
        fields = {"liked": liked, "favorited": favorited}
        body.update(fields)
        out = CachedJson(orjson.dumps(body), _etag_over(story.etag, orjson.dumps(fields)))
        self._flagged[variant] = (story, out)
        self._flagged.move_to_end(variant)
        while len(self._flagged) > 4 * self.entries:
            self._flagged.popitem(last=False)
        return out

    async def live(self, cached: CachedJson, **fields: Any) -> CachedJson:
        """``cached`` with the counters read now, and ``fields`` set on it (a story's
        ``liked``/``favorited``), as bytes with an ETag."""
        body = orjson.loads(cached.body)
        holders: list[dict[str, Any]] = body.get("items", [body])  # a page, or a story
        try:
            stats = await self.engagement.counters([holder["id"] for holder in holders])
        except MONGODB_UNAVAILABLE as exc:
            self.degrade("mongodb", "story_counters", exc)
            stats = {}
        for holder in holders:
            if holder["id"] in stats:
                holder["stats"] = stats[holder["id"]]
        body.update(fields)
        # The ETag follows the cached one (its content) and what was laid over it.
        laid_over = orjson.dumps([[h["stats"] for h in holders], fields])
        return CachedJson(orjson.dumps(body), _etag_over(cached.etag, laid_over))


def _etag_over(etag: str, laid_over: bytes) -> str:
    """The ETag of an answer made of the one of ``etag`` with ``laid_over`` laid over it."""
    digest = hashlib.blake2b(laid_over, digest_size=8).hexdigest()
    return f'{etag[:-1]}-{digest}"'
