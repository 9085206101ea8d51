"""Concurrent check-ins by group commit (server/batching.py), against the real services:
one command carries many check-ins' reads and inserts, and each still gets its own
answer (a taken slot is that check-in's 409 only)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from config.settings import Settings
from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from handlers.labour.repo import NEAR_PHOTOS_LIMIT, NearPhotos
from handlers.labour.schemas import ConsentIn
from handlers.media.keys import MEDIA_SERVICE
from server.keys import CLOCK
from server.principal import Principal
from tests.fixtures.app import Client, counted_database
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.labour.conftest import World, make_task
from tests.labour.test_checkins import check_in, photo

STUDENTS = 100


async def crowd(client: Client, world: World, count: int) -> list[Session]:
    """``count`` students who joined class A1 with a guardian's consent."""
    students = await asyncio.gather(
        *(sign_in_wechat(client, f"batch{index}") for index in range(count))
    )
    schools = client.app[SCHOOL_SERVICE]
    guardian = ConsentIn(
        guardian_name="家长", relationship="mother", version=consent.CURRENT_VERSION
    )
    for index, student in enumerate(students):
        principal = Principal(student.user_id, "s", frozenset(), "t")
        await schools.join(
            principal, f"10.1.{index // 250}.{index % 250}", world.a1["join_code"], "学生", guardian
        )
    return students


