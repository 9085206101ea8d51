"""The dashboard in a real browser (Chromium through Playwright), on the demo data: a
teacher and an admin, at a desktop's width and a 375 px phone's. Screenshots of every
page visited: .data/test-output/console/dashboard-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, expect

from handlers.auth import DEMO_PASSWORD
from handlers.stories.demo import DEFAULT_DATA_DIR
from server.room import DemoSource
from server.rooms import ROOMS
from tests.fixtures.browser import ConsoleSite, shot, sign_in
from tests.stories.test_demo import _write_art

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

PHONE: ViewportSize = {"width": 375, "height": 812}


async def seeded(console_site: ConsoleSite, tmp_path: Path) -> None:
    """What `python -m server seed` writes, in the test's app."""
    _write_art(tmp_path)
    source = DemoSource(data=DEFAULT_DATA_DIR, art=tmp_path)
    for room in ROOMS:
        if room.seed is not None:
            await room.seed(source)(console_site.app)


async def open_dashboard(page: Page, username: str) -> None:
    await sign_in(page, username, DEMO_PASSWORD)
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="数据看板").click()
    await expect(page.get_by_role("heading", name="数据看板", level=1)).to_be_visible()


async def no_sideways_scroll(page: Page) -> None:
    """The page itself fits the window (a wide chart scrolls in its own frame)."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"


async def test_a_teacher_reads_the_charts_and_their_tables(
    context: BrowserContext, console_site: ConsoleSite, tmp_path: Path
) -> None:
    await seeded(console_site, tmp_path)
    page = await context.new_page()
    await open_dashboard(page, "teacher")
    checkins = page.get_by_role("img", name=re.compile("每天的打卡次数"))
    await expect(checkins).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile("各类劳动的时长"))).to_be_visible()
    await expect(page.get_by_role("heading", name="五进活动：报名与签到")).to_have_count(0)
    await shot(page, "dashboard-teacher")
    # The table behind the chart, opened as a keyboard user would.
    summary = page.locator("#table-checkins").locator("xpath=ancestor::details/summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    table = page.get_by_role("table", name=re.compile("每天的打卡次数"))
    await expect(table).to_be_visible()
    await expect(table.get_by_role("row", name=re.compile("^合计"))).to_be_visible()
    await shot(page, "dashboard-teacher-table")
    # One class of theirs: the select, then 查看 (no script needed).
    await page.get_by_label("范围").select_option(label="三年级（2）班")
    await page.get_by_role("button", name="查看").click()
    await expect(page).to_have_url(re.compile(r"/admin/dashboard\?scope=class%3A[0-9a-f]{24}$"))
    await expect(checkins).to_have_accessible_name(re.compile("三年级（2）班"))

    await page.set_viewport_size(PHONE)
    await page.goto("/admin/dashboard")
    await expect(checkins).to_be_visible()
    await no_sideways_scroll(page)
    await shot(page, "dashboard-teacher-phone")


async def test_an_admin_sees_every_section_on_a_desktop_and_a_phone(
    context: BrowserContext, console_site: ConsoleSite, tmp_path: Path
) -> None:
    await seeded(console_site, tmp_path)
    page = await context.new_page()
    await open_dashboard(page, "admin")
    for name in ("每天的打卡次数", "各类劳动的时长", "各场活动的报名与签到", "本周阅读最多的稿件"):
        await expect(page.get_by_role("img", name=re.compile(name))).to_be_visible()
    await shot(page, "dashboard-admin")
    for details in await page.locator("details.chart-data summary").all():
        await details.click()
    await expect(page.get_by_role("table", name="各场活动的报名与签到")).to_be_visible()
    await shot(page, "dashboard-admin-tables")

    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.get_by_role("img", name=re.compile("本周阅读最多的稿件"))).to_be_visible()
    await no_sideways_scroll(page)
    await shot(page, "dashboard-admin-phone")
    for details in await page.locator("details.chart-data summary").all():
        await details.click()
    await no_sideways_scroll(page)
    await shot(page, "dashboard-admin-phone-tables")
