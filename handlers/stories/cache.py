"""The public feed cache in Redis: list pages and story bodies, keyed under a version.

Publishing, unpublishing and editing a public story bump the version, so every cached
page is stale at once (and expires on its own after ``ttl_s``). Counters in cached
answers may lag by up to ``ttl_s``; the like/favourite endpoints answer the fresh
count. Per-user flags (liked, favorited) are merged after the cache. If Redis does not
answer, callers read MongoDB: the cache only makes things fast.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict

from server.metrics import Metrics
from server.redis_state import REDIS_ERRORS, RedisState

log = logging.getLogger("jiangxin.stories")


class FeedCache:
    """Two levels: Redis (shared by every process) and a small in-process LRU keyed by
    the same version, so a hit costs one tiny Redis GET (the version) and no copy of
    the page over the wire."""

    def __init__(
        self, redis: RedisState, metrics: Metrics, ttl_s: int, local_entries: int = 256
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.ttl_s = ttl_s
        self.local_entries = local_entries
        self._local: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._version_key = redis.key("stories", "version")

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def _key(self, version: bytes | str, kind: str, params: str) -> str:
        digest = hashlib.blake2b(params.encode(), digest_size=12).hexdigest()
        version_text = version.decode() if isinstance(version, bytes) else version
        return self.redis.key("stories", version_text, kind, digest)

    async def get(self, kind: str, params: str) -> tuple[bytes | None, str | None]:
        """(cached bytes or None, the key to store under or None when not caching)."""
        if not self.enabled:
            return None, None
        try:
            version = await self.redis.client.get(self._version_key) or b"0"
            key = self._key(version, kind, params)
            local = self._local.get(key)
            if local is not None and local[0] > time.monotonic():
                self._local.move_to_end(key)
                return local[1], key
            cached = await self.redis.client.get(key)
        except REDIS_ERRORS:
            self.metrics.redis_errors.labels("feed_cache_get").inc()
            return None, None
        data = cached.encode() if isinstance(cached, str) else cached
        if data is not None:
            self._remember(key, data)
        return data, key

    def _remember(self, key: str, data: bytes) -> None:
        # Same lifetime as in Redis at most: a version bump makes the key unreachable,
        # the deadline covers counters that change without one.
        self._local[key] = (time.monotonic() + self.ttl_s, data)
        self._local.move_to_end(key)
        while len(self._local) > self.local_entries:
            self._local.popitem(last=False)

    async def put(self, key: str | None, body: bytes) -> None:
        if key is None:
            return
        self._remember(key, body)
        try:
            await self.redis.client.set(key, body, ex=self.ttl_s)
        except REDIS_ERRORS:
            self.metrics.redis_errors.labels("feed_cache_put").inc()

    async def invalidate(self) -> None:
        """Every cached page and body is stale from now on."""
        if not self.enabled:
            return
        try:
            await self.redis.client.incr(self._version_key)
        except REDIS_ERRORS:
            # Cached entries still expire within ttl_s; log so operators know why.
            self.metrics.redis_errors.labels("feed_cache_invalidate").inc()
            log.warning(
                "feed cache not invalidated (Redis unavailable); stale for <= %ss", self.ttl_s
            )
