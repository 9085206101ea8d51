"""The teachers' pages in the authorisation matrix (tests/console/authorisation.py
imports this module). Classes, tasks and check-ins are the labour room's factories'
(tests/labour/authorisation.py): the caller's own is one of a class they teach."""

from __future__ import annotations

from datetime import timedelta

from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from server.keys import CLOCK
from tests.fixtures.authorisation import Call, Case, builds, plain
from tests.labour.authorisation import (
    _caller_id,
    _checkin_in_class_of,
    _class_of,
    _enrol,
    _school,
    _student,
)

CLASS = "/admin/classes/{class_id}"
TASK = "/admin/tasks/{task_id}"

plain(
    ("GET", "/admin/classes"),
    ("GET", CLASS),
    ("GET", CLASS + "/join-code"),
    ("POST", CLASS + "/join-code"),
    ("GET", "/admin/tasks"),
    ("GET", "/admin/tasks/new"),
    ("GET", TASK + "/edit"),
    ("POST", TASK + "/close"),
    ("GET", TASK + "/progress"),
    ("GET", "/admin/checkins"),
    ("GET", "/admin/checkins/duplicates"),
    ("GET", "/admin/checkins/reviewed"),
)


@builds("POST", "/admin/classes")
async def create_class(case: Case) -> Call:
    """The caller attached to a school (the page creates the class in the caller's)."""
    world = case.world
    school_id = await _school(world)
    await world.app[SCHOOL_SERVICE].repo.attach_teacher(
        _caller_id(case), school_id, world.app[CLOCK].now()
    )
    return Call(data={"name": "矩阵班", "grade": "4"})


@builds("POST", CLASS + "/students/{student_id}/remove")
async def remove_student(case: Case) -> Call:
    """A student who joined the class named (its join code kept when it was made)."""
    code = case.world.memo[f"labour-code:{case.id('class_id')}"].id
    student = await _student(case.world)
    await _enrol(case.world, student, code)
    return Call(path={"student_id": student})


@builds("GET", CLASS + "/report.xlsx")
async def class_report(case: Case) -> Call:
    today = case.world.app[CLOCK].today().isoformat()
    return Call(query={"from_date": today, "to_date": today})


def _task_form(**fields: str) -> dict[str, str]:
    return {"title": "矩阵任务", "category": "daily_life", "frequency": "once", "hours": "1",
            "makeup_days": "0", **fields}  # fmt: skip


@builds("POST", "/admin/tasks/new")
async def create_task(case: Case) -> Call:
    class_id, _ = await _class_of(case.world, _caller_id(case))
    today = case.world.app[CLOCK].today()
    dates = {"start_date": today.isoformat(), "end_date": (today + timedelta(days=3)).isoformat()}
    return Call(data=_task_form(class_ids=class_id, **dates))


@builds("POST", TASK + "/edit")
async def update_task(case: Case) -> Call:
    """The task as it is, with a new title."""
    tasks = await case.world.app[TASK_SERVICE].tasks_by_id([case.id("task_id")])
    task = tasks[case.id("task_id")]
    return Call(
        data=_task_form(
            title="矩阵任务（改）", category=task.category, class_ids=task.class_ids[0],
            start_date=task.start_date.isoformat(), end_date=task.end_date.isoformat(),
            hours=str(task.hours),
        )
    )  # fmt: skip


@builds("POST", "/admin/checkins/review")
async def bulk_approve(case: Case) -> Call:
    checkin_id = await _checkin_in_class_of(case.world, _caller_id(case))
    return Call(data={"ids": checkin_id})


@builds("POST", "/admin/checkins/{checkin_id}/review")
async def review_checkin(case: Case) -> Call:
    return Call(data={"decision": "approved", "comment": "矩阵"})
