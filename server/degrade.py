"""The one way to survive a backend going away (Redis, WeChat).

Code that can do without a backend catches its errors (``server.errors.
REDIS_UNAVAILABLE`` for Redis), calls ``degrade.redis(operation, exc)`` (or
``.wechat``), and falls back: reads go to MongoDB, rate limits fail open, a counter
waits in the process. Every call counts in one metric,
``jiangxin_degraded_total{backend, operation}``; the log says so at most once per
``log_interval_s`` per (backend, operation), with how many more happened meanwhile,
so that an outage is visible without flooding the log. What cannot be done without
the backend raises ``server.errors.Unavailable`` (503) after calling this.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from server.clock import Clock
from server.metrics import Metrics

log = logging.getLogger("jiangxin.degraded")


class Degrade:
    def __init__(self, metrics: Metrics, clock: Clock, *, log_interval_s: float = 60.0) -> None:
        self.metrics = metrics
        self.clock = clock
        self.log_interval_s = log_interval_s
        self.counter = Counter(
            "jiangxin_degraded",
            "Operations that could not reach a backend and fell back (or answered 503).",
            ["backend", "operation"],
            registry=metrics.registry,
        )
        # (backend, operation) -> (when last logged, calls not logged since)
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}

    def __call__(self, backend: str, operation: str, exc: BaseException | str) -> None:
        """Count one fallback; log it unless this one was logged within the interval."""
        self.counter.labels(backend, operation).inc()
        key = (backend, operation)
        now = self.clock.monotonic()
        last = self._logged.get(key)
        if last is not None and now - last[0] < self.log_interval_s:
            self._logged[key] = (last[0], last[1] + 1)
            return
        self._logged[key] = (now, 0)
        # The kind of failure only: messages may carry URLs with secrets or tokens.
        reason = exc if isinstance(exc, str) else type(exc).__name__
        more = f" (and {last[1]} more since the last report)" if last and last[1] else ""
        log.warning("%s unavailable for %s: %s; degraded%s", backend, operation, reason, more)

    def redis(self, operation: str, exc: BaseException | str) -> None:
        self("redis", operation, exc)

    def wechat(self, operation: str, exc: BaseException | str) -> None:
        self("wechat", operation, exc)
