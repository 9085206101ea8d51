"""The editorial pages over HTTP (a browser without JavaScript): the gallery, people
linked to a story, a save that meets someone else's, scheduling and its cancel, people
(人物) and the comment queue (评论审核), with what an attacker would try: no CSRF token,
other objects' ids, huge inputs, double submits."""

from __future__ import annotations

import html
import io
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from handlers.auth.keys import AUTH_SERVICE
from handlers.media.keys import MEDIA_SERVICE
from handlers.stories import publish_due_stories
from handlers.stories.keys import COMMENT_SERVICE, EDITORIAL_SERVICE, PEOPLE_SERVICE
from server.clock import SHANGHAI, SettableClock
from server.paging import PageQuery
from server.principal import Principal, Role
from tests.console.test_stories import BODY, revision_on, write
from tests.fixtures.app import Client
from tests.fixtures.console import Answer, ConsoleBrowser
from tests.fixtures.sessions import sign_in_wechat
from tests.media.test_media_api import jpeg_bytes

MISSING_ID = "0123456789abcdef01234567"


@dataclass
class Staff:
    browser: ConsoleBrowser
    principal: Principal
    name: str


async def staff(client: Client, *roles: Role) -> Staff:
    """A staff member signed in to the console, and their principal (to set things up
    through the services, as them)."""
    username = f"staff{uuid.uuid4().hex[:6]}"
    password = f"pw-{uuid.uuid4().int % 10**16:016d}"
    user = await client.app[AUTH_SERVICE].create_staff_user(username, password, list(roles))
    browser = ConsoleBrowser(client)
    await browser.sign_in(username, password)
    principal = Principal(user.id, "test", frozenset(user.roles), "test")
    return Staff(browser, principal, user.nickname or username)


def photo_form(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename="p.jpg", content_type="image/jpeg")
    return form


def upload_action(page: str, kind: str) -> str:
    found = re.search(rf'action="(/admin/[a-z]+/[0-9a-f]{{24}}/{kind}\?[^"]+)"', page)
    assert found, page[:3000]
    return html.unescape(found.group(1))


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page[:3000]
    return html.unescape(found.group(1))


def gallery_ops(page: str) -> list[str]:
    """The gallery's photos in order, as the page lists them (their remove buttons)."""
    return re.findall(r'name="op" value="remove:([0-9a-f]+)"', page)


async def in_review(client: Client, author: Principal, title: str) -> str:
    editorial = client.app[EDITORIAL_SERVICE]
    doc = await editorial.create(author, {"title": title, "category": "craftsman",
                                          "body_markdown": BODY})  # fmt: skip
    await editorial.submit(author, str(doc["_id"]))
    return str(doc["_id"])


async def published(client: Client, author: Principal, publisher: Principal, title: str) -> str:
    story_id = await in_review(client, author, title)
    editorial = client.app[EDITORIAL_SERVICE]
    doc = await editorial.get(story_id)
    await editorial.publish(publisher, story_id, doc["revision"])
    return story_id


async def public_titles(client: Client) -> list[str]:
    resp = await client.get("/api/v1/stories")
    return [item["title"] for item in (await resp.json())["items"]]


# -- the gallery ---------------------------------------------------------------------------


