"""The one way to survive a backend going away (Redis, WeChat).

Code that can do without a backend catches its errors (``server.errors.
REDIS_UNAVAILABLE`` for Redis), calls ``degrade.redis(operation, exc)`` (or
``.wechat``), and falls back: reads go to MongoDB, rate limits fail open, a counter
waits in the process. Every call counts in one metric,
``jiangxin_degraded_total{backend, operation}``; the log says so at most once per
``log_interval_s`` per (backend, operation), with how many more happened meanwhile,
so that an outage is visible without flooding the log. What cannot be done without
the backend raises ``server.errors.Unavailable`` (503) after calling this.

At shutdown a backend that is gone is no error either: what a stopping component could
not hand over or close (view counts not flushed, the job worker's state in Redis) is
noted with ``lost_at_shutdown`` and said in one line by ``report_shutdown``, once every
resource is closed, instead of a traceback from each cleanup context.
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
        # (backend, what was not done, the kind of failure), in the order they happened
        self._shutdown_losses: list[tuple[str, str, str]] = []

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

    def lost_at_shutdown(self, backend: str, what: str, exc: BaseException) -> None:
        """A stopping component could not do ``what`` (``"3 story views not flushed"``)
        because ``backend`` is gone; said by ``report_shutdown``."""
        self.counter.labels(backend, "shutdown").inc()
        self._shutdown_losses.append((backend, what, type(exc).__name__))

    def report_shutdown(self) -> None:
        """One warning line for everything ``lost_at_shutdown`` noted (nothing if none)."""
        if not self._shutdown_losses:
            return
        parts = []
        for backend in dict.fromkeys(backend for backend, _, _ in self._shutdown_losses):
            lost = [(what, why) for b, what, why in self._shutdown_losses if b == backend]
            reasons = ", ".join(dict.fromkeys(why for _, why in lost))
            parts.append(f"{backend} unavailable ({reasons}): " + "; ".join(w for w, _ in lost))
        self._shutdown_losses.clear()
        log.warning("shutdown: %s", " | ".join(parts))
