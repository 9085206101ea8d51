"""The one clock: settable in tests, and the Asia/Shanghai school calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.clock import SHANGHAI, SettableClock, day_bounds, iso_week, local_date, month_end


def test_a_settable_clock_stands_still_until_moved() -> None:
    clock = SettableClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    first, mono = clock.now(), clock.monotonic()
    assert clock.now() == first and clock.monotonic() == mono
    clock.advance(90)
    assert clock.now() - first == timedelta(seconds=90)
    assert clock.monotonic() - mono == 90
    assert clock.timestamp() == clock.now().timestamp()


def test_going_back_moves_the_wall_clock_but_never_the_monotonic_one() -> None:
    clock = SettableClock(datetime(2026, 12, 1, tzinfo=UTC))
    mono = clock.monotonic()
    clock.set(datetime(2026, 11, 30, tzinfo=UTC))
    assert clock.now() == datetime(2026, 11, 30, tzinfo=UTC)
    assert clock.monotonic() == mono
    with pytest.raises(ValueError, match="forwards"):
        clock.advance(-1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SettableClock(datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 12, 1))


def test_shanghai_midnight_is_16_00_utc() -> None:
    clock = SettableClock(datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))
    assert clock.today() == date(2026, 12, 1)
    clock.advance(1)
    assert clock.today() == date(2026, 12, 2)  # 00:00 in Shanghai, still Dec 1 in UTC
    assert clock.now().date() == date(2026, 12, 1)
    assert clock.local_now().utcoffset() == timedelta(hours=8)
    assert SHANGHAI.tzname(None) == "Asia/Shanghai"


def test_day_bounds_are_shanghai_days_in_utc() -> None:
    start, end = day_bounds(date(2026, 12, 31))
    assert start == datetime(2026, 12, 30, 16, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert local_date(start) == date(2026, 12, 31)
    assert local_date(end - timedelta(microseconds=1)) == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2026, 12, 31), "2026-W53"),  # 2026 has 53 ISO weeks
        (date(2027, 1, 3), "2026-W53"),  # a Sunday: still the old year's week
        (date(2027, 1, 4), "2027-W01"),
        (date(2025, 12, 29), "2026-W01"),  # a Monday of December in next year's week 1
    ],
)
def test_iso_weeks_across_the_year_end(day: date, week: str) -> None:
    found = iso_week(day)
    assert str(found) == week
    assert found.monday <= day <= found.sunday
    assert found.monday.isoweekday() == 1 and found.sunday.isoweekday() == 7


def test_this_week_follows_the_shanghai_date() -> None:
    clock = SettableClock(datetime(2027, 1, 3, 16, 0, tzinfo=UTC))  # Mon 4 Jan in Shanghai
    assert str(clock.this_week()) == "2027-W01"


@pytest.mark.parametrize(
    ("day", "last"),
    [
        (date(2026, 2, 10), date(2026, 2, 28)),
        (date(2028, 2, 1), date(2028, 2, 29)),  # a leap year
        (date(2026, 12, 5), date(2026, 12, 31)),
    ],
)
def test_month_end(day: date, last: date) -> None:
    assert month_end(day) == last
