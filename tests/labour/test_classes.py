"""Schools, teachers, classes, join codes and guardian consent (issue 10, items 1 and 2)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from handlers.labour import codes, consent
from handlers.labour.keys import SCHOOL_SERVICE
from server.clock import SettableClock
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import sign_in_staff, sign_in_wechat
from tests.labour.conftest import (
    API,
    World,
    get_ok,
    guardian,
    join,
    make_class,
    make_school,
    post_ok,
)


async def test_a_teacher_creates_classes_only_in_their_own_school(
    client: Client, world: World
) -> None:
    # Another school's id, and a school that does not exist: both 404.
    for school_id in (world.b.id, "0" * 24):
        resp = await client.post(
            API + "/classes",
            json={"school_id": school_id, "name": "五年级（1）班", "grade": 5},
            headers=world.a.teacher.headers,
        )
        assert resp.status == 404, school_id
        assert_error(await resp.json(), "not_found")
    # A teacher attached to no school creates none.
    stray = await sign_in_staff(client, "stray", Role.teacher)
    resp = await client.post(
        API + "/classes",
        json={"school_id": world.a.id, "name": "五年级（1）班", "grade": 5},
        headers=stray.headers,
    )
    assert resp.status == 404
    # A resident is no teacher at all.
    resp = await client.post(
        API + "/classes",
        json={"school_id": world.a.id, "name": "x", "grade": 5},
        headers=world.s1.headers,
    )
    assert resp.status == 403


async def test_only_admins_make_schools_and_attach_teacher_accounts(
    client: Client, world: World
) -> None:
    for who in (world.a.teacher, world.s1):
        resp = await client.post(
            API + "/admin/schools", json={"name": "x", "district": "y"}, headers=who.headers
        )
        assert resp.status == 403
    # Only an account holding the teacher role can be attached.
    resp = await client.post(
        f"{API}/admin/schools/{world.a.id}/teachers",
        json={"user_id": world.s1.user_id},
        headers=world.admin.headers,
    )
    assert resp.status == 422
    assert_error(await resp.json(), "not_a_teacher")
    resp = await client.post(
        f"{API}/admin/schools/{'a' * 24}/teachers",
        json={"user_id": world.a.teacher.user_id},
        headers=world.admin.headers,
    )
    assert resp.status == 404
    me = await get_ok(client, "/me", world.a.teacher)
    assert me["school_id"] == world.a.id
    assert me["class_id"] is None


async def test_join_codes_are_short_unambiguous_and_rotatable(client: Client, world: World) -> None:
    code = world.a1["join_code"]
    assert len(code) == codes.CODE_LENGTH
    assert not set(code) & set("0O1IlL")
    # Only the class's teacher sees and rotates it.
    assert (await get_ok(client, f"/classes/{world.a1['id']}", world.s1))["join_code"] is None
    for who in (world.teacher2, world.b.teacher):
        resp = await client.post(f"{API}/classes/{world.a1['id']}/join-code", headers=who.headers)
        assert resp.status == 404
        resp = await client.get(f"{API}/classes/{world.a1['id']}", headers=who.headers)
        assert resp.status == 404
    rotated = await post_ok(client, f"/classes/{world.a1['id']}/join-code", world.a.teacher)
    assert rotated["join_code"] != code
    late = await sign_in_wechat(client, "late")
    resp = await client.post(
        API + "/classes/join",
        json={"join_code": code, "student_name": "王五", "guardian_consent": guardian()},
        headers=late.headers,
    )
    assert resp.status == 422
    assert_error(await resp.json(), "join_code_invalid")
    # Typed the way people type it: lower case, with a dash.
    typed = rotated["join_code"].lower()[:4] + "-" + rotated["join_code"].lower()[4:]
    user = await join(client, late, typed, "王五")
    assert user["class_id"] == world.a1["id"]
    # The database holds no live code, only its digest.
    doc = await client.app[SCHOOL_SERVICE].repo.get_class(world.a1["id"])
    assert doc is not None and rotated["join_code"] not in str(doc)


async def test_a_join_code_expires(client: Client, world: World, clock: SettableClock) -> None:
    settings = client.app[SCHOOL_SERVICE].settings
    clock.advance(timedelta(days=settings.join_code_ttl_days, seconds=1))
    student = await sign_in_wechat(client, "expired")
    resp = await client.post(
        API + "/classes/join",
        json={
            "join_code": world.a1["join_code"],
            "student_name": "赵六",
            "guardian_consent": guardian(),
        },
        headers=student.headers,
    )
    assert resp.status == 422
    assert_error(await resp.json(), "join_code_invalid")


async def test_join_attempts_are_limited_per_user_and_per_address(
    client: Client, world: World
) -> None:
    settings = client.app[SCHOOL_SERVICE].settings
    guesser = await sign_in_wechat(client, "guesser")
    statuses = []
    for _ in range(settings.join_attempts_per_user_per_hour + 1):
        resp = await client.post(
            API + "/classes/join",
            json={"join_code": "ABCDEFGH", "student_name": "猜", "guardian_consent": guardian()},
            headers=guesser.headers,
        )
        statuses.append(resp.status)
    assert statuses[:-1] == [422] * settings.join_attempts_per_user_per_hour
    assert statuses[-1] == 429
    assert int(resp.headers["Retry-After"]) > 0
    # Even the right code waits now: the limit is on attempts, not on wrong answers.
    resp = await client.post(
        API + "/classes/join",
        json={
            "join_code": world.a1["join_code"],
            "student_name": "猜",
            "guardian_consent": guardian(),
        },
        headers=guesser.headers,
    )
    assert resp.status == 429
    # Failures from one address add up over many accounts.
    remaining = (
        settings.join_failures_per_address_per_hour - settings.join_attempts_per_user_per_hour
    )
    for index in range(remaining // 5 + 1):
        other = await sign_in_wechat(client, f"guesser{index}")
        for _ in range(5):
            resp = await client.post(
                API + "/classes/join",
                json={
                    "join_code": "ABCDEFGH",
                    "student_name": "猜",
                    "guardian_consent": guardian(),
                },
                headers=other.headers,
            )
    assert resp.status == 429
    honest = await sign_in_wechat(client, "honest")
    resp = await client.post(
        API + "/classes/join",
        json={
            "join_code": world.a1["join_code"],
            "student_name": "诚",
            "guardian_consent": guardian(),
        },
        headers=honest.headers,
    )
    assert resp.status == 429


async def test_joining_needs_a_guardians_consent_of_the_current_text(
    client: Client, world: World
) -> None:
    text = await (await client.get(API + "/consent/guardian")).json()
    assert text["version"] == consent.CURRENT_VERSION
    assert "监护人" in text["text"] and len(text["sha256"]) == 64
    student = await sign_in_wechat(client, "noconsent")
    for extra in ({}, {"guardian_consent": guardian(version="2020-01-01")}):
        resp = await client.post(
            API + "/classes/join",
            json={"join_code": world.a1["join_code"], "student_name": "钱七", **extra},
            headers=student.headers,
        )
        assert resp.status == 422
        body = await resp.json()
        assert_error(body, "guardian_consent_required")
        assert body["error"]["details"]["current_version"] == consent.CURRENT_VERSION
    me = await get_ok(client, "/me", student)
    assert me["class_id"] is None and "student" not in me["roles"]
    user = await join(client, student, world.a1["join_code"], "钱七")
    assert "student" in user["roles"]
    assert (user["school_id"], user["class_id"]) == (world.a.id, world.a1["id"])
    exported = await get_ok(client, "/me/export", student)
    consents = exported["sections"]["labour_classes"]["guardian_consents"]
    assert [(c["guardian_name"], c["relationship"], c["version"]) for c in consents] == [
        ("王芳", "mother", consent.CURRENT_VERSION)
    ]
    assert consents[0]["consented_at"]


async def test_a_student_is_in_one_class_at_a_time_and_moving_keeps_history(
    client: Client, world: World
) -> None:
    user = await join(client, world.s1, world.a2["join_code"], "张一")
    assert user["class_id"] == world.a2["id"]
    a1 = await get_ok(client, f"/classes/{world.a1['id']}", world.a.teacher)
    a2 = await get_ok(client, f"/classes/{world.a2['id']}", world.teacher2)
    assert (a1["student_count"], a2["student_count"]) == (0, 2)
    history = (await get_ok(client, "/me/export", world.s1))["sections"]["labour_classes"]
    joined = history["classes_joined"]
    assert [entry["class_id"] for entry in joined] == [world.a1["id"], world.a2["id"]]
    assert joined[0]["left_at"] is not None and joined[1]["left_at"] is None
    # Two joins at once to two classes: one enrolment, in one of them.
    racer = await sign_in_wechat(client, "racer")
    await asyncio.gather(
        join(client, racer, world.a1["join_code"], "赛跑"),
        join(client, racer, world.b1["join_code"], "赛跑"),
    )
    counts = [
        (await get_ok(client, f"/classes/{c['id']}", teacher))["student_count"]
        for c, teacher in ((world.a1, world.a.teacher), (world.b1, world.b.teacher))
    ]
    assert sum(counts) == 2  # s3 in b1, and the racer once (s1 left a1 above)
    me = await get_ok(client, "/me", racer)
    assert me["class_id"] in (world.a1["id"], world.b1["id"])


async def test_real_names_only_for_the_teacher_of_the_class(client: Client, world: World) -> None:
    students = await get_ok(client, f"/classes/{world.a1['id']}/students", world.a.teacher)
    assert [(s["user_id"], s["student_name"]) for s in students["items"]] == [
        (world.s1.user_id, "张一")
    ]
    for who in (world.teacher2, world.b.teacher):
        resp = await client.get(f"{API}/classes/{world.a1['id']}/students", headers=who.headers)
        assert resp.status == 404
    resp = await client.get(f"{API}/classes/{world.a1['id']}/students", headers=world.s1.headers)
    assert resp.status == 403


async def test_a_teacher_removes_a_student_of_their_class_only(
    client: Client, world: World
) -> None:
    path = f"{API}/classes/{world.a1['id']}/students/{world.s1.user_id}"
    for who in (world.teacher2, world.b.teacher):
        assert (await client.delete(path, headers=who.headers)).status == 404
    # A student of another class, through this class: 404.
    other = f"{API}/classes/{world.a1['id']}/students/{world.s2.user_id}"
    assert (await client.delete(other, headers=world.a.teacher.headers)).status == 404
    assert (await client.delete(path, headers=world.a.teacher.headers)).status == 204
    assert (await client.delete(path, headers=world.a.teacher.headers)).status == 404
    me = await get_ok(client, "/me", world.s1)
    assert me["class_id"] is None and "student" not in me["roles"]
    history = (await get_ok(client, "/me/export", world.s1))["sections"]["labour_classes"]
    assert history["classes_joined"][0]["left_at"] is not None


async def test_a_second_school_and_its_classes_are_invisible(client: Client, world: World) -> None:
    other = await make_school(client, world.admin, "株洲市第三小学", "teacher_c")
    c1 = await make_class(client, other, "一年级（1）班")
    for who in (world.a.teacher, world.s1, world.s3):
        resp = await client.get(f"{API}/classes/{c1['id']}", headers=who.headers)
        assert resp.status == 404
    mine = await get_ok(client, "/classes", other.teacher)
    assert [c["id"] for c in mine["items"]] == [c1["id"]]
