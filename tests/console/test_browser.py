"""The console in a real browser (Chromium through Playwright): what staff do, as they
do it. Screenshots of every page visited: .data/test-output/console/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, expect

from handlers.stories.keys import EDITORIAL_SERVICE
from server.principal import Principal, Role
from tests.fixtures.browser import ConsoleSite, shot, sign_in
from tests.media.test_media_api import jpeg_bytes

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's one browser

BODY = "## 八级钳工\n\n他**三十年**如一日，练就一手绝活。\n\n带出徒弟一百多名。"


async def test_sign_in_a_wrong_password_and_logout(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    username, password = await console_site.staff("editor", Role.editor)
    page = await context.new_page()
    await page.goto("/admin/stories")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/stories$"))
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await shot(page, "login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill("not-the-password")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    await shot(page, "login-wrong-password")
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin/stories$"))  # where they were going
    await expect(page.get_by_role("navigation", name="主导航")).to_contain_text("写稿")
    await expect(page.get_by_role("navigation", name="主导航")).not_to_contain_text("审核")
    await shot(page, "stories-empty")
    cookie = next(c for c in await context.cookies() if c["name"] == "jx_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    await page.goto("/admin/")
    await expect(page).to_have_url(re.compile(r"/admin/login"))  # the session is over


async def test_a_form_without_its_csrf_token_is_refused(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    username, password = await console_site.staff("editor", Role.editor)
    page = await context.new_page()
    await page.goto("/admin/login")
    await page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("main[data-error-code=csrf_invalid]")).to_be_visible()
    await expect(page.get_by_text("页面已过期或来源不明")).to_be_visible()
    await shot(page, "csrf-refused")
    assert not [c for c in await context.cookies() if c["name"] == "jx_console"]


async def test_an_editor_writes_and_submits_a_story(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("editor", Role.editor))
    await shot(page, "home-editor")
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="写稿").click()
    title = "<script>alert('x')</script>钳工的一天"
    await page.get_by_label("标题").fill(title)
    await page.get_by_label("摘要").fill("一位八级钳工的日常")
    await page.get_by_label("分类").select_option(label="工匠")
    await page.get_by_label("标签（用逗号分隔）").fill("工匠，技能")
    await page.get_by_label("正文（Markdown）").fill(BODY)
    preview = page.locator("#preview")  # refreshed by the page's script as one types
    await expect(preview.get_by_role("heading", name="八级钳工")).to_be_visible()
    await expect(preview.locator("strong")).to_have_text("三十年")
    await shot(page, "editor-live-preview")
    await page.get_by_role("button", name="保存并提交审核").click()
    await expect(page).to_have_url(re.compile(r"/admin/stories\?status=in_review$"))
    row = page.get_by_role("row").filter(has_text="钳工的一天")
    await expect(row.get_by_role("link")).to_have_text(title)  # the title is text, not script
    await expect(row).to_contain_text("待审核")
    await shot(page, "stories-in-review")


async def test_an_editor_gives_a_story_a_cover(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("editor", Role.editor))
    await page.goto("/admin/stories/new")
    await page.get_by_label("标题").fill("有封面的稿件")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("已保存")
    photo = jpeg_bytes((1200, 800), color="darkred")
    await page.get_by_label("选择图片（JPEG、PNG、WebP 或 HEIC）").set_input_files(
        {"name": "封面.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    await page.get_by_role("button", name="上传封面").click()
    cover = page.get_by_role("img", name="当前封面")
    await expect(cover).to_be_visible()
    await page.wait_for_function(  # the photo itself arrived (the pages' CSP lets it in)
        "() => document.querySelector('img[alt=当前封面]').naturalWidth > 0"
    )
    await shot(page, "editor-cover")


async def test_a_reviewer_sees_the_diff_and_publishes(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    editorial = console_site.app[EDITORIAL_SERVICE]
    author = Principal("author-of-the-story", "s", frozenset({Role.editor}), "t")
    doc = await editorial.create(
        author, {"title": "巧手匠心", "category": "craftsman", "body_markdown": BODY}
    )
    await editorial.submit(author, str(doc["_id"]))
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("reviewer", Role.reviewer))
    await (
        page.get_by_role("navigation", name="主导航")
        .get_by_role("link", name="审核", exact=True)
        .click()
    )
    await shot(page, "review-queue")
    await page.get_by_role("link", name="巧手匠心").click()
    body = page.get_by_role("region", name="正文的差异")
    await expect(body.locator("ins").first).to_have_text("## 八级钳工")
    await expect(page.get_by_text("这篇稿件还没有发布过")).to_be_visible()
    await shot(page, "review-diff")
    await page.get_by_role("button", name="立即发布").click()
    await expect(page.get_by_role("status")).to_have_text("已发布。")
    await shot(page, "review-published")
    answer = await page.request.get("/api/v1/stories")
    assert [item["title"] for item in (await answer.json())["items"]] == ["巧手匠心"]


async def test_the_author_cannot_publish_their_own(
    context: BrowserContext, console_site: ConsoleSite
) -> None:
    page = await context.new_page()
    await sign_in(page, *await console_site.staff("both", Role.editor, Role.reviewer))
    await page.goto("/admin/stories/new")
    await page.get_by_label("标题").fill("自己写的稿件")
    await page.get_by_label("正文（Markdown）").fill("自己写，自己不能发。")
    await page.get_by_role("button", name="保存并提交审核").click()
    await page.goto("/admin/review")
    row = page.get_by_role("row").filter(has_text="自己写的稿件")
    await expect(row).to_contain_text("我参与撰写")
    await row.get_by_role("link").click()
    await expect(page.get_by_role("note")).to_contain_text("四眼原则")
    await expect(page.get_by_role("button", name="立即发布")).to_have_count(0)
    await shot(page, "review-own-story")
    # The form is not offered; sent anyway (with the page's token), it is refused.
    token = await page.locator("input[name=csrf_token]").first.input_value()
    story_path = page.url.removesuffix("/review")
    answer = await page.request.post(
        story_path + "/publish", form={"csrf_token": token, "revision": "2"}
    )
    assert answer.status == 403 and 'data-error-code="four_eyes_required"' in await answer.text()
