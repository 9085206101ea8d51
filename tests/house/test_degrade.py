"""One way to degrade: one metric with labels, a log at most once per interval."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from server.clock import SettableClock
from server.degrade import Degrade
from server.metrics import Metrics


def test_counts_every_fallback_and_logs_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SettableClock(datetime(2026, 12, 1, tzinfo=UTC))
    degrade = Degrade(Metrics(), clock, log_interval_s=60)
    with caplog.at_level(logging.WARNING, logger="jiangxin.degraded"):
        for _ in range(5):
            degrade.redis("feed_cache_get", ConnectionError("redis://:secret@host"))
        degrade.wechat("/wxa/msg_sec_check", "errcode=-1")
        clock.advance(61)
        degrade.redis("feed_cache_get", TimeoutError())
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "redis unavailable for feed_cache_get: ConnectionError; degraded",
        "wechat unavailable for /wxa/msg_sec_check: errcode=-1; degraded",
        "redis unavailable for feed_cache_get: TimeoutError; degraded "
        "(and 4 more since the last report)",
    ]
    assert "secret" not in caplog.text  # only the kind of failure is logged
    rendered = degrade.metrics.render().decode()
    assert 'jiangxin_degraded_total{backend="redis",operation="feed_cache_get"} 6.0' in rendered
    assert (
        'jiangxin_degraded_total{backend="wechat",operation="/wxa/msg_sec_check"} 1.0' in rendered
    )
