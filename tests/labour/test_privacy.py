"""Export and erasure (issue 10, item 9): classes joined, consents, check-ins and their
photos, through ``GET /me/export`` and ``DELETE /me``."""

from __future__ import annotations

from urllib.parse import urlsplit

from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from tests.fixtures.app import Client
from tests.labour.conftest import API, World, get_ok, join, make_task, post_ok
from tests.labour.test_duplicates import checked_in, jpeg, passed_off, photo


async def fetch(client: Client, url: str) -> int:
    split = urlsplit(url)
    return (await client.get(f"{split.path}?{split.query}")).status


async def test_the_export_holds_classes_consents_check_ins_and_photos(
    client: Client, world: World
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], category="service",
                           title="打扫教室")  # fmt: skip
    made = await checked_in(client, world.s1, task["id"], jpeg(photo(3)))
    await post_ok(client, f"/checkins/{made['id']}/review", world.a.teacher,
                  {"decision": "approved", "comment": "很干净"})  # fmt: skip
    await join(client, world.s1, world.b1["join_code"], "张一")  # moves to school B
    sections = (await get_ok(client, "/me/export", world.s1))["sections"]
    classes = sections["labour_classes"]
    assert classes["enrolment"]["class_id"] == world.b1["id"]
    assert classes["enrolment"]["student_name"] == "张一"
    assert [
        (c["class_name"], c["school_name"], c["left_reason"]) for c in classes["classes_joined"]
    ] == [("三年级（1）班", "株洲市第一小学", "moved"), ("四年级（1）班", "株洲市第二小学", None)]
    assert [(c["class_id"], c["guardian_name"], c["relationship"], c["version"])
            for c in classes["guardian_consents"]] == [
        (world.a1["id"], "王芳", "mother", consent.CURRENT_VERSION),
        (world.b1["id"], "王芳", "mother", consent.CURRENT_VERSION),
    ]  # fmt: skip
    assert classes["guardian_consents"][0]["text_sha256"] == consent.current().sha256
    assert classes["teacher_of_school"] is None
    [checkin] = sections["labour_checkins"]
    assert (checkin["id"], checkin["task_title"], checkin["category"]) == (
        made["id"], "打扫教室", "service",
    )  # fmt: skip
    assert (checkin["status"], checkin["credited_hours"]) == ("approved", 0.5)
    assert checkin["review"]["comment"] == "很干净"
    assert checkin["class_id"] == world.a1["id"] and "duplicate_of" not in checkin
    # The photo itself, behind a signed URL that works.
    assert await fetch(client, checkin["photos"][0]["urls"]["large"]) == 200
    assert made["photos"][0]["id"] in {m["id"] for m in sections["media"]}
    # A teacher's export names the school they teach at.
    teacher = (await get_ok(client, "/me/export", world.a.teacher))["sections"]
    assert teacher["labour_classes"]["teacher_of_school"]["school_name"] == "株洲市第一小学"


async def test_erasure_takes_check_ins_photos_and_their_traces(
    client: Client, world: World
) -> None:
    scene = photo(2)
    mine = await make_task(client, world.a.teacher, [world.a1["id"]])
    theirs = await make_task(client, world.teacher2, [world.a2["id"]])
    original = await checked_in(client, world.s1, mine["id"], jpeg(scene))
    copy = await checked_in(client, world.s2, theirs["id"], passed_off(scene))
    url = original["photos"][0]["urls"]["thumb"]
    assert await fetch(client, url) == 200
    resp = await client.delete(API + "/me", headers=world.s1.headers)
    assert resp.status == 202
    assert await fetch(client, url) == 404
    repo = client.app[TASK_SERVICE].repo
    assert await repo.checkins.count_documents({"student_id": world.s1.user_id}) == 0
    schools = client.app[SCHOOL_SERVICE].repo
    assert await schools.history_of(world.s1.user_id) == []
    assert await schools.consents_of(world.s1.user_id) == []
    assert await schools.enrolment(world.s1.user_id) is None
    # 张二's check-in keeps its flag for the teacher, but names the erased one no more.
    seen = await get_ok(client, f"/checkins/{copy['id']}", world.teacher2)
    assert "duplicate_photo" in seen["flags"] and seen["duplicate_of"] is None
    students = await get_ok(client, f"/classes/{world.a1['id']}/students", world.a.teacher)
    assert students["items"] == []
    # A teacher's account erased: no longer attached to the school; their class stays.
    resp = await client.delete(API + "/me", headers=world.b.teacher.headers)
    assert resp.status == 202
    assert await schools.teacher_attachment(world.b.teacher.user_id) is None
    assert await schools.get_class(world.b1["id"]) is not None
