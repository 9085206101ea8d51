"""The one clock, and the school calendar (Asia/Shanghai days and ISO weeks).

Every reading of the time goes through the app's ``Clock`` (``app[CLOCK]``): real in
production, a ``SettableClock`` in tests, so that a test moves time instead of
sleeping for it (a story scheduled for tomorrow, an expired photo URL, a daily
check-in at midnight, a sign-up deadline). Durations measured for metrics and logs
(``time.perf_counter``) are not readings of the time and stay outside.

Asia/Shanghai has been UTC+8 without daylight saving since 1991, so the calendar is
a fixed offset: no tz database is needed on the machine (slim containers have none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class IsoWeek:
    """An ISO 8601 week (Monday to Sunday); ``str()`` is ``2026-W01``."""

    year: int
    week: int

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 7)


class Clock:
    """Real time. Subclassed by ``SettableClock`` for tests."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC (what MongoDB stores)."""
        return datetime.now(UTC)

    def timestamp(self) -> float:
        """The current instant as Unix seconds (token ``exp``, rate-limit windows)."""
        return time.time()

    # Seconds on a clock that never goes back (cache deadlines, waits): the C function
    # itself, no Python frame around it, since a cache hit reads it.
    monotonic = staticmethod(time.monotonic)

    # -- the school calendar: all of it in Asia/Shanghai ------------------------------

    def local_now(self) -> datetime:
        """The current instant on Shanghai's wall clock."""
        return self.now().astimezone(SHANGHAI)

    def today(self) -> date:
        """Today's date in Shanghai (a check-in at 23:59 and one at 00:01 are two days)."""
        return self.local_now().date()

    def this_week(self) -> IsoWeek:
        return iso_week(self.today())


class SettableClock(Clock):
    """A clock that tests set and move; it stands still between moves."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._monotonic = 1_000_000.0

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (forwards or back; the monotonic clock only goes forwards)."""
        if instant.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware datetime")
        instant = instant.astimezone(UTC)
        self._monotonic += max(0.0, (instant - self._now).total_seconds())
        self._now = instant

    def advance(self, by: timedelta | float) -> None:
        """Move forwards by ``by`` (a timedelta or seconds)."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError("advance() moves forwards; use set() to go back")
        self.set(self._now + step)


def iso_week(day: date) -> IsoWeek:
    """The ISO week ``day`` falls in (2027-01-01 is in 2026-W53)."""
    year, week, _ = day.isocalendar()
    return IsoWeek(year, week)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where Shanghai's ``day`` starts and the next day starts."""
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def local_date(instant: datetime) -> date:
    """The Shanghai date of an instant (aware; naive is refused, as MongoDB gives aware)."""
    if instant.tzinfo is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return instant.astimezone(SHANGHAI).date()


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    first_of_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)
