"""A teacher detached from a school, or moved to another, loses its classes at once.

A teacher's access to a class, its tasks and check-ins (with their photos' signed
URLs), progress, report, join code and summaries needs the teacher attached *now* to
the class's school (``handlers/labour/schools.py``, ``Teaching``): detached or moved,
each is 404 by id, as another teacher's, and their lists hold only what is of their
current school; attached again, it all comes back (detaching deletes nothing). Admins
keep every class. All through HTTP (the detaching through the console's 学校 page,
which calls ``SchoolService.detach_teacher``), against the real services.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.console.test_admins import send
from tests.console.test_teachers import console
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session
from tests.labour.conftest import API, World, get_ok, make_class, make_task, post_ok
from tests.labour.test_checkins import check_in, photo

REPORT_DATES = "from_date=2026-12-01&to_date=2026-12-31"


async def _setup(client: Client, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """teacher_a's task for class A1 and 张一's check-in of it with a photo."""
    task = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    media_id = await photo(client, world.s1, "navy")
    resp = await check_in(client, world.s1, task["id"], media_ids=[media_id])
    assert resp.status == 201, await resp.text()
    return task, await resp.json()


def _by_id(world: World, task: dict[str, Any], checkin: dict[str, Any]) -> list[tuple[str, str]]:
    """Every teacher route naming A1, its task or its check-in (method, path)."""
    class_id, task_id, checkin_id = world.a1["id"], task["id"], checkin["id"]
    return [
        ("GET", f"/classes/{class_id}"),
        ("GET", f"/classes/{class_id}/students"),
        ("GET", f"/classes/{class_id}/labour-summary"),
        ("GET", f"/classes/{class_id}/report.xlsx?{REPORT_DATES}"),
        ("GET", f"/teacher/checkins?class_id={class_id}"),
        ("GET", f"/tasks/{task_id}"),
        ("GET", f"/tasks/{task_id}/progress"),
        ("GET", f"/checkins/{checkin_id}"),
    ]


async def _statuses(client: Client, who: Session, calls: list[tuple[str, str]]) -> list[int]:
    statuses = []
    for method, path in calls:
        resp = await client.request(method, API + path, headers=who.headers)
        statuses.append(resp.status)
    return statuses


async def _lists(client: Client, who: Session) -> tuple[list[str], list[str], list[str]]:
    """The ids in the teacher's lists: classes, tasks, check-ins."""
    classes = await get_ok(client, "/classes", who)
    tasks = await get_ok(client, "/tasks", who)
    checkins = await get_ok(client, "/teacher/checkins?status=submitted", who)
    return (
        [c["id"] for c in classes["items"]],
        [t["id"] for t in tasks["items"]],
        [c["id"] for c in checkins["items"]],
    )


async def _detach(client: Client, world: World, school_id: str, user_id: str) -> None:
    """The admin detaches the teacher on the console's 学校 page."""
    admin = await console(client, world.admin)
    school = f"/admin/schools/{school_id}"
    answer = await send(admin, school, school + "/detach", {"user_id": user_id})
    assert (answer.status, answer.location) == (303, school + "?done=detached")


