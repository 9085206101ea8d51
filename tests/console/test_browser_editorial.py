"""The editorial pages in a real browser (Chromium through Playwright): a reviewer
schedules a story and it is public once its time has come, a moderator approves a
comment, an editor keeps people and a story's gallery; on a desktop and on a phone.
Screenshots: .data/test-output/console/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, expect

from handlers.auth.keys import AUTH_SERVICE
from handlers.stories import publish_due_stories
from handlers.stories.keys import COMMENT_SERVICE, EDITORIAL_SERVICE
from server.clock import SHANGHAI, SettableClock
from server.keys import CLOCK
from server.principal import Principal, Role
from tests.fixtures.browser import ConsoleSite, shot, sign_in
from tests.media.test_media_api import jpeg_bytes

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

BODY = "## 一线的故事\n\n他在株洲的车间里干了**三十年**。"
AUTHOR = Principal("author-of-the-story", "s", frozenset({Role.editor}), "t")
PUBLISHER = Principal("publisher-of-the-story", "s", frozenset({Role.reviewer}), "t")
PHONE: ViewportSize = {"width": 375, "height": 800}


def clock_of(site: ConsoleSite) -> SettableClock:
    clock = site.app[CLOCK]
    assert isinstance(clock, SettableClock)
    return clock


async def in_review(site: ConsoleSite, title: str) -> str:
    editorial = site.app[EDITORIAL_SERVICE]
    doc = await editorial.create(
        AUTHOR, {"title": title, "category": "craftsman", "body_markdown": BODY}
    )
    await editorial.submit(AUTHOR, str(doc["_id"]))
    return str(doc["_id"])


async def on_a_phone(page: Page, name: str) -> None:
    """The page as it is, then on a 375 px phone (nothing wider than the screen)."""
    size = page.viewport_size
    await page.set_viewport_size(PHONE)
    wider = await page.evaluate("() => document.documentElement.scrollWidth")
    await shot(page, name + "-phone")
    assert wider <= PHONE["width"], f"{name}: {wider} px wide on a phone"
    if size:
        await page.set_viewport_size(size)


async def test_a_reviewer_schedules_a_story_and_it_is_published_on_time(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    story_id = await in_review(console_site, "定时发布的稿件")
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("reviewer", Role.reviewer))
    await (
        page.get_by_role("navigation", name="主导航")
        .get_by_role("link", name="审核", exact=True)
        .click()
    )
    await page.get_by_role("link", name="定时发布的稿件").click()
    clock = clock_of(console_site)
    at = (clock.now() + timedelta(minutes=10)).astimezone(SHANGHAI)
    await page.get_by_label("发布时间（北京时间）").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await shot(page, "review-schedule")
    await on_a_phone(page, "review-schedule")
    await page.get_by_role("button", name="定时发布", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("已排期")
    await page.get_by_role("link", name="查看已排期的稿件").click()
    row = page.get_by_role("row").filter(has_text="定时发布的稿件")
    await expect(row).to_contain_text("已排期")
    await expect(row).to_contain_text(f"定于 {at.strftime('%Y-%m-%d %H:%M')} 发布")
    await shot(page, "stories-scheduled")
    answer = await page.request.get("/api/v1/stories")
    assert (await answer.json())["items"] == []  # not before its time
    clock.advance(timedelta(minutes=11))  # within the idle timeout
    assert await publish_due_stories(console_site.app) == 1  # the worker's sweep
    answer = await page.request.get("/api/v1/stories")
    assert [item["id"] for item in (await answer.json())["items"]] == [story_id]
    await page.reload()
    await expect(page.get_by_text("没有稿件")).to_be_visible()  # no longer scheduled


async def test_a_moderator_approves_a_comment_in_the_queue(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    editorial = console_site.app[EDITORIAL_SERVICE]
    story_id = await in_review(console_site, "有评论的稿件")
    doc = await editorial.get(story_id)
    await editorial.publish(PUBLISHER, story_id, doc["revision"])
    username, _ = await console_site.staff("commenter", Role.editor)
    commenter = await console_site.app[AUTH_SERVICE].get_staff_user(username)
    comments = console_site.app[COMMENT_SERVICE]
    author = Principal(commenter.id, "s", frozenset(commenter.roles), "t")
    held = await comments.post(author, story_id, "向老师傅学习！<b>不是粗体</b>")
    assert held.status == "pending"  # a staff account: WeChat cannot check it
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("moderator", Role.reviewer))
    nav = page.get_by_role("navigation", name="主导航")
    await nav.get_by_role("link", name="评论审核").click()
    item = page.get_by_role("listitem").filter(has_text="向老师傅学习！")
    await expect(item).to_contain_text("有评论的稿件")
    await expect(item).to_contain_text("<b>不是粗体</b>")  # text, not markup
    await shot(page, "comments-queue")
    await on_a_phone(page, "comments-queue")
    await item.get_by_role("button", name=re.compile("^通过")).click()
    await expect(page.get_by_role("status")).to_have_text("已通过 1 条评论。")
    await expect(page.get_by_text("没有待审核的评论。")).to_be_visible()
    await shot(page, "comments-approved")
    answer = await page.request.get(f"/api/v1/stories/{story_id}/comments")
    assert [c["text"] for c in (await answer.json())["items"]] == [held.text]


async def test_an_editor_keeps_people_and_a_gallery(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("editor", Role.editor))
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="人物").click()
    await page.get_by_role("link", name="新建人物").click()
    await page.get_by_label("姓名").fill("吴运铎")
    await page.get_by_label("工作单位").fill("株洲兵工厂")
    await page.get_by_label(re.compile("^荣誉")).fill("全国劳动模范 1951\n中国的保尔")
    await page.get_by_label("简介").fill("把一切献给党。")
    await page.get_by_role("button", name="创建").click()
    await expect(page.get_by_role("status")).to_have_text("已保存")
    await page.get_by_label("选择图片（JPEG、PNG、WebP 或 HEIC）").set_input_files(
        {"name": "像.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes((600, 800), "sienna")}
    )
    await page.get_by_role("button", name="上传照片").click()
    await expect(page.get_by_role("status")).to_have_text("照片已更新")
    await expect(page.get_by_role("img", name="吴运铎的照片")).to_be_visible()
    await shot(page, "person-edit")
    await on_a_phone(page, "person-edit")
    await page.get_by_role("link", name="返回人物列表").click()
    await expect(page.get_by_role("link", name="吴运铎")).to_be_visible()
    await shot(page, "people-list")
    await on_a_phone(page, "people-list")

    await page.goto("/admin/stories/new")
    await page.get_by_label("标题", exact=True).fill("保尔的故事")
    await page.get_by_label("正文（Markdown）").fill(BODY)
    await page.get_by_label("查找人物（姓名、拼音或首字母）").fill("wyd")
    await page.get_by_role("button", name="查找").click()
    await expect(page.get_by_label("正文（Markdown）")).to_have_value(BODY)  # kept
    await page.get_by_role("checkbox", name=re.compile("吴运铎")).check()
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("已保存")
    await expect(page.get_by_role("checkbox", name=re.compile("吴运铎"))).to_be_checked()
    for color in ("darkred", "darkgreen"):
        await page.get_by_label(re.compile("^添加图片到图集")).set_input_files(
            {"name": "图.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes((800, 600), color)}
        )
        await page.get_by_role("button", name="上传到图集").click()
        await expect(page.get_by_role("status")).to_have_text("图集已更新")
    await expect(page.get_by_role("img", name="图集第 2 张")).to_be_visible()
    first = await page.get_by_role("img", name="图集第 1 张").get_attribute("src")
    await page.get_by_role("button", name="第 2 张上移").click()
    await expect(page.get_by_role("img", name="图集第 2 张")).to_have_attribute("src", first or "")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery-list img')].every(i => i.naturalWidth > 0)"
    )
    await shot(page, "editor-people-gallery")
    await on_a_phone(page, "editor-people-gallery")


async def test_a_save_after_someone_elses_keeps_the_text(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    editorial = console_site.app[EDITORIAL_SERVICE]
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("editor", Role.editor))
    await page.goto("/admin/stories/new")
    await page.get_by_label("标题", exact=True).fill("两个人同时改")
    await page.get_by_label("正文（Markdown）").fill(BODY)
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("已保存")
    story_id = page.url.split("/admin/stories/")[1].split("/")[0]
    doc = await editorial.get(story_id)  # meanwhile, another editor saves
    await editorial.patch(AUTHOR, story_id, doc["revision"], {"body_markdown": "别人改过的正文"})
    mine = BODY + "\n\n我在这里补充了一大段，不能丢。"
    await page.get_by_label("正文（Markdown）").fill(mine)
    await page.get_by_role("button", name="保存", exact=True).click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("没有保存")
    await expect(alert).to_contain_text(f"保存了第 {doc['revision'] + 1} 版")
    await expect(page.get_by_label("正文（Markdown）")).to_have_value(mine)
    await alert.get_by_text("查看第").click()
    await shot(page, "editor-conflict")
    await page.get_by_role("button", name="保存", exact=True).click()  # deliberately
    await expect(page.get_by_role("status")).to_have_text("已保存")
    assert (await editorial.get(story_id))["body_markdown"] == mine
