"""A versioned response cache: JSON answers (bytes and ETag) under a namespace's version.

A room creates one per namespace (the stories room: ``"stories"``) and bumps its
version (``invalidate``) whenever something its answers show changes: every cached
answer is then unreachable at once, and each expires on its own after ``ttl_s`` (so
counters in cached answers lag by at most that: the stories room lays live ones over
them at answer time, ``handlers/stories/counters.py``). If Redis does not answer, nothing is
cached and every answer is built: the cache only makes things fast.

Two levels: Redis, shared by every process, and an LRU in each process, so that a hit
costs no round trip at all (and no allocation: the entry is returned as stored). The
version lives in Redis (``<prefix><namespace>:version``); each process follows it by
polling every ``version_poll_s`` (a process that bumps it knows at once), so another
process serves the old version for at most that long. A process's copy lives no longer
than the Redis entry it came from (``PTTL``). Concurrent misses of one key in one
process wait for a single build (``server.singleflight``). Deadlines are read on the
app clock's monotonic side (``Clock.monotonic``). Loads count in
``jiangxin_feed_cache_loads{source}`` (``redis`` or built here, ``mongodb``); Redis
failures degrade as ``<label>_cache_{version,get,put,invalidate}``.

What is cached is bytes: the caller (a route) builds them from its service's models on
a miss, so services know nothing of JSON bytes or ETags.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.background import Periodic
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.metrics import Metrics
from server.prebuilt import PRIVATE_REVALIDATED, PUBLIC_REVALIDATED, JsonBlocks
from server.redis_state import RedisState
from server.rest import etag_of
from server.singleflight import SingleFlight

Build = Callable[[], Awaitable[bytes]]
LocalKey = tuple[int, str, str]


class CachedJson:
    """An answer's bytes and their ETag, computed once per cached entry, and the header
    blocks of its public answer (``server/prebuilt.py``), built when it is first sent."""

    __slots__ = ("_private", "_public", "body", "etag")

    def __init__(self, body: bytes, etag: str) -> None:
        self.body = body
        self.etag = etag
        self._public: JsonBlocks | None = None
        self._private: JsonBlocks | None = None

    @classmethod
    def of(cls, body: bytes) -> CachedJson:
        return cls(body, etag_of(body))

    def answer(self, request: web.Request) -> web.Response:
        """The answer anyone may get (``Cache-Control: no-cache``; 304 when the client
        holds it), sent from blocks built once."""
        blocks = self._public
        if blocks is None:
            blocks = self._public = JsonBlocks(self.body, self.etag, PUBLIC_REVALIDATED)
        return blocks.answer(request.headers.get("If-None-Match"))

    def private_answer(self, request: web.Request) -> web.Response:
        """The same for an answer made for one reader (``private, no-cache``)."""
        blocks = self._private
        if blocks is None:
            blocks = self._private = JsonBlocks(self.body, self.etag, PRIVATE_REVALIDATED)
        return blocks.answer(request.headers.get("If-None-Match"))


class VersionedCache:
    def __init__(
        self,
        namespace: str,
        redis: RedisState,
        metrics: Metrics,
        degrade: Degrade,
        clock: Clock,
        ttl_s: int,
        *,
        label: str | None = None,
        local_entries: int = 256,
        version_poll_s: float = 0.1,
    ) -> None:
        self.namespace = namespace
        # What degraded operations are called in the metric and the log: <label>_cache_get
        self.label = label or namespace
        self.redis = redis
        self.metrics = metrics
        self.degrade = degrade
        self.clock = clock
        self._monotonic = clock.monotonic  # bound once: read on every hit
        self.ttl_s = ttl_s
        self.local_entries = local_entries
        self.version_poll_s = version_poll_s
        # (version, kind, params) -> (deadline, entry); no digest to compute on a hit
        self._local: OrderedDict[LocalKey, tuple[float, CachedJson]] = OrderedDict()
        self._loads: SingleFlight[CachedJson] = SingleFlight()
        self._version_key = redis.key(namespace, "version")
        # None while Redis does not answer: nothing is cached or served from the cache.
        self._version: int | None = None
        self._own_bumps = 0  # lets the poller drop a read that raced with our own bump
        self._poller = Periodic(f"{namespace} cache version", version_poll_s, self.follow_version)

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    async def start(self) -> None:
        """Read the version, then follow it in the background."""
        if self.enabled:
            await self.follow_version()
            self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()

    async def follow_version(self) -> None:
        """One poll of the shared version (what the background loop runs)."""
        bumps = self._own_bumps
        try:
            value: int | None = int(await self.redis.client.get(self._version_key) or 0)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis(f"{self.label}_cache_version", exc)
            value = None
        if bumps == self._own_bumps:
            self._version = value

    def _redis_key(self, local_key: LocalKey) -> str:
        version, kind, params = local_key
        digest = hashlib.blake2b(params.encode(), digest_size=12).hexdigest()
        return self.redis.key(self.namespace, str(version), kind, digest)

    def peek(self, kind: str, params: str) -> CachedJson | None:
        """The answer for ``(kind, params)`` if this process holds it (no coroutine: the
        hit path); None when ``fetch`` must load or build it."""
        version = self._version
        if version is None:  # Redis did not answer, or the cache is off
            return None
        key = (version, kind, params)
        local = self._local.get(key)
        if local is None or local[0] <= self._monotonic():
            return None
        self._local.move_to_end(key)
        return local[1]

    async def fetch(self, kind: str, params: str, build: Build) -> CachedJson:
        """The cached answer for ``(kind, params)``, built (once per process at a time)
        by ``build`` on a miss. Errors of ``build`` (a 404) are not cached."""
        version = self._version
        if not self.enabled or version is None:
            return CachedJson.of(await build())
        key = (version, kind, params)
        local = self._local.get(key)
        if local is not None:
            if local[0] > self._monotonic():
                self._local.move_to_end(key)
                return local[1]
            del self._local[key]
        # Concurrent misses of the same key wait for one load, not one each.
        return await self._loads.run(key, lambda: self._load(key, build))

    async def _load(self, key: LocalKey, build: Build) -> CachedJson:
        shared_key = self._redis_key(key)
        redis_up = True
        try:
            async with self.redis.client.pipeline(transaction=False) as pipe:
                pipe.get(shared_key)
                pipe.pttl(shared_key)
                shared, ttl_ms = await pipe.execute()
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis(f"{self.label}_cache_get", exc)
            redis_up, shared = False, None
        if shared is not None and ttl_ms > 0:
            self.metrics.feed_cache_loads.labels("redis").inc()
            entry = CachedJson.of(bytes(shared))
            self._remember(key, entry, ttl_ms / 1000)  # no longer than Redis keeps it
            return entry
        self.metrics.feed_cache_loads.labels("mongodb").inc()
        entry = CachedJson.of(await build())
        self._remember(key, entry, self.ttl_s)
        if redis_up:
            try:
                await self.redis.client.set(shared_key, entry.body, ex=self.ttl_s)
            except REDIS_UNAVAILABLE as exc:
                self.degrade.redis(f"{self.label}_cache_put", exc)
        return entry

    def _remember(self, key: LocalKey, entry: CachedJson, ttl_s: float) -> None:
        # A version bump makes the key unreachable; the deadline covers counters that
        # change without one.
        self._local[key] = (self._monotonic() + ttl_s, entry)
        self._local.move_to_end(key)
        while len(self._local) > self.local_entries:
            self._local.popitem(last=False)

    async def invalidate(self) -> None:
        """Every cached answer of the namespace is stale from now on."""
        if not self.enabled:
            return
        self._own_bumps += 1
        try:
            bumped = int(await self.redis.client.incr(self._version_key))
            # Two of our bumps may answer out of order: never step back to the older one.
            # (The poller sets the version as read, so a Redis that restarted empty, its
            # counter back at 0, is followed too.)
            self._version = max(bumped, self._version or 0)
        except REDIS_UNAVAILABLE as exc:
            # Cached entries still expire within ttl_s; log so operators know why.
            self.degrade.redis(f"{self.label}_cache_invalidate", exc)