async def test_the_gallery_uploads_through_the_pipeline_orders_and_removes(
    client: Client,
) -> None:
    editor = await staff(client, Role.editor)
    story_id = await write(editor.browser, "有图集的稿件")
    edit = f"/admin/stories/{story_id}/edit"
    page = await editor.browser.get(edit)
    assert "图集里还没有图片" in page.text and "0 / 9 张" in page.text
    action = upload_action(page.text, "gallery/upload")
    no_token = await editor.browser.request(
        "POST", re.sub(r"&csrf_token=[^&]+", "", action), data=photo_form(jpeg_bytes())
    )
    assert no_token.status == 403 and no_token.error_code == "csrf_invalid"
    not_an_image = await editor.browser.request("POST", action, data=photo_form(b"GIF89a..."))
    assert not_an_image.status == 415 and f'href="{edit}"' in not_an_image.text
    for color in ("red", "green", "blue"):
        page = await editor.browser.get(edit)
        action = upload_action(page.text, "gallery/upload")
        added = await editor.browser.request(
            "POST", action, data=photo_form(jpeg_bytes((320, 240), color))
        )
        assert (added.status, added.location) == (303, f"{edit}?saved=gallery"), added.text[:500]
    stale = await editor.browser.request("POST", action, data=photo_form(jpeg_bytes()))
    assert stale.status == 409 and stale.error_code == "revision_conflict"
    page = await editor.browser.get(f"{edit}?saved=gallery")
    assert "图集已更新" in page.text and "3 / 9 张" in page.text
    first, second, third = gallery_ops(page.text)
    assert re.search(r'<img src="[^"]+/media/' + first + r'/thumb[^"]*" alt="图集第 1 张"',
                     page.text)  # fmt: skip

    async def gallery(op: str, media_id: str, revision: str | None = None) -> Answer:
        page = await editor.browser.get(edit)
        data = {"op": f"{op}:{media_id}", "revision": revision or revision_on(page.text)}
        return await editor.browser.post(f"/admin/stories/{story_id}/gallery", data,
                                         csrf=page.csrf_token)  # fmt: skip

    assert (await gallery("down", first)).status == 303
    assert gallery_ops((await editor.browser.get(edit)).text) == [second, first, third]
    assert (await gallery("up", third)).status == 303
    assert gallery_ops((await editor.browser.get(edit)).text) == [second, third, first]
    assert (await gallery("up", second)).status == 303  # the first stays first
    assert gallery_ops((await editor.browser.get(edit)).text) == [second, third, first]
    assert (await gallery("remove", third)).status == 303
    page = await editor.browser.get(edit)
    assert gallery_ops(page.text) == [second, first]
    story = await client.app[EDITORIAL_SERVICE].get(story_id)
    assert story["gallery_media_ids"] == [second, first]
    # Another story's photo, an unknown op, a photo no longer in the gallery: refused.
    other = await write(editor.browser, "另一篇")
    await editor.browser.request(
        "POST",
        upload_action((await editor.browser.get(f"/admin/stories/{other}/edit")).text,
                      "gallery/upload"),
        data=photo_form(jpeg_bytes((320, 240), "purple")),
    )  # fmt: skip
    theirs = gallery_ops((await editor.browser.get(f"/admin/stories/{other}/edit")).text)[0]
    for op, media_id in (("remove", theirs), ("rotate", first), ("remove", third)):
        refused = await gallery(op, media_id)
        assert refused.status == 422 and refused.error_code == "invalid_request", refused.text
    assert (await gallery("remove", first, revision="1")).status == 409  # a stale page
    no_token = await editor.browser.post(
        f"/admin/stories/{story_id}/gallery",
        {"op": f"remove:{first}", "revision": revision_on(page.text)},
    )
    assert no_token.status == 403
    assert (await client.app[EDITORIAL_SERVICE].get(story_id))["gallery_media_ids"] == [
        second,
        first,
    ]


async def test_a_full_gallery_refuses_an_upload_before_reading_it(client: Client) -> None:
    editor = await staff(client, Role.editor)
    story_id = await write(editor.browser, "满图集")
    media = client.app[MEDIA_SERVICE]
    ids = [
        str((await media.upload(editor.principal.user_id, jpeg_bytes((64, 48), c), "story"))["_id"])
        for c in ("red", "green", "blue", "gray", "pink", "navy", "olive", "teal", "maroon")
    ]
    editorial = client.app[EDITORIAL_SERVICE]
    doc = await editorial.get(story_id)
    await editorial.patch(editor.principal, story_id, doc["revision"], {"gallery_media_ids": ids})
    page = await editor.browser.get(f"/admin/stories/{story_id}/edit")
    assert "9 / 9 张" in page.text and "图集已满" in page.text
    assert "gallery/upload" not in page.text
    action = f"/admin/stories/{story_id}/gallery/upload?revision={revision_on(page.text)}"
    full = await editor.browser.request(
        "POST", f"{action}&csrf_token={page.csrf_token}", data=photo_form(jpeg_bytes())
    )
    assert full.status == 422 and "图集最多 9 张图片" in full.text


