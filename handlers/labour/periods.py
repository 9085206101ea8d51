"""A task's periods on the school calendar (Asia/Shanghai, ``server.clock``).

One check-in per task, student and period: the date for a daily task (``2026-12-02``),
the ISO week for a weekly one (``2026-W49``), ``once`` for a task done once. A period
is checked in on time until it ends, and late (补卡) up to ``makeup_days`` after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from server.clock import iso_week
from server.errors import AppError


class TaskNotOpen(AppError):
    status = 422
    code = "task_not_open"
    message = "该任务当前不在打卡时间内"


class TaskClosed(AppError):
    status = 422
    code = "task_closed"
    message = "该任务已结束，不能再打卡或修改"


@dataclass(frozen=True, slots=True)
class Slot:
    period: str
    late: bool
    day: date
    """The Asia/Shanghai day checked in for (a daily task's period; the day a weekly or
    once task was done)."""


def period_of(frequency: str, day: date) -> str:
    if frequency == "daily":
        return day.isoformat()
    if frequency == "weekly":
        return str(iso_week(day))
    return "once"


def is_day_period(period: str) -> bool:
    """Whether ``period`` is a day (a daily task's), not a week or ``once``."""
    return len(period) == 10 and period[4] == "-" and period[7] == "-"


def period_end(task: dict[str, Any], day: date) -> date:
    """The last day of the period ``day`` is in (never past the task's end)."""
    end = date.fromisoformat(task["end_date"])
    if task["frequency"] == "daily":
        return day
    if task["frequency"] == "weekly":
        return min(iso_week(day).sunday, end)
    return end


def current_period(task: dict[str, Any], today: date) -> str:
    """The period a student sees the task in today (its first before it starts, its
    last after it ends)."""
    start, end = date.fromisoformat(task["start_date"]), date.fromisoformat(task["end_date"])
    return period_of(task["frequency"], min(max(today, start), end))


def slot_for(task: dict[str, Any], today: date, day: date | None) -> Slot:
    """The period a check-in made ``today`` for ``day`` fills, and whether it is late;
    ``TaskClosed`` when its teacher closed it, ``TaskNotOpen`` when no period of it can
    be checked in today."""
    start, end = date.fromisoformat(task["start_date"]), date.fromisoformat(task["end_date"])
    if task["status"] != "open":
        raise TaskClosed()
    if day is None:
        # A daily make-up names its day; the period of a weekly or once task that has
        # ended is its last one.
        day = today if task["frequency"] == "daily" else min(today, end)
    if day > today:
        raise TaskNotOpen(details={"reason": "in_the_future", "fields": {"date": "after today"}})
    if day < start or day > end:
        raise TaskNotOpen(details={"reason": "outside_task_dates"})
    ends = period_end(task, day)
    late = ends < today
    if late and (today - ends).days > task["makeup_days"]:
        raise TaskNotOpen(details={"reason": "makeup_window_passed"})
    return Slot(period_of(task["frequency"], day), late, day)
