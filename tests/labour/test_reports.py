"""Teachers' views (issue 10, item 7): a task's progress and the class report in Excel,
read back with openpyxl."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from aiohttp import web
from openpyxl import load_workbook

from handlers.labour.keys import REVIEW_SERVICE, TASK_SERVICE
from server.clock import SettableClock
from server.keys import AUDIT
from server.principal import Role
from server.spreadsheet import XLSX_CONTENT_TYPE
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session
from tests.labour.conftest import API, World, get_ok, make_task, refreshed, shanghai_noon
from tests.labour.test_review import sign_in_and_join
from tests.labour.test_summary import as_principal, daily_task


async def done(
    app: web.Application,
    clock: SettableClock,
    world: World,
    who: str,
    task_id: str,
    on: str,
    decision: str | None = "approved",
    for_day: str | None = None,
) -> str:
    """``who`` checks in to the task on day ``on`` (for ``for_day``), decided by a1's teacher
    or a2's (whoever set the task) that evening."""
    clock.set(shanghai_noon(on))
    day = date.fromisoformat(for_day) if for_day else None
    out = await app[TASK_SERVICE].check_in(as_principal(who), task_id, "", [], day)
    if decision is not None:
        task = await app[TASK_SERVICE].repo.get_task(task_id)
        assert task is not None
        clock.set(shanghai_noon(on, hour=20))
        teacher = as_principal(task["teacher_id"], Role.teacher)
        await app[REVIEW_SERVICE].review(teacher, out.id, decision, "")
    return out.id


async def test_task_progress_shows_who_did_what(
    client: Client, world: World, clock: SettableClock
) -> None:
    extra = await sign_in_and_join(client, world)  # 加一, in a1 with 张一 (s1)
    task_id = await daily_task(client.app, world, "2026-12-01", "2026-12-31", makeup_days=2)
    app = client.app
    late = await done(app, clock, world, world.s1.user_id, task_id, "2026-12-03", "approved",
                      for_day="2026-12-01")  # fmt: skip
    waiting = await done(app, clock, world, world.s1.user_id, task_id, "2026-12-03", None)
    await done(app, clock, world, extra.user_id, task_id, "2026-12-02", "rejected")
    redo = await done(app, clock, world, extra.user_id, task_id, "2026-12-03", None,
                      for_day="2026-12-02")  # fmt: skip
    clock.set(shanghai_noon("2026-12-03", hour=21))
    teacher = await refreshed_all(client, world)
    progress = await get_ok(client, f"/tasks/{task_id}/progress", teacher)
    assert progress["periods"] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert progress["task"]["id"] == task_id and progress["next_cursor"] is None
    assert [(t["approved"], t["submitted"], t["rejected"], t["todo"])
            for t in progress["totals"]] == [(1, 0, 0, 1), (0, 1, 0, 1), (0, 1, 0, 1)]  # fmt: skip
    rows = {row["student_name"]: row for row in progress["items"]}
    assert set(rows) == {"张一", "加一"}
    assert [(c["status"], c["checkin_id"], c["late"]) for c in rows["张一"]["cells"]] == [
        ("approved", late, True), ("todo", None, False), ("submitted", waiting, False),
    ]  # fmt: skip
    # The rejected check-in of the 2nd was redone: the redo is what counts.
    assert [c["status"] for c in rows["加一"]["cells"]] == ["todo", "submitted", "todo"]
    assert rows["加一"]["cells"][1]["checkin_id"] == redo
    assert (rows["张一"]["done"], rows["加一"]["done"]) == (2, 1)
    # A window, a page of one, and the checks on both.
    page = await get_ok(
        client, f"/tasks/{task_id}/progress?from_date=2026-12-02&to_date=2026-12-02&limit=1",
        teacher,
    )  # fmt: skip
    assert page["periods"] == ["2026-12-02"] and len(page["items"]) == 1
    assert page["totals"] == [
        {"period": "2026-12-02", "approved": 0, "submitted": 1, "rejected": 0, "todo": 1}
    ]
    second = await get_ok(
        client, f"/tasks/{task_id}/progress?from_date=2026-12-02&to_date=2026-12-02&limit=1"
        f"&cursor={page['next_cursor']}", teacher,
    )  # fmt: skip
    assert {page["items"][0]["user_id"], second["items"][0]["user_id"]} == {
        world.s1.user_id, extra.user_id,
    }  # fmt: skip
    for query in (
        "from_date=2026-12-05&to_date=2026-12-01",
        "from_date=2026-09-01&to_date=2026-12-31",
    ):
        resp = await client.get(f"{API}/tasks/{task_id}/progress?{query}", headers=teacher.headers)
        assert resp.status == 422, query
        assert_error(await resp.json(), "invalid_request")
    resp = await client.get(f"{API}/tasks/{task_id}/progress?class_id={world.a2['id']}",
                            headers=teacher.headers)  # fmt: skip
    assert resp.status == 404
    for who, status in ((world.teacher2, 404), (world.b.teacher, 404), (world.s1, 403)):
        resp = await client.get(f"{API}/tasks/{task_id}/progress", headers=who.headers)
        assert resp.status == status


