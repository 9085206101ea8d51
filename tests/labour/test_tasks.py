"""Teachers edit and close their own tasks (issue 10, item 3), against the real services."""

from __future__ import annotations

from typing import Any

from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from server.clock import SettableClock
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.labour.conftest import (
    API,
    World,
    get_ok,
    make_task,
    post_ok,
    refreshed,
    shanghai_noon,
)
from tests.labour.test_checkins import check_in


async def patch(client: Client, task_id: str, who: Any, body: dict[str, Any]) -> Any:
    return await client.patch(f"{API}/tasks/{task_id}", json=body, headers=who.headers)


async def test_teachers_edit_their_own_tasks_only(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    resp = await patch(client, task["id"], world.a.teacher, {"title": "整理书包", "hours": 1})
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert (edited["title"], edited["hours"], edited["description"]) == ("整理书包", 1, "")
    assert edited["frequency"] == "daily" and edited["status"] == "open"
    for who, status in ((world.teacher2, 404), (world.b.teacher, 404), (world.s1, 403)):
        resp = await patch(client, task["id"], who, {"title": "别人的"})
        assert resp.status == status, who
    resp = await patch(client, task["id"], world.admin, {"description": "管理员补充说明"})
    assert resp.status == 200
    assert (await get_ok(client, f"/tasks/{task['id']}", world.s1))["title"] == "整理书包"
    # The frequency decides the periods already checked in: it is not editable.
    resp = await patch(client, task["id"], world.a.teacher, {"frequency": "weekly"})
    assert resp.status == 422
    assert_error(await resp.json(), "invalid_request")


async def test_editing_never_rewrites_approved_hours(
    client: Client, world: World, clock: SettableClock
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], makeup_days=1)
    first = await (await check_in(client, world.s1, task["id"], date="2026-12-01")).json()
    pending = await (await check_in(client, world.s1, task["id"])).json()
    approved = await post_ok(
        client, f"/checkins/{first['id']}/review", world.a.teacher, {"decision": "approved"}
    )
    assert approved["credited_hours"] == 0.5
    resp = await patch(client, task["id"], world.a.teacher, {"hours": 2, "category": "service"})
    assert resp.status == 200
    assert (await get_ok(client, f"/checkins/{first['id']}", world.s1))["credited_hours"] == 0.5
    # One made before the edit is worth what it was made for, approved after it too.
    later = await post_ok(
        client, f"/checkins/{pending['id']}/review", world.a.teacher, {"decision": "approved"}
    )
    assert (later["hours"], later["credited_hours"]) == (0.5, 0.5)
    # One made after it is worth the new hours, in the new category.
    clock.set(shanghai_noon("2026-12-03"))
    made = await (await check_in(client, await refreshed(client, world.s1), task["id"])).json()
    assert made["hours"] == 2
    doc = await client.app[TASK_SERVICE].repo.get_checkin(made["id"])
    assert doc is not None and doc["category"] == "service"


async def test_dates_and_classes_are_checked(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    for body, field in (
        ({"end_date": "2026-11-30"}, "end_date"),
        ({"start_date": "2027-01-05"}, "start_date"),
        ({"start_date": "2026-12-01", "end_date": "2028-01-01"}, "end_date"),
    ):
        resp = await patch(client, task["id"], world.a.teacher, body)
        assert resp.status == 422, body
        answer = await resp.json()
        assert_error(answer, "invalid_request")
        assert field in answer["error"]["details"]["fields"], answer
    for class_id in (world.a2["id"], world.b1["id"], "f" * 24):
        resp = await patch(client, task["id"], world.a.teacher, {"class_ids": [class_id]})
        assert resp.status == 404, class_id
    resp = await patch(client, task["id"], world.a.teacher, {"class_ids": []})
    assert resp.status == 422
    # Nothing of the refused edits was written.
    unchanged = await get_ok(client, f"/tasks/{task['id']}", world.a.teacher)
    assert (unchanged["start_date"], unchanged["end_date"]) == ("2026-12-01", "2026-12-31")
    assert unchanged["class_ids"] == [world.a1["id"]]
    # A teacher moved to school B no longer reaches school A's class, nor its task
    # (404, as another teacher's), and sets no task for it.
    admin = Principal(world.admin.user_id, "t", frozenset({Role.admin}), "t")
    await client.app[SCHOOL_SERVICE].attach_teacher(admin, world.b.id, world.a.teacher.user_id)
    resp = await patch(client, task["id"], world.a.teacher, {"class_ids": [world.a1["id"]]})
    assert resp.status == 404
    resp = await client.post(
        API + "/tasks",
        json={
            "title": "扫地", "category": "service", "class_ids": [world.a1["id"]],
            "start_date": "2026-12-01", "end_date": "2026-12-31", "frequency": "daily",
            "hours": 1,
        },
        headers=world.a.teacher.headers,
    )  # fmt: skip
    assert resp.status == 404
    assert "class_ids" in (await resp.json())["error"]["details"]["fields"]


async def test_a_closed_task_takes_no_check_ins(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    submitted = await (await check_in(client, world.s1, task["id"], date="2026-12-02")).json()
    resp = await client.post(f"{API}/tasks/{task['id']}/close", headers=world.teacher2.headers)
    assert resp.status == 404
    closed = await post_ok(client, f"/tasks/{task['id']}/close", world.a.teacher)
    assert closed["status"] == "closed" and closed["closed_at"]
    again = await post_ok(client, f"/tasks/{task['id']}/close", world.a.teacher)
    assert again["closed_at"] == closed["closed_at"]
    resp = await check_in(client, world.s2, task["id"])
    assert resp.status == 404  # not set for s2's class, closed or not
    resp = await check_in(client, world.s1, task["id"], date="2026-12-01")
    assert resp.status == 422
    assert_error(await resp.json(), "task_closed")
    resp = await patch(client, task["id"], world.a.teacher, {"title": "重开"})
    assert resp.status == 422
    assert_error(await resp.json(), "task_closed")
    # Gone from the students' list, still the teacher's; what was checked in is reviewed.
    assert (await get_ok(client, "/tasks", world.s1))["items"] == []
    mine = await get_ok(client, "/tasks", world.a.teacher)
    assert [t["status"] for t in mine["items"]] == ["closed"]
    reviewed = await post_ok(
        client, f"/checkins/{submitted['id']}/review", world.a.teacher, {"decision": "approved"}
    )
    assert reviewed["status"] == "approved"
