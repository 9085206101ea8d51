"""The stories services without HTTP (DESIGN.md): built afresh from the test app's
resources (``build_services``) and called directly, on the settable clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from handlers.stories import StoryServices
from handlers.stories.editorial import InvalidTransition, OwnStoryPublish, RevisionConflict
from handlers.stories.feed import SEARCH
from handlers.stories.repo import Document
from handlers.stories.schemas import StoryListQuery
from handlers.stories.search import query_terms, score
from server.clock import SettableClock
from server.errors import NotFound
from server.paging import PageQuery
from server.principal import Principal, Role


def staff_member(*roles: Role) -> Principal:
    return Principal(uuid.uuid4().hex[:24], "test-session", frozenset(roles), "test-token")


EDITOR = staff_member(Role.editor)
EDITOR2 = staff_member(Role.editor)
REVIEWER = staff_member(Role.reviewer)
READER = staff_member(Role.resident)


async def draft(services: StoryServices, *, author: Principal = EDITOR, **fields: Any) -> str:
    doc = await services.editorial.create(
        author, {"title": "一线故事", "category": "frontline_worker", **fields}
    )
    return str(doc["_id"])


async def live(services: StoryServices, **fields: Any) -> str:
    story_id = await draft(services, **fields)
    submitted = await services.editorial.submit(EDITOR, story_id)
    await services.editorial.publish(REVIEWER, story_id, submitted["revision"])
    return story_id


async def test_workflow_transitions_and_four_eyes(services: StoryServices) -> None:
    editorial, feed = services.editorial, services.feed
    story_id = await draft(services)
    assert (await editorial.get(story_id))["status"] == "draft"
    with pytest.raises(InvalidTransition):
        await editorial.publish(REVIEWER, story_id, 1)  # review comes first
    assert (await editorial.submit(EDITOR, story_id))["status"] == "in_review"
    with pytest.raises(InvalidTransition):
        await editorial.submit(EDITOR, story_id)
    with pytest.raises(OwnStoryPublish):
        await editorial.publish(EDITOR, story_id, 2)  # nobody publishes their own
    rejected = await editorial.reject(REVIEWER, story_id, "请补充人物事迹")
    assert (rejected["status"], rejected["reject_reason"]) == ("draft", "请补充人物事迹")
    resubmitted = await editorial.submit(EDITOR, story_id)
    assert (await editorial.get(story_id)).get("reject_reason") is None
    published = await editorial.publish(REVIEWER, story_id, resubmitted["revision"])
    assert published["status"] == "published"
    assert published["revision"] == 5  # created, then submit, reject, submit, publish
    assert str((await feed.get_public(story_id))["_id"]) == story_id
    assert (await editorial.unpublish(EDITOR2, story_id))["status"] == "unpublished"
    with pytest.raises(NotFound):
        await feed.get_public(story_id)
    with pytest.raises(InvalidTransition):
        await editorial.unpublish(EDITOR2, story_id)
    assert (await editorial.submit(EDITOR, story_id))["status"] == "in_review"  # again
    with pytest.raises(NotFound):
        await editorial.submit(EDITOR, "0" * 24)


async def test_a_stale_revision_conflicts_and_one_of_two_concurrent_edits_wins(
    services: StoryServices,
) -> None:
    editorial = services.editorial
    story_id = await draft(services)
    edited = await editorial.patch(EDITOR, story_id, 1, {"title": "第一次修改"})
    assert edited["revision"] == 2
    with pytest.raises(RevisionConflict) as stale:
        await editorial.patch(EDITOR2, story_id, 1, {"title": "过时的修改"})
    assert stale.value.details == {"current_revision": 2}
    results = await asyncio.gather(
        editorial.patch(EDITOR, story_id, 2, {"title": "甲"}),
        editorial.patch(EDITOR2, story_id, 2, {"title": "乙"}),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert [type(r) for r in results if isinstance(r, BaseException)] == [RevisionConflict]
    assert (await editorial.get(story_id))["title"] == winners[0]["title"]
    history = await editorial.revisions(story_id)
    assert [(r.revision, r.title) for r in history] == [
        (1, "一线故事"),
        (2, "第一次修改"),
        (3, winners[0]["title"]),
    ]


async def test_publish_due_on_the_settable_clock(
    services: StoryServices, clock: SettableClock
) -> None:
    editorial, feed = services.editorial, services.feed
    story_id = await draft(services)
    submitted = await editorial.submit(EDITOR, story_id)
    at = clock.now() + timedelta(hours=2)
    scheduled = await editorial.publish(REVIEWER, story_id, submitted["revision"], at)
    assert (scheduled["status"], scheduled["published_at"]) == ("scheduled", at)
    with pytest.raises(NotFound):
        await feed.get_public(story_id)
    assert await editorial.publish_due(story_id) is False
    assert await editorial.publish_due_stories() == 0
    clock.advance(timedelta(hours=2) - timedelta(milliseconds=1))
    assert await editorial.publish_due(story_id) is False  # not a millisecond early
    clock.advance(timedelta(milliseconds=1))
    assert str((await feed.get_public(story_id))["_id"]) == story_id  # public on time
    assert await editorial.publish_due(story_id) is True
    assert await editorial.publish_due(story_id) is False  # once
    after = await editorial.get(story_id)
    assert (after["status"], after["published_at"]) == ("published", at)
    # Taken down before its time: its job (or the sweep) finds nothing to do.
    other = await draft(services)
    submitted = await editorial.submit(EDITOR, other)
    await editorial.publish(
        REVIEWER, other, submitted["revision"], clock.now() + timedelta(minutes=1)
    )
    await editorial.unpublish(EDITOR, other)
    clock.advance(timedelta(minutes=2))
    assert await editorial.publish_due(other) is False
    assert await editorial.publish_due_stories() == 0
    # A publish_at in the past publishes now.
    third = await draft(services)
    submitted = await editorial.submit(EDITOR, third)
    now = await editorial.publish(
        REVIEWER, third, submitted["revision"], clock.now() - timedelta(days=1)
    )
    assert (now["status"], now["published_at"]) == ("published", clock.now())


async def test_search_pages_rank_the_same_candidates_on_every_page(
    services: StoryServices, clock: SettableClock
) -> None:
    shapes = [
        {"title": "工匠精神的传人"},
        {"title": "车间故事", "summary": "讲述工匠精神"},
        {"title": "一天", "body_markdown": "他说，工匠精神就是较真。"},
    ]
    docs: list[Document] = []
    for i in range(30):
        docs.append(await services.editorial.get(await live(services, **shapes[i % 3])))
        if i % 4 == 3:
            clock.advance(timedelta(seconds=1))
    query = query_terms("工匠精神")
    expected = [
        str(d["_id"])
        for d in sorted(
            docs, key=lambda d: (score(d, query), d["published_at"], str(d["_id"])), reverse=True
        )
    ]
    first_page_at = clock.now()
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await services.feed.page(
            StoryListQuery(q="工匠精神", limit=4, cursor=cursor)
        )
        seen += [str(d["_id"]) for d in page]
        if cursor is None:
            break
        position = SEARCH.decode(cursor)
        assert position is not None
        assert position.context == (first_page_at,)  # the first page's instant, kept
        clock.advance(timedelta(seconds=1))
        await live(services, title="新的工匠精神故事")  # would rank first, if it counted
    assert seen == expected
    fresh, _ = await services.feed.page(StoryListQuery(q="工匠精神", limit=4))
    assert [d["title"] for d in fresh] == ["新的工匠精神故事"] * 4  # a new search sees them


async def test_likes_and_favourites_are_idempotent(services: StoryServices) -> None:
    engagement = services.engagement
    story_id = await live(services)
    results = await asyncio.gather(*(engagement.like(READER, story_id, True) for _ in range(20)))
    assert {(r.liked, r.likes) for r in results} == {(True, 1)}
    other = staff_member(Role.resident)
    assert (await engagement.like(other, story_id, True)).likes == 2
    assert await engagement.flags(READER.user_id, story_id) == (True, False)
    off = await asyncio.gather(*(engagement.like(READER, story_id, False) for _ in range(5)))
    assert {r.liked for r in off} == {False}
    assert (await engagement.like(READER, story_id, False)).likes == 1  # taken back once
    assert (await engagement.favorite(READER, story_id, True)).favorites == 1
    assert (await engagement.favorite(READER, story_id, True)).favorites == 1
    assert await engagement.flags(READER.user_id, story_id) == (False, True)
    mine = await engagement.favorites_page(READER, PageQuery())
    assert [s.id for s in mine.items] == [story_id]
    await engagement.erase_personal_data(other.user_id)
    await engagement.erase_personal_data(READER.user_id)
    await engagement.erase_personal_data(READER.user_id)  # a retried erasure changes nothing
    stats = (await services.editorial.get(story_id))["stats"]
    assert (stats["likes"], stats["favorites"]) == (0, 0)
    with pytest.raises(NotFound):
        await engagement.like(READER, await draft(services), True)  # drafts are not public
