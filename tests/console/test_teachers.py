"""Teachers' pages over HTTP (a browser without JavaScript): classes with join codes and
their printable QR, tasks, the review queue with thumbnails, bulk approve, duplicate
photos side by side, progress and the Excel report, all through the labour room's
rules; and the attacks: other people's classes, tasks and check-ins, forms without
their CSRF token, foreign ids in a bulk approval, double submits.

The world is the labour tests' (tests/labour/conftest.py): school A with teacher_a's
class A1 (张一) and teacher_a2's class A2 (张二), school B with class B1 (张三)."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from handlers.auth.keys import AUTH_SERVICE
from handlers.console.keys import CONSOLE_SESSIONS
from handlers.console.teachers import join_code_svg
from server.clock import SHANGHAI, SettableClock
from server.keys import AUDIT, SETTINGS
from server.principal import Role
from server.spreadsheet import XLSX_CONTENT_TYPE
from tests.console.test_admins import send
from tests.console.test_sessions import signed_in
from tests.fixtures.app import Client
from tests.fixtures.console import Answer, ConsoleBrowser
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.labour.conftest import (
    World,
    get_ok,
    join,
    make_class,
    make_task,
    make_world,
    post_ok,
)
from tests.labour.test_duplicates import checked_in, jpeg, passed_off, photo

API = "/api/v1"
_FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
_CHECKIN_ID = re.compile(r'name="ids" value="([0-9a-f]{24})"')


async def console(client: Client, who: Session) -> ConsoleBrowser:
    """The console as the staff member of ``who`` sees it (signed in by a session cookie
    of their account: the labour world's accounts have no password we know)."""
    user = await client.app[AUTH_SERVICE].get_user(who.user_id)
    cookie = await client.app[CONSOLE_SESSIONS].cookie_for(user)
    return ConsoleBrowser(client, {"jx_console": cookie})


async def photo_checkin(client: Client, who: Session, task_id: str, seed: int = 1) -> str:
    """A check-in of ``who`` with a photo of scene ``seed``; its id."""
    return str((await checked_in(client, who, task_id, jpeg(photo(seed))))["id"])


@pytest.fixture
async def world(client: Client, clock: SettableClock) -> World:
    return await make_world(client, clock)


def form_key(page: Answer) -> str:
    found = _FORM_KEY.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def assert_error_page(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.error_code) == (status, code), answer.text[:500]
    assert answer.headers["Content-Type"].startswith("text/html")


# -- navigation and who may open what ------------------------------------------------------


async def test_teachers_see_their_pages_in_the_navigation(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    home = await teacher.get("/admin/")
    nav = home.text[home.text.index('aria-label="主导航"') :]
    for label, path in (("班级", "/admin/classes"), ("任务", "/admin/tasks"),
                        ("打卡审核", "/admin/checkins")):  # fmt: skip
        assert f'<a href="{path}">{label}</a>' in nav
    assert "写稿" not in nav
    editor = await signed_in(client, Role.editor)
    assert "打卡审核" not in (await editor.get("/admin/")).text
    for page in ("/admin/classes", "/admin/tasks", "/admin/checkins",
                 f"/admin/classes/{world.a1['id']}"):  # fmt: skip
        assert_error_page(await editor.get(page), 403, "forbidden")
    signed_out = await ConsoleBrowser(client).get("/admin/checkins")
    assert signed_out.status == 303 and signed_out.location == "/admin/login?next=/admin/checkins"


# -- classes ---------------------------------------------------------------------------


async def test_my_classes_and_a_class_page(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    listed = await teacher.get("/admin/classes")
    assert listed.status == 200
    assert f'href="/admin/classes/{world.a1["id"]}">三年级（1）班</a>' in listed.text
    assert "1 人" in listed.text and world.a1["join_code"] in listed.text
    assert world.a2["id"] not in listed.text and world.b1["id"] not in listed.text  # not mine
    page = await teacher.get(f"/admin/classes/{world.a1['id']}")
    assert page.status == 200
    assert "张一" in page.text and world.a1["join_code"] in page.text
    expires = datetime.fromisoformat(world.a1["join_code_expires_at"]).astimezone(SHANGHAI)
    assert f"有效至 {expires:%Y-%m-%d %H:%M}（北京时间）" in page.text
    assert "张二" not in page.text and "张三" not in page.text


async def test_another_schools_or_teachers_class_is_not_found(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    for class_id in (world.b1["id"], world.a2["id"], "f" * 24):  # another school, colleague
        for path in ("", "/join-code", "/report.xlsx?from_date=2026-12-01&to_date=2026-12-02"):
            answer = await teacher.get(f"/admin/classes/{class_id}{path}")
            assert_error_page(answer, 404, "not_found")
            assert "张三" not in answer.text and "张二" not in answer.text
        token = (await teacher.get("/admin/classes")).csrf_token
        for action in ("/join-code", f"/students/{world.s3.user_id}/remove"):
            answer = await teacher.post(f"/admin/classes/{class_id}{action}", {}, csrf=token)
            assert_error_page(answer, 404, "not_found")
    # Nothing changed in school B's class.
    b_class = await get_ok(client, f"/classes/{world.b1['id']}", world.b.teacher)
    assert b_class["join_code"] == world.b1["join_code"] and b_class["student_count"] == 1


async def test_a_teacher_creates_a_class_in_their_school(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    empty = await teacher.submit("/admin/classes", "/admin/classes", {"name": "", "grade": "4"})
    assert empty.status == 422 and "班级名称：不能为空" in empty.text
    assert 'aria-invalid="true"' in empty.text
    bad_grade = await teacher.submit("/admin/classes", "/admin/classes",
                                     {"name": "四年级（3）班", "grade": "13"})  # fmt: skip
    assert bad_grade.status == 422 and "年级：不能大于 12" in bad_grade.text
    page = await teacher.get("/admin/classes")
    sent = {"name": "四年级（3）班", "grade": "4", "form_key": form_key(page)}
    created = await teacher.post("/admin/classes", sent, csrf=page.csrf_token)
    assert created.status == 303
    again = await teacher.post("/admin/classes", sent, csrf=page.csrf_token)  # a double click
    assert (again.status, again.location) == (303, created.location)
    found = re.fullmatch(r"/admin/classes/([0-9a-f]{24})\?created=1", created.location or "")
    assert found, created.location
    page = await teacher.get(created.location or "")
    assert "班级已创建" in page.text and "四年级（3）班" in page.text
    mine = await get_ok(client, "/classes", world.a.teacher)
    assert {c["name"] for c in mine["items"]} == {"三年级（1）班", "四年级（3）班"}
    assert next(c for c in mine["items"] if c["id"] == found.group(1))["school_id"] == world.a.id
    # A teacher attached to no school is told so, and nothing is made.
    loner = await signed_in(client, Role.teacher)
    refused = await loner.submit(
        "/admin/classes", "/admin/classes", {"name": "无校班", "grade": "3"}
    )
    assert refused.status == 422 and "还没有被关联到学校" in refused.text


async def test_rotating_the_join_code(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    page_path = f"/admin/classes/{world.a1['id']}"
    # Without its CSRF token the form is refused, and the code stays.
    refused = await teacher.post(page_path + "/join-code", {})
    assert_error_page(refused, 403, "csrf_invalid")
    assert (await get_ok(client, f"/classes/{world.a1['id']}", world.a.teacher))["join_code"] == (
        world.a1["join_code"]
    )
    rotated = await teacher.submit(page_path, page_path + "/join-code", {})
    assert (rotated.status, rotated.location) == (303, page_path + "?rotated=1")
    page = await teacher.get(page_path + "?rotated=1")
    new_code = (await get_ok(client, f"/classes/{world.a1['id']}", world.a.teacher))["join_code"]
    assert new_code != world.a1["join_code"] and new_code in page.text
    assert world.a1["join_code"] not in page.text and "旧码不再有效" in page.text
    # The old code admits nobody; the new one does.
    newcomer = await sign_in_wechat(client, "newcomer")
    resp = await client.post(API + "/classes/join", headers=newcomer.headers, json={
        "join_code": world.a1["join_code"], "student_name": "王五",
        "guardian_consent": {"guardian_name": "王芳", "relationship": "mother",
                             "version": (await (await client.get(API + "/consent/guardian"))
                                         .json())["version"]},
    })  # fmt: skip
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "join_code_invalid"
    await join(client, newcomer, new_code, "王五")
    assert "王五" in (await teacher.get(page_path)).text


async def test_the_printable_join_code(client: Client, world: World, clock: SettableClock) -> None:
    teacher = await console(client, world.a.teacher)
    code = world.a1["join_code"]
    sheet = await teacher.get(f"/admin/classes/{world.a1['id']}/join-code")
    assert sheet.status == 200 and 'class="print-sheet"' in sheet.text
    # The QR code is drawn on the server as an inline SVG of the code itself.
    assert str(join_code_svg(code, f"班级码 {code}")) in sheet.text
    assert '<svg role="img"' in sheet.text and f"<title>班级码 {code}</title>" in sheet.text
    assert code in sheet.text and "有效至" in sheet.text
    # Once the code has expired the sheet says so and draws no QR to print.
    clock.advance(timedelta(days=client.app[SETTINGS].join_code_ttl_days, seconds=1))
    teacher = await console(client, world.a.teacher)  # the last session ended meanwhile
    expired = await teacher.get(f"/admin/classes/{world.a1['id']}/join-code")
    assert "已过期" in expired.text and "<svg" not in expired.text
    again = await teacher.post(f"/admin/classes/{world.a1['id']}/join-code",
                               {"from": "print"}, csrf=expired.csrf_token)  # fmt: skip
    assert (again.status, again.location) == (303, f"/admin/classes/{world.a1['id']}/join-code")
    assert "<svg" in (await teacher.get(again.location or "")).text


async def test_removing_a_student(client: Client, world: World) -> None:
    teacher = await console(client, world.a.teacher)
    page_path = f"/admin/classes/{world.a1['id']}"
    remove = f"{page_path}/students/{world.s1.user_id}/remove"
    page = await teacher.get(page_path)
    assert f'action="{remove}"' in page.text
    assert_error_page(await teacher.post(remove, {}), 403, "csrf_invalid")
    removed = await teacher.post(remove, {}, csrf=page.csrf_token)
    assert (removed.status, removed.location) == (303, page_path + "?removed=1")
    after = await teacher.get(page_path + "?removed=1")
    assert "张一" not in after.text and "已将学生移出本班" in after.text
    assert (await get_ok(client, "/me", world.s1))["class_id"] is None
    # Sent twice: the student is no longer there (as the API answers).
    assert_error_page(await teacher.post(remove, {}, csrf=page.csrf_token), 404, "not_found")
    # Another class's student through my class: not found, and they stay where they are.
    other = f"{page_path}/students/{world.s2.user_id}/remove"
    assert_error_page(await teacher.post(other, {}, csrf=page.csrf_token), 404, "not_found")
    assert (await get_ok(client, "/me", world.s2))["class_id"] == world.a2["id"]


# -- tasks -------------------------------------------------------------------------------

TASK_FORM = {
    "title": "扫地", "description": "放学后扫教室", "category": "service",
    "start_date": "2026-12-01", "end_date": "2026-12-31", "frequency": "weekly",
    "hours": "1.5", "makeup_days": "2", "photo_required": "on",
}  # fmt: skip


async def test_a_teacher_sets_a_task_with_errors_shown_by_field(
    client: Client, world: World
) -> None:
    teacher = await console(client, world.a.teacher)
    form = await teacher.get("/admin/tasks/new")
    assert form.status == 200 and 'value="2026-12-02"' in form.text  # today in Shanghai
    assert f'value="{world.a1["id"]}"' in form.text and world.a2["id"] not in form.text
    bad = await teacher.post(
        "/admin/tasks/new",
        {**TASK_FORM, "title": "", "hours": "0", "makeup_days": "9", "category": "sleep"},
        csrf=form.csrf_token,
    )
    assert bad.status == 422
    for message in ("标题：不能为空", "每次时长：须大于 0", "补卡天数：不能大于 7",
                    "班级：至少选择 1 项", "类别：请从选项中选择"):  # fmt: skip
        assert message in bad.text, message
    assert 'value="放学后扫教室"' not in bad.text and "放学后扫教室" in bad.text  # kept
    backwards = await teacher.post(
        "/admin/tasks/new",
        {**TASK_FORM, "class_ids": world.a1["id"], "end_date": "2026-11-30"},
        csrf=form.csrf_token,
    )
    assert backwards.status == 422 and "结束日期：结束日期不能早于开始日期" in backwards.text
    assert 'id="end_date" name="end_date" value="2026-11-30" required aria-invalid="true"' in (
        backwards.text
    )
    not_a_date = await teacher.post(
        "/admin/tasks/new", {**TASK_FORM, "class_ids": world.a1["id"], "start_date": "12/01"},
        csrf=form.csrf_token,
    )  # fmt: skip
    assert not_a_date.status == 422 and "开始日期：请填写日期" in not_a_date.text
    assert (await get_ok(client, "/tasks", world.a.teacher))["items"] == []  # nothing written
    # A colleague's class in the form (not offered, sent anyway): not found, as the API says.
    foreign = await teacher.post(
        "/admin/tasks/new", {**TASK_FORM, "class_ids": world.a2["id"]}, csrf=form.csrf_token
    )
    assert_error_page(foreign, 404, "not_found")
    sent = {**TASK_FORM, "class_ids": world.a1["id"], "form_key": form_key(form)}
    created = await teacher.post("/admin/tasks/new", sent, csrf=form.csrf_token)
    assert (created.status, created.location) == (303, "/admin/tasks?created=1")
    # The same form again (a double click): where the first went, and one task only; the
    # same form with other content is refused.
    twice = await teacher.post("/admin/tasks/new", sent, csrf=form.csrf_token)
    assert (twice.status, twice.location) == (303, "/admin/tasks?created=1")
    changed = await teacher.post("/admin/tasks/new", {**sent, "title": "拖地"},
                                 csrf=form.csrf_token)  # fmt: skip
    assert_error_page(changed, 422, "idempotency_key_reused")
    assert "这张表单已经提交过了" in changed.text
    [task] = (await get_ok(client, "/tasks", world.a.teacher))["items"]
    assert {k: task[k] for k in ("title", "category", "frequency", "start_date", "end_date",
                                 "hours", "photo_required", "makeup_days", "class_ids")} == {
        "title": "扫地", "category": "service", "frequency": "weekly",
        "start_date": "2026-12-01", "end_date": "2026-12-31", "hours": 1.5,
        "photo_required": True, "makeup_days": 2, "class_ids": [world.a1["id"]],
    }  # fmt: skip
    listed = await teacher.get("/admin/tasks?created=1")
    assert "任务已发布" in listed.text and "扫地" in listed.text and "三年级（1）班" in listed.text


async def test_editing_and_closing_a_task(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], title="整理书桌")
    teacher = await console(client, world.a.teacher)
    edit_path = f"/admin/tasks/{task['id']}/edit"
    page = await teacher.get(edit_path)
    assert page.status == 200 and 'value="整理书桌"' in page.text and "不能再改频次" in page.text
    saved = await teacher.post(
        edit_path,
        {**TASK_FORM, "title": "整理书桌和书包", "class_ids": world.a1["id"], "hours": "1",
         "category": "daily_life", "frequency": "once", "start_date": "2026-12-01",
         "end_date": "2026-12-31", "photo_required": ""},
        csrf=page.csrf_token,
    )  # fmt: skip
    assert (saved.status, saved.location) == (303, "/admin/tasks?saved=1")
    after = await get_ok(client, f"/tasks/{task['id']}", world.a.teacher)
    assert (after["title"], after["hours"], after["frequency"]) == ("整理书桌和书包", 1, "daily")
    assert after["photo_required"] is False  # an unticked box is sent as nothing
    backwards = await teacher.post(
        edit_path, {**TASK_FORM, "class_ids": world.a1["id"], "end_date": "2026-11-01"},
        csrf=page.csrf_token,
    )  # fmt: skip
    assert backwards.status == 422 and "结束日期不能早于开始日期" in backwards.text
    # A colleague's task: not found, to read, to save and to close.
    colleague = await console(client, world.teacher2)
    token = (await colleague.get("/admin/tasks")).csrf_token
    assert_error_page(await colleague.get(edit_path), 404, "not_found")
    assert_error_page(await colleague.post(edit_path, {**TASK_FORM, "class_ids": world.a2["id"]},
                                           csrf=token), 404, "not_found")  # fmt: skip
    assert_error_page(await colleague.post(f"/admin/tasks/{task['id']}/close", {}, csrf=token),
                      404, "not_found")  # fmt: skip
    assert_error_page(await colleague.get(f"/admin/tasks/{task['id']}/progress"), 404, "not_found")
    assert_error_page(await teacher.post(f"/admin/tasks/{task['id']}/close", {}), 403,
                      "csrf_invalid")  # fmt: skip
    closed = await teacher.post(f"/admin/tasks/{task['id']}/close", {}, csrf=page.csrf_token)
    assert (closed.status, closed.location) == (303, "/admin/tasks?closed=1")
    assert (await get_ok(client, f"/tasks/{task['id']}", world.a.teacher))["status"] == "closed"
    again = await teacher.post(f"/admin/tasks/{task['id']}/close", {}, csrf=page.csrf_token)
    assert again.status == 303  # closing a closed task answers it as it is
    refused = await teacher.post(edit_path, {**TASK_FORM, "class_ids": world.a1["id"]},
                                 csrf=page.csrf_token)  # fmt: skip
    assert_error_page(refused, 422, "task_closed")
    assert "已经结束" in (await teacher.get(edit_path)).text


# -- review --------------------------------------------------------------------------------


async def test_the_review_queue_shows_thumbnails_through_signed_urls(
    client: Client, world: World
) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    checkin_id = await photo_checkin(client, world.s1, task["id"])
    other_task = await make_task(client, world.teacher2, [world.a2["id"]])
    foreign = await photo_checkin(client, world.s2, other_task["id"], seed=7)
    teacher = await console(client, world.a.teacher)
    queue = await teacher.get("/admin/checkins")
    assert queue.status == 200
    assert _CHECKIN_ID.findall(queue.text) == [checkin_id]  # mine only
    assert "张一" in queue.text and "整理书桌" in queue.text and "三年级（1）班" in queue.text
    thumb = re.search(r'<img src="(http[^"]+/media/([0-9a-f]+)/thumb\?exp=\d+&amp;sig=[^"]+)"',
                      queue.text)  # fmt: skip
    assert thumb, queue.text[:3000]
    checkin = await get_ok(client, f"/checkins/{checkin_id}", world.a.teacher)
    assert thumb.group(2) == checkin["photos"][0]["id"]
    url = thumb.group(1).replace("&amp;", "&")
    assert url == checkin["photos"][0]["urls"]["thumb"]  # the API's signed URL (same clock)
    resp = await client.get(url[url.index("/media/") :])
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
    unsigned = await client.get(url[url.index("/media/") : url.index("?")])
    assert unsigned.status == 404  # a check-in photo only through its signed URL
    assert foreign not in queue.text and "张二" not in queue.text
    # Another teacher's class in the filter: not found.
    assert_error_page(await teacher.get(f"/admin/checkins?class_id={world.a2['id']}"), 404,
                      "not_found")  # fmt: skip
    assert_error_page(await teacher.get("/admin/checkins?status=lost"), 422, "invalid_request")


async def test_approving_and_rejecting_one_check_in(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    checkin_id = await photo_checkin(client, world.s1, task["id"])
    teacher = await console(client, world.a.teacher)
    queue = await teacher.get("/admin/checkins")
    review = f"/admin/checkins/{checkin_id}/review"
    form = {"decision": "approved", "comment": "很干净", "back": "/admin/checkins"}
    assert_error_page(await teacher.post(review, form), 403, "csrf_invalid")
    assert (await get_ok(client, f"/checkins/{checkin_id}", world.s1))["status"] == "submitted"
    approved = await teacher.post(review, form, csrf=queue.csrf_token)
    assert (approved.status, approved.location) == (303, "/admin/checkins?decided=approved")
    shown = await teacher.get(approved.location or "")
    assert "已通过这条打卡" in shown.text and checkin_id not in shown.text  # out of the queue
    mine = await get_ok(client, f"/checkins/{checkin_id}", world.s1)
    assert mine["status"] == "approved" and mine["review"]["comment"] == "很干净"
    assert (await get_ok(client, "/me/labour-summary", world.s1))["total_hours"] == 0.5
    # The same form again (a double click): decided once, the hours credited once.
    twice = await teacher.post(review, form, csrf=queue.csrf_token)
    assert_error_page(twice, 409, "already_reviewed")
    assert (await get_ok(client, "/me/labour-summary", world.s1))["total_hours"] == 0.5
    # A rejection, with its comment, and a decision the API does not know.
    second = await make_task(client, world.a.teacher, [world.a1["id"]], title="洗碗")
    redo = await photo_checkin(client, world.s1, second["id"], seed=3)
    bad = await teacher.post(f"/admin/checkins/{redo}/review", {"decision": "maybe"},
                             csrf=queue.csrf_token)  # fmt: skip
    assert_error_page(bad, 422, "invalid_request")
    rejected = await teacher.post(
        f"/admin/checkins/{redo}/review",
        {"decision": "rejected", "comment": "照片看不清", "back": "/admin/checkins?status=all"},
        csrf=queue.csrf_token,
    )
    assert rejected.location == "/admin/checkins?status=all&decided=rejected"
    assert (await get_ok(client, f"/checkins/{redo}", world.s1))["review"]["comment"] == (
        "照片看不清"
    )
    every = await teacher.get(rejected.location or "")
    assert "已退回" in every.text and "照片看不清" in every.text
    # A colleague's check-in: not found, and it stays as it was; a forged back page stays home.
    colleague_task = await make_task(client, world.teacher2, [world.a2["id"]])
    foreign = await photo_checkin(client, world.s2, colleague_task["id"], seed=5)
    refused = await teacher.post(f"/admin/checkins/{foreign}/review", form, csrf=queue.csrf_token)
    assert_error_page(refused, 404, "not_found")
    assert (await get_ok(client, f"/checkins/{foreign}", world.s2))["status"] == "submitted"


async def test_bulk_approve_checks_each_check_in(client: Client, world: World) -> None:
    first = await make_task(client, world.a.teacher, [world.a1["id"]], title="扫地")
    second = await make_task(client, world.a.teacher, [world.a1["id"]], title="洗碗",
                             category="service")  # fmt: skip
    mine = [await photo_checkin(client, world.s1, first["id"], seed=1),
            await photo_checkin(client, world.s1, second["id"], seed=2)]  # fmt: skip
    colleague_task = await make_task(client, world.teacher2, [world.a2["id"]])
    colleagues = await photo_checkin(client, world.s2, colleague_task["id"], seed=3)
    elsewhere_task = await make_task(client, world.b.teacher, [world.b1["id"]])
    elsewhere = await photo_checkin(client, world.s3, elsewhere_task["id"], seed=4)
    teacher = await console(client, world.a.teacher)
    queue = await teacher.get("/admin/checkins")
    assert sorted(_CHECKIN_ID.findall(queue.text)) == sorted(mine)
    assert 'id="bulk"' in queue.text and 'form="bulk"' in queue.text
    assert "data-select-all hidden" in queue.text  # "select all" only with the script
    ids = [*mine, colleagues, elsewhere]
    body: dict[str, Any] = {"ids": ids, "comment": "很好"}
    # Without the CSRF token nothing is approved.
    assert_error_page(await teacher.request("POST", "/admin/checkins/review",
                                            data=[("ids", i) for i in ids]), 403,
                      "csrf_invalid")  # fmt: skip
    assert (await get_ok(client, f"/checkins/{mine[0]}", world.s1))["status"] == "submitted"
    sent = [("ids", i) for i in ids] + [("comment", "很好"), ("csrf_token", queue.csrf_token)]
    answer = await teacher.request("POST", "/admin/checkins/review", data=sent)
    assert answer.status == 303
    assert (answer.location or "").startswith("/admin/checkins/reviewed?")
    result = await teacher.get(answer.location or "")
    assert "已通过 2 条打卡" in result.text and "另有 2 条没有通过" in result.text
    for checkin_id in (colleagues, elsewhere):  # refused one by one, named, not decided
        assert f"<code>{checkin_id}</code>：找不到这条打卡，或它不属于你的班级" in result.text
    assert "张二" not in result.text and "张三" not in result.text
    assert (await get_ok(client, f"/checkins/{colleagues}", world.s2))["status"] == "submitted"
    assert (await get_ok(client, f"/checkins/{elsewhere}", world.s3))["status"] == "submitted"
    for checkin_id in mine:
        decided = await get_ok(client, f"/checkins/{checkin_id}", world.s1)
        assert decided["status"] == "approved" and decided["review"]["comment"] == "很好"
    assert (await get_ok(client, "/me/labour-summary", world.s1))["total_hours"] == 1.0
    # The same form again: nothing approved twice, each said to be decided already.
    again = await teacher.get((await teacher.request("POST", "/admin/checkins/review",
                                                     data=sent)).location or "")  # fmt: skip
    assert "已通过 0 条打卡" in again.text
    assert again.text.count("已经审核过了（现在是“已通过”）") == 2
    assert (await get_ok(client, "/me/labour-summary", world.s1))["total_hours"] == 1.0
    # The answer page tells only what this teacher may see, whatever its link says.
    forged = await teacher.get(f"/admin/checkins/reviewed?approved={colleagues},{elsewhere},x")
    assert "已通过 0 条打卡" in forged.text and "张二" not in forged.text
    # Nothing ticked; a malformed id: the whole form is refused.
    none = await teacher.post("/admin/checkins/review", {"comment": ""}, csrf=queue.csrf_token)
    assert_error_page(none, 422, "invalid_request")
    assert "请先勾选要通过的打卡" in none.text
    malformed = await teacher.post("/admin/checkins/review", {**body, "ids": "nope"},
                                   csrf=queue.csrf_token)  # fmt: skip
    assert_error_page(malformed, 422, "invalid_request")


# -- duplicate photos ----------------------------------------------------------------------


async def test_duplicates_side_by_side_show_only_what_the_teacher_may_see(
    client: Client, world: World
) -> None:
    scene = photo(2)
    a1_task = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    original = await checked_in(client, world.s1, a1_task["id"], jpeg(scene))  # 张一, A1
    # 张四, in teacher_a's second class, hands in 张一's photo again.
    a3 = await make_class(client, world.a, "三年级（3）班")
    s4 = await sign_in_wechat(client, "s4")
    await join(client, s4, a3["join_code"], "张四")
    a3_task = await make_task(client, world.a.teacher, [a3["id"]], title="浇花")
    own_copy = await checked_in(client, s4, a3_task["id"], passed_off(scene))
    assert "duplicate_photo" in own_copy["flags"]
    # teacher_a may see both check-ins: both photos and both students, side by side.
    teacher = await console(client, world.a.teacher)
    mine = await teacher.get("/admin/checkins/duplicates")
    assert mine.status == 200 and f'id="dup-{own_copy["id"]}"' in mine.text
    assert own_copy["photos"][0]["id"] in mine.text and original["photos"][0]["id"] in mine.text
    assert "张四" in mine.text and "张一" in mine.text and "同校其他老师的班级" not in mine.text
    assert "三年级（1）班" in mine.text and "三年级（3）班" in mine.text
    # 张二 (teacher2's class A2, the same school) hands in the same copy: teacher2 sees
    # 张二's check-in and that it resembles one in another teacher's class, but not that
    # one's photo, student or class.
    a2_task = await make_task(client, world.teacher2, [world.a2["id"]], photo_required=True)
    copy = await checked_in(client, world.s2, a2_task["id"], passed_off(scene))
    assert "duplicate_photo" in copy["flags"]
    colleague = await console(client, world.teacher2)
    page = await colleague.get("/admin/checkins/duplicates")
    assert page.status == 200 and f'id="dup-{copy["id"]}"' in page.text
    assert copy["photos"][0]["id"] in page.text and "张二" in page.text
    for hidden in (original["photos"][0]["id"], own_copy["photos"][0]["id"], "张一", "张四",
                   "三年级（1）班", "三年级（3）班", "浇花"):  # fmt: skip
        assert hidden not in page.text, hidden
    assert "同校其他老师的班级" in page.text and "看不到它的照片和学生信息" in page.text
    queue = await colleague.get("/admin/checkins")
    assert "疑似重复照片" in queue.text and f"#dup-{copy['id']}" in queue.text
    assert f'id="dup-{copy["id"]}"' not in (await teacher.get("/admin/checkins/duplicates")).text
    # The flagged one is decided from there, and the page comes back.
    decided = await teacher.post(
        f"/admin/checkins/{own_copy['id']}/review",
        {"decision": "rejected", "comment": "请交自己拍的照片",
         "back": "/admin/checkins/duplicates"},
        csrf=mine.csrf_token,
    )  # fmt: skip
    assert decided.location == "/admin/checkins/duplicates?decided=rejected"
    after = await teacher.get(decided.location or "")
    assert "已退回这条打卡" in after.text and "没有疑似重复的照片" in after.text
    every = await teacher.get("/admin/checkins/duplicates?status=all")
    assert f'id="dup-{own_copy["id"]}"' in every.text and "请交自己拍的照片" in every.text
    # Another school sees none of it.
    other_school = await console(client, world.b.teacher)
    assert "没有疑似重复的照片" in (await other_school.get("/admin/checkins/duplicates")).text


# -- progress and the report -----------------------------------------------------------------


async def test_progress_per_task_and_period(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], title="整理书桌")
    second = await sign_in_wechat(client, "s1b")
    await join(client, second, world.a1["join_code"], "李二")
    checkin_id = await photo_checkin(client, world.s1, task["id"])
    await post_ok(client, f"/checkins/{checkin_id}/review", world.a.teacher,
                  {"decision": "approved"})  # fmt: skip
    teacher = await console(client, world.a.teacher)
    page = await teacher.get(f"/admin/tasks/{task['id']}/progress")
    assert page.status == 200 and "整理书桌 · 完成情况" in page.text
    assert ">2026-12-01</th>" in page.text and ">2026-12-02</th>" in page.text
    rows = dict(re.findall(r'<th scope="row" class="sticky">([^<]+)(.*?)</tr>', page.text, re.S))
    assert 'class="cell approved">通过' in rows["张一"] and "1/2" in rows["张一"]
    assert 'class="cell approved"' not in rows["李二"] and "0/2" in rows["李二"]
    assert "合计：通过" in page.text
    narrowed = await teacher.get(
        f"/admin/tasks/{task['id']}/progress?from_date=2026-12-02&to_date=2026-12-02"
    )
    assert ">2026-12-01</th>" not in narrowed.text and ">2026-12-02</th>" in narrowed.text
    wrong = await teacher.get(
        f"/admin/tasks/{task['id']}/progress?from_date=2026-12-05&to_date=2026-12-01"
    )
    assert_error_page(wrong, 422, "invalid_request")
    assert_error_page(await teacher.get(f"/admin/tasks/{task['id']}/progress?class_id="
                                        f"{world.a2['id']}"), 404, "not_found")  # fmt: skip
    class_page = await teacher.get(f"/admin/classes/{world.a1['id']}")
    assert f"/admin/tasks/{task['id']}/progress?class_id={world.a1['id']}" in class_page.text


async def test_the_class_report_in_excel_is_audited(client: Client, world: World) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]])
    checkin_id = await photo_checkin(client, world.s1, task["id"])
    await post_ok(client, f"/checkins/{checkin_id}/review", world.a.teacher,
                  {"decision": "approved"})  # fmt: skip
    teacher = await console(client, world.a.teacher)
    page = await teacher.get(f"/admin/classes/{world.a1['id']}")
    assert f'action="/admin/classes/{world.a1["id"]}/report.xlsx"' in page.text
    assert 'name="from_date" value="2026-09-01"' in page.text  # this term, by default
    path = f"/admin/classes/{world.a1['id']}/report.xlsx?from_date=2026-12-01&to_date=2026-12-31"
    cookie = "; ".join(f"{k}={v}" for k, v in teacher.cookies.items())
    async with client.get(path, headers={"Cookie": cookie}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == XLSX_CONTENT_TYPE
        assert "attachment;" in resp.headers["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert any(row[:2] == [1, "张一"] and row[-2:] == [0.5, 1] for row in rows), rows
    entries = await client.app[AUDIT].export_personal_data(world.s1.user_id)
    exported = [e for e in entries if e["action"] == "labour_report_exported"]
    assert len(exported) == 1 and exported[0]["actor"] == f"user:{world.a.teacher.user_id}"
    bad = await teacher.get(f"/admin/classes/{world.a1['id']}/report.xlsx?from_date=2026-12-01")
    assert_error_page(bad, 422, "invalid_request")
    backwards = await teacher.get(
        f"/admin/classes/{world.a1['id']}/report.xlsx?from_date=2026-12-31&to_date=2026-12-01"
    )
    assert_error_page(backwards, 422, "invalid_request")


# -- a teacher detached from the school -----------------------------------------------------


async def test_a_detached_teacher_sees_none_of_the_schools_pages(
    client: Client, world: World
) -> None:
    """The admin detaches teacher_a on the 学校 page: every page of A1, its task and its
    check-in is 404 to them, their lists and dashboard hold none of it, a bulk approval
    changes nothing; the admin still sees it all; attached again, it is all back."""
    task = await make_task(client, world.a.teacher, [world.a1["id"]], title="擦窗户")
    checkin_id = await photo_checkin(client, world.s1, task["id"])
    class_page = f"/admin/classes/{world.a1['id']}"
    pages = [
        class_page,
        class_page + "/join-code",
        class_page + "/report.xlsx?from_date=2026-12-01&to_date=2026-12-31",
        f"/admin/tasks/{task['id']}/edit",
        f"/admin/tasks/{task['id']}/progress",
        f"/admin/checkins?class_id={world.a1['id']}",
        f"/admin/dashboard?scope=class:{world.a1['id']}",
        f"/admin/dashboard?scope=school:{world.a.id}",
    ]
    teacher = await console(client, world.a.teacher)
    for page in pages:
        assert (await teacher.get(page)).status == 200, page
    assert checkin_id in (await teacher.get("/admin/checkins")).text

    admin = await console(client, world.admin)
    school = f"/admin/schools/{world.a.id}"
    answer = await send(admin, school, school + "/detach", {"user_id": world.a.teacher.user_id})
    assert (answer.status, answer.location) == (303, school + "?done=detached")

    for page in pages:
        assert_error_page(await teacher.get(page), 404, "not_found")
    classes = await teacher.get("/admin/classes")
    assert world.a1["id"] not in classes.text and "还没有被关联到学校" in classes.text
    assert "擦窗户" not in (await teacher.get("/admin/tasks")).text
    queue = await teacher.get("/admin/checkins")
    assert _CHECKIN_ID.findall(queue.text) == [] and "张一" not in queue.text
    assert "张一" not in (await teacher.get("/admin/checkins/duplicates")).text
    dashboard = await teacher.get("/admin/dashboard")
    assert dashboard.status == 200 and world.a1["name"] not in dashboard.text
    csrf = queue.csrf_token
    for action in (class_page + "/join-code", f"/admin/tasks/{task['id']}/close",
                   f"/admin/checkins/{checkin_id}/review"):  # fmt: skip
        sent = await teacher.post(action, {"decision": "approved"}, csrf=csrf)
        assert_error_page(sent, 404, "not_found")
    bulk = await teacher.request(
        "POST", "/admin/checkins/review", data=[("ids", checkin_id), ("csrf_token", csrf)]
    )
    assert (bulk.location or "").startswith("/admin/checkins/reviewed?")
    result = await teacher.get(bulk.location or "")
    assert "已通过 0 条打卡" in result.text
    assert f"<code>{checkin_id}</code>：找不到这条打卡，或它不属于你的班级" in result.text
    assert (await get_ok(client, f"/checkins/{checkin_id}", world.s1))["status"] == "submitted"
    # The admin still has every page.
    for page in pages[:6]:
        assert (await admin.get(page)).status == 200, page

    await post_ok(client, f"/admin/schools/{world.a.id}/teachers", world.admin,
                  {"user_id": world.a.teacher.user_id})  # fmt: skip
    for page in pages:
        assert (await teacher.get(page)).status == 200, page
    assert checkin_id in (await teacher.get("/admin/checkins")).text
    assert "擦窗户" in (await teacher.get("/admin/tasks")).text
