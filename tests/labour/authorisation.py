"""The labour room in the authorisation matrix.

"The caller's own" is their natural relation to the object: a teacher's (or an
admin's) class is one they teach, in a school they are attached to; anyone else's is
one they joined with guardian consent. A task is one set for such a class, a check-in
is one in a class the teacher teaches or, for anyone else, the caller's own. The
services let admins reach every class, task and check-in (``Whose.owner_or_admin``);
checking in needs the caller's own enrolment, admin or not (``assigned_task``).
"""

from __future__ import annotations

from datetime import timedelta

from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from handlers.labour.schemas import ConsentIn, TaskIn
from server.keys import CLOCK
from server.principal import Principal, Role
from tests.fixtures.authorisation import Call, Caller, Case, Obj, World, builds, factory, plain

ADMIN = frozenset({Role.admin})
OTHER_TEACHER = "f" * 24  # teaches the classes callers join
GUARDIAN = {
    "guardian_name": "矩阵家长",
    "relationship": "mother",
    "version": consent.CURRENT_VERSION,
}


def _as_teacher(user_id: str) -> Principal:
    """Makes ``user_id`` the teacher of what it creates, whatever their roles."""
    return Principal(user_id, "matrix", ADMIN, "matrix")


async def _school(world: World) -> str:
    school = await world.app[SCHOOL_SERVICE].create_school(
        _as_teacher("matrix"), "矩阵小学", "天元区"
    )
    return school.id


async def _class_of(world: World, user_id: str) -> tuple[str, str]:
    """A class taught by ``user_id`` (now attached to its school): its id and join code."""
    schools = world.app[SCHOOL_SERVICE]
    school_id = await _school(world)
    await schools.repo.attach_teacher(user_id, school_id, world.app[CLOCK].now())
    created = await schools.create_class(_as_teacher(user_id), school_id, "矩阵班", 3)
    assert created.join_code is not None
    world.memo[f"labour-code:{created.id}"] = Obj(created.join_code)
    return created.id, created.join_code


async def _enrol(world: World, user_id: str, code: str) -> None:
    await world.app[SCHOOL_SERVICE].join(
        Principal(user_id, "matrix", frozenset(), "matrix"),
        "192.0.2.1",
        code,
        "矩阵学生",
        ConsentIn.model_validate(GUARDIAN),
    )


async def _task_for(world: World, teacher_id: str, class_id: str) -> str:
    today = world.app[CLOCK].today()
    task = await world.app[TASK_SERVICE].create_task(
        _as_teacher(teacher_id),
        TaskIn(
            title="矩阵任务", category="service", class_ids=[class_id], start_date=today,
            end_date=today + timedelta(days=7), frequency="daily", hours=1,
        ),
    )  # fmt: skip
    return task.id


async def _student(world: World) -> str:
    if "labour-student" not in world.memo:
        world.memo["labour-student"] = Obj((await world.resident("labour-student")).user_id)
    return world.memo["labour-student"].id


async def _checkin_in_class_of(world: World, teacher_id: str) -> str:
    """A check-in, by a student, in a class ``teacher_id`` teaches."""
    class_id, code = await _class_of(world, teacher_id)
    student = await _student(world)
    await _enrol(world, student, code)
    task_id = await _task_for(world, teacher_id, class_id)
    out = await world.app[TASK_SERVICE].check_in(
        Principal(student, "matrix", frozenset(), "matrix"), task_id, "", [], None
    )
    return out.id


def _caller_id(case: Case) -> str:
    return case.caller.user_id if case.caller is not None else "0" * 24


def _teaches(owner: Caller) -> bool:
    return bool({Role.teacher, Role.admin} & owner.roles)


async def _joined_class(world: World, student_id: str) -> str:
    """A class (of another teacher's) that ``student_id`` has just joined."""
    class_id, code = await _class_of(world, OTHER_TEACHER)
    await _enrol(world, student_id, code)
    return class_id


@factory("school")
async def school(world: World, owner: Caller, state: str | None) -> Obj:
    return Obj(await _school(world))


@factory("class")
async def labour_class(world: World, owner: Caller, state: str | None) -> Obj:
    """A class ``owner`` teaches (teachers, admins), else one they joined."""
    if _teaches(owner):
        return Obj((await _class_of(world, owner.user_id))[0])
    return Obj(await _joined_class(world, owner.user_id))


@factory("task")
async def task(world: World, owner: Caller, state: str | None) -> Obj:
    """A task ``owner`` set (teachers, admins), else one set for the class they joined."""
    if _teaches(owner):
        class_id, _ = await _class_of(world, owner.user_id)
        return Obj(await _task_for(world, owner.user_id, class_id))
    return await assigned_task(world, owner, state)


