"""Admins' pages in a real browser (Chromium through Playwright): an admin creates an
editor's account, the editor signs in in a browser of their own, the admin disables it
and the editor's next page is the sign-in page; the audit log, filtered by the admin,
shows both. Screenshots: .data/test-output/console/admins-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from handlers.labour.keys import SCHOOL_SERVICE
from server.principal import Principal, Role
from tests.fixtures.browser import TIMEOUT_MS, ConsoleSite, shot, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

PASSWORD = "湘江边的老钳工-2026"


async def _nav(page: Page, label: str) -> None:
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name=label).click()


async def test_an_admin_creates_an_editor_then_disables_them(
    browser: Browser, context: BrowserContext, console_site: ConsoleSite
) -> None:
    admin_name, admin_password = await console_site.staff("admin", Role.admin)
    admin = await context.new_page()
    await sign_in(admin, admin_name, admin_password)
    nav = admin.get_by_role("navigation", name="主导航")
    for label in ("账号", "学校", "审计日志"):
        await expect(nav.get_by_role("link", name=label)).to_be_visible()
    await _nav(admin, "账号")
    await expect(admin.get_by_role("heading", name="员工账号")).to_be_visible()
    await admin.get_by_role("link", name="新建账号").click()
    await admin.get_by_label("用户名").fill("editor-zhao")
    await admin.get_by_label("姓名").fill("赵师傅")
    await admin.get_by_label("编辑", exact=True).check()
    await admin.get_by_label("初始密码").fill("short")
    await admin.get_by_label("确认密码").fill("short")
    await shot(admin, "admins-new-account")
    # The browser's own checks would stop a short password: send it as a script-less
    # browser could, to see the server's reason.
    await admin.locator("#password").evaluate("input => input.removeAttribute('minlength')")
    await admin.get_by_role("button", name="创建账号").click()
    await expect(admin.get_by_role("alert")).to_contain_text("密码：至少 12 个字符")
    await expect(admin.get_by_label("用户名")).to_have_value("editor-zhao")
    await shot(admin, "admins-new-account-weak-password")
    await admin.get_by_label("初始密码").fill(PASSWORD)
    await admin.get_by_label("确认密码").fill(PASSWORD)
    await admin.get_by_role("button", name="创建账号").click()
    await expect(admin.get_by_role("status")).to_have_text("账号已创建。")
    await expect(admin.get_by_role("heading", name=re.compile("赵师傅"))).to_be_visible()
    await shot(admin, "admins-account-created")

    other = await browser.new_context(
        base_url=console_site.base_url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    other.set_default_timeout(TIMEOUT_MS)
    try:
        editor = await other.new_page()
        await sign_in(editor, "editor-zhao", PASSWORD)
        await expect(editor.get_by_role("navigation", name="主导航")).to_contain_text("写稿")
        await shot(editor, "admins-editor-signed-in")

        await admin.get_by_role("button", name="停用账号").click()
        await expect(admin.get_by_role("status")).to_contain_text("账号已停用")
        await expect(admin.get_by_role("button", name="启用账号")).to_be_visible()
        await shot(admin, "admins-account-disabled")

        await _nav(editor, "稿件")
        await expect(editor).to_have_url(re.compile(r"/admin/login\?next=/admin/stories$"))
        await expect(editor.get_by_role("heading", name="工作人员登录")).to_be_visible()
        await editor.get_by_label("用户名").fill("editor-zhao")
        await editor.get_by_label("密码").fill(PASSWORD)
        await editor.get_by_role("button", name="登录").click()
        await expect(editor.get_by_role("alert")).to_have_text("账号已停用，请联系管理员")
        await shot(editor, "admins-editor-refused")
    finally:
        await other.close()

    await _nav(admin, "账号")
    row = admin.get_by_role("row").filter(has_text="editor-zhao")
    await expect(row).to_contain_text("已停用")
    await shot(admin, "admins-accounts")

    await _nav(admin, "审计日志")
    await admin.get_by_label("操作人").fill(admin_name)
    await admin.get_by_role("button", name="筛选").click()
    rows = admin.locator("table.audit tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("停用账号")
    await expect(rows.nth(0)).to_contain_text("赵师傅")
    await expect(rows.nth(1)).to_contain_text("新建员工账号")
    await expect(rows.nth(1)).to_contain_text("身份：编辑")
    await expect(admin.get_by_label("操作人")).to_have_value(admin_name)
    await shot(admin, "admins-audit-by-actor")
    await admin.set_viewport_size({"width": 375, "height": 800})
    await shot(admin, "admins-audit-phone")
    await _nav(admin, "账号")
    await shot(admin, "admins-accounts-phone")


async def test_an_admin_attaches_a_teacher_to_a_school(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    teacher_name, _ = await console_site.staff("teacher", Role.teacher)
    admin = await context.new_page()
    await sign_in(admin, *await console_site.staff("admin", Role.admin))
    await _nav(admin, "学校")
    await admin.get_by_label("学校名称").fill("株洲市实验小学")
    await admin.get_by_label("区县").fill("荷塘区")
    await admin.get_by_role("button", name="创建学校").click()
    await expect(admin.get_by_role("status")).to_have_text("学校已创建。")
    await admin.get_by_label("教师账号的用户名").fill(teacher_name)
    await admin.get_by_role("button", name="加入本校").click()
    await expect(admin.get_by_role("status")).to_have_text("教师已加入本校。")
    await expect(admin.get_by_role("row").filter(has_text=teacher_name)).to_be_visible()
    await shot(admin, "admins-school")
    schools = console_site.app[SCHOOL_SERVICE]
    me = Principal("x", "x", frozenset({Role.admin}), "x")
    await schools.create_school(me, "株洲市第二中学", "芦淞区")
    await _nav(admin, "学校")
    await expect(admin.get_by_role("row").filter(has_text="株洲市实验小学")).to_contain_text(
        teacher_name
    )
    await shot(admin, "admins-schools")
    await admin.set_viewport_size({"width": 375, "height": 800})
    await shot(admin, "admins-schools-phone")
    await admin.get_by_role("link", name="株洲市实验小学").click()
    await admin.get_by_role("button", name=re.compile("移出本校")).click()
    await expect(admin.get_by_role("status")).to_have_text("教师已移出本校。")
    await shot(admin, "admins-school-phone-detached")
