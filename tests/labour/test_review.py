"""Teachers review check-ins of their own classes, one or many at once (issue 10, item 5;
the WeChat message to the student comes with the outbox)."""

from __future__ import annotations

import asyncio

from handlers.labour.keys import TASK_SERVICE
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.labour.conftest import API, World, get_ok, join, make_task, post_ok
from tests.labour.test_checkins import check_in


async def checked_in(client: Client, world: World) -> tuple[dict[str, str], str, str]:
    """A task for a1 and a2; s1 (a1) and s2 (a2) checked in. Returns the task and both ids."""
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    other = await make_task(client, world.teacher2, [world.a2["id"]])
    one = await (await check_in(client, world.s1, task["id"], note="扫地")).json()
    two = await (await check_in(client, world.s2, other["id"])).json()
    return task, one["id"], two["id"]


async def test_teachers_see_and_review_their_own_classes_only(client: Client, world: World) -> None:
    _, mine, theirs = await checked_in(client, world)
    listed = await get_ok(client, "/teacher/checkins", world.a.teacher)
    assert [(c["id"], c["student_name"]) for c in listed["items"]] == [(mine, "张一")]
    submitted = await get_ok(client, "/teacher/checkins?status=submitted", world.a.teacher)
    assert [c["id"] for c in submitted["items"]] == [mine]
    resp = await client.get(
        f"{API}/teacher/checkins?class_id={world.a2['id']}", headers=world.a.teacher.headers
    )
    assert resp.status == 404
    resp = await client.get(f"{API}/teacher/checkins", headers=world.s1.headers)
    assert resp.status == 403
    for who in (world.teacher2, world.b.teacher):
        resp = await client.post(
            f"{API}/checkins/{mine}/review", json={"decision": "approved"}, headers=who.headers
        )
        assert resp.status == 404
    # A student moved to another class: the old check-in stays with the old teacher, but
    # the real name is no longer theirs to see.
    await join(client, world.s1, world.b1["join_code"], "张一")
    listed = await get_ok(client, "/teacher/checkins", world.a.teacher)
    assert [(c["id"], c["student_name"]) for c in listed["items"]] == [(mine, None)]
    approved = await post_ok(
        client, f"/checkins/{mine}/review", world.a.teacher, {"decision": "approved"}
    )
    assert approved["status"] == "approved"
    assert approved["review"]["by"] == world.a.teacher.user_id
    assert theirs


async def test_two_teachers_approving_at_once_credit_the_hours_once(
    client: Client, world: World
) -> None:
    _, mine, _ = await checked_in(client, world)
    answers = await asyncio.gather(
        *(
            client.post(
                f"{API}/checkins/{mine}/review",
                json={"decision": "approved", "comment": "很好"},
                headers=who.headers,
            )
            for who in [world.a.teacher, world.admin] * 5
        )
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] + [409] * 9
    for answer in answers:
        if answer.status == 409:
            assert_error(await answer.json(), "already_reviewed")
    doc = await client.app[TASK_SERVICE].repo.get_checkin(mine)
    assert doc is not None
    assert (doc["status"], doc["credited_hours"]) == ("approved", 0.5)
    # A decided check-in is not decided again the other way either.
    resp = await client.post(
        f"{API}/checkins/{mine}/review", json={"decision": "rejected"},
        headers=world.a.teacher.headers,
    )  # fmt: skip
    assert resp.status == 409


async def test_a_rejected_check_in_may_be_redone(client: Client, world: World) -> None:
    task, mine, _ = await checked_in(client, world)
    rejected = await post_ok(
        client, f"/checkins/{mine}/review", world.a.teacher,
        {"decision": "rejected", "comment": "照片看不清"},
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    assert rejected["review"]["comment"] == "照片看不清"
    tasks = await get_ok(client, "/tasks", world.s1)
    assert tasks["items"][0]["my_status"] == "rejected"
    redo = await check_in(client, world.s1, task["id"], note="重新拍了")
    assert redo.status == 201
    assert (await check_in(client, world.s1, task["id"])).status == 409
    tasks = await get_ok(client, "/tasks", world.s1)
    assert tasks["items"][0]["my_status"] == "submitted"
    history = await get_ok(client, "/me/checkins", world.s1)
    assert [c["status"] for c in history["items"]] == ["submitted", "rejected"]


async def test_bulk_review_checks_each_check_in(client: Client, world: World) -> None:
    task, mine, theirs = await checked_in(client, world)
    extra = await sign_in_and_join(client, world)
    second = await (await check_in(client, extra, task["id"])).json()
    await post_ok(
        client, f"/checkins/{second['id']}/review", world.a.teacher, {"decision": "approved"}
    )
    missing = "0" * 24
    answer = await post_ok(
        client, "/checkins/review", world.a.teacher,
        {"ids": [mine, theirs, missing, second["id"]], "decision": "approved"},
    )  # fmt: skip
    assert answer["results"] == [
        {"id": mine, "status": "approved", "error": None},
        {"id": theirs, "status": None, "error": "not_found"},
        {"id": missing, "status": None, "error": "not_found"},
        {"id": second["id"], "status": "approved", "error": "already_reviewed"},
    ]
    doc = await client.app[TASK_SERVICE].repo.get_checkin(theirs)
    assert doc is not None and doc["status"] == "submitted"
    resp = await client.post(
        f"{API}/checkins/review", json={"ids": [mine], "decision": "approved"},
        headers=world.s1.headers,
    )  # fmt: skip
    assert resp.status == 403


async def sign_in_and_join(client: Client, world: World) -> Session:
    student = await sign_in_wechat(client, "extra")
    await join(client, student, world.a1["join_code"], "加一")
    return student
