"""Organizers' pages in a real browser (Chromium through Playwright): an organizer
writes and publishes an event, exports its sign-ups, and checks tickets in at the door,
online and with the network cut. Screenshots: .data/test-output/console/organizers-*."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import BrowserContext, Page, ViewportSize, expect

from handlers.events.keys import SIGNUP_SERVICE
from handlers.events.repo import new_id
from server.clock import SHANGHAI, SettableClock
from server.keys import CLOCK
from server.principal import Role
from tests.console.test_organizers import forged
from tests.events.conftest import phone_of, resident
from tests.fixtures.browser import ConsoleSite, shot, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

PHONE: ViewportSize = {"width": 375, "height": 812}


def local(site: ConsoleSite, days: float) -> str:
    instant = site.app[CLOCK].now() + timedelta(days=days)
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def write_and_publish(page: Page, site: ConsoleSite, title: str, shots: str) -> str:
    """An event through the form, published; its id."""
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="活动").click()
    await expect(page.get_by_role("heading", name="活动", exact=True)).to_be_visible()
    await shot(page, f"organizers-{shots}events-empty")
    await page.get_by_role("link", name="新建活动").click()
    await page.get_by_label("标题").fill(title)
    await page.get_by_label("介绍").fill("八级钳工现场教学，动手体验。")
    await page.get_by_label("类型（五进）").select_option(label="进农村")
    await page.get_by_label("名额", exact=True).fill("20")
    await page.get_by_label("地点名称").fill("荷塘村村部")
    await page.get_by_label("地址").fill("株洲市荷塘区")
    await page.get_by_label("开始时间").fill(local(site, 3))
    await page.get_by_label("结束时间").fill(local(site, 3.1))
    await shot(page, f"organizers-{shots}event-form")
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.get_by_role("status")).to_have_text("已保存")
    await shot(page, f"organizers-{shots}event-draft")
    await page.get_by_role("button", name="发布").click()
    await expect(page.get_by_role("status")).to_contain_text("已发布")
    await shot(page, f"organizers-{shots}event-published")
    found = re.search(r"/admin/events/([0-9a-f]{24})", page.url)
    assert found, page.url
    return found.group(1)


async def tickets_for(site: ConsoleSite, event_id: str, count: int) -> list[str]:
    """Residents sign up (through the service, as the mini-program does); their tickets."""
    signups = site.app[SIGNUP_SERVICE]
    tickets = []
    for n in range(count):
        result = await signups.sign_up(
            resident(new_id()), event_id, f"村民{n + 1}", phone_of(500 + n)
        )
        tickets.append((await signups.out(result.signup)).ticket or "")
    return tickets


async def check_in(page: Page, ticket: str) -> None:
    await page.get_by_label(re.compile("^票号")).fill(ticket)
    await page.get_by_role("button", name="签到", exact=True).click()


async def test_an_organizer_exports_and_checks_in_online_then_offline(
    context: BrowserContext, console_site: ConsoleSite, tmp_path: Path
) -> None:
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("organizer", Role.organizer))
    await shot(page, "organizers-home")
    event_id = await write_and_publish(page, console_site, "工匠进农村：钳工绝活", "")
    tickets = await tickets_for(console_site, event_id, 4)

    await page.get_by_role("link", name="报名名单").click()
    rows = page.get_by_role("row")
    await expect(rows.filter(has_text="村民1")).to_contain_text("138****0500")
    await expect(page.get_by_text("13800000500")).to_have_count(0)  # masked
    await shot(page, "organizers-signups")
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="导出 Excel").click()
    download = await downloading.value
    assert download.suggested_filename.startswith("报名名单-工匠进农村：钳工绝活-")
    saved = tmp_path / "signups.xlsx"
    await download.save_as(saved)
    sheet = load_workbook(saved).active
    assert sheet is not None
    cells = [list(row)[:4] for row in sheet.iter_rows(values_only=True)]
    assert [1, "村民1", phone_of(500), "已确认"] in cells  # the number in full, only here

    await page.goto(f"/admin/events/{event_id}")
    await page.get_by_role("link", name="签到", exact=True).click()
    await expect(page.get_by_role("heading", name="签到", exact=True)).to_be_visible()
    attended = page.locator(".door-count [data-attended]")
    await expect(attended).to_have_text("0")
    network = page.locator("#network")
    await expect(network).to_contain_text("在线")
    await expect(page.locator("#camera-note")).to_contain_text("不支持摄像头扫码")
    await shot(page, "organizers-door")

    # At the door, with signal: typed in, checked in at once.
    result = page.locator("#door-result")
    await check_in(page, tickets[0])
    await expect(result).to_contain_text("已签到")
    await expect(result).to_contain_text("村民1（138****0500）")
    await expect(attended).to_have_text("1")
    await shot(page, "organizers-door-checked-in")

    # The signal goes: checked here with the public key, kept in the browser.
    await context.set_offline(True)
    await expect(network).to_contain_text("离线")
    pending = page.locator("#pending li")
    await check_in(page, tickets[1])
    await expect(result).to_contain_text("已离线保存")
    await expect(result).to_contain_text("本机验证通过")
    await check_in(page, tickets[2])
    await expect(pending).to_have_count(2)
    await check_in(page, forged(tickets[3]))
    await expect(result).to_contain_text("无效票")
    await expect(result).to_contain_text("本机验证未通过")
    await expect(pending).to_have_count(2)  # refused here, not kept
    await expect(attended).to_have_text("1")
    stored = await page.evaluate(f"localStorage.getItem('jiangxin.door.{event_id}')")
    assert tickets[1] in stored and tickets[2] in stored and forged(tickets[3]) not in stored
    await shot(page, "organizers-door-offline")

    # The signal is back: one batch, and both counted. (The server's clock, standing
    # still in tests, is set to the browser's, as a real one would be.)
    clock = console_site.app[CLOCK]
    assert isinstance(clock, SettableClock)
    clock.set(datetime.now(UTC))
    await context.set_offline(False)
    await expect(attended).to_have_text("3")
    await expect(result).to_contain_text("已上传 2 条扫描记录")
    await expect(pending).to_have_count(0)
    await expect(page.locator("#results li")).to_have_count(3)  # the first one too
    assert await page.evaluate(f"localStorage.getItem('jiangxin.door.{event_id}')") is None
    await shot(page, "organizers-door-synced")

    # What the list says now; the same ticket again is "already".
    await check_in(page, tickets[1])
    await expect(result).to_contain_text("已经签到过")
    await page.goto(f"/admin/events/{event_id}/signups?status=confirmed")
    await expect(page.locator("dd[data-attended]")).to_have_text("3")
    await expect(page.get_by_text("75.0%")).to_be_visible()
    await shot(page, "organizers-signups-attended")


async def test_the_pages_on_a_phone(context: BrowserContext, console_site: ConsoleSite) -> None:
    page = await context.new_page()
    await page.set_viewport_size(PHONE)
    await sign_in(page, *await console_site.staff("organizer", Role.organizer))
    event_id = await write_and_publish(page, console_site, "工匠进社区", "phone-")
    await tickets_for(console_site, event_id, 3)
    await page.goto("/admin/events")
    await shot(page, "organizers-phone-events")
    await page.goto(f"/admin/events/{event_id}")
    await shot(page, "organizers-phone-event")
    await page.goto(f"/admin/events/{event_id}/signups")
    await shot(page, "organizers-phone-signups")
    await page.goto(f"/admin/events/{event_id}/edit")
    await shot(page, "organizers-phone-edit")
    await page.goto(f"/admin/events/{event_id}/cancel")
    await expect(page.get_by_role("heading", name="取消活动？")).to_be_visible()
    await shot(page, "organizers-phone-cancel")
    await page.goto(f"/admin/events/{event_id}/door")
    await check_in(page, "T1.not-a-ticket")
    await expect(page.locator("#door-result")).to_contain_text("无效票")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the phone
    await shot(page, "organizers-phone-door")
    await page.goto(f"/admin/events/{event_id}/cancel")
    await page.get_by_role("button", name="确认取消活动").click()
    await expect(page.get_by_role("status")).to_contain_text("活动已取消")
    await shot(page, "organizers-phone-cancelled")
