"""Stories and people through HTTP: workflow and its permissions, revisions, XSS,
search, engagement under concurrency, pagination."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from handlers.stories import publish_due_story
from handlers.stories.keys import STORY_CACHE
from server.clock import SettableClock
from server.keys import METRICS
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat
from tests.stories.conftest import create_story, publish


async def test_workflow_and_who_may_do_what(client: Client, staff: dict[str, Session]) -> None:
    resident = await sign_in_wechat(client, "reader")
    refused = await client.post(
        "/api/v1/admin/stories",
        json={"title": "x", "category": "policy"},
        headers=resident.headers,
    )
    assert refused.status == 403
    story = await create_story(client, staff["editor"], body_markdown="## 匠心\n\n正文")
    assert story["status"] == "draft"
    assert story["revision"] == 1
    sid = story["id"]
    # Drafts do not exist for the public, signed in or not.
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404
    assert (await client.get(f"/api/v1/stories/{sid}", headers=resident.headers)).status == 404
    # Publishing needs review first.
    early = await client.post(
        f"/api/v1/admin/stories/{sid}/publish",
        json={"revision": 1},
        headers=staff["reviewer"].headers,
    )
    assert early.status == 409
    assert_error(await early.json(), "invalid_transition")
    submit = await client.post(
        f"/api/v1/admin/stories/{sid}/submit", headers=staff["editor"].headers
    )
    assert (await submit.json())["status"] == "in_review"
    seen = {"revision": (await submit.json())["revision"]}
    # Editors cannot publish at all; a reviewer can; nobody publishes their own story.
    by_editor = await client.post(
        f"/api/v1/admin/stories/{sid}/publish", json=seen, headers=staff["editor2"].headers
    )
    assert by_editor.status == 403
    by_resident = await client.post(
        f"/api/v1/admin/stories/{sid}/publish", json=seen, headers=resident.headers
    )
    assert by_resident.status == 403
    rejected = await client.post(
        f"/api/v1/admin/stories/{sid}/reject",
        json={"reason": "请补充人物事迹"},
        headers=staff["reviewer"].headers,
    )
    assert (await rejected.json())["status"] == "draft"
    assert (await rejected.json())["reject_reason"] == "请补充人物事迹"
    again = await client.post(
        f"/api/v1/admin/stories/{sid}/submit", headers=staff["editor"].headers
    )
    published = await client.post(
        f"/api/v1/admin/stories/{sid}/publish",
        json={"revision": (await again.json())["revision"]},
        headers=staff["reviewer"].headers,
    )
    assert (await published.json())["status"] == "published"
    public = await client.get(f"/api/v1/stories/{sid}")
    assert public.status == 200
    assert "<h2>匠心</h2>" in (await public.json())["body_html"]
    down = await client.post(
        f"/api/v1/admin/stories/{sid}/unpublish", headers=staff["editor"].headers
    )
    assert (await down.json())["status"] == "unpublished"
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404


async def test_four_eyes_for_admins_and_reviewers_too(
    client: Client, staff: dict[str, Session]
) -> None:
    story = await create_story(client, staff["admin"])
    submit = await client.post(
        f"/api/v1/admin/stories/{story['id']}/submit", headers=staff["admin"].headers
    )
    seen = {"revision": (await submit.json())["revision"]}
    own = await client.post(
        f"/api/v1/admin/stories/{story['id']}/publish", json=seen, headers=staff["admin"].headers
    )
    assert own.status == 403
    assert_error(await own.json(), "four_eyes_required")
    other = await client.post(
        f"/api/v1/admin/stories/{story['id']}/publish",
        json=seen,
        headers=staff["reviewer"].headers,
    )
    assert other.status == 200


async def test_concurrent_patches_one_wins_one_conflicts(
    client: Client, staff: dict[str, Session]
) -> None:
    story = await create_story(client, staff["editor"])

    async def patch(title: str, who: Session) -> Any:
        return await client.patch(
            f"/api/v1/admin/stories/{story['id']}",
            json={"revision": 1, "title": title},
            headers=who.headers,
        )

    first, second = await asyncio.gather(
        patch("甲的标题", staff["editor"]), patch("乙的标题", staff["editor2"])
    )
    assert sorted([first.status, second.status]) == [200, 409]
    loser = first if first.status == 409 else second
    assert_error(await loser.json(), "revision_conflict")
    winner = await (first if first.status == 200 else second).json()
    assert winner["revision"] == 2
    history = await client.get(
        f"/api/v1/admin/stories/{story['id']}/revisions", headers=staff["reviewer"].headers
    )
    revisions = (await history.json())["items"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["title"] == winner["title"]


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "[点我](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        "![x](https://evil.example/track.png)",
        '<a href="#" onclick="steal()">x</a>',
    ],
)
async def test_markdown_xss_is_neutralised(
    client: Client, staff: dict[str, Session], payload: str
) -> None:
    story = await create_story(client, staff["editor"], body_markdown=f"正文 {payload}")
    html = story["body_html"].lower()
    tags = re.findall(r"<[a-z][^>]*>", html)  # real tags; escaped text is "&lt;..."
    assert not [t for t in tags if t.startswith("<script")]
    assert not [t for t in tags if re.search(r"\son[a-z]+=", t)]
    assert not [t for t in tags if "javascript:" in t]
    assert not [t for t in tags if t.startswith("<img") and "src=" in t and "/media/" not in t]
    assert "正文" in html


async def test_search_by_chinese_fragments_and_pinyin(
    client: Client, staff: dict[str, Session]
) -> None:
    person = await client.post(
        "/api/v1/admin/people",
        json={"name": "吴运铎", "honours": [{"name": "全国劳动模范", "year": 1950}]},
        headers=staff["editor"].headers,
    )
    assert person.status == 201, await person.text()
    pid = (await person.json())["id"]
    about = await create_story(
        client,
        staff["editor"],
        title="把一切献给党",
        body_markdown="兵工专家的故事。",
        person_ids=[pid],
        category="model_worker",
    )
    title_hit = await create_story(
        client, staff["editor"], title="工匠精神代代传", category="craftsman"
    )
    body_hit = await create_story(
        client, staff["editor"], title="车间里的一天", body_markdown="他说，工匠精神就是较真。"
    )
    scattered = await create_story(
        client, staff["editor"], title="匠人", body_markdown="工作认真，精益求精，神采奕奕。"
    )
    for story in (about, title_hit, body_hit, scattered):
        await publish(client, staff, story["id"])

    async def search(q: str) -> list[str]:
        resp = await client.get("/api/v1/stories", params={"q": q})
        assert resp.status == 200, await resp.text()
        return [item["id"] for item in (await resp.json())["items"]]

    for q in ("吴运", "wuyunduo", "wyd"):
        assert about["id"] in await search(q), q
    ranked = await search("工匠精神")
    assert ranked[:2] == [title_hit["id"], body_hit["id"]]
    people = await client.get("/api/v1/people", params={"q": "wyd"})
    assert [p["name"] for p in (await people.json())["items"]] == ["吴运铎"]
    detail = await client.get(f"/api/v1/people/{pid}")
    assert [s["id"] for s in (await detail.json())["stories"]] == [about["id"]]


async def test_likes_are_counted_once_per_user(client: Client, staff: dict[str, Session]) -> None:
    story = await create_story(client, staff["editor"])
    await publish(client, staff, story["id"])
    url = f"/api/v1/stories/{story['id']}/like"
    readers = await asyncio.gather(*(sign_in_wechat(client, f"r{i}") for i in range(200)))
    results = await asyncio.gather(*(client.post(url, headers=r.headers) for r in readers))
    assert {r.status for r in results} == {200}
    one = readers[0]
    again = await asyncio.gather(*(client.post(url, headers=one.headers) for _ in range(50)))
    assert {r.status for r in again} == {200}
    detail = await (await client.get(f"/api/v1/stories/{story['id']}", headers=one.headers)).json()
    assert detail["stats"]["likes"] == 200
    assert detail["liked"] is True
    off = await (await client.delete(url, headers=one.headers)).json()
    assert off == {"liked": False, "likes": 199}
    off_again = await (await client.delete(url, headers=one.headers)).json()
    assert off_again == {"liked": False, "likes": 199}


async def test_favorites_listed_and_drafts_not_likeable(
    client: Client, staff: dict[str, Session]
) -> None:
    reader = await sign_in_wechat(client, "fan")
    story = await create_story(client, staff["editor"])
    draft_like = await client.post(f"/api/v1/stories/{story['id']}/like", headers=reader.headers)
    assert draft_like.status == 404
    await publish(client, staff, story["id"])
    fav = await client.post(f"/api/v1/stories/{story['id']}/favorite", headers=reader.headers)
    assert await fav.json() == {"favorited": True, "favorites": 1}
    mine = await (await client.get("/api/v1/me/favorites", headers=reader.headers)).json()
    assert [s["id"] for s in mine["items"]] == [story["id"]]
    export = await (await client.get("/api/v1/me/export", headers=reader.headers)).json()
    assert export["sections"]["stories"]["favorites"][0]["story_id"] == story["id"]
    await client.delete("/api/v1/me", headers=reader.headers)
    detail = await (await client.get(f"/api/v1/stories/{story['id']}")).json()
    assert detail["stats"]["favorites"] == 0


async def test_pages_stay_stable_while_stories_are_published(
    client: Client, staff: dict[str, Session]
) -> None:
    ids = []
    for i in range(7):
        story = await create_story(client, staff["editor"], title=f"第{i}篇")
        await publish(client, staff, story["id"])
        ids.append(story["id"])
    pinned = await create_story(client, staff["editor"], title="置顶", pinned=True)
    await publish(client, staff, pinned["id"])
    first = await (await client.get("/api/v1/stories", params={"limit": "3"})).json()
    assert first["items"][0]["id"] == pinned["id"]
    # New stories arrive between page loads: no repeats, no gaps in what was there.
    newcomer = await create_story(client, staff["editor"], title="新来的")
    await publish(client, staff, newcomer["id"])
    seen = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await (
            await client.get("/api/v1/stories", params={"limit": "3", "cursor": cursor})
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert seen == [pinned["id"], *reversed(ids)]
    bad = await client.get("/api/v1/stories", params={"cursor": "not-a-cursor!"})
    assert bad.status == 422
    assert (await bad.json())["error"]["details"]["fields"]["cursor"]


async def test_scheduled_story_appears_on_time(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    story = await create_story(client, staff["editor"])
    submit = await client.post(
        f"/api/v1/admin/stories/{story['id']}/submit", headers=staff["editor"].headers
    )
    at = clock.now() + timedelta(seconds=1.5)
    resp = await client.post(
        f"/api/v1/admin/stories/{story['id']}/publish",
        json={"revision": (await submit.json())["revision"], "publish_at": at.isoformat()},
        headers=staff["reviewer"].headers,
    )
    assert (await resp.json())["status"] == "scheduled"
    assert (await client.get(f"/api/v1/stories/{story['id']}")).status == 404
    clock.advance(timedelta(seconds=1.4))
    assert (await client.get(f"/api/v1/stories/{story['id']}")).status == 404  # not early
    clock.advance(timedelta(seconds=0.1))
    # Public the moment it is due (read-time rule), before any job has run...
    assert (await client.get(f"/api/v1/stories/{story['id']}")).status == 200
    # ...and the worker's job moves it to published.
    assert await publish_due_story(client.app, story["id"]) is True
    admin = await client.get(
        f"/api/v1/admin/stories/{story['id']}", headers=staff["reviewer"].headers
    )
    assert (await admin.json())["status"] == "published"


async def test_unknown_or_hidden_objects_are_404(client: Client, staff: dict[str, Session]) -> None:
    ghost = "0123456789abcdef01234567"
    editor, reviewer = staff["editor"].headers, staff["reviewer"].headers
    for method, path, headers, body in [
        ("GET", f"/api/v1/stories/{ghost}", {}, None),
        ("GET", f"/api/v1/people/{ghost}", {}, None),
        ("GET", "/api/v1/people/not-an-id", {}, None),
        ("GET", f"/api/v1/admin/stories/{ghost}", reviewer, None),
        ("PATCH", f"/api/v1/admin/stories/{ghost}", editor, {"revision": 1, "title": "x"}),
        ("POST", f"/api/v1/admin/stories/{ghost}/submit", editor, None),
        ("GET", f"/api/v1/admin/stories/{ghost}/revisions", reviewer, None),
        ("PATCH", f"/api/v1/admin/people/{ghost}", editor, {"bio": "x"}),
        ("POST", f"/api/v1/admin/comments/{ghost}/approve", reviewer, None),
        ("GET", f"/api/v1/stories/{ghost}/comments", {}, None),
    ]:
        resp = await client.request(method, path, headers=headers, json=body)
        assert resp.status == 404, (method, path, resp.status)
        assert_error(await resp.json(), "not_found")


async def test_etag_304_and_freshness_right_after_publish(
    client: Client, staff: dict[str, Session]
) -> None:
    first = await create_story(client, staff["editor"], title="第一篇")
    await publish(client, staff, first["id"])
    listing = await client.get("/api/v1/stories")
    etag = listing.headers["ETag"]
    assert listing.headers["Cache-Control"] == "no-cache"
    same = await client.get("/api/v1/stories", headers={"If-None-Match": etag})
    assert same.status == 304
    assert await same.read() == b""
    second = await create_story(client, staff["editor"], title="第二篇")
    await publish(client, staff, second["id"])
    fresh = await client.get("/api/v1/stories", headers={"If-None-Match": etag})
    assert fresh.status == 200  # the publish shows at once: the old ETag no longer matches
    assert [s["title"] for s in (await fresh.json())["items"]] == ["第二篇", "第一篇"]
    reader = await sign_in_wechat(client, "etag-reader")
    detail = await client.get(f"/api/v1/stories/{first['id']}", headers=reader.headers)
    assert detail.headers["Cache-Control"] == "private, no-cache"
    tag = detail.headers["ETag"]
    await client.post(f"/api/v1/stories/{first['id']}/like", headers=reader.headers)
    changed = await client.get(
        f"/api/v1/stories/{first['id']}", headers={**reader.headers, "If-None-Match": tag}
    )
    assert changed.status == 200
    assert (await changed.json())["liked"] is True


async def test_cached_feed_shows_edits_and_takedowns_at_once(
    client: Client, staff: dict[str, Session]
) -> None:
    story = await publish(client, staff, (await create_story(client, staff["editor"]))["id"])
    sid = story["id"]
    assert [s["title"] for s in (await (await client.get("/api/v1/stories")).json())["items"]] == [
        "一线故事"
    ]
    assert (await (await client.get(f"/api/v1/stories/{sid}")).json())["title"] == "一线故事"
    edited = await client.patch(
        f"/api/v1/admin/stories/{sid}",
        json={"revision": story["revision"], "title": "改过的标题"},
        headers=staff["editor"].headers,
    )
    assert edited.status == 200
    # An edit of a public story waits for review (tests/stories/test_four_eyes.py)...
    assert (await (await client.get(f"/api/v1/stories/{sid}")).json())["title"] == "一线故事"
    # ...and shows at once when a reviewer publishes it.
    submit = await client.post(
        f"/api/v1/admin/stories/{sid}/submit", headers=staff["editor"].headers
    )
    reviewed = await client.post(
        f"/api/v1/admin/stories/{sid}/publish",
        json={"revision": (await submit.json())["revision"]},
        headers=staff["reviewer"].headers,
    )
    assert reviewed.status == 200, await reviewed.text()
    assert (await (await client.get(f"/api/v1/stories/{sid}")).json())["title"] == "改过的标题"
    feed = await (await client.get("/api/v1/stories")).json()
    assert [s["title"] for s in feed["items"]] == ["改过的标题"]
    await client.post(f"/api/v1/admin/stories/{sid}/unpublish", headers=staff["editor"].headers)
    assert (await (await client.get("/api/v1/stories")).json())["items"] == []
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404


async def test_feed_answers_from_mongodb_when_redis_is_gone(
    aiohttp_client: Any, settings: Any, unused_tcp_port: int
) -> None:
    from server.app import create_app

    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0"})
    client = await aiohttp_client(create_app(no_redis))
    staff = {
        "editor": await sign_in_staff(client, "ed", Role.editor),
        "reviewer": await sign_in_staff(client, "rv", Role.reviewer),
    }
    story = await create_story(client, staff["editor"], title="没有缓存也能读")
    # Publishing works: the cache cannot be invalidated, but nothing was cached either.
    await publish(client, staff, story["id"])
    feed = await client.get("/api/v1/stories")
    assert feed.status == 200
    assert [s["title"] for s in (await feed.json())["items"]] == ["没有缓存也能读"]
    assert (await client.get(f"/api/v1/stories/{story['id']}")).status == 200


def feed_loads(client: Client, source: str) -> float:
    text = client.app[METRICS].render().decode()
    prefix = f'jiangxin_feed_cache_loads_total{{source="{source}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_a_cold_feed_page_is_built_once_for_hundreds_of_readers(
    client: Client, staff: dict[str, Session]
) -> None:
    await publish(client, staff, (await create_story(client, staff["editor"]))["id"])
    built = feed_loads(client, "mongodb")
    pages = await asyncio.gather(*(client.get("/api/v1/stories") for _ in range(200)))
    assert {page.status for page in pages} == {200}
    assert len({page.headers["ETag"] for page in pages}) == 1
    assert feed_loads(client, "mongodb") == built + 1


async def test_another_process_sees_a_publish_at_its_next_version_poll(
    client: Client, staff: dict[str, Session], aiohttp_client: Any, settings: Any
) -> None:
    from server.app import create_app

    other = await aiohttp_client(create_app(settings))  # another process of the same service
    first = await create_story(client, staff["editor"], title="第一篇")
    await publish(client, staff, first["id"])
    seen = await (await other.get("/api/v1/stories")).json()
    assert [s["title"] for s in seen["items"]] == ["第一篇"]  # now cached in both levels
    # The other process follows the shared version by polling it every 100 ms: the test
    # holds that loop and runs one poll itself, instead of waiting for one.
    cache = other.app[STORY_CACHE]
    assert cache.version_poll_s == 0.1
    await cache.stop()
    second = await create_story(client, staff["editor"], title="第二篇")
    await publish(client, staff, second["id"])
    titles = [s["title"] for s in (await (await other.get("/api/v1/stories")).json())["items"]]
    assert titles == ["第一篇"]  # until its next poll, the other process serves its copy
    await cache.follow_version()
    titles = [s["title"] for s in (await (await other.get("/api/v1/stories")).json())["items"]]
    assert titles == ["第二篇", "第一篇"], "the other process kept its stale page"