# -- people linked to a story -----------------------------------------------------------------


async def test_an_editor_links_people_from_the_people_service(client: Client) -> None:
    editor = await staff(client, Role.editor)
    people = client.app[PEOPLE_SERVICE]
    wu = await people.create(
        editor.principal, {"name": "吴运铎", "honours": [{"name": "全国劳动模范"}]}
    )
    li = await people.create(editor.principal, {"name": "李小明"})
    new = await editor.browser.get("/admin/stories/new")
    assert "吴运铎" in new.text and "全国劳动模范" in new.text  # offered, not linked
    assert 'value="' + str(wu["_id"]) + '" checked' not in new.text
    # Finding people keeps what was typed (nothing saved yet); pinyin finds Chinese names.
    found = await editor.browser.post(
        "/admin/stories/new",
        {"title": "写了一半", "category": "craftsman", "body_markdown": "未保存的正文",
         "people_q": "wuyunduo", "action": "find_people",
         "form_key": re.search(r'name="form_key" value="([0-9a-f]+)"', new.text)[1]},  # type: ignore[index]
        csrf=new.csrf_token,
    )  # fmt: skip
    assert found.status == 200 and textarea(found.text, "body_markdown") == "未保存的正文"
    assert "吴运铎" in found.text and "李小明" not in found.text
    story_id = await write(editor.browser, "两位劳模", person_ids=str(wu["_id"]))
    page = await editor.browser.get(f"/admin/stories/{story_id}/edit")
    assert f'value="{wu["_id"]}" checked' in page.text
    assert f'value="{li["_id"]}">' in page.text  # offered
    saved = await editor.browser.post(
        f"/admin/stories/{story_id}/edit",
        {"title": "两位劳模", "category": "craftsman", "body_markdown": BODY, "action": "save",
         "revision": revision_on(page.text), "person_ids": [str(li["_id"]), str(wu["_id"])]},
        csrf=page.csrf_token,
    )  # fmt: skip
    assert saved.status == 303
    story = await client.app[EDITORIAL_SERVICE].get(story_id)
    assert story["person_ids"] == [str(li["_id"]), str(wu["_id"])]
    # Unknown, malformed or too many people: the form again, the text kept, nothing saved.
    page = await editor.browser.get(f"/admin/stories/{story_id}/edit")
    for person_ids, message in (
        ([MISSING_ID], "所选的人物不存在"),
        (["not-an-id"], "人物："),
        ([f"{i:024x}" for i in range(11)], "最多 10 项"),
    ):
        refused = await editor.browser.post(
            f"/admin/stories/{story_id}/edit",
            {"title": "两位劳模", "category": "craftsman", "body_markdown": "改了正文",
             "action": "save", "revision": revision_on(page.text), "person_ids": person_ids},
            csrf=page.csrf_token,
        )  # fmt: skip
        assert refused.status == 422 and message in refused.text, refused.text[-3000:]
        assert textarea(refused.text, "body_markdown") == "改了正文"
    story = await client.app[EDITORIAL_SERVICE].get(story_id)
    assert story["body_markdown"] == BODY and len(story["person_ids"]) == 2


# -- a save that meets someone else's -----------------------------------------------------------


