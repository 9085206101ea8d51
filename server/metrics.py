"""Prometheus metrics, one registry per app (several apps live in one test process).

HTTP request metrics are recorded on every request, so they take the cheapest path
that is correct:
- one process (the default): plain counters owned by the event loop (no locks; nothing
  else touches them), turned into Prometheus families only when ``/metrics`` is read;
- ``PROMETHEUS_MULTIPROC_DIR`` set (``serve --workers N`` sets it): prometheus_client's
  multi-process values, so that ``/metrics`` adds up every worker.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_REQUESTS = ("jiangxin_http_requests", "HTTP requests by method, route template and status.")
_LATENCY = (
    "jiangxin_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
)
_IN_FLIGHT = ("jiangxin_http_requests_in_flight", "Requests being handled right now.")
_LOOP_LAG = (
    "jiangxin_event_loop_lag_max_seconds",
    "Longest the event loop was late waking a 50 ms timer since the process started.",
)


class RequestStats(Protocol):
    """What the middleware records: ``Metrics.requests``."""

    def started(self) -> None: ...

    def finished(self, method: str, route: str, status: int, elapsed_s: float) -> None: ...


_SERIES_LENGTH = len(LATENCY_BUCKETS) + 2  # a count per bucket (+Inf last), then the sum


class _LoopRequestStats:
    """Request counters of one process, touched only from its event loop: plain integers
    (and one float per series) until a scrape turns them into Prometheus families."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.loop_lag_max = 0.0
        # (method, route, status) -> [count per latency bucket (+Inf last)..., seconds]:
        # one lookup per request; the request count is the sum of the buckets.
        self.series: dict[tuple[str, str, int], list[float]] = {}

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        self.in_flight -= 1
        key = (method, route, status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * _SERIES_LENGTH
        series[bisect_left(LATENCY_BUCKETS, elapsed_s)] += 1
        series[-1] += elapsed_s

    def collect(self) -> Iterator[Metric]:
        """The Prometheus families, built at scrape time."""
        requests = CounterMetricFamily(*_REQUESTS, labels=["method", "route", "status"])
        by_route: dict[tuple[str, str], list[float]] = {}
        for (method, route, status), series in list(self.series.items()):
            requests.add_metric([method, route, str(status)], sum(series[:-1]))
            total = by_route.setdefault((method, route), [0.0] * _SERIES_LENGTH)
            for index, value in enumerate(series):
                total[index] += value
        yield requests
        latency = HistogramMetricFamily(*_LATENCY, labels=["method", "route"])
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        for (method, route), series in by_route.items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(bounds, series[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([method, route], buckets, series[-1])
        yield latency
        yield GaugeMetricFamily(*_IN_FLIGHT, value=self.in_flight)
        yield GaugeMetricFamily(*_LOOP_LAG, value=self.loop_lag_max)


class _MultiprocessRequestStats:
    """prometheus_client's multi-process values, so that ``/metrics`` adds up workers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(*_REQUESTS, ["method", "route", "status"], registry=registry)
        self._latency = Histogram(
            *_LATENCY, ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry
        )
        self._in_flight = Gauge(*_IN_FLIGHT, registry=registry, multiprocess_mode="livesum")
        self._children: dict[tuple[Any, ...], Any] = {}

    def started(self) -> None:
        self._in_flight.inc()

    def finished(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        self._in_flight.dec()
        key = (method, route, status)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self._requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._children.get(key[:2])
        if histogram is None:
            histogram = self._children[key[:2]] = self._latency.labels(method, route)
        histogram.observe(elapsed_s)


class Metrics:
    """The service's metrics; the middleware records, ``/metrics`` exposes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._loop_stats = _LoopRequestStats()
        self.requests: RequestStats
        """What the middleware records, on every request: ``started()``, ``finished()``."""
        if self.multiprocess:
            self.requests = _MultiprocessRequestStats(self.registry)
            self._loop_lag = Gauge(*_LOOP_LAG, registry=self.registry, multiprocess_mode="max")
        else:
            self.requests = self._loop_stats
            self.registry.register(self._loop_stats)
        self.rate_limit_fail_open = Counter(
            "jiangxin_rate_limit_fail_open",
            "Requests let through unchecked because Redis did not answer.",
            registry=self.registry,
        )
        self.feed_cache_loads = Counter(
            "jiangxin_feed_cache_loads",
            "Feed answers a process did not have: read from Redis (shared) or built from "
            "MongoDB. Requests minus these were answered from the process's own copy.",
            ["source"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "jiangxin_redis_errors",
            "Redis operations that failed and were degraded around.",
            ["operation"],
            registry=self.registry,
        )

    def loop_lag(self, lag_s: float) -> None:
        """A sample of how late the loop woke a timer (server/contexts.loop_monitor_ctx)."""
        if lag_s <= self._loop_stats.loop_lag_max:
            return
        self._loop_stats.loop_lag_max = lag_s
        if self.multiprocess:
            self._loop_lag.set(lag_s)

    def render(self) -> bytes:
        """The exposition text, across all workers when running multi-process."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
