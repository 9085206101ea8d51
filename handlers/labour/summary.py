"""A student's labour summary: hours, counts, streaks and badges, computed from their
approved check-ins every time (no counter that can drift), in Python, from one query.

- **Hours** are each approved check-in's ``credited_hours`` (what its approval credited;
  a task edited later changes nothing), summed in hundredths of an hour so that ten
  times 0.1 is 1.0; counts are approved check-ins.
- **Streaks** are runs of consecutive Asia/Shanghai days with at least one approved
  check-in of a *daily* task, for the day it was made for: an approved make-up (补卡)
  fills its day, a day with nothing approved (missed, still waiting, or rejected and not
  redone) breaks the run. Days are ``date`` objects, so month and year ends and 29
  February are plain ``+ 1 day``. The current streak is the run through today, or
  through yesterday while today has nothing approved yet (the day is not over); the
  longest is the longest run ever.
- **Badges** are earned on the Shanghai day of the approval that completed them:
  replaying the approvals in the order they were made, 10/50/100 hours when the sum
  reached them, a 7/30-day streak when a run first reached that length (a late make-up
  that joins two runs earns it the day it is approved), a category's badge with its first
  approved check-in, and 全面发展 when all three categories have one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_args

from handlers.labour.periods import is_day_period
from handlers.labour.repo import STUDENTS, TaskRepo
from handlers.labour.schemas import (
    BadgeOut,
    Category,
    CategorySummary,
    LabourSummaryOut,
    StudentSummaryOut,
    StudentSummaryPage,
)
from handlers.labour.schools import SchoolService
from server.clock import Clock, local_date
from server.paging import PageQuery
from server.principal import Principal

Document = dict[str, Any]
CATEGORIES: tuple[Category, ...] = get_args(Category)
CATEGORY_NAMES = {"daily_life": "日常生活劳动", "productive": "生产劳动", "service": "服务性劳动"}

# What a summary reads of a check-in (the repo projects these).
SUMMARY_FIELDS = (
    "student_id",
    "category",
    "hours",
    "credited_hours",
    "period",
    "day",
    "created_at",
    "review",
)


@dataclass(frozen=True, slots=True)
class Badge:
    code: str
    name: str
    description: str


HOUR_BADGES = {10: "hours_10", 50: "hours_50", 100: "hours_100"}
STREAK_BADGES = {7: "streak_7", 30: "streak_30"}
BADGES = (
    Badge("hours_10", "劳动小能手", "累计劳动时长达到 10 小时"),
    Badge("hours_50", "劳动达人", "累计劳动时长达到 50 小时"),
    Badge("hours_100", "劳动之星", "累计劳动时长达到 100 小时"),
    Badge("streak_7", "坚持一周", "每日任务连续打卡 7 天"),
    Badge("streak_30", "坚持一月", "每日任务连续打卡 30 天"),
    *(
        Badge(f"category_{category}", f"{name}初体验", f"第一次完成{name}")
        for category, name in CATEGORY_NAMES.items()
    ),
    Badge("all_categories", "全面发展", "日常生活劳动、生产劳动、服务性劳动各完成一次"),
)


@dataclass(frozen=True, slots=True)
class Approved:
    """One approved check-in, as the summary needs it."""

    category: str
    centi_hours: int
    day: date | None  # a daily task's day; None for weekly and once tasks
    approved_at: datetime


def approved_of(doc: Document) -> Approved:
    hours = doc.get("credited_hours")
    if hours is None:
        hours = doc["hours"]
    review = doc.get("review") or {}
    day = None
    if is_day_period(doc["period"]):
        day = date.fromisoformat(doc.get("day") or doc["period"])
    return Approved(
        category=doc["category"],
        centi_hours=round(float(hours) * 100),
        day=day,
        approved_at=review.get("at") or doc["created_at"],
    )


class _Runs:
    """Runs of consecutive days, merged as days arrive in any order (O(1) each)."""

    def __init__(self) -> None:
        self.days: set[date] = set()
        self.start_of: dict[date, date] = {}  # a run's last day -> its first
        self.end_of: dict[date, date] = {}  # a run's first day -> its last
        self.longest = 0

    def add(self, day: date) -> int:
        """Add ``day``; the length of the run it is now in (0 if it was there)."""
        if day in self.days:
            return 0
        self.days.add(day)
        one = timedelta(days=1)
        start = self.start_of.pop(day - one, day)
        end = self.end_of.pop(day + one, day)
        self.end_of.pop(start, None)
        self.start_of.pop(end, None)
        self.end_of[start], self.start_of[end] = end, start
        length = (end - start).days + 1
        self.longest = max(self.longest, length)
        return length

    def through(self, day: date) -> int:
        """The length of the run that ``day`` is in (0 if none)."""
        if day not in self.days:
            return 0
        start = day
        while start - timedelta(days=1) in self.days:
            start -= timedelta(days=1)
        return (self.end_of[start] - start).days + 1


def summarise(docs: Iterable[Document], today: date) -> LabourSummaryOut:
    """The summary of these approved check-ins (any order), as of ``today``."""
    approved = sorted(map(approved_of, docs), key=lambda a: a.approved_at)
    earned: dict[str, date] = {}
    centi = 0
    hours_by = dict.fromkeys(CATEGORIES, 0)
    count_by = dict.fromkeys(CATEGORIES, 0)
    runs = _Runs()
    for item in approved:
        on = local_date(item.approved_at)
        centi += item.centi_hours
        for threshold, code in HOUR_BADGES.items():
            if centi >= threshold * 100:
                earned.setdefault(code, on)
        if item.category in hours_by:
            hours_by[item.category] += item.centi_hours
            count_by[item.category] += 1
            earned.setdefault(f"category_{item.category}", on)
            if all(count_by.values()):
                earned.setdefault("all_categories", on)
        if item.day is not None and runs.add(item.day):
            for length, code in STREAK_BADGES.items():
                if runs.longest >= length:
                    earned.setdefault(code, on)
    current = runs.through(today) or runs.through(today - timedelta(days=1))
    return LabourSummaryOut(
        total_hours=centi / 100,
        approved_count=len(approved),
        by_category={
            category: CategorySummary(hours=hours_by[category] / 100, count=count_by[category])
            for category in CATEGORIES
        },
        current_streak=current,
        longest_streak=runs.longest,
        badges=[
            BadgeOut(
                code=badge.code,
                name=badge.name,
                description=badge.description,
                earned_on=earned.get(badge.code),
            )
            for badge in BADGES
        ],
        as_of=today,
    )


class SummaryService:
    def __init__(self, repo: TaskRepo, schools: SchoolService, clock: Clock) -> None:
        self.repo = repo
        self.schools = schools
        self.clock = clock

    async def mine(self, principal: Principal) -> LabourSummaryOut:
        """The caller's summary over every check-in they made, in any class."""
        docs = await self.repo.approved_of_students([principal.user_id], SUMMARY_FIELDS)
        return summarise(docs, self.clock.today())

    async def of_class(
        self, principal: Principal, class_id: str, query: PageQuery
    ) -> StudentSummaryPage:
        """A page of the class's students (their teacher's), each with the summary of the
        check-ins they made in this class: one query for the whole page."""
        await self.schools.own_class(principal, class_id)
        position = STUDENTS.decode(query.cursor)
        students = await self.schools.enrolments_page(class_id, position, query.limit + 1)
        students, next_cursor = STUDENTS.page(students, query.limit)
        ids = [doc["_id"] for doc in students]
        by_student: dict[str, list[Document]] = {student_id: [] for student_id in ids}
        for doc in await self.repo.approved_of_students(ids, SUMMARY_FIELDS, class_id):
            by_student[doc["student_id"]].append(doc)
        today = self.clock.today()
        items = [
            StudentSummaryOut(
                user_id=doc["_id"],
                student_name=doc["student_name"],
                **summarise(by_student[doc["_id"]], today).model_dump(),
            )
            for doc in students
        ]
        return StudentSummaryPage(items=items, next_cursor=next_cursor)