async def test_a_conflicting_save_keeps_the_text_and_names_who_saved(client: Client) -> None:
    mine = await staff(client, Role.editor)
    theirs = await staff(client, Role.editor)
    story_id = await write(mine.browser, "两人同改")
    edit = f"/admin/stories/{story_id}/edit"
    opened = await mine.browser.get(edit)
    seen = revision_on(opened.text)
    other = await theirs.browser.get(edit)
    await theirs.browser.post(
        edit,
        {"title": "两人同改", "category": "craftsman", "body_markdown": "他们的正文",
         "action": "save", "revision": revision_on(other.text)},
        csrf=other.csrf_token,
    )  # fmt: skip
    # A preview without JavaScript keeps the revision the editor saw, not the newer one.
    mine_text = "我的正文：写了很久，不能丢。"
    preview = await mine.browser.post(
        edit,
        {"title": "两人同改", "category": "craftsman", "body_markdown": mine_text,
         "action": "preview", "revision": seen},
        csrf=opened.csrf_token,
    )  # fmt: skip
    assert preview.status == 200 and revision_on(preview.text) == seen
    conflict = await mine.browser.post(
        edit,
        {"title": "两人同改", "category": "craftsman", "body_markdown": mine_text,
         "action": "save", "revision": seen},
        csrf=opened.csrf_token,
    )  # fmt: skip
    assert conflict.status == 409
    assert textarea(conflict.text, "body_markdown") == mine_text  # not lost
    current = (await client.app[EDITORIAL_SERVICE].get(story_id))["revision"]
    assert revision_on(conflict.text) == str(current) != seen
    assert f"{theirs.name}于" in conflict.text and f"保存了第 {current} 版" in conflict.text
    diff = conflict.text.split('aria-label="正文的差异"')[1].split("</section>")[0]
    assert "<del>他们</del>" in diff and "<ins>我</ins>" in diff, diff
    story = await client.app[EDITORIAL_SERVICE].get(story_id)
    assert story["body_markdown"] == "他们的正文"  # nothing overwritten unseen
    # Saving again is deliberate: the form carries the current revision.
    again = await mine.browser.post(
        edit,
        {"title": "两人同改", "category": "craftsman", "body_markdown": mine_text,
         "action": "save", "revision": revision_on(conflict.text)},
        csrf=conflict.csrf_token,
    )  # fmt: skip
    assert again.status == 303
    assert (await client.app[EDITORIAL_SERVICE].get(story_id))["body_markdown"] == mine_text


async def test_a_double_submitted_save_says_it_was_ones_own(client: Client) -> None:
    editor = await staff(client, Role.editor)
    story_id = await write(editor.browser, "双击保存")
    edit = f"/admin/stories/{story_id}/edit"
    page = await editor.browser.get(edit)
    form = {"title": "双击保存", "category": "craftsman", "body_markdown": "一次",
            "action": "save", "revision": revision_on(page.text)}  # fmt: skip
    assert (await editor.browser.post(edit, form, csrf=page.csrf_token)).status == 303
    twice = await editor.browser.post(edit, form, csrf=page.csrf_token)
    assert twice.status == 409 and "是您自己在" in twice.text


async def test_a_new_story_sent_twice_is_one_draft(client: Client) -> None:
    editor = await staff(client, Role.editor)
    page = await editor.browser.get("/admin/stories/new")
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', page.text)
    assert key
    form = {"title": "只要一篇", "category": "policy", "action": "save", "form_key": key[1]}
    first = await editor.browser.post("/admin/stories/new", form, csrf=page.csrf_token)
    second = await editor.browser.post("/admin/stories/new", form, csrf=page.csrf_token)
    assert first.status == second.status == 303 and first.location == second.location
    listed = await editor.browser.get("/admin/stories")
    assert listed.text.count("只要一篇") == 1
    again = await editor.browser.get("/admin/stories/new")
    assert key[1] not in again.text  # each form shown has its own


# -- scheduling ---------------------------------------------------------------------------------