async def test_concurrent_check_ins_share_their_commands_and_one_wins_each_slot(
    client: Client, world: World, settings: Settings
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    students = await crowd(client, world, STUDENTS)
    # Two photos each: one for each of two taps on the same task at once (two keys, so
    # two check-ins for one slot).
    photos = [
        (await photo(client, student, "navy"), await photo(client, student, "gold"))
        for student in students
    ]
    tasks, schools, media = (
        client.app[TASK_SERVICE],
        client.app[SCHOOL_SERVICE],
        client.app[MEDIA_SERVICE],
    )
    originals = (tasks.repo.tasks, tasks.repo.checkins, schools.repo.enrolments,
                 media.repo.collection)  # fmt: skip
    async with counted_database(settings) as (db, counted):
        # The repos the check-in path goes through, on the counting client.
        tasks.repo.tasks, tasks.repo.checkins = db["labour_tasks"], db["checkins"]
        schools.repo.enrolments = db["enrolments"]
        media.repo.collection = db["media"]
        try:
            answers = await asyncio.gather(
                *(
                    check_in(
                        client, student, task["id"], media_ids=[mine],
                        headers={"Idempotency-Key": f"{student.user_id}-{n}"},
                    )
                    for student, pair in zip(students, photos, strict=True)
                    for n, mine in enumerate(pair)
                )
            )  # fmt: skip
            commands = counted.counts.copy()
        finally:
            (tasks.repo.tasks, tasks.repo.checkins, schools.repo.enrolments,
             media.repo.collection) = originals  # fmt: skip
    requests = 2 * STUDENTS
    bodies = [await answer.json() for answer in answers]
    statuses = [answer.status for answer in answers]
    for index in range(STUDENTS):
        answered = statuses[2 * index : 2 * index + 2]
        assert sorted(answered) == [201, 409], (index, answered)
        lost = bodies[2 * index + answered.index(409)]
        assert_error(lost, "already_checked_in")
        assert lost["error"]["details"]["period"] == "2026-12-02"
    # Exactly one check-in per slot, each with the photo its own request sent.
    collection = tasks.repo.checkins
    assert await collection.count_documents({"task_id": task["id"]}) == STUDENTS
    assert len(await collection.distinct("student_id", {"task_id": task["id"]})) == STUDENTS
    for index, (student, pair) in enumerate(zip(students, photos, strict=True)):
        won = statuses[2 * index : 2 * index + 2].index(201)
        checkin = bodies[2 * index + won]
        winner, loser = pair[won], pair[1 - won]
        assert checkin["student_id"] == student.user_id
        assert [p["id"] for p in checkin["photos"]] == [winner]
        stored = await tasks.repo.get_checkin(checkin["id"])
        assert stored is not None and stored["media_ids"] == [winner]
        # The winner's photo is used by its check-in; the loser's was let go of.
        used = await media.repo.get(winner)
        released = await media.repo.get(loser)
        assert used is not None and used["referenced_by"] == [f"checkin:{checkin['id']}"]
        assert released is not None and released["referenced_by"] == []
    # Batched: each of these took far fewer commands than there were check-ins.
    assert 1 <= commands["insert", "checkins"] <= requests // 4
    assert 1 <= commands["aggregate", "checkins"] <= requests // 4  # the duplicate queries
    assert commands["find", "checkins"] == 0
    assert 1 <= commands["find", "labour_tasks"] <= requests // 4
    assert 1 <= commands["find", "enrolments"] <= 2 * requests // 4  # before and after
    assert 1 <= commands["update", "media"] <= requests // 4 + STUDENTS  # + the releases
    assert commands["findAndModify", "media"] == 0


async def test_a_photo_marked_for_deletion_is_not_marked_used(client: Client, world: World) -> None:
    media = client.app[MEDIA_SERVICE]
    mine = await photo(client, world.s1, "teal")
    kept = await photo(client, world.s1, "olive")
    assert await media.repo.mark_deleting(mine, media.clock.now()) is not None
    s1, s2 = world.s1.user_id, world.s2.user_id
    marks = [(mine, s1, "checkin:x"), (kept, s1, "checkin:x"), (kept, s2, "checkin:y"),
             ("0" * 32, s1, "checkin:x")]  # fmt: skip
    assert await media.repo.add_references(marks) == [False, True, False, False]
    gone, used = await media.repo.get(mine), await media.repo.get(kept)
    assert gone is not None and gone["referenced_by"] == []
    assert used is not None and used["referenced_by"] == ["checkin:x"]


async def test_each_check_in_gets_its_own_duplicate_candidates(client: Client) -> None:
    """Concurrent check-ins' duplicate-photo queries share one aggregation per school,
    but each has its own conditions and its own limit: a busy other school, or this
    student's own many look-alike photos, cannot crowd out the one earlier photo of
    another student of the school (a shared query with one shared limit did, and copied
    photos went unflagged when many checked in at once)."""
    repo = client.app[TASK_SERVICE].repo
    now = client.app[CLOCK].now()
    band, other_band = 4242, 777

    def checkin(
        school_id: str, student_id: str, minutes_ago: int, bands: list[int] | None = None
    ) -> dict[str, object]:
        return {
            "school_id": school_id, "student_id": student_id, "class_id": "c",
            "media_ids": ["m"], "photo_hashes": ["00"], "photo_bands": bands or [band],
            "created_at": now - timedelta(minutes=minutes_ago), "slot": uuid.uuid4().hex,
        }  # fmt: skip

    busy = [checkin("school-busy", f"other{i}", i) for i in range(300)]
    own = [checkin("school-quiet", "copier", i) for i in range(300)]
    earlier = [
        checkin("school-quiet", "author", 900),
        checkin("school-quiet", "painter", 5, [other_band]),
        checkin("school-quiet", "old", 3 * 24 * 60, [other_band]),
    ]
    await repo.checkins.insert_many([*busy, *own, *earlier])
    day_ago = now - timedelta(days=1)
    answered = await repo.near_photos_each(
        [
            NearPhotos("school-busy", [band], day_ago, "someone"),
            NearPhotos("school-quiet", [band], day_ago, "copier"),
            NearPhotos("school-quiet", [other_band], now - timedelta(days=7), "x"),
            NearPhotos("school-quiet", [other_band], day_ago, "painter"),
            NearPhotos("school-quiet", [], day_ago, "nobody"),
        ]
    )
    found = [docs for docs in answered if not isinstance(docs, BaseException)]
    assert len(found) == len(answered), answered
    assert len(found[0]) == NEAR_PHOTOS_LIMIT  # the busy school's, up to the limit
    assert {doc["student_id"] for doc in found[0]} <= {f"other{i}" for i in range(300)}
    assert [doc["student_id"] for doc in found[1]] == ["author"]
    assert sorted(doc["student_id"] for doc in found[2]) == ["old", "painter"]
    assert found[3] == [] and found[4] == []  # only the painter's own, then nothing asked


async def test_a_duplicate_query_that_fails_fails_only_its_own_school_s_check_ins(
    client: Client,
) -> None:
    repo = client.app[TASK_SERVICE].repo
    now = client.app[CLOCK].now()
    earlier = {
        "school_id": "school-a", "student_id": "author", "class_id": "c",
        "media_ids": ["m"], "photo_hashes": ["00"], "photo_bands": [4242],
        "created_at": now - timedelta(hours=1), "slot": uuid.uuid4().hex,
    }  # fmt: skip
    await repo.checkins.insert_one(earlier)
    day_ago = now - timedelta(days=1)
    found = await repo.near_photos_each(
        [
            NearPhotos("school-a", [4242], day_ago, "copier"),
            NearPhotos("school-b", [2**70], day_ago, "x"),  # no 8-byte integer: never sent
            NearPhotos("school-b", [4242], day_ago, "y"),  # the same aggregation: fails too
        ]
    )
    first = found[0]
    assert not isinstance(first, BaseException)
    assert [doc["student_id"] for doc in first] == ["author"]
    assert isinstance(found[1], OverflowError) and found[2] is found[1]
