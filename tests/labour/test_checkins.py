"""Tasks and check-ins (issue 10, items 3 and 4), against the real services."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from handlers.labour.schemas import ConsentIn
from handlers.media.keys import MEDIA_SERVICE
from server.clock import SettableClock
from server.principal import Principal
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.labour.conftest import (
    API,
    World,
    get_ok,
    make_task,
    post_ok,
    refreshed,
    shanghai_noon,
)
from tests.media.test_media_api import jpeg_bytes, upload


async def photo(client: Client, who: Session, color: str, purpose: str = "checkin") -> str:
    resp = await upload(client, who, jpeg_bytes(color=color), purpose=purpose)
    assert resp.status == 201, await resp.text()
    media_id: str = (await resp.json())["id"]
    return media_id


async def check_in(
    client: Client, who: Session, task_id: str, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return await client.post(
        f"{API}/tasks/{task_id}/checkins", json=body, headers={**who.headers, **(headers or {})}
    )


async def test_teachers_set_tasks_for_their_own_classes_only(client: Client, world: World) -> None:
    for class_id in (world.a2["id"], world.b1["id"], "f" * 24):
        resp = await client.post(
            API + "/tasks",
            json={
                "title": "扫地",
                "category": "service",
                "class_ids": [world.a1["id"], class_id],
                "start_date": "2026-12-01",
                "end_date": "2026-12-31",
                "frequency": "daily",
                "hours": 1,
            },
            headers=world.a.teacher.headers,
        )
        assert resp.status == 404, class_id
    resp = await client.post(
        API + "/tasks",
        json={
            "title": "扫地", "category": "service", "class_ids": [world.a1["id"]],
            "start_date": "2026-12-10", "end_date": "2026-12-01", "frequency": "daily",
            "hours": 1,
        },
        headers=world.a.teacher.headers,
    )  # fmt: skip
    assert resp.status == 422
    resp = await client.post(API + "/tasks", json={"title": "x"}, headers=world.s1.headers)
    assert resp.status == 403


async def test_students_see_their_class_tasks_with_my_status(client: Client, world: World) -> None:
    daily = await make_task(client, world.a.teacher, [world.a1["id"]])
    weekly = await make_task(
        client, world.a.teacher, [world.a1["id"]], frequency="weekly", category="productive"
    )
    other = await make_task(client, world.teacher2, [world.a2["id"]])
    listed = await get_ok(client, "/tasks", world.s1)
    assert [(t["id"], t["my_status"], t["period"]) for t in listed["items"]] == [
        (weekly["id"], "todo", "2026-W49"),
        (daily["id"], "todo", "2026-12-02"),
    ]
    # Another class's task: 404 to read and to check in.
    assert (await client.get(f"{API}/tasks/{other['id']}", headers=world.s1.headers)).status == 404
    resp = await check_in(client, world.s1, other["id"])
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    # A school's other teacher does not see it either; the teacher lists their own.
    resp = await client.get(f"{API}/tasks/{daily['id']}", headers=world.teacher2.headers)
    assert resp.status == 404
    mine = await get_ok(client, "/tasks", world.a.teacher)
    assert {t["id"] for t in mine["items"]} == {daily["id"], weekly["id"]}
    assert (await check_in(client, world.s1, daily["id"])).status == 201
    listed = await get_ok(client, "/tasks", world.s1)
    assert [t["my_status"] for t in listed["items"]] == ["todo", "submitted"]


async def test_one_check_in_per_period(client: Client, world: World, clock: SettableClock) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    first = await check_in(client, world.s1, task["id"], note="擦了桌子")
    assert first.status == 201, await first.text()
    body = await first.json()
    assert (body["period"], body["status"], body["late"]) == ("2026-12-02", "submitted", False)
    second = await check_in(client, world.s1, task["id"])
    assert second.status == 409
    assert_error(await second.json(), "already_checked_in")
    # Shanghai's next day starts at 16:00 UTC: 23:59 and 00:01 are two periods.
    clock.set(shanghai_noon("2026-12-02", hour=23) + timedelta(minutes=59))
    await refreshed(client, world.s1)
    assert (await check_in(client, world.s1, task["id"])).status == 409
    clock.advance(timedelta(minutes=2))
    await refreshed(client, world.s1)
    third = await check_in(client, world.s1, task["id"])
    assert third.status == 201
    assert (await third.json())["period"] == "2026-12-03"


async def test_the_task_window_and_the_makeup_window(
    client: Client, world: World, clock: SettableClock
) -> None:
    task = await make_task(
        client, world.a.teacher, [world.a1["id"]], start_date="2026-12-01",
        end_date="2026-12-05", makeup_days=2,
    )  # fmt: skip
    yesterday = await check_in(client, world.s1, task["id"], date="2026-12-01")
    assert yesterday.status == 201
    assert (await yesterday.json())["late"] is True
    for day, reason in (("2026-12-03", "in_the_future"), ("2026-11-30", "outside_task_dates")):
        resp = await check_in(client, world.s1, task["id"], date=day)
        assert resp.status == 422, day
        body = await resp.json()
        assert_error(body, "task_not_open")
        assert body["error"]["details"]["reason"] == reason
    clock.set(shanghai_noon("2026-12-07"))
    await refreshed(client, world.s1)
    assert (await check_in(client, world.s1, task["id"])).status == 422  # ended (daily)
    late = await check_in(client, world.s1, task["id"], date="2026-12-05")
    assert late.status == 201 and (await late.json())["late"] is True
    resp = await check_in(client, world.s1, task["id"], date="2026-12-04")
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["reason"] == "makeup_window_passed"
    # A task that has not started yet.
    later = await make_task(
        client, await refreshed(client, world.a.teacher), [world.a1["id"]],
        start_date="2026-12-20", end_date="2026-12-25", frequency="once",
    )  # fmt: skip
    resp = await check_in(client, world.s1, later["id"])
    assert resp.status == 422
    assert_error(await resp.json(), "task_not_open")


async def test_photos_must_be_the_students_own_checkin_photos(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    resp = await check_in(client, world.s1, task["id"])
    assert resp.status == 422
    assert_error(await resp.json(), "photo_required")
    theirs = await photo(client, world.s2, "olive")
    avatar = await photo(client, world.s1, "maroon", purpose="avatar")
    for media_id in (theirs, avatar, "0" * 32, theirs.upper()):
        resp = await check_in(client, world.s1, task["id"], media_ids=[media_id])
        assert resp.status == 422, media_id
        body = await resp.json()
        assert_error(body, "media_not_found")
        assert "media_ids" in body["error"]["details"]["fields"]
    mine = await photo(client, world.s1, "navy")
    resp = await check_in(client, world.s1, task["id"], media_ids=[mine])
    assert resp.status == 201, await resp.text()
    checkin = await resp.json()
    url = checkin["photos"][0]["urls"]["thumb"]
    assert "sig=" in url and "exp=" in url
    media = await client.app[MEDIA_SERVICE].get_out(mine)
    assert media is not None
    doc = await client.app[TASK_SERVICE].repo.get_checkin(checkin["id"])
    assert doc is not None
    # Who sees the check-in (and so its signed URLs): the student, their teacher, admins.
    for who, status in (
        (world.s1, 200), (world.a.teacher, 200), (world.admin, 200),
        (world.s2, 404), (world.teacher2, 404), (world.b.teacher, 404),
    ):  # fmt: skip
        resp = await client.get(f"{API}/checkins/{checkin['id']}", headers=who.headers)
        assert resp.status == status, who
    # Without its signature the photo is not there.
    bare = urlsplit(url).path
    assert (await client.get(bare)).status == 404
    split = urlsplit(url)
    assert (await client.get(f"{split.path}?{split.query}")).status == 200


async def test_notes_go_through_wechat_text_security(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    mine = await photo(client, world.s1, "teal")
    resp = await check_in(client, world.s1, task["id"], note="这是违规内容", media_ids=[mine])
    assert resp.status == 422
    assert_error(await resp.json(), "content_rejected")
    media_doc = await client.app[MEDIA_SERVICE].repo.get(mine)
    assert media_doc is not None and media_doc["referenced_by"] == []
    assert (await get_ok(client, "/me/checkins", world.s1))["items"] == []
    resp = await check_in(client, world.s1, task["id"], note="洗了碗", media_ids=[mine])
    assert resp.status == 201
    assert (await resp.json())["flags"] == []


async def test_one_idempotency_key_one_check_in(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    key = {"Idempotency-Key": "tap-1"}
    first = await check_in(client, world.s1, task["id"], headers=key, note="拖地")
    again = await check_in(client, world.s1, task["id"], headers=key, note="拖地")
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    reused = await check_in(client, world.s1, task["id"], headers=key, note="别的")
    assert reused.status == 422
    assert_error(await reused.json(), "idempotency_key_reused")


async def test_300_students_check_in_at_once(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    code = world.a1["join_code"]
    schools = client.app[SCHOOL_SERVICE]
    students = await asyncio.gather(
        *(sign_in_wechat(client, f"crowd{index}") for index in range(300))
    )
    guardian = ConsentIn(
        guardian_name="家长", relationship="father", version=consent.CURRENT_VERSION
    )
    for index, student in enumerate(students):
        principal = Principal(student.user_id, "s", frozenset(), "t")
        await schools.join(principal, f"10.0.{index // 250}.{index % 250}", code, "学生", guardian)

    async def tap_twice(student: Session) -> list[int]:
        key = {"Idempotency-Key": f"k-{student.user_id}"}
        answers = await asyncio.gather(
            check_in(client, student, task["id"], headers=key),
            check_in(client, student, task["id"], headers=key),
        )
        return [answer.status for answer in answers]

    statuses = await asyncio.gather(*(tap_twice(student) for student in students))
    assert all(pair == [201, 201] for pair in statuses), statuses
    collection = client.app[TASK_SERVICE].repo.checkins
    assert await collection.count_documents({"task_id": task["id"]}) == 300
    assert len(await collection.distinct("student_id", {"task_id": task["id"]})) == 300


async def test_withdrawing_consent_stops_check_ins_and_erases_photos(
    client: Client, world: World
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], makeup_days=1)
    mine = await photo(client, world.s1, "navy")
    unused = await photo(client, world.s1, "gold")
    avatar = await photo(client, world.s1, "maroon", purpose="avatar")
    resp = await check_in(client, world.s1, task["id"], media_ids=[mine])
    assert resp.status == 201
    url = urlsplit((await resp.json())["photos"][0]["urls"]["large"])
    assert (await client.get(f"{url.path}?{url.query}")).status == 200
    withdrawn = await post_ok(client, "/me/guardian-consent/withdraw", world.s1)
    assert withdrawn == {"status": "withdrawn", "erased_checkins": 1}
    assert (await client.get(f"{url.path}?{url.query}")).status == 404
    media = client.app[MEDIA_SERVICE]
    assert await media.get_out(mine) is None and await media.get_out(unused) is None
    assert await media.get_out(avatar) is not None  # not a check-in photo: it stays
    # Check-ins stop at once (the token still says student until its refresh).
    resp = await check_in(client, world.s1, task["id"], date="2026-12-01")
    assert resp.status == 404
    me = await get_ok(client, "/me", world.s1)
    assert me["class_id"] is None and me["school_id"] is None
    assert "student" not in me["roles"] and "resident" in me["roles"]
    exported = (await get_ok(client, "/me/export", world.s1))["sections"]
    assert exported["labour_checkins"] == []
    assert exported["labour_classes"]["classes_joined"] == []
    assert exported["labour_classes"]["enrolment"] is None
    assert exported["labour_classes"]["guardian_consents"][0]["withdrawn_at"]
    # The teacher no longer finds the student in the class.
    students = await get_ok(client, f"/classes/{world.a1['id']}/students", world.a.teacher)
    assert students["items"] == []
    # Withdrawing again is harmless.
    assert (await post_ok(client, "/me/guardian-consent/withdraw", world.s1))[
        "erased_checkins"
    ] == 0


async def test_erasure_takes_classes_consents_and_check_ins(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    assert (await check_in(client, world.s1, task["id"])).status == 201
    resp = await client.delete(API + "/me", headers=world.s1.headers)
    assert resp.status == 202
    repo = client.app[TASK_SERVICE].repo
    assert await repo.checkins.count_documents({"student_id": world.s1.user_id}) == 0
    school_repo = client.app[SCHOOL_SERVICE].repo
    assert await school_repo.enrolment(world.s1.user_id) is None
    assert await school_repo.consents_of(world.s1.user_id) == []
