"""Redis, the fast shared state: key naming, and rate limits that fail open.

MongoDB is the source of truth; everything here may vanish (Redis restarted, down)
without breaking an invariant. Callers catch ``REDIS_ERRORS`` and degrade.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.metrics import Metrics

log = logging.getLogger("jiangxin.redis")

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)


def connect_redis(url: str, timeout_s: float) -> Redis:
    """A client that fails fast: one quick retry, short timeouts (callers degrade)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        decode_responses=False,
    )


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
        except REDIS_ERRORS:
            return False


class RateLimiter:
    """Fixed-window counters in Redis, shared by every worker; fail open when Redis is gone."""

    def __init__(self, redis: RedisState, metrics: Metrics) -> None:
        self.redis = redis
        self.metrics = metrics

    async def hit(self, bucket: str, limit: int, window_s: int) -> int | None:
        """Count one event; the seconds to wait if ``limit`` is exceeded, else ``None``."""
        now = time.time()
        window = int(now // window_s)
        key = self.redis.key("rl", bucket, str(window))
        try:
            async with self.redis.client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_s + 1)
                count, _ = await pipe.execute()
        except REDIS_ERRORS as exc:
            self.metrics.rate_limit_fail_open.inc()
            log.warning("rate limit not enforced, Redis unavailable: %s", type(exc).__name__)
            return None
        if int(count) > limit:
            return max(1, int((window + 1) * window_s - now) + 1)
        return None

    async def blocked_for(self, bucket: str, limit: int, window_s: int) -> int | None:
        """Seconds until ``bucket`` may act again if it has reached ``limit``, else None."""
        now = time.time()
        window = int(now // window_s)
        try:
            value = await self.redis.client.get(self.redis.key("rl", bucket, str(window)))
        except REDIS_ERRORS as exc:
            self.metrics.rate_limit_fail_open.inc()
            log.warning("rate limit not enforced, Redis unavailable: %s", type(exc).__name__)
            return None
        if int(value or 0) >= limit:
            return max(1, int((window + 1) * window_s - now) + 1)
        return None

    async def reset(self, bucket: str, window_s: int) -> None:
        key = self.redis.key("rl", bucket, str(int(time.time() // window_s)))
        try:
            await self.redis.client.delete(key)
        except REDIS_ERRORS:
            self.metrics.redis_errors.labels("rate_limit_reset").inc()
