"""Teachers in a real browser (Chromium through Playwright): a teacher signs in, looks at
their class and its printable join code, sets a task, opens the review queue with the
photos' thumbnails, bulk-approves check-ins (the student's hours change in
``GET /api/v1/me/labour-summary``), compares duplicate photos and downloads the report;
another school's class page is a 404. Screenshots: .data/test-output/console/teacher-*.

The schools, classes, students and tasks are made through the labour room's services;
the students sign in, upload their photos and check in through the API, as the
mini-program does."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import APIRequestContext, BrowserContext, Page, ViewportSize, expect

from handlers.auth.keys import AUTH_SERVICE
from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from handlers.labour.schemas import ConsentIn, TaskIn
from server.keys import CLOCK
from server.principal import Principal, Role
from tests.fixtures.browser import ConsoleSite, shot, sign_in
from tests.labour.test_duplicates import jpeg, passed_off, photo

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

ADMIN = Principal("browser-admin", "s", frozenset({Role.admin}), "s")
GUARDIAN = ConsentIn(guardian_name="王芳", relationship="mother", version=consent.CURRENT_VERSION)
PHONE: ViewportSize = {"width": 375, "height": 812}


@dataclass
class Student:
    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def teacher_of(site: ConsoleSite, school_id: str, name: str) -> tuple[str, str, Principal]:
    """A teacher account attached to the school: username, password, principal."""
    username, password = await site.staff(name, Role.teacher)
    user = await site.app[AUTH_SERVICE].get_staff_user(username)
    await site.app[SCHOOL_SERVICE].attach_teacher(ADMIN, school_id, user.id)
    return username, password, Principal(user.id, "s", frozenset(user.roles), "s")


async def student_in(api: APIRequestContext, site: ConsoleSite, code: str, name: str) -> Student:
    """A resident signed in with WeChat (the fake's ``dev:`` codes) who joined the class."""
    wechat_name = f"student-{uuid.uuid4().hex[:8]}"
    signed = await api.post("/api/v1/auth/wechat", data={"code": f"dev:{wechat_name}"})
    assert signed.ok, await signed.text()
    body = await signed.json()
    student = Student(body["user"]["id"], body["access_token"])
    await site.app[SCHOOL_SERVICE].join(
        Principal(student.user_id, "s", frozenset(), "s"), "192.0.2.1", code, name, GUARDIAN
    )
    return student


async def checks_in(api: APIRequestContext, student: Student, task_id: str, data: bytes) -> Any:
    uploaded = await api.post(
        "/api/v1/media",
        headers=student.headers,
        multipart={
            "file": {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": data},
            "purpose": "checkin",
        },
    )
    assert uploaded.status == 201, await uploaded.text()
    media_id = (await uploaded.json())["id"]
    made = await api.post(f"/api/v1/tasks/{task_id}/checkins", headers=student.headers,
                          data={"note": "整理好了", "media_ids": [media_id]})  # fmt: skip
    assert made.status == 201, await made.text()
    return await made.json()


async def hours_of(api: APIRequestContext, student: Student) -> float:
    answer = await api.get("/api/v1/me/labour-summary", headers=student.headers)
    assert answer.ok, await answer.text()
    return float((await answer.json())["total_hours"])


async def task_for(site: ConsoleSite, teacher: Principal, class_id: str, title: str) -> str:
    today = site.app[CLOCK].today()
    task = await site.app[TASK_SERVICE].create_task(
        teacher,
        TaskIn(
            title=title, category="daily_life", class_ids=[class_id], start_date=today,
            end_date=today + timedelta(days=30), frequency="daily", hours=0.5,
            photo_required=True, makeup_days=2,
        ),
    )  # fmt: skip
    return task.id


async def photos_loaded(page: Page, selector: str) -> None:
    """Every picture of ``selector`` has arrived (through its signed URL, past the CSP)."""
    await page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )


async def test_a_teacher_bulk_approves_and_the_students_hours_change(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    site, api = console_site, context.request
    schools = site.app[SCHOOL_SERVICE]
    school = await schools.create_school(ADMIN, "株洲市荷塘小学", "荷塘区")
    elsewhere = await schools.create_school(ADMIN, "株洲市芦淞小学", "芦淞区")
    username, password, teacher = await teacher_of(site, school.id, "teacher")
    _, _, colleague = await teacher_of(site, school.id, "colleague")
    _, _, stranger = await teacher_of(site, elsewhere.id, "stranger")
    a1 = await schools.create_class(teacher, school.id, "三年级（1）班", 3)
    a2 = await schools.create_class(colleague, school.id, "三年级（2）班", 3)
    b1 = await schools.create_class(stranger, elsewhere.id, "四年级（1）班", 4)
    assert a1.join_code and a2.join_code and b1.join_code
    zhang = await student_in(api, site, a1.join_code, "张一")
    li = await student_in(api, site, a1.join_code, "李二")
    wang = await student_in(api, site, a1.join_code, "王三")
    sun = await student_in(api, site, a1.join_code, "孙五")
    zhao = await student_in(api, site, a2.join_code, "赵四")
    await student_in(api, site, b1.join_code, "钱六")
    desk = await task_for(site, teacher, a1.id, "整理自己的书桌")
    colleagues_task = await task_for(site, colleague, a2.id, "给花浇水")
    await checks_in(api, zhang, desk, jpeg(photo(1)))
    await checks_in(api, li, desk, jpeg(photo(3)))
    await checks_in(api, zhao, colleagues_task, jpeg(photo(5)))
    copied = await checks_in(api, wang, desk, passed_off(photo(1)))  # 张一's, again
    from_colleague = await checks_in(api, sun, desk, passed_off(photo(5)))  # 赵四's
    assert "duplicate_photo" in copied["flags"] and "duplicate_photo" in from_colleague["flags"]
    assert await hours_of(api, zhang) == 0

    page = await context.new_page()
    await sign_in(page, username, password)
    nav = page.get_by_role("navigation", name="主导航")
    for label in ("班级", "任务", "打卡审核"):
        await expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    await shot(page, "teacher-home")

    # The class, its join code and the sheet to print.
    await nav.get_by_role("link", name="班级", exact=True).click()
    await expect(page.get_by_role("heading", name="我的班级")).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text="三年级（1）班")).to_contain_text("4 人")
    await shot(page, "teacher-classes")
    await page.get_by_role("link", name="三年级（1）班").click()
    await expect(page.get_by_role("heading", name="三年级（1）班")).to_be_visible()
    await expect(page.get_by_role("cell", name="张一", exact=True)).to_be_visible()
    await expect(page.locator(".join-code")).to_have_text(a1.join_code)
    await shot(page, "teacher-class")
    page.once("dialog", lambda dialog: dialog.accept())  # "the old code stops working"
    await page.get_by_role("button", name="换一个新码").click()
    await expect(page.get_by_role("status")).to_have_text("已换新班级码，旧码不再有效。")
    new_code = (await page.locator(".join-code").inner_text()).strip()
    assert new_code != a1.join_code
    await page.get_by_role("link", name="打印班级码（二维码）").click()
    qr = page.get_by_role("img", name=f"班级码 {new_code}")
    await expect(qr).to_be_visible()
    await expect(page.get_by_role("button", name="打印")).to_be_visible()  # the script's
    await shot(page, "teacher-join-code")
    await page.emulate_media(media="print")
    await expect(page.get_by_role("navigation", name="主导航")).to_be_hidden()
    await expect(qr).to_be_visible()
    await shot(page, "teacher-join-code-print")
    await page.emulate_media(media="screen")

    # A task, with the form's errors shown by field first.
    await nav.get_by_role("link", name="任务", exact=True).click()
    await shot(page, "teacher-tasks")
    await page.get_by_role("link", name="布置新任务").click()
    await page.get_by_label("每次打卡记入时长（小时）").fill("0")
    await page.get_by_role("button", name="发布任务").click()
    await expect(page.get_by_role("alert")).to_contain_text("标题：不能为空")
    await expect(page.get_by_role("alert")).to_contain_text("每次时长：须大于 0")
    await expect(page.get_by_role("alert")).to_contain_text("班级：至少选择 1 项")
    await expect(page.get_by_label("标题")).to_have_attribute("aria-invalid", "true")
    await shot(page, "teacher-task-errors")
    await page.get_by_label("标题").fill("周末帮家里做饭")
    await page.get_by_label("类别").select_option(label="生产劳动")
    await page.get_by_label("频次").select_option(label="每周")
    await page.get_by_label("三年级（1）班").check()
    await page.get_by_label("每次打卡记入时长（小时）").fill("1.5")
    await page.get_by_role("button", name="发布任务").click()
    await expect(page.get_by_role("status")).to_have_text("任务已发布。")
    await expect(page.get_by_role("row").filter(has_text="周末帮家里做饭")).to_contain_text("每周")
    await shot(page, "teacher-tasks-created")
    desk_row = page.get_by_role("row").filter(has_text="整理自己的书桌")
    await desk_row.get_by_role("link", name=re.compile("^进度")).click()
    await expect(page.get_by_role("heading", name="整理自己的书桌 · 完成情况")).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text="张一")).to_contain_text("待审")
    await shot(page, "teacher-progress")

    # The review queue: thumbnails through their signed URLs; approve the two that are
    # not flagged, in one go.
    await nav.get_by_role("link", name="打卡审核").click()
    await expect(page.get_by_role("heading", name="打卡审核")).to_be_visible()
    await expect(page.locator(".checkins > li")).to_have_count(4)
    await photos_loaded(page, ".thumbs img")
    thumbs = await page.locator(".thumbs img").evaluate_all("imgs => imgs.map(i => i.src)")
    assert all(re.search(r"/media/[0-9a-f]+/thumb\?exp=\d+&sig=", src) for src in thumbs)
    await shot(page, "teacher-review-queue")
    select_all = page.get_by_label("全选本页")
    await select_all.check()  # the page's script: every check-in of the page
    await expect(page.get_by_text("已选 4 条")).to_be_visible()
    for flagged in ("王三", "孙五"):
        await page.get_by_label(f"选择{flagged}的打卡").uncheck()
    await expect(page.get_by_text("已选 2 条")).to_be_visible()
    await page.get_by_label("评语（可选）", exact=True).fill("整理得很好")
    await shot(page, "teacher-review-ticked")
    await page.get_by_role("button", name="通过勾选的打卡").click()
    await expect(page.get_by_role("heading", name="批量审核结果")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("已通过 2 条打卡。")
    await shot(page, "teacher-bulk-result")
    assert await hours_of(api, zhang) == 0.5  # what the mini-program shows the student
    assert await hours_of(api, li) == 0.5
    assert await hours_of(api, wang) == 0

    # Duplicates: 王三's beside 张一's (both the teacher's); 孙五's beside a check-in of
    # the colleague's class, whose photo and student stay hidden.
    await page.get_by_role("link", name="返回打卡审核").click()
    await page.get_by_role("link", name="疑似重复照片").first.click()
    await expect(page.get_by_role("heading", name="疑似重复照片", exact=True)).to_be_visible()
    pairs = page.locator(".pair")
    await expect(pairs).to_have_count(2)
    both = pairs.filter(has_text="王三")
    await expect(both.locator(".side img")).to_have_count(2)
    await expect(both).to_contain_text("张一")
    hidden = pairs.filter(has_text="孙五")
    await expect(hidden.locator(".side img")).to_have_count(1)
    await expect(hidden).to_contain_text("同校其他老师的班级")
    await expect(hidden).not_to_contain_text("赵四")
    await photos_loaded(page, ".side img")
    await shot(page, "teacher-duplicates")
    await both.get_by_label("评语（可选，学生会收到）").fill("请交自己拍的照片")
    await both.get_by_role("button", name="退回").click()
    await expect(page.get_by_role("status")).to_have_text("已退回这条打卡，学生可以重新提交。")
    await expect(pairs).to_have_count(1)

    # The report, downloaded from the class page.
    await page.goto(f"/admin/classes/{a1.id}")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="下载 Excel").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert "三年级（1）班" in download.suggested_filename

    # On a phone: nothing wider than the screen (wide tables scroll in their own box).
    await page.set_viewport_size(PHONE)
    for path, name in (("/admin/checkins?status=all", "review-queue"),
                       (f"/admin/tasks/{desk}/progress", "progress"),
                       (f"/admin/classes/{a1.id}", "class"), ("/admin/tasks", "tasks"),
                       ("/admin/classes", "classes"),
                       ("/admin/checkins/duplicates?status=all", "duplicates")):  # fmt: skip
        await page.goto(path)
        await photos_loaded(page, "img")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await shot(page, f"teacher-{name}-phone")


async def test_another_schools_class_page_is_not_found(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    schools = console_site.app[SCHOOL_SERVICE]
    mine = await schools.create_school(ADMIN, "株洲市石峰小学", "石峰区")
    theirs = await schools.create_school(ADMIN, "株洲市渌口小学", "渌口区")
    username, password, _ = await teacher_of(console_site, mine.id, "teacher")
    _, _, stranger = await teacher_of(console_site, theirs.id, "stranger")
    their_class = await schools.create_class(stranger, theirs.id, "五年级（2）班", 5)
    page = await context.new_page()
    await sign_in(page, username, password)
    answer = await page.goto(f"/admin/classes/{their_class.id}")
    assert answer is not None and answer.status == 404
    await expect(page.locator("main[data-error-code=not_found]")).to_be_visible()
    await expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    await expect(page.get_by_text("五年级（2）班")).to_have_count(0)
    await expect(page.get_by_text(their_class.join_code or "-")).to_have_count(0)
    await shot(page, "teacher-other-school-class")
    answer = await page.goto(f"/admin/classes/{their_class.id}/join-code")
    assert answer is not None and answer.status == 404
