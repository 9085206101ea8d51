"""Prometheus metrics, one registry per app (several apps live in one test process).

With ``PROMETHEUS_MULTIPROC_DIR`` set (``serve --workers N`` sets it), every worker
writes its samples there and ``/metrics`` aggregates all workers.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics; handlers record, ``/metrics`` exposes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "jiangxin_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jiangxin_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "jiangxin_http_requests_in_flight",
            "Requests being handled right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # Hot path: label children cached, and (single process) in-flight read at
        # scrape time from a plain int instead of a locked inc/dec per request.
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._in_flight_now = 0
        if not self._multiprocess:
            self.in_flight.set_function(lambda: self._in_flight_now)
        self._request_counters: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}
        self.rate_limit_fail_open = Counter(
            "jiangxin_rate_limit_fail_open_total",
            "Requests let through unchecked because Redis did not answer.",
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "jiangxin_redis_errors_total",
            "Redis operations that failed and were degraded around.",
            ["operation"],
            registry=self.registry,
        )

    def request_started(self) -> None:
        if self._multiprocess:
            self.in_flight.inc()
        else:
            self._in_flight_now += 1

    def request_finished(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        if self._multiprocess:
            self.in_flight.dec()
        else:
            self._in_flight_now -= 1
        key = (method, route, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.requests.labels(method, route, str(status))
        counter.inc()
        latency = self._latency_children.get(key[:2])
        if latency is None:
            latency = self._latency_children[key[:2]] = self.latency.labels(method, route)
        latency.observe(elapsed_s)

    def render(self) -> bytes:
        """The exposition text, across all workers when running multi-process."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
