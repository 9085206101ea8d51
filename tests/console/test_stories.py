"""Editors' and reviewers' pages over HTTP (a browser without JavaScript): writing,
previewing, submitting, the review diff, publishing (four eyes, the revision seen) and
rejecting, all through the stories room's rules."""

from __future__ import annotations

import html
import io
import re
from urllib.parse import urlsplit

import aiohttp

from handlers.console import NAV
from handlers.console.diff import Segment, side_by_side
from server.principal import Role
from tests.console.test_sessions import signed_in
from tests.fixtures.app import Client
from tests.fixtures.console import ConsoleBrowser
from tests.media.test_media_api import jpeg_bytes

BODY = "第一段：他三十年如一日。\n\n第二段：手艺精湛。"


async def write(editor: ConsoleBrowser, title: str, *, action: str = "save", **fields: str) -> str:
    """A new story through the editor form; its id."""
    data = {"title": title, "category": "craftsman", "body_markdown": BODY, "action": action}
    answer = await editor.submit("/admin/stories/new", "/admin/stories/new", {**data, **fields})
    assert answer.status == 303, answer.text[:500]
    if action == "submit":
        listed = await editor.get("/admin/stories?status=in_review")
        found = re.search(  # to the editor (an editor who is no reviewer) or the review
            r'href="/admin/stories/([0-9a-f]{24})/(?:edit|review)">' + re.escape(title),
            listed.text,
        )
        assert found, listed.text[:2000]
        return found.group(1)
    found = re.fullmatch(r"/admin/stories/([0-9a-f]{24})/edit\?saved=1", answer.location or "")
    assert found, answer.location
    return found.group(1)


def revision_on(page: str) -> str:
    found = re.search(r'name="revision" value="(\d+)"', page)
    assert found, page[:2000]
    return found.group(1)


async def test_an_editor_writes_previews_saves_and_submits(client: Client) -> None:
    editor = await signed_in(client, Role.editor)
    new = await editor.get("/admin/stories/new")
    token = new.csrf_token
    invalid = await editor.post(
        "/admin/stories/new", {"title": "", "category": "craftsman", "action": "save"}, csrf=token
    )
    assert (
        invalid.status == 422 and "标题" in invalid.text and 'aria-invalid="true"' in invalid.text
    )
    preview = await editor.post(
        "/admin/stories/new",
        {"title": "预览", "category": "craftsman", "action": "preview",
         "body_markdown": "## 小标题\n<script>alert(1)</script>"},
        csrf=token,
    )  # fmt: skip
    assert preview.status == 200 and "<h2>小标题</h2>" in preview.text
    assert "<script>alert(1)</script>" not in preview.text
    assert "&lt;script&gt;" in preview.text  # kept as text, in the textarea and the preview
    story_id = await write(editor, "<script>alert('t')</script>匠人", tags="工匠，非遗 传承")
    page = await editor.get(f"/admin/stories/{story_id}/edit?saved=1")  # where saving led
    assert "已保存" in page.text and "工匠，非遗，传承" in page.text
    assert "<script>alert('t')</script>" not in page.text
    listed = await editor.get("/admin/stories?status=draft")
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;匠人" in listed.text
    submitted = await editor.post(
        f"/admin/stories/{story_id}/edit",
        {"title": "匠人", "category": "craftsman", "body_markdown": BODY, "action": "submit",
         "revision": revision_on(page.text)},
        csrf=page.csrf_token,
    )  # fmt: skip
    assert (submitted.status, submitted.location) == (303, "/admin/stories?status=in_review")
    assert "匠人" in (await editor.get("/admin/stories?status=in_review")).text