async def test_weekly_progress_has_one_period_a_week(
    client: Client, world: World, clock: SettableClock
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], frequency="weekly",
                           start_date="2026-11-25", end_date="2026-12-20")  # fmt: skip
    progress = await get_ok(client, f"/tasks/{task['id']}/progress?to_date=2026-12-20",
                            world.a.teacher)  # fmt: skip
    assert progress["periods"] == ["2026-W48", "2026-W49", "2026-W50", "2026-W51"]
    once = await make_task(client, world.a.teacher, [world.a1["id"]], frequency="once")
    progress = await get_ok(client, f"/tasks/{once['id']}/progress", world.a.teacher)
    assert progress["periods"] == ["once"]


async def refreshed_all(client: Client, world: World) -> Session:
    """Every session of the world refreshed (the test moved the clock); a1's teacher."""
    for session in (world.a.teacher, world.teacher2, world.b.teacher, world.s1, world.admin):
        await refreshed(client, session)
    return world.a.teacher


def cells(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_the_class_report_in_excel(
    client: Client, world: World, clock: SettableClock
) -> None:
    app = client.app
    extra = await sign_in_and_join(client, world)  # 加一
    daily = await daily_task(app, world, "2026-11-20", "2026-12-31", hours=0.5, makeup_days=7)
    weekly = await daily_task(app, world, "2026-11-20", "2026-12-31", hours=1.5,
                              frequency="weekly", category="productive")  # fmt: skip
    service = await daily_task(app, world, "2026-11-20", "2026-12-31", hours=2,
                               frequency="once", category="service")  # fmt: skip
    s1, s2 = world.s1.user_id, extra.user_id
    for day in ("2026-12-01", "2026-12-02", "2026-12-03"):
        await done(app, clock, world, s1, daily, day)
    await done(app, clock, world, s1, daily, "2026-12-04", "rejected")
    await done(app, clock, world, s1, daily, "2026-12-05", None)  # waiting: not counted
    await done(app, clock, world, s1, daily, "2026-11-28")  # before the range
    await done(app, clock, world, s1, weekly, "2026-12-02")
    await done(app, clock, world, s2, weekly, "2026-12-09")
    await done(app, clock, world, s2, service, "2026-12-10")
    await done(app, clock, world, s2, daily, "2026-12-10")
    # Another class's check-in (张二, a2) is not in a1's report.
    other = await daily_task(app, world, "2026-12-01", "2026-12-31", world.teacher2.user_id,
                             class_ids=[world.a2["id"]])  # fmt: skip
    await done(app, clock, world, world.s2.user_id, other, "2026-12-03")
    clock.set(shanghai_noon("2026-12-20", hour=9))
    teacher = await refreshed_all(client, world)
    resp = await client.get(
        f"{API}/classes/{world.a1['id']}/report.xlsx?from_date=2026-12-01&to_date=2026-12-15",
        headers=teacher.headers,
    )
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == XLSX_CONTENT_TYPE
    assert resp.headers["Cache-Control"] == "no-store"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = cells(sheet)
    assert rows[0][0] == "株洲市第一小学 三年级（1）班 劳动教育打卡统计"
    assert "2026-12-01 至 2026-12-15" in rows[1][0]
    header = rows.index(next(r for r in rows if r[0] == "序号"))
    assert rows[header] == [
        "序号", "姓名", "日常生活劳动（小时）", "日常生活劳动（次）", "生产劳动（小时）",
        "生产劳动（次）", "服务性劳动（小时）", "服务性劳动（次）", "合计（小时）", "合计（次）",
    ]  # fmt: skip
    assert rows[header + 1 :] == [
        [1, "加一", 0.5, 1, 1.5, 1, 2, 1, 4, 3],
        [2, "张一", 1.5, 3, 1.5, 1, 0, 0, 3, 4],
        [None, "合计", 2, 4, 3, 2, 2, 1, 7, 7],
    ]
    # Written to the audit log, for each student whose data it holds.
    for student in (s1, s2):
        entries = await app[AUDIT].export_personal_data(student)
        exported = [e for e in entries if e["action"] == "labour_report_exported"]
        assert len(exported) == 1
        assert exported[0]["actor"] == f"user:{world.a.teacher.user_id}"
        assert exported[0]["details"] == {
            "class_id": world.a1["id"], "from": "2026-12-01", "to": "2026-12-15",
        }  # fmt: skip
    # Only the class's teacher (or an admin); the dates are checked.
    for who, status in ((world.teacher2, 404), (world.b.teacher, 404), (world.s1, 403)):
        resp = await client.get(
            f"{API}/classes/{world.a1['id']}/report.xlsx?from_date=2026-12-01&to_date=2026-12-15",
            headers=who.headers,
        )
        assert resp.status == status
    for query in ("from_date=2026-12-15&to_date=2026-12-01", "from_date=2026-12-01",
                  "from_date=2025-01-01&to_date=2026-12-01"):  # fmt: skip
        resp = await client.get(f"{API}/classes/{world.a1['id']}/report.xlsx?{query}",
                                headers=teacher.headers)  # fmt: skip
        assert resp.status == 422, query
