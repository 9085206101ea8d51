"""The labour numbers of the staff dashboard: check-ins per Asia/Shanghai day and hours
by category, for a teacher's classes, one of them, or their whole school (an admin:
any school or class).

Counts only, never names: a teacher sees their school's totals as they see their own
classes', and any other school or class is 404, as everywhere in the room. Each chart
is one aggregation over ``checkins`` (by ``day``, the Shanghai day a check-in was made
for; a make-up counts on the day it made up), whatever the number of students.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from handlers.labour.repo import SchoolRepo, TaskRepo
from handlers.labour.schools import SchoolService, Teaching
from handlers.labour.summary import CATEGORY_NAMES
from server.clock import Clock
from server.errors import NotFound
from server.principal import Principal

ScopeKind = Literal["mine", "class", "school"]
STATUSES = ("approved", "submitted", "rejected")
"""Check-in statuses, in the order the dashboard stacks them."""
DAYS = 30


@dataclass(frozen=True, slots=True)
class LabourScope:
    """Whose check-ins: the caller's classes (``mine``), a class, or a school."""

    kind: ScopeKind
    id: str | None = None

    @property
    def value(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class ScopeChoice:
    scope: LabourScope
    label: str
    group: str  # 全校 / 班级


@dataclass(frozen=True, slots=True)
class DayCounts:
    day: date
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True, slots=True)
class CategoryHours:
    category: str
    label: str
    hours: float
    checkins: int


@dataclass(frozen=True, slots=True)
class LabourDashboard:
    scope: LabourScope | None
    """None: nothing the caller may look at (a teacher with no class and no school)."""
    label: str
    choices: list[ScopeChoice]
    first: date
    last: date
    days: list[DayCounts]
    """Every day from ``first`` to ``last``, days without check-ins included."""
    categories: list[CategoryHours]
    """Every category, in ``CATEGORY_NAMES`` order."""


class LabourStats:
    def __init__(
        self, tasks: TaskRepo, schools: SchoolRepo, school_service: SchoolService, clock: Clock
    ) -> None:
        self.tasks = tasks
        self.schools = schools
        self.school_service = school_service
        self.clock = clock

    async def _teacher_choices(self, principal: Principal, teaching: Teaching) -> list[ScopeChoice]:
        """The teacher's classes and school as ``Teaching`` has them (schools.py): of
        the school they are attached to now; attached to none, nothing."""
        school_id = teaching.school_id
        if school_id is None:
            return []
        classes = await self.schools.classes_of_teacher(
            principal.user_id, None, 200, in_school=school_id
        )
        choices = []
        if classes:
            choices.append(ScopeChoice(LabourScope("mine"), "我的全部班级", "班级"))
        for doc in sorted(classes, key=lambda d: (d["grade"], d["name"])):
            choices.append(ScopeChoice(LabourScope("class", str(doc["_id"])), doc["name"], "班级"))
        school = await self.schools.get_school(school_id)
        if school is not None:
            label = f"全校：{school['name']}"
            choices.append(ScopeChoice(LabourScope("school", str(school["_id"])), label, "全校"))
        return choices

    async def _admin_choices(self, scope: LabourScope | None) -> list[ScopeChoice]:
        """Every school (the newest 100), and the classes of the school looked at."""
        schools = await self.schools.schools_page(None, 100)
        choices = [
            ScopeChoice(LabourScope("school", str(doc["_id"])), doc["name"], "学校")
            for doc in schools
        ]
        school_id = None
        if scope is not None and scope.kind == "school":
            school_id = scope.id
        elif scope is not None and scope.kind == "class" and scope.id:
            found = await self.schools.get_class(scope.id)
            school_id = found["school_id"] if found else None
        elif choices:
            school_id = choices[0].scope.id
        if school_id is not None:
            for doc in await self.schools.classes_of_school(school_id):
                choices.append(
                    ScopeChoice(LabourScope("class", str(doc["_id"])), doc["name"], "班级")
                )
        return choices

    async def dashboard(
        self, principal: Principal, scope: LabourScope | None, days: int = DAYS
    ) -> LabourDashboard:
        """The caller's numbers for ``scope`` (None: the first they may see) over the
        last ``days`` Shanghai days; a class or school not theirs: 404."""
        teaching = await self.school_service.teaching(principal)
        if teaching.admin:
            choices = await self._admin_choices(scope)
        else:
            choices = await self._teacher_choices(principal, teaching)
        if scope is None:
            scope = choices[0].scope if choices else None
        last = self.clock.today()
        first = last - timedelta(days=days - 1)
        chosen = next((c for c in choices if c.scope == scope), None)
        if scope is not None and chosen is None:
            raise NotFound()
        if scope is None or chosen is None:
            return LabourDashboard(None, "", choices, first, last, [], [])
        class_ids: list[str] | None = None
        school_id: str | None = None
        if scope.kind == "mine":
            class_ids = [c.scope.id for c in choices if c.scope.kind == "class" and c.scope.id]
        elif scope.kind == "class":
            class_ids = [scope.id] if scope.id else []
        else:
            school_id = scope.id
        span = (first.isoformat(), last.isoformat())
        counted = await self.tasks.counts_by_day(class_ids, school_id, *span)
        by_day: dict[str, dict[str, int]] = {}
        for row in counted:
            statuses = by_day.setdefault(row["day"], dict.fromkeys(STATUSES, 0))
            statuses[row["status"]] = statuses.get(row["status"], 0) + row["n"]
        day_list = [
            DayCounts(day, by_day.get(day.isoformat(), dict.fromkeys(STATUSES, 0)))
            for day in (first + timedelta(days=n) for n in range(days))
        ]
        summed = await self.tasks.hours_by_category(class_ids, school_id, *span)
        hours = {row["category"]: row for row in summed}
        categories = [
            CategoryHours(
                key,
                label,
                round(hours[key]["hours"], 2) if key in hours else 0.0,
                hours[key]["n"] if key in hours else 0,
            )
            for key, label in CATEGORY_NAMES.items()
        ]
        return LabourDashboard(scope, chosen.label, choices, first, last, day_list, categories)