async def test_a_reviewer_sees_the_diff_and_publishes_the_revision_seen(client: Client) -> None:
    editor = await signed_in(client, Role.editor)
    reviewer = await signed_in(client, Role.reviewer)
    story_id = await write(editor, "八级钳工", action="submit")
    queue = await reviewer.get("/admin/review")
    assert f"/admin/stories/{story_id}/review" in queue.text
    review = await reviewer.get(f"/admin/stories/{story_id}/review")
    assert "还没有发布过" in review.text and "<ins>第一段：他三十年如一日。</ins>" in review.text
    published = await reviewer.post(
        f"/admin/stories/{story_id}/publish", {"revision": revision_on(review.text)},
        csrf=review.csrf_token,
    )  # fmt: skip
    assert (published.status, published.location) == (
        303,
        f"/admin/review?published={story_id}",
    )
    resp = await client.get("/api/v1/stories")
    assert [item["id"] for item in (await resp.json())["items"]] == [story_id]

    # An edit of the published story is its pending revision: the diff is against what
    # the public reads, the changed characters marked.
    edit = await editor.get(f"/admin/stories/{story_id}/edit")
    changed = BODY.replace("手艺精湛", "手艺非常精湛")
    await editor.post(
        f"/admin/stories/{story_id}/edit",
        {"title": "八级钳工", "category": "craftsman", "body_markdown": changed,
         "action": "submit", "revision": revision_on(edit.text)},
        csrf=edit.csrf_token,
    )  # fmt: skip
    review = await reviewer.get(f"/admin/stories/{story_id}/review")
    assert (
        "<ins>非常</ins>" in review.text
        and "已发布稿件的修订" in (await reviewer.get("/admin/review")).text
    )


async def test_the_author_cannot_publish_their_own(client: Client) -> None:
    both = await signed_in(client, Role.editor, Role.reviewer)
    story_id = await write(both, "自己写的", action="submit")
    review = await both.get(f"/admin/stories/{story_id}/review")
    assert "四眼原则" in review.text and "/publish" not in review.text  # no form offered
    forced = await both.post(
        f"/admin/stories/{story_id}/publish", {"revision": "2"}, csrf=review.csrf_token
    )
    assert forced.status == 403 and forced.error_code == "four_eyes_required"
    assert f'href="/admin/stories/{story_id}/review"' in forced.text  # back to the review


async def test_a_revision_changed_since_it_was_seen_is_a_friendly_conflict(
    client: Client,
) -> None:
    editor = await signed_in(client, Role.editor)
    reviewer = await signed_in(client, Role.reviewer)
    story_id = await write(editor, "会变的稿件", action="submit")
    review = await reviewer.get(f"/admin/stories/{story_id}/review")
    edit = await editor.get(f"/admin/stories/{story_id}/edit")
    saved = await editor.post(
        f"/admin/stories/{story_id}/edit",
        {"title": "会变的稿件", "category": "craftsman", "body_markdown": "改过了",
         "action": "save", "revision": revision_on(edit.text)},
        csrf=edit.csrf_token,
    )  # fmt: skip
    assert saved.status == 303
    late = await reviewer.post(
        f"/admin/stories/{story_id}/publish", {"revision": revision_on(review.text)},
        csrf=review.csrf_token,
    )  # fmt: skip
    assert late.status == 409 and late.error_code == "revision_conflict"
    assert "重新打开稿件" in late.text
    assert f'href="/admin/stories/{story_id}/review"' in late.text
    assert (await client.get("/api/v1/stories")).status == 200
    assert (await (await client.get("/api/v1/stories")).json())["items"] == []


async def test_a_reviewer_rejects_with_a_reason(client: Client) -> None:
    editor = await signed_in(client, Role.editor)
    reviewer = await signed_in(client, Role.reviewer)
    story_id = await write(editor, "待补充", action="submit")
    review = await reviewer.get(f"/admin/stories/{story_id}/review")
    empty = await reviewer.post(
        f"/admin/stories/{story_id}/reject", {"reason": ""}, csrf=review.csrf_token
    )
    assert empty.status == 422 and empty.error_code == "invalid_request"
    rejected = await reviewer.post(
        f"/admin/stories/{story_id}/reject", {"reason": "请补充获奖年份"},
        csrf=review.csrf_token,
    )  # fmt: skip
    assert rejected.status == 303
    page = await editor.get(f"/admin/stories/{story_id}/edit")
    assert "审核退回：请补充获奖年份" in page.text