@factory("assigned_task")
async def assigned_task(world: World, owner: Caller, state: str | None) -> Obj:
    """A task set for a class ``owner`` has just joined, whatever their roles."""
    class_id = await _joined_class(world, owner.user_id)
    return Obj(await _task_for(world, OTHER_TEACHER, class_id))


@factory("checkin")
async def checkin(world: World, owner: Caller, state: str | None) -> Obj:
    """A check-in in a class ``owner`` teaches (teachers, admins), else their own."""
    if _teaches(owner):
        return Obj(await _checkin_in_class_of(world, owner.user_id))
    task_id = (await assigned_task(world, owner, state)).id
    out = await world.app[TASK_SERVICE].check_in(
        Principal(owner.user_id, "matrix", frozenset(), "matrix"), task_id, "", [], None
    )
    return Obj(out.id)


plain(
    ("GET", "/api/v1/admin/schools"),
    ("GET", "/api/v1/classes"),
    ("GET", "/api/v1/consent/guardian"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/me/checkins"),
    ("GET", "/api/v1/teacher/checkins"),
    ("GET", "/api/v1/classes/{class_id}"),
    ("POST", "/api/v1/classes/{class_id}/join-code"),
    ("GET", "/api/v1/classes/{class_id}/students"),
    ("GET", "/api/v1/tasks/{task_id}"),
    ("GET", "/api/v1/checkins/{checkin_id}"),
    ("POST", "/api/v1/tasks/{task_id}/close"),
    ("GET", "/api/v1/me/labour-summary"),
    ("GET", "/api/v1/classes/{class_id}/labour-summary"),
    ("GET", "/api/v1/tasks/{task_id}/progress"),
)
plain(("POST", "/api/v1/me/guardian-consent/withdraw"), caller="fresh_user")


@builds("POST", "/api/v1/admin/schools")
async def create_school(case: Case) -> Call:
    return Call(json={"name": "矩阵小学", "district": "荷塘区"})


@builds("POST", "/api/v1/admin/schools/{school_id}/teachers")
async def attach_teacher(case: Case) -> Call:
    teacher = await case.world.staff("labour-teacher", Role.teacher)
    return Call(json={"user_id": teacher.user_id})


@builds("POST", "/api/v1/classes")
async def create_class(case: Case) -> Call:
    school_id = await _school(case.world)
    if case.caller is not None and Role.teacher in case.caller.roles:
        await case.world.app[SCHOOL_SERVICE].attach_teacher(
            _as_teacher("matrix"), school_id, case.caller.user_id
        )
    return Call(json={"school_id": school_id, "name": "矩阵班", "grade": 4})


@builds("DELETE", "/api/v1/classes/{class_id}/students/{student_id}")
async def remove_student(case: Case) -> Call:
    """A student who joined the class named (its join code kept when it was made)."""
    code = case.world.memo[f"labour-code:{case.id('class_id')}"].id
    student = await _student(case.world)
    await _enrol(case.world, student, code)
    return Call(path={"student_id": student})


@builds("POST", "/api/v1/classes/join")
async def join_class(case: Case) -> Call:
    _, code = await _class_of(case.world, case.world.other.user_id)
    return Call(json={"join_code": code, "student_name": "矩阵学生", "guardian_consent": GUARDIAN})


@builds("POST", "/api/v1/tasks")
async def create_task(case: Case) -> Call:
    class_id, _ = await _class_of(case.world, _caller_id(case))
    today = case.world.app[CLOCK].today()
    return Call(
        json={
            "title": "矩阵任务", "category": "daily_life", "class_ids": [class_id],
            "start_date": today.isoformat(), "end_date": (today + timedelta(days=3)).isoformat(),
            "frequency": "once", "hours": 1,
        }
    )  # fmt: skip


@builds("POST", "/api/v1/tasks/{task_id}/checkins")
async def check_in(case: Case) -> Call:
    return Call(json={})


@builds("POST", "/api/v1/checkins/{checkin_id}/review")
async def review_checkin(case: Case) -> Call:
    return Call(json={"decision": "approved"})


@builds("POST", "/api/v1/checkins/review")
async def review_checkins(case: Case) -> Call:
    checkin_id = await _checkin_in_class_of(case.world, _caller_id(case))
    return Call(json={"ids": [checkin_id], "decision": "approved"})


@builds("PATCH", "/api/v1/tasks/{task_id}")
async def update_task(case: Case) -> Call:
    return Call(json={"title": "矩阵任务（改）", "hours": 2})


@builds("GET", "/api/v1/classes/{class_id}/report.xlsx")
async def class_report(case: Case) -> Call:
    today = case.world.app[CLOCK].today().isoformat()
    return Call(query={"from_date": today, "to_date": today})
