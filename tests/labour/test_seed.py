"""The labour room's demo content: a school, the demo teacher, two classes, students who
joined with a guardian's consent, three tasks and three weeks of check-ins with photos,
decided or waiting, one of them flagged as a classmate's photo; seeded once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from handlers.auth import ROOM as AUTH
from handlers.auth.keys import AUTH_SERVICE
from handlers.labour import ROOM as LABOUR
from handlers.labour.demo import CHECKIN_PHOTOS, HISTORY_DAYS, PENDING_DAYS, STUDENTS
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from server.audit import AuditFilter, actor_user_id
from server.keys import AUDIT, CLOCK
from server.paging import MAX_LIMIT, PageQuery
from server.room import DemoDataError, DemoSource
from tests.fixtures.app import Client
from tests.stories.test_demo import write_checkin_photos


def test_missing_photos_are_a_clear_error_with_the_command(tmp_path: Path) -> None:
    assert LABOUR.seed is not None
    with pytest.raises(DemoDataError) as caught:
        LABOUR.seed(DemoSource(data=tmp_path, art=tmp_path))
    message = str(caught.value)
    assert f"{tmp_path}: {CHECKIN_PHOTOS + 1} of {CHECKIN_PHOTOS + 1} demo check-in" in message
    assert message.endswith("(`make run` does it for you)")
    assert f"python -m tools.demo_photos --out {tmp_path}" in message


async def test_the_demo_school_is_seeded_once(client: Client, tmp_path: Path) -> None:
    write_checkin_photos(tmp_path)
    source = DemoSource(data=tmp_path, art=tmp_path)
    assert AUTH.seed is not None and LABOUR.seed is not None
    staff, labour = AUTH.seed(source), LABOUR.seed(source)
    await staff(client.app)
    first = await labour(client.app)
    second = await labour(client.app)
    assert first.startswith("demo labour: ") and "join code" in first, first
    made = int(first.rsplit(", ", 1)[1].split()[0])
    assert made > 60, first
    # Nothing made twice: the same classes and codes, no new check-in.
    assert second == first.replace(f"{made} check-ins made", "0 check-ins made")
    schools = await client.app[SCHOOL_SERVICE].schools_page(PageQuery())
    assert len(schools.items) == 1
    repo = client.app[TASK_SERVICE].repo
    assert await repo.tasks.count_documents({}) == 3
    checkins = [doc async for doc in repo.checkins.find({})]
    assert len(checkins) == made
    assert {doc["student_id"] for doc in checkins} == {
        doc["_id"] async for doc in client.app[SCHOOL_SERVICE].repo.enrolments.find({})
    }
    assert len({doc["student_id"] for doc in checkins}) == len(STUDENTS)
    today = client.app[CLOCK].today()
    days = {doc["day"] for doc in checkins}
    assert min(days) >= (today - timedelta(days=HISTORY_DAYS)).isoformat()
    statuses = {doc["status"] for doc in checkins}
    assert statuses == {"approved", "rejected", "submitted"}
    recent = (today - timedelta(days=PENDING_DAYS)).isoformat()
    assert all(doc["status"] == "submitted" for doc in checkins if doc["day"] >= recent)
    flagged = [doc for doc in checkins if "duplicate_photo" in doc["flags"]]
    assert len(flagged) == 1 and flagged[0]["status"] == "submitted"
    with_photos = [doc for doc in checkins if doc["media_ids"]]
    assert len(with_photos) > len(checkins) // 2
    consents = client.app[SCHOOL_SERVICE].repo.consents
    assert await consents.count_documents({"withdrawn_at": None}) == len(STUDENTS)
    # The demo accounts did it: the audit log names them (and its actor links open).
    entries, _ = await client.app[AUDIT].page(AuditFilter(), PageQuery(limit=MAX_LIMIT))
    admin = await client.app[AUTH_SERVICE].get_staff_user("admin")
    assert {e.actor for e in entries if e.action == "teacher_attached"} == {f"user:{admin.id}"}
    actors = {user_id for e in entries if (user_id := actor_user_id(e.actor)) is not None}
    assert actors and all([await client.app[AUTH_SERVICE].get_user(a) for a in actors])