async def test_navigation_follows_the_pages_declarations(client: Client) -> None:
    def nav(text: str) -> list[str]:
        return re.findall(r'<li><a href="([^"]+)"', text.split("</nav>")[0])

    editor = await signed_in(client, Role.editor)
    reviewer = await signed_in(client, Role.reviewer)
    teacher = await signed_in(client, Role.teacher)
    admin = await signed_in(client, Role.admin)
    assert nav((await editor.get("/admin/")).text) == [
        "/admin/", "/admin/dashboard", "/admin/stories", "/admin/stories/new", "/admin/people"
    ]  # fmt: skip
    assert nav((await reviewer.get("/admin/")).text) == [
        "/admin/", "/admin/dashboard", "/admin/stories", "/admin/review", "/admin/comments"
    ]  # fmt: skip
    assert nav((await teacher.get("/admin/")).text) == [
        "/admin/", "/admin/dashboard", "/admin/classes", "/admin/tasks", "/admin/checkins"
    ]  # fmt: skip
    organizer = await signed_in(client, Role.organizer)
    assert nav((await organizer.get("/admin/")).text) == [
        "/admin/", "/admin/dashboard", "/admin/events"
    ]  # fmt: skip
    assert nav((await admin.get("/admin/")).text) == [item.path for item in NAV]  # every page


async def test_a_cover_goes_through_the_media_pipeline(client: Client) -> None:
    editor = await signed_in(client, Role.editor)
    story_id = await write(editor, "有封面的稿件")
    page = await editor.get(f"/admin/stories/{story_id}/edit")
    found = re.search(r'action="(/admin/stories/[0-9a-f]{24}/cover\?[^"]+)"', page.text)
    assert found and "csrf_token=" in found.group(1)
    action = found.group(1).replace("&amp;", "&")

    def photo(data: bytes, name: str = "c.jpg") -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(data), filename=name, content_type="image/jpeg")
        return form

    no_token = await editor.request("POST", action.split("&csrf_token=")[0], data=photo(b"x"))
    assert no_token.status == 403 and no_token.error_code == "csrf_invalid"
    not_an_image = await editor.request("POST", action, data=photo(b"not a photo at all"))
    assert not_an_image.status == 415 and not_an_image.error_code == "image_unsupported"
    assert f'href="/admin/stories/{story_id}/edit"' in not_an_image.text
    uploaded = await editor.request("POST", action, data=photo(jpeg_bytes((800, 600))))
    assert uploaded.status == 303, uploaded.text[:500]
    page = await editor.get(f"/admin/stories/{story_id}/edit")
    cover = re.search(r'<img src="([^"]+)" alt="当前封面"', page.text)
    assert cover and "/media/" in cover.group(1)
    url = urlsplit(html.unescape(cover.group(1)))  # PUBLIC_BASE_URL's, served here too
    resp = await client.get(f"{url.path}?{url.query}")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("image/")
    stale = await editor.request("POST", action, data=photo(jpeg_bytes((640, 480), "red")))
    assert stale.status == 409 and stale.error_code == "revision_conflict"


def test_the_diff_marks_changed_lines_and_characters_and_folds_the_rest() -> None:
    old = "\n".join(f"第{i}行" for i in range(1, 21))
    new = old.replace("第10行", "第十行").replace("第20行", "第20行\n新的一行")
    rows = side_by_side(old, new, context=2)
    kinds = [row.kind for row in rows]
    assert kinds == ["skip", "equal", "equal", "replace", "equal", "equal", "skip", "equal",
                     "equal", "insert"]  # fmt: skip
    assert rows[0].skipped == 7 and rows[6].skipped == 6
    replaced = rows[3]
    assert (replaced.left_no, replaced.right_no) == (10, 10)
    assert replaced.left == (Segment("第", False), Segment("10", True), Segment("行", False))
    assert replaced.right == (Segment("第", False), Segment("十", True), Segment("行", False))
    assert rows[-1].right == (Segment("新的一行", True),) and rows[-1].left_no is None
    assert [row.kind for row in side_by_side("", "一\n二")] == ["insert", "insert"]
    assert side_by_side("同", "同") == side_by_side("同", "同", context=0)
