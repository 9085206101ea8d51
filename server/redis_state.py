"""Redis, the fast shared state: key naming, and rate limits that fail open.

MongoDB is the source of truth; everything here may vanish (Redis restarted, down)
without breaking an invariant. Callers catch ``server.errors.REDIS_UNAVAILABLE`` and
degrade through ``server.degrade``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.singleflight import SingleFlight


def connect_redis(url: str, timeout_s: float) -> Redis:
    """A client that fails fast: one quick retry, short timeouts (callers degrade)."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=False,
    )
    return client


class RedisState:
    """The Redis client plus this deployment's key prefix (tests get their own)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except REDIS_UNAVAILABLE:
            return False


def _retry_after(window: int, window_s: int, now: float) -> int:
    return max(1, int((window + 1) * window_s - now) + 1)


@dataclass(slots=True, eq=False)  # compared and hashed by identity (a SingleFlight key)
class _Lease:
    """Part of one bucket's budget for one window, reserved in Redis, spent here."""

    left: int = 0
    exhausted: bool = False  # Redis has handed out the whole budget of this window


class RateLimiter:
    """Fixed-window counters in Redis, shared by every worker; fail open when Redis is gone.

    By default every event is counted in Redis (one INCR): exact, and what ``blocked_for``
    reads (login failures, comments). ``leased=True`` (every request of a user or an
    address) spares the round trip: a process reserves 1/``LEASE_SHARE`` of the window's
    budget with one INCRBY and spends it without asking Redis again. No process ever
    admits more than Redis granted, so the limit holds across processes; what a process
    reserved but did not spend is lost at the window's end (at most one lease per process
    and bucket, so a client at its limit may be refused up to 1/16 early per extra
    process). Budgets under 32 are counted exactly anyway, and so are the buckets beyond
    ``MAX_LEASES`` in one window (memory stays bounded whatever the number of clients).
    ``enabled=False`` (``RATE_LIMITS=false``, never in production) admits everything.
    """

    LEASE_SHARE = 16
    MAX_LEASES = 10_000

    def __init__(
        self, redis: RedisState, degrade: Degrade, clock: Clock, *, enabled: bool = True
    ) -> None:
        self.redis = redis
        self.degrade = degrade
        self.clock = clock
        self.enabled = enabled
        # (window length, window number) -> bucket -> lease; ended windows go whole.
        self._windows: dict[tuple[int, int], dict[str, _Lease]] = {}
        self._refills: SingleFlight[None] = SingleFlight()

    def _key(self, bucket: str, window: int) -> str:
        return self.redis.key("rl", bucket, str(window))

    def _fail_open(self, exc: BaseException) -> None:
        self.degrade.redis("rate_limit", exc)  # the request goes through unchecked

    def _leases_of(self, window_s: int, window: int, now: float) -> dict[str, _Lease]:
        leases = self._windows.get((window_s, window))
        if leases is None:
            self._windows = {
                (length, number): held
                for (length, number), held in self._windows.items()
                if (number + 1) * length > now
            }
            leases = self._windows[window_s, window] = {}
        return leases

    def spend(self, bucket: str, limit: int, window_s: int) -> bool:
        """One event of a leased budget, spent from this process's lease if it has one
        left (or admitted, limits off): no coroutine, no Redis. False: ask ``hit``."""
        if not self.enabled:
            return True
        window = int(self.clock.timestamp() // window_s)
        leases = self._windows.get((window_s, window))
        lease = leases.get(bucket) if leases is not None else None
        if lease is None or lease.left <= 0:
            return False
        lease.left -= 1
        return True

    async def hit(
        self, bucket: str, limit: int, window_s: int, *, leased: bool = False
    ) -> int | None:
        """Count one event; the seconds to wait if ``limit`` is exceeded, else ``None``."""
        if not self.enabled:
            return None
        lease_size = limit // self.LEASE_SHARE if leased else 0
        now = self.clock.timestamp()
        window = int(now // window_s)
        if lease_size <= 1:
            return await self._hit_exact(bucket, limit, window, window_s, now)
        leases = self._leases_of(window_s, window, now)
        lease = leases.get(bucket)
        if lease is None:
            if len(leases) >= self.MAX_LEASES:
                return await self._hit_exact(bucket, limit, window, window_s, now)
            lease = leases[bucket] = _Lease()
        while lease.left <= 0:
            if lease.exhausted:
                return _retry_after(window, window_s, self.clock.timestamp())
            try:
                # One reservation in flight per bucket; concurrent requests wait for it.
                await self._refills.run(
                    lease,
                    partial(self._reserve, lease, bucket, window, lease_size, limit, window_s),
                )
            except REDIS_UNAVAILABLE as exc:
                self._fail_open(exc)
                return None
        lease.left -= 1
        return None

    async def _reserve(
        self, lease: _Lease, bucket: str, window: int, size: int, limit: int, window_s: int
    ) -> None:
        key = self._key(bucket, window)
        async with self.redis.client.pipeline(transaction=False) as pipe:
            pipe.incrby(key, size)
            pipe.expire(key, window_s + 1)
            total, _ = await pipe.execute()
        already_granted = int(total) - size
        lease.left += max(0, min(size, limit - already_granted))
        if int(total) >= limit:
            lease.exhausted = True

    async def _hit_exact(
        self, bucket: str, limit: int, window: int, window_s: int, now: float
    ) -> int | None:
        key = self._key(bucket, window)
        try:
            async with self.redis.client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_s + 1)
                count, _ = await pipe.execute()
        except REDIS_UNAVAILABLE as exc:
            self._fail_open(exc)
            return None
        if int(count) > limit:
            return _retry_after(window, window_s, now)
        return None

    async def blocked_for(self, bucket: str, limit: int, window_s: int) -> int | None:
        """Seconds until ``bucket`` may act again if it has reached ``limit``, else None.

        For exactly counted budgets: a leased one's counter includes unspent reservations.
        """
        if not self.enabled:
            return None
        now = self.clock.timestamp()
        window = int(now // window_s)
        try:
            value = await self.redis.client.get(self._key(bucket, window))
        except REDIS_UNAVAILABLE as exc:
            self._fail_open(exc)
            return None
        if int(value or 0) >= limit:
            return _retry_after(window, window_s, now)
        return None

    async def reset(self, bucket: str, window_s: int) -> None:
        """Forget ``bucket``'s count in the current window (here and in Redis)."""
        window = int(self.clock.timestamp() // window_s)
        self._windows.get((window_s, window), {}).pop(bucket, None)
        key = self._key(bucket, window)
        try:
            await self.redis.client.delete(key)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("rate_limit_reset", exc)
