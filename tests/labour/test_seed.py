"""The labour room's demo content: a school, the demo teacher, a class and a daily task."""

from __future__ import annotations

from pathlib import Path

from handlers.auth import ROOM as AUTH
from handlers.labour import ROOM as LABOUR
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from server.paging import PageQuery
from server.room import DemoSource
from tests.fixtures.app import Client


async def test_the_demo_school_is_seeded_once(client: Client, tmp_path: Path) -> None:
    source = DemoSource(data=tmp_path, art=tmp_path)
    assert AUTH.seed is not None and LABOUR.seed is not None
    staff, labour = AUTH.seed(source), LABOUR.seed(source)
    await staff(client.app)
    first = await labour(client.app)
    second = await labour(client.app)
    assert first.startswith("demo labour: ") and "join code" in first
    assert first == second  # nothing made twice, the same class and code
    schools = await client.app[SCHOOL_SERVICE].schools_page(PageQuery())
    assert len(schools.items) == 1
    tasks = client.app[TASK_SERVICE].repo.tasks
    assert await tasks.count_documents({}) == 1