async def test_a_detached_teacher_loses_the_schools_classes_until_attached_again(
    client: Client, world: World
) -> None:
    teacher = world.a.teacher
    task, checkin = await _setup(client, world)
    calls = _by_id(world, task, checkin)
    assert await _statuses(client, teacher, calls) == [200] * len(calls)
    seen = await get_ok(client, f"/checkins/{checkin['id']}", teacher)
    url = urlsplit(seen["photos"][0]["urls"]["thumb"])
    assert "sig=" in url.query
    assert await _lists(client, teacher) == ([world.a1["id"]], [task["id"]], [checkin["id"]])

    await _detach(client, world, world.a.id, teacher.user_id)

    # Every object by id is not found, as another teacher's.
    assert await _statuses(client, teacher, calls) == [404] * len(calls)
    # What would act on them is refused, and changes nothing.
    for method, path, body in (
        ("POST", f"/classes/{world.a1['id']}/join-code", None),
        ("DELETE", f"/classes/{world.a1['id']}/students/{world.s1.user_id}", None),
        ("PATCH", f"/tasks/{task['id']}", {"title": "改了"}),
        ("POST", f"/tasks/{task['id']}/close", None),
        ("POST", f"/checkins/{checkin['id']}/review", {"decision": "approved"}),
    ):
        resp = await client.request(method, API + path, json=body, headers=teacher.headers)
        assert resp.status == 404, (method, path, await resp.text())
    bulk = await post_ok(
        client, "/checkins/review", teacher, {"ids": [checkin["id"]], "decision": "approved"}
    )
    assert bulk["results"] == [{"id": checkin["id"], "status": None, "error": "not_found"}]
    # No new class in the old school, no task for its class.
    resp = await client.post(
        API + "/classes",
        json={"school_id": world.a.id, "name": "五年级（1）班", "grade": 5},
        headers=teacher.headers,
    )
    assert resp.status == 404
    resp = await client.post(
        API + "/tasks",
        json={"title": "扫地", "category": "service", "class_ids": [world.a1["id"]],
              "start_date": "2026-12-01", "end_date": "2026-12-31", "frequency": "daily",
              "hours": 1},
        headers=teacher.headers,
    )  # fmt: skip
    assert resp.status == 404
    # Their lists are empty; the code, the student, the task and the check-in are as
    # they were: the admin sees them all.
    assert await _lists(client, teacher) == ([], [], [])
    assert await _statuses(client, world.admin, calls) == [200] * len(calls)
    as_admin = await get_ok(client, f"/classes/{world.a1['id']}", world.admin)
    assert as_admin["join_code"] == world.a1["join_code"]
    assert as_admin["student_count"] == 1
    assert (await get_ok(client, f"/tasks/{task['id']}", world.admin))["title"] == task["title"]
    as_admin_checkin = await get_ok(client, f"/checkins/{checkin['id']}", world.admin)
    assert as_admin_checkin["status"] == "submitted" and as_admin_checkin["review"] is None
    assert as_admin_checkin["photos"][0]["id"] == checkin["photos"][0]["id"]
    # The photo: no teacher route hands this teacher a signed URL any more, and its bare
    # path is 404 as for everyone.
    assert (await client.get(url.path)).status == 404

    # Attached again to the school: everything is back, and works.
    await post_ok(client, f"/admin/schools/{world.a.id}/teachers", world.admin,
                  {"user_id": teacher.user_id})  # fmt: skip
    assert await _statuses(client, teacher, calls) == [200] * len(calls)
    assert await _lists(client, teacher) == ([world.a1["id"]], [task["id"]], [checkin["id"]])
    again = await get_ok(client, f"/checkins/{checkin['id']}", teacher)
    assert "sig=" in again["photos"][0]["urls"]["thumb"]
    rotated = await post_ok(client, f"/classes/{world.a1['id']}/join-code", teacher)
    assert rotated["join_code"] != world.a1["join_code"]
    approved = await post_ok(
        client, f"/checkins/{checkin['id']}/review", teacher, {"decision": "approved"}
    )
    assert approved["status"] == "approved" and approved["student_name"] == "张一"


async def test_a_teacher_moved_to_another_school_keeps_only_that_schools_classes(
    client: Client, world: World
) -> None:
    teacher = world.a.teacher
    task, checkin = await _setup(client, world)
    calls = _by_id(world, task, checkin)
    await post_ok(client, f"/admin/schools/{world.b.id}/teachers", world.admin,
                  {"user_id": teacher.user_id})  # fmt: skip
    assert await _statuses(client, teacher, calls) == [404] * len(calls)
    assert await _lists(client, teacher) == ([], [], [])
    # School B's: a class of their own there, its task and check-ins are theirs.
    b2 = await make_class(client, world.b, "四年级（2）班", teacher=teacher)
    resp = await client.post(
        API + "/tasks",
        json={"title": "扫地", "category": "service", "class_ids": [world.a1["id"], b2["id"]],
              "start_date": "2026-12-01", "end_date": "2026-12-31", "frequency": "daily",
              "hours": 1},
        headers=teacher.headers,
    )  # fmt: skip
    assert resp.status == 404  # a task for school A's class and B's: refused whole
    b_task = await make_task(client, teacher, [b2["id"]])
    assert await _lists(client, teacher) == ([b2["id"]], [b_task["id"]], [])
    # School B's other classes stay their teacher's (B1 is teacher_b's).
    resp = await client.get(f"{API}/classes/{world.b1['id']}", headers=teacher.headers)
    assert resp.status == 404
    bulk = await post_ok(
        client, "/checkins/review", teacher, {"ids": [checkin["id"]], "decision": "rejected"}
    )
    assert bulk["results"] == [{"id": checkin["id"], "status": None, "error": "not_found"}]
    assert (await get_ok(client, f"/checkins/{checkin['id']}", world.s1))["status"] == "submitted"
    # Back to school A: A's classes again, B's no longer.
    await post_ok(client, f"/admin/schools/{world.a.id}/teachers", world.admin,
                  {"user_id": teacher.user_id})  # fmt: skip
    assert await _statuses(client, teacher, calls) == [200] * len(calls)
    assert await _lists(client, teacher) == ([world.a1["id"]], [task["id"]], [checkin["id"]])
    resp = await client.get(f"{API}/classes/{b2['id']}", headers=teacher.headers)
    assert resp.status == 404