async def test_a_reviewer_schedules_a_story_in_beijing_time(
    client: Client, clock: SettableClock
) -> None:
    author = await staff(client, Role.editor)
    reviewer = await staff(client, Role.reviewer)
    story_id = await in_review(client, author.principal, "明早发布")
    review = f"/admin/stories/{story_id}/review"
    page = await reviewer.browser.get(review)
    assert 'type="datetime-local"' in page.text and "定时发布" in page.text
    at = (clock.now() + timedelta(hours=2)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    local = at.strftime("%Y-%m-%dT%H:%M")

    async def schedule(publish_at: str, revision: str | None = None) -> Answer:
        return await reviewer.browser.post(
            f"/admin/stories/{story_id}/schedule",
            {"publish_at": publish_at, "revision": revision or revision_on(page.text)},
            csrf=page.csrf_token,
        )

    past = (clock.now() - timedelta(minutes=1)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    for bad, message in (
        ("", "请填写有效的日期和时间"),
        ("明天早上", "请填写有效的日期和时间"),
        ("2" * 100_000, "请填写有效的日期和时间"),
        (past, "须晚于现在"),
    ):
        refused = await schedule(bad)
        assert refused.status == 422 and message in refused.text, (bad[:20], refused.text[-2000:])
        assert 'aria-invalid="true"' in refused.text
    assert await public_titles(client) == []
    no_token = await reviewer.browser.post(
        f"/admin/stories/{story_id}/schedule", {"publish_at": local, "revision": "2"}
    )
    assert no_token.status == 403 and no_token.error_code == "csrf_invalid"
    done = await schedule(local)
    assert (done.status, done.location) == (303, f"/admin/review?scheduled={story_id}")
    assert (await schedule(local)).status == 409  # sent twice: the revision moved on
    queue = await reviewer.browser.get(done.location or "")
    assert "已排期" in queue.text and "/admin/stories?status=scheduled" in queue.text
    listed = await reviewer.browser.get("/admin/stories?status=scheduled")
    row = listed.text.split("明早发布")[1].split("</tr>")[0]
    assert "已排期" in row and "定于 <time" in row and at.strftime("%Y-%m-%d %H:%M") in row
    story = await client.app[EDITORIAL_SERVICE].get(story_id)
    assert story["status"] == "scheduled" and story["published_at"] == at
    assert await public_titles(client) == []
    clock.advance(timedelta(hours=2, minutes=1))
    assert await publish_due_stories(client.app) == 1
    assert await public_titles(client) == ["明早发布"]


async def test_the_author_cannot_schedule_their_own(client: Client, clock: SettableClock) -> None:
    both = await staff(client, Role.editor, Role.reviewer)
    story_id = await in_review(client, both.principal, "自己排期")
    page = await both.browser.get(f"/admin/stories/{story_id}/review")
    assert "/schedule" not in page.text and "四眼原则" in page.text
    later = (clock.now() + timedelta(days=1)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    forced = await both.browser.post(
        f"/admin/stories/{story_id}/schedule",
        {
            "publish_at": later,
            "revision": (await client.app[EDITORIAL_SERVICE].get(story_id))["revision"],
        },
        csrf=page.csrf_token,
    )
    assert forced.status == 403 and forced.error_code == "four_eyes_required"


async def test_a_schedule_is_cancelled_at_the_revision_seen(
    client: Client, clock: SettableClock
) -> None:
    author = await staff(client, Role.editor)
    reviewer = await staff(client, Role.reviewer)
    story_id = await in_review(client, author.principal, "改期")
    editorial = client.app[EDITORIAL_SERVICE]
    doc = await editorial.get(story_id)
    await editorial.publish(
        reviewer.principal, story_id, doc["revision"], clock.now() + timedelta(days=1)
    )
    page = await reviewer.browser.get(f"/admin/stories/{story_id}/review")
    assert "已排期：定于" in page.text and "取消排期" in page.text
    cancelled = await reviewer.browser.post(
        f"/admin/stories/{story_id}/unschedule",
        {"revision": revision_on(page.text)},
        csrf=page.csrf_token,
    )
    assert (cancelled.status, cancelled.location) == (
        303,
        f"/admin/stories/{story_id}/review?done=unscheduled",
    )
    assert (await editorial.get(story_id))["status"] == "unpublished"
    again = await reviewer.browser.post(
        f"/admin/stories/{story_id}/unschedule",
        {"revision": revision_on(page.text)},
        csrf=page.csrf_token,
    )
    assert again.status == 409 and again.error_code == "revision_conflict"
    # A published story is not "unscheduled" (taken down) by this form.
    live = await published(client, author.principal, reviewer.principal, "已上线")
    doc = await editorial.get(live)
    refused = await reviewer.browser.post(
        f"/admin/stories/{live}/unschedule", {"revision": str(doc["revision"])},
        csrf=page.csrf_token,
    )  # fmt: skip
    assert refused.status == 409 and refused.error_code == "invalid_transition"
    assert await public_titles(client) == ["已上线"]
    # The editor cancels from the editor (and lands back there).
    doc = await editorial.get(await in_review(client, author.principal, "编辑取消"))
    sid = str(doc["_id"])
    await editorial.publish(
        reviewer.principal, sid, doc["revision"], clock.now() + timedelta(hours=1)
    )
    edit = await author.browser.get(f"/admin/stories/{sid}/edit")
    assert "已排期：定于" in edit.text
    cancelled = await author.browser.post(
        f"/admin/stories/{sid}/unschedule", {"revision": re.findall(
            r'name="revision" value="(\d+)"', edit.text)[0]}, csrf=edit.csrf_token,
    )  # fmt: skip
    assert cancelled.location == f"/admin/stories/{sid}/edit?saved=unscheduled"
    assert "已取消排期" in (await author.browser.get(cancelled.location)).text


# -- people (人物) ------------------------------------------------------------------------------


async def test_an_editor_creates_and_edits_people(client: Client) -> None:
    editor = await staff(client, Role.editor)
    listed = await editor.browser.get("/admin/people")
    assert listed.status == 200 and "还没有人物" in listed.text
    new = await editor.browser.get("/admin/people/new")
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', new.text)
    assert key
    form = {"name": "<b>张</b>工匠", "workplace": "株洲电力机车", "bio": "三十年如一日",
            "honours": "全国劳动模范 2015\n\n湖南省五一劳动奖章，2019年\n大国工匠",
            "tags": "工匠，高铁", "form_key": key[1]}  # fmt: skip
    created = await editor.browser.post("/admin/people/new", form, csrf=new.csrf_token)
    assert created.status == 303
    twice = await editor.browser.post("/admin/people/new", form, csrf=new.csrf_token)
    assert twice.location == created.location  # one person, however often it is sent
    people = await client.app[PEOPLE_SERVICE].page(None, None, PageQuery())
    assert [person.name for person in people.items] == ["<b>张</b>工匠"]
    person = people.items[0]
    assert [(h.name, h.year) for h in person.honours] == [
        ("全国劳动模范", 2015), ("湖南省五一劳动奖章", 2019), ("大国工匠", None)
    ]  # fmt: skip
    assert person.tags == ["工匠", "高铁"]
    listed = await editor.browser.get("/admin/people?q=工匠")
    assert "&lt;b&gt;张&lt;/b&gt;工匠" in listed.text and "<b>张</b>" not in listed.text
    edit = f"/admin/people/{person.id}/edit"
    page = await editor.browser.get(edit)
    assert textarea(page.text, "honours") == "全国劳动模范 2015\n湖南省五一劳动奖章 2019\n大国工匠"
    # Bad input: the form again with the text kept, nothing written.
    for changes, message in (
        ({"name": ""}, "姓名：不能为空"),
        ({"bio": "长" * 501}, "简介：最多 500 个字"),
        ({"honours": "\n".join(f"荣誉{i}" for i in range(21))}, "荣誉：最多 20 项"),
        ({"honours": "荣誉 1900"}, "荣誉：数值不在允许的范围内"),
    ):
        data = {**form, "honours": textarea(page.text, "honours"), **changes}
        refused = await editor.browser.post(edit, data, csrf=page.csrf_token)
        assert refused.status == 422 and message in refused.text, refused.text[-2000:]
    saved = await editor.browser.post(
        edit, {**form, "name": "张工匠", "honours": "大国工匠 2020"}, csrf=page.csrf_token
    )
    assert (saved.status, saved.location) == (303, f"{edit}?saved=1")
    after = await client.app[PEOPLE_SERVICE].get(person.id)
    assert after["name"] == "张工匠" and after["honours"] == [{"name": "大国工匠", "year": 2020}]
    no_token = await editor.browser.post(edit, {"name": "篡改"})
    assert no_token.status == 403
    assert (await editor.browser.get(f"/admin/people/{MISSING_ID}/edit")).status == 404
    huge_form = urlencode({"csrf_token": page.csrf_token, "name": "x", "bio": "长" * 2_000_000})
    huge = await editor.browser.request(
        "POST",
        edit,
        data=io.BytesIO(huge_form.encode()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status == 413
    assert (await client.app[PEOPLE_SERVICE].get(person.id))["name"] == "张工匠"


async def test_a_portrait_goes_through_the_media_pipeline(client: Client) -> None:
    editor = await staff(client, Role.editor)
    doc = await client.app[PEOPLE_SERVICE].create(editor.principal, {"name": "有照片的人"})
    edit = f"/admin/people/{doc['_id']}/edit"
    page = await editor.browser.get(edit)
    action = upload_action(page.text, "portrait")
    bad = await editor.browser.request("POST", action, data=photo_form(b"not an image"))
    assert bad.status == 415 and f'href="{edit}"' in bad.text
    no_token = await editor.browser.request(
        "POST", action.split("?")[0], data=photo_form(jpeg_bytes())
    )
    assert no_token.status == 403
    done = await editor.browser.request("POST", action, data=photo_form(jpeg_bytes((400, 500))))
    assert (done.status, done.location) == (303, f"{edit}?saved=portrait")
    page = await editor.browser.get(done.location or "")
    assert "照片已更新" in page.text and 'alt="有照片的人的照片"' in page.text
    assert "/media/" in (await editor.browser.get("/admin/people")).text
    removed = await editor.browser.post(
        edit, {"name": "有照片的人", "remove_portrait": "on"}, csrf=page.csrf_token
    )
    assert removed.status == 303
    assert (await client.app[PEOPLE_SERVICE].get(str(doc["_id"])))["portrait_media_id"] is None


async def test_people_pages_are_the_editors(client: Client) -> None:
    reviewer = await staff(client, Role.reviewer)
    for path in ("/admin/people", "/admin/people/new"):
        answer = await reviewer.browser.get(path)
        assert answer.status == 403 and answer.error_code == "forbidden"
    bad_query = await (await staff(client, Role.editor)).browser.get("/admin/people?q=" + "长" * 51)
    assert bad_query.status == 422


# -- the comment queue (评论审核) -----------------------------------------------------------------


async def comment(client: Client, who: Any, story_id: str, text: str) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/stories/{story_id}/comments", json={"text": text}, headers=who.headers
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_a_reviewer_moderates_the_queue(client: Client) -> None:
    author = await staff(client, Role.editor)
    reviewer = await staff(client, Role.reviewer)
    story_id = await published(client, author.principal, reviewer.principal, "大国工匠的故事")
    reader = await sign_in_wechat(client, "reader")
    held = await comment(client, reader, story_id, "<script>alert(1)</script>待审核的评论")
    assert held["status"] == "pending"
    queue = await reviewer.browser.get("/admin/comments")
    assert '《<a href="/admin/stories/' + story_id in queue.text and "大国工匠的故事" in queue.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;待审核的评论" in queue.text
    assert "<script>alert(1)" not in queue.text
    no_token = await reviewer.browser.post(f"/admin/comments/{held['id']}/approve", {})
    assert no_token.status == 403 and no_token.error_code == "csrf_invalid"
    approved = await reviewer.browser.post(
        f"/admin/comments/{held['id']}/approve", {}, csrf=queue.csrf_token
    )
    assert (
        approved.status == 303 and approved.location == "/admin/comments?done=approve&moderated=1"
    )
    assert "已通过 1 条评论" in (await reviewer.browser.get(approved.location)).text
    twice = await reviewer.browser.post(
        f"/admin/comments/{held['id']}/reject", {}, csrf=queue.csrf_token
    )
    assert twice.location == "/admin/comments?done=reject&already_decided=1"
    assert "保持原来的决定" in (await reviewer.browser.get(twice.location)).text
    resp = await client.get(f"/api/v1/stories/{story_id}/comments")
    assert [c["id"] for c in (await resp.json())["items"]] == [held["id"]]
    assert (await (await client.get(f"/api/v1/stories/{story_id}")).json())["stats"][
        "comments"
    ] == 1
    missing = await reviewer.browser.post(
        f"/admin/comments/{MISSING_ID}/approve", {}, csrf=queue.csrf_token
    )
    assert missing.status == 404
    editor_only = await author.browser.get("/admin/comments")
    assert editor_only.status == 403


async def test_nobody_moderates_their_own_comment_in_the_console(client: Client) -> None:
    author = await staff(client, Role.editor)
    reviewer = await staff(client, Role.reviewer)
    story_id = await published(client, author.principal, reviewer.principal, "四眼")
    mine = await client.app[COMMENT_SERVICE].post(reviewer.principal, story_id, "我自己的评论")
    assert mine.status == "pending"
    queue = await reviewer.browser.get("/admin/comments")
    item = queue.text.split("我自己的评论")[0].rsplit("<li", 1)[1]
    assert "我的评论" in item and 'name="ids"' not in item and "formaction" not in item
    forced = await reviewer.browser.post(
        f"/admin/comments/{mine.id}/approve", {}, csrf=queue.csrf_token
    )
    assert forced.status == 403 and forced.error_code == "four_eyes_required"
    assert 'href="/admin/comments"' in forced.text
    other = await staff(client, Role.reviewer)
    page = await other.browser.get("/admin/comments")
    assert f'formaction="/admin/comments/{mine.id}/approve"' in page.text


async def test_bulk_moderation_of_a_page(client: Client) -> None:
    author = await staff(client, Role.editor)
    reviewer = await staff(client, Role.reviewer)
    story_id = await published(client, author.principal, reviewer.principal, "批量")
    reader = await sign_in_wechat(client, "bulk")
    held = [(await comment(client, reader, story_id, f"待审核{i}"))["id"] for i in range(3)]
    own = (await client.app[COMMENT_SERVICE].post(reviewer.principal, story_id, "我的")).id
    queue = await reviewer.browser.get("/admin/comments")
    token = queue.csrf_token

    async def bulk(data: dict[str, Any]) -> Answer:
        return await reviewer.browser.post("/admin/comments/moderate", data, csrf=token)

    for data, message in (
        ({"decision": "approve"}, "请先勾选要处理的评论"),
        ({"ids": held[:1], "decision": "publish"}, "请选择通过或拒绝"),
        ({"ids": ["not-an-id"], "decision": "approve"}, "评论编号无效"),
        ({"ids": [MISSING_ID] * 51, "decision": "approve"}, "一次最多处理 50 条评论"),
    ):
        refused = await bulk(data)
        assert refused.status == 422 and message in refused.text, refused.text[-1500:]
        assert 'href="/admin/comments"' in refused.text
    done = await bulk({"ids": [*held[:2], own, MISSING_ID], "decision": "approve"})
    assert done.location == (
        "/admin/comments?done=approve&four_eyes_required=1&moderated=2&not_found=1"
    )
    notice = (await reviewer.browser.get(done.location or "")).text
    assert "已通过 2 条评论" in notice and "1 条是您自己的评论" in notice
    rejected = await bulk({"ids": [held[2], held[0]], "decision": "reject"})
    assert rejected.location == "/admin/comments?done=reject&already_decided=1&moderated=1"
    resp = await client.get(f"/api/v1/stories/{story_id}/comments")
    assert sorted(c["text"] for c in (await resp.json())["items"]) == ["待审核0", "待审核1"]
    left = await reviewer.browser.get("/admin/comments")
    assert "我的" in left.text and "待审核2" not in left.text
