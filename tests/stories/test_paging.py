"""Every stories list, paged through the API while items are added: 120 items, other items
inserted between page fetches and while a page is fetched; no item that existed
throughout is repeated or missing, and they come in the list's order. Bad cursors are
422 everywhere.

Data is seeded through the app's own services (fast, and the feed cache they bump is
the one the routes read); pages are read over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from handlers.stories import StoryServices
from handlers.stories.repo import Document
from handlers.stories.search import query_terms, score
from server.clock import SettableClock
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.stories.conftest import as_principal

TOTAL = 120
Insert = Callable[[int], Awaitable[None]]


async def page_through(
    client: Client,
    path: str,
    *,
    limit: int,
    insert: Insert,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a list, page by page; ``insert(n)`` runs before page ``n`` is
    fetched (even ``n``) or while it is fetched (odd ``n``)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for n in range(1000):
        query = {**(params or {}), "limit": str(limit)}
        if cursor is not None:
            query["cursor"] = cursor

        async def fetch(query: dict[str, str] = query) -> Any:
            resp = await client.get(path, params=query, headers=headers)
            assert resp.status == 200, await resp.text()
            return await resp.json()

        if n % 2 == 0:
            await insert(n)
            page = await fetch()
        else:
            page, _ = await asyncio.gather(fetch(), insert(n))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the list never ended")


def assert_whole(seen: list[str], existing: list[str], *, ordered: bool = True) -> None:
    """No duplicates at all; every id of ``existing`` seen, in that order if ``ordered``."""
    assert len(seen) == len(set(seen)), "an item was repeated"
    missing = set(existing) - set(seen)
    assert not missing, f"{len(missing)} items that existed throughout were skipped"
    if ordered:
        wanted = set(existing)
        assert [item for item in seen if item in wanted] == existing


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def in_batches(count: int, make: Callable[[int], Awaitable[Document]]) -> list[Document]:
    """``make(0..count-1)``, 20 at a time."""
    docs: list[Document] = []
    for start in range(0, count, 20):
        docs += await asyncio.gather(*(make(i) for i in range(start, min(count, start + 20))))
    return docs


@pytest.fixture
def editor(staff: dict[str, Session]) -> Principal:
    return as_principal(staff["editor"], Role.editor)


@pytest.fixture
def reviewer(staff: dict[str, Session]) -> Principal:
    return as_principal(staff["reviewer"], Role.reviewer)


async def published(
    services: StoryServices, editor: Principal, reviewer: Principal, **fields: Any
) -> Document:
    """A story created, submitted and published through the editorial service."""
    editorial = services.editorial
    draft = await editorial.create(
        editor, {"title": "一线故事", "category": "frontline_worker", **fields}
    )
    submitted = await editorial.submit(editor, str(draft["_id"]))
    return await editorial.publish(reviewer, str(draft["_id"]), submitted["revision"])


def feed_order(doc: Document) -> tuple[bool, datetime, str]:
    return doc["pinned"], doc["published_at"], str(doc["_id"])


async def test_the_feed_pages_without_repeats_or_gaps_while_stories_are_published(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    clock: SettableClock,
) -> None:
    async def make(i: int) -> Document:
        return await published(app_services, editor, reviewer, title=f"第{i}篇", pinned=i % 17 == 0)

    docs: list[Document] = []
    for start in range(0, TOTAL, 4):  # four at one instant: ties broken by _id
        docs += await asyncio.gather(*(make(i) for i in range(start, start + 4)))
        clock.advance(timedelta(seconds=1))
    existing = [str(d["_id"]) for d in sorted(docs, key=feed_order, reverse=True)]

    async def insert(n: int) -> None:
        clock.advance(timedelta(seconds=1))
        await asyncio.gather(*(make(1000 + 2 * n + k) for k in range(2)))

    seen = ids(await page_through(client, "/api/v1/stories", limit=7, insert=insert))
    assert_whole(seen, existing)
    assert seen[: sum(d["pinned"] for d in docs)] == existing[: sum(d["pinned"] for d in docs)]


async def test_search_pages_are_stable_while_matching_stories_are_published(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    clock: SettableClock,
) -> None:
    # Three ranks: the phrase in the title, in the summary, in the body only.
    shapes = [
        {"title": "工匠精神的传人"},
        {"title": "车间故事", "summary": "讲述工匠精神"},
        {"title": "一天", "body_markdown": "他说，工匠精神就是较真。"},
    ]

    async def make(i: int) -> Document:
        return await published(app_services, editor, reviewer, **shapes[i % 3])

    docs: list[Document] = []
    for start in range(0, TOTAL, 6):  # six at one instant
        docs += await asyncio.gather(*(make(i) for i in range(start, start + 6)))
        clock.advance(timedelta(seconds=1))
    query = query_terms("工匠精神")
    ranked = sorted(
        docs, key=lambda d: (score(d, query), d["published_at"], str(d["_id"])), reverse=True
    )
    existing = [str(d["_id"]) for d in ranked]

    async def insert(n: int) -> None:
        # Newer and best-ranked (title hits), and so many that, counted with the first
        # page's stories, they would push the oldest out of the 200 candidates.
        clock.advance(timedelta(seconds=1))
        await in_batches(8, lambda i: make(3 * i))

    seen = ids(
        await page_through(
            client, "/api/v1/stories", limit=10, insert=insert, params={"q": "工匠精神"}
        )
    )
    assert_whole(seen, existing)


async def test_my_favourites_page_without_gaps_when_favourites_share_an_instant(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    clock: SettableClock,
) -> None:
    stories = await in_batches(
        TOTAL + 40,
        lambda i: published(app_services, editor, reviewer, title=f"收藏{i}"),
    )
    reader = await sign_in_wechat(client, "collector")
    me = as_principal(reader, Role.resident)
    engagement = app_services.engagement
    marks: list[tuple[datetime, str, str]] = []  # (at, mark id, story id)
    for start in range(0, TOTAL, 10):  # ten favourites at each instant
        batch = stories[start : start + 10]
        await asyncio.gather(*(engagement.favorite(me, str(s["_id"]), True) for s in batch))
        marks += [(clock.now(), f"{s['_id']}:{me.user_id}", str(s["_id"])) for s in batch]
        clock.advance(timedelta(seconds=1))
    existing = [story_id for _, _, story_id in sorted(marks, reverse=True)]
    spare = iter(stories[TOTAL:])

    async def insert(n: int) -> None:
        clock.advance(timedelta(milliseconds=10))
        await asyncio.gather(
            *(engagement.favorite(me, str(next(spare)["_id"]), True) for _ in range(2))
        )

    seen = ids(
        await page_through(
            client, "/api/v1/me/favorites", limit=7, insert=insert, headers=reader.headers
        )
    )
    assert_whole(seen, existing)


async def commenters(client: Client, count: int) -> list[Principal]:
    readers = await asyncio.gather(*(sign_in_wechat(client, f"commenter{i}") for i in range(count)))
    return [as_principal(r, Role.resident) for r in readers]


async def comment_many(
    services: StoryServices,
    clock: SettableClock,
    story_id: str,
    who: list[Principal],
    count: int,
    text: str,
) -> list[str]:
    """``count`` comments, five per person per minute (the rate limit): the clock moves
    on a minute after each round."""
    made: list[str] = []
    while len(made) < count:
        round_of = [p for p in who for _ in range(5)][: count - len(made)]
        outs = await asyncio.gather(
            *(
                services.comments.post(p, story_id, f"{text}{len(made) + i}")
                for i, p in enumerate(round_of)
            )
        )
        made += [out.id for out in outs]
        clock.advance(timedelta(minutes=1))
    return made


def late_comments(
    services: StoryServices, story_id: str, who: list[Principal], text: str
) -> Insert:
    """Two comments per page, by the commenters in turn (within their rate limit)."""

    async def insert(n: int) -> None:
        author = who[n % len(who)]
        await asyncio.gather(
            *(services.comments.post(author, story_id, f"{text}{n}-{k}") for k in range(2))
        )

    return insert


async def test_comments_page_newest_first_while_others_are_posted(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    clock: SettableClock,
) -> None:
    story = str((await published(app_services, editor, reviewer))["_id"])
    who = await commenters(client, 8)
    made = await comment_many(app_services, clock, story, who, TOTAL, "向劳模学习")
    existing = sorted(made, reverse=True)  # ObjectIds grow: the newest is the greatest
    insert = late_comments(app_services, story, who, "后来的评论")
    seen = ids(
        await page_through(client, f"/api/v1/stories/{story}/comments", limit=9, insert=insert)
    )
    assert_whole(seen, existing)
    assert seen == sorted(seen, reverse=True)


async def test_the_moderation_queue_pages_oldest_first_while_comments_arrive(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    staff: dict[str, Session],
    clock: SettableClock,
) -> None:
    story = str((await published(app_services, editor, reviewer))["_id"])
    who = await commenters(client, 12)  # new comments join the end: more pages
    made = await comment_many(app_services, clock, story, who, TOTAL, "待审核")
    insert = late_comments(app_services, story, who, "待审核的新评论")
    seen = await page_through(
        client, "/api/v1/admin/comments", limit=9, insert=insert, headers=staff["reviewer"].headers
    )
    assert {item["status"] for item in seen} == {"pending"}
    assert_whole(ids(seen), sorted(made))
    assert ids(seen) == sorted(ids(seen))  # the new ones join at the end


async def test_people_page_in_the_order_added_while_people_are_added(
    client: Client, app_services: StoryServices, editor: Principal
) -> None:
    people = app_services.people

    async def make(i: int) -> Document:
        return await people.create(
            editor, {"name": f"劳模{i}", "honours": [{"name": "全国劳动模范"}]}
        )

    existing = sorted(str(d["_id"]) for d in await in_batches(TOTAL, make))

    async def insert(n: int) -> None:
        await asyncio.gather(make(1000 + 2 * n), make(1001 + 2 * n))

    seen = ids(await page_through(client, "/api/v1/people", limit=8, insert=insert))
    assert_whole(seen, existing)
    assert seen == sorted(seen)
    honoured = ids(
        await page_through(
            client, "/api/v1/people", limit=8, insert=insert, params={"honor": "全国劳动模范"}
        )
    )
    assert_whole(honoured, existing)


async def test_admin_stories_page_newest_first_while_drafts_are_written(
    client: Client, app_services: StoryServices, editor: Principal, staff: dict[str, Session]
) -> None:
    editorial = app_services.editorial

    async def make(i: int) -> Document:
        return await editorial.create(editor, {"title": f"草稿{i}", "category": "policy"})

    existing = sorted((str(d["_id"]) for d in await in_batches(TOTAL, make)), reverse=True)

    async def insert(n: int) -> None:
        await asyncio.gather(make(1000 + 2 * n), make(1001 + 2 * n))

    seen = ids(
        await page_through(
            client,
            "/api/v1/admin/stories",
            limit=8,
            insert=insert,
            headers=staff["reviewer"].headers,
        )
    )
    assert_whole(seen, existing)
    assert seen == sorted(seen, reverse=True)


# -- bad cursors ---------------------------------------------------------------------------


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


OID = "6b0f3c2a9d8e7f6a5b4c3d2e"
BAD_CURSORS = [
    "not-a-cursor!",
    "eyJ",  # cut short
    _raw({"$gt": ""}),
    _raw(["stories", [True, "2026-12-01T08:00:00+00:00", {"$gt": ""}], []]),  # tampered
    _raw(["elsewhere", [OID], []]),  # no list of ours
    _raw(["search", [1.0, "2026-12-01T08:00:00+00:00", OID], []]),  # its context removed
    _raw(["favorites", ["yesterday", f"{OID}:{OID}"], []]),  # not a date
    # Dates that overflow once in UTC (a 500 before), and numbers that are not ones.
    _raw(["favorites", ["0001-01-01T00:00:00+01:00", f"{OID}:{OID}"], []]),
    _raw(["favorites", ["9999-12-31T23:59:59-01:00", f"{OID}:{OID}"], []]),
    _raw(["stories", [True, "0001-01-01T00:00:00+23:59", OID], []]),
    _raw(["search", [1.0, "2026-12-01T08:00:00+00:00", OID], ["0001-01-01T00:00:00+01:00"]]),
    _raw(["search", ["1", "2026-12-01T08:00:00+00:00", OID], ["2026-12-01T08:00:00+00:00"]]),
    _raw(["search", [True, "2026-12-01T08:00:00+00:00", OID], ["2026-12-01T08:00:00+00:00"]]),
]


async def test_a_bad_cursor_is_422_on_every_list(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    staff: dict[str, Session],
) -> None:
    story = str((await published(app_services, editor, reviewer))["_id"])
    reader = await sign_in_wechat(client, "cursor-tamperer")
    lists = [
        ("/api/v1/stories", {}, {}),
        ("/api/v1/stories", {"q": "故事"}, {}),
        ("/api/v1/me/favorites", {}, reader.headers),
        (f"/api/v1/stories/{story}/comments", {}, {}),
        ("/api/v1/admin/comments", {}, staff["reviewer"].headers),
        ("/api/v1/people", {}, {}),
        ("/api/v1/people", {"q": "劳模"}, {}),
        ("/api/v1/admin/stories", {}, staff["reviewer"].headers),
    ]
    for cursor in BAD_CURSORS:
        for path, params, headers in lists:
            resp = await client.get(path, params={**params, "cursor": cursor}, headers=headers)
            assert resp.status == 422, (path, params, cursor, await resp.text())
            body = await resp.json()
            assert_error(body, "invalid_cursor")
            assert "cursor" in body["error"]["details"]["fields"], (path, body)


async def test_a_search_cursor_from_the_future_shows_no_story_before_its_time(
    client: Client,
    app_services: StoryServices,
    editor: Principal,
    reviewer: Principal,
    clock: SettableClock,
) -> None:
    """A search cursor's instant (``as_of``) is capped at the clock: a forged later one
    does not reveal a story scheduled for later."""
    out = await published(app_services, editor, reviewer, title="今天的故事")
    draft = await app_services.editorial.create(
        editor, {"title": "明天的故事", "category": "frontline_worker"}
    )
    submitted = await app_services.editorial.submit(editor, str(draft["_id"]))
    later = clock.now() + timedelta(days=1)
    await app_services.editorial.publish(reviewer, str(draft["_id"]), submitted["revision"], later)
    # Before every item (the best score), with an instant a year ahead.
    forged = _raw(["search", [1e300, later.isoformat(), OID], ["2027-12-31T00:00:00+00:00"]])
    resp = await client.get("/api/v1/stories", params={"q": "故事", "cursor": forged})
    assert resp.status == 200, await resp.text()
    assert ids((await resp.json())["items"]) == [str(out["_id"])]
