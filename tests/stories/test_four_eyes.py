"""Four eyes on every revision (issue 9, item 2): an edit of a published or scheduled
story is a pending revision that the public never sees until a reviewer publishes it;
publish names the revision the reviewer saw; nobody publishes a revision they wrote."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse

from handlers.stories import publish_due_story
from handlers.stories.keys import FEED_SERVICE
from server.clock import SettableClock
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff
from tests.stories.conftest import create_story, publish
from tests.stories.test_stories_api import feed_loads
from tests.stories.test_story_media import photo, refs

ORIGINAL = "老师傅带徒弟的故事。"
UNREVIEWED = "未经审核的修改"


async def public_story(client: Client, sid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/stories/{sid}")
    assert resp.status == 200, await resp.text()
    story: dict[str, Any] = await resp.json()
    return story


async def stored_public_story(client: Client, sid: str) -> dict[str, Any]:
    """What the public reads from MongoDB, past every cache (a stale cached answer must
    not hide a story that went public in the database)."""
    story = await client.app[FEED_SERVICE].story(sid)
    return story.model_dump(mode="json")


async def search(client: Client, q: str) -> list[str]:
    resp = await client.get("/api/v1/stories", params={"q": q})
    assert resp.status == 200, await resp.text()
    return [item["id"] for item in (await resp.json())["items"]]


async def admin_story(client: Client, who: Session, sid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/admin/stories/{sid}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    story: dict[str, Any] = await resp.json()
    return story


async def patch(client: Client, who: Session, sid: str, revision: int, **fields: Any) -> Any:
    return await client.patch(
        f"/api/v1/admin/stories/{sid}", json={"revision": revision, **fields}, headers=who.headers
    )


async def edit(client: Client, who: Session, sid: str, revision: int, **fields: Any) -> Any:
    resp = await patch(client, who, sid, revision, **fields)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def action(client: Client, who: Session, sid: str, name: str, **body: Any) -> ClientResponse:
    return await client.post(
        f"/api/v1/admin/stories/{sid}/{name}", json=body or None, headers=who.headers
    )


async def submit(client: Client, who: Session, sid: str) -> dict[str, Any]:
    resp = await action(client, who, sid, "submit")
    assert resp.status == 200, await resp.text()
    story: dict[str, Any] = await resp.json()
    return story


async def test_an_authors_edit_of_a_published_story_waits_for_a_reviewer(
    client: Client, staff: dict[str, Session]
) -> None:
    """The issue's scenario: a reviewer publishes; the author PATCHes the body; the
    public keeps the reviewed body until the new revision is submitted and published."""
    editor, reviewer = staff["editor"], staff["reviewer"]
    created = await create_story(client, editor, title="车间里的一天", body_markdown=ORIGINAL)
    live = await publish(client, staff, created["id"])
    sid = live["id"]
    assert (live["status"], live["draft_status"], live["published_revision"]) == (
        "published",
        "none",
        live["revision"],
    )
    assert (await public_story(client, sid))["body_markdown"] == ORIGINAL  # now cached

    edited = await edit(client, editor, sid, live["revision"], body_markdown=UNREVIEWED)
    # The console sees the pending revision, and which one is live.
    assert edited["body_markdown"] == UNREVIEWED
    assert (edited["status"], edited["draft_status"]) == ("published", "draft")
    assert edited["published_revision"] == live["revision"]
    assert edited["editor_ids"] == [editor.user_id]
    # The public does not: not from the cache, not from MongoDB, not in search.
    assert (await public_story(client, sid))["body_markdown"] == ORIGINAL
    assert (await stored_public_story(client, sid))["body_markdown"] == ORIGINAL
    assert UNREVIEWED not in (await stored_public_story(client, sid))["body_html"]
    assert await search(client, "未经审核") == []
    assert await search(client, "老师傅") == [sid]

    submitted = await submit(client, editor, sid)
    assert (submitted["status"], submitted["draft_status"]) == ("published", "submitted")
    assert (await public_story(client, sid))["body_markdown"] == ORIGINAL  # still
    out = await action(client, reviewer, sid, "publish", revision=submitted["revision"])
    assert out.status == 200, await out.text()
    republished = await out.json()
    assert republished["body_markdown"] == UNREVIEWED
    assert (republished["draft_status"], republished["editor_ids"]) == ("none", [])
    assert republished["published_revision"] == republished["revision"]
    # The cached body and feed show it at once (the publish invalidated them)...
    assert (await public_story(client, sid))["body_markdown"] == UNREVIEWED
    assert await search(client, "未经审核") == [sid]
    # ...and the story kept its place in the feed: a correction does not resurface it.
    assert (await public_story(client, sid))["published_at"] == live["published_at"]

    history = await client.get(f"/api/v1/admin/stories/{sid}/revisions", headers=editor.headers)
    assert [(r["revision"], r["action"], r["by"], r["body_markdown"]) for r in (
        await history.json()
    )["items"]] == [
        (1, "create", editor.user_id, ORIGINAL),
        (live["revision"], "publish", reviewer.user_id, ORIGINAL),
        (edited["revision"], "edit", editor.user_id, UNREVIEWED),
        (republished["revision"], "publish", reviewer.user_id, UNREVIEWED),
    ]  # fmt: skip


async def test_everything_public_keeps_the_reviewed_revision_until_one_is_published(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    person = await client.post(
        "/api/v1/admin/people", json={"name": "吴运铎"}, headers=editor.headers
    )
    pid = (await person.json())["id"]
    live = await publish(
        client,
        staff,
        (await create_story(client, editor, title="旧标题", tags=["旧"], person_ids=[pid]))["id"],
    )
    sid = live["id"]
    await edit(
        client, editor, sid, live["revision"],
        title="春风化雨", tags=["新"], person_ids=[], category="policy", pinned=True,
    )  # fmt: skip

    async def public_view() -> tuple[Any, ...]:
        feed = (await (await client.get("/api/v1/stories")).json())["items"]
        old_tag = await (await client.get("/api/v1/stories", params={"tag": "旧"})).json()
        policy = await client.get("/api/v1/stories", params={"category": "policy"})
        detail = await (await client.get(f"/api/v1/people/{pid}")).json()
        return (
            [(s["title"], s["tags"], s["category"], s["pinned"]) for s in feed],
            [s["id"] for s in old_tag["items"]],
            [s["id"] for s in (await policy.json())["items"]],
            [s["id"] for s in detail["stories"]],
            await search(client, "春风化雨"),
        )

    reviewed: tuple[Any, ...] = (
        [("旧标题", ["旧"], "frontline_worker", False)],
        [sid],
        [],
        [sid],
        [],
    )
    assert await public_view() == reviewed
    # A reviewer rejects the revision: the reviewed one stays live.
    submitted = await submit(client, editor, sid)
    rejected = await action(client, reviewer, sid, "reject", reason="标题不妥")
    assert rejected.status == 200, await rejected.text()
    body = await rejected.json()
    assert (body["status"], body["draft_status"], body["reject_reason"]) == (
        "published",
        "rejected",
        "标题不妥",
    )
    assert body["title"] == "春风化雨"  # the pending revision, for the editor to rework
    assert await public_view() == reviewed
    # A rejected revision cannot be published; reworked and resubmitted, it can.
    stale = await action(client, reviewer, sid, "publish", revision=body["revision"])
    assert stale.status == 409
    assert_error(await stale.json(), "invalid_transition")
    reworked = await edit(client, editor, sid, body["revision"], title="匠心筑梦")
    assert (reworked["draft_status"], reworked["reject_reason"]) == ("rejected", "标题不妥")
    resubmitted = await submit(client, editor, sid)
    assert (resubmitted["draft_status"], resubmitted["reject_reason"]) == ("submitted", None)
    assert resubmitted["revision"] > submitted["revision"]
    assert await public_view() == reviewed
    # The review queue of public stories.
    queue = await client.get(
        "/api/v1/admin/stories", params={"draft_status": "submitted"}, headers=reviewer.headers
    )
    assert [s["id"] for s in (await queue.json())["items"]] == [sid]
    out = await action(client, reviewer, sid, "publish", revision=resubmitted["revision"])
    assert out.status == 200, await out.text()
    assert await public_view() == (
        [("匠心筑梦", ["新"], "policy", True)],
        [],
        [sid],
        [],
        [],
    )
    assert await search(client, "匠心筑梦") == [sid]
    queue = await client.get(
        "/api/v1/admin/stories", params={"draft_status": "submitted"}, headers=reviewer.headers
    )
    assert (await queue.json())["items"] == []


async def test_a_publish_of_a_revision_the_reviewer_did_not_see_is_409(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    story = await create_story(client, editor, body_markdown=ORIGINAL)
    sid = story["id"]
    # A story in review: the reviewer read revision 2, the author edits it meanwhile.
    seen = await submit(client, editor, sid)
    await edit(client, editor, sid, seen["revision"], body_markdown=UNREVIEWED)
    stale = await action(client, reviewer, sid, "publish", revision=seen["revision"])
    assert stale.status == 409
    body = await stale.json()
    assert_error(body, "revision_conflict")
    assert body["error"]["details"] == {"current_revision": seen["revision"] + 1}
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404
    # The same for a public story's revision: submitted, then edited after the review.
    live = await action(client, reviewer, sid, "publish", revision=seen["revision"] + 1)
    assert live.status == 200, await live.text()
    revision = (await live.json())["revision"]
    await edit(client, editor, sid, revision, body_markdown="第二版")
    looked_at = await submit(client, editor, sid)
    sneaked = await edit(client, editor, sid, looked_at["revision"], body_markdown="偷改的第三版")
    assert sneaked["draft_status"] == "submitted"
    stale = await action(client, reviewer, sid, "publish", revision=looked_at["revision"])
    assert stale.status == 409
    assert_error(await stale.json(), "revision_conflict")
    assert (await public_story(client, sid))["body_markdown"] == UNREVIEWED
    # The revision is required, with a body or without one.
    for body_json in ({}, {"publish_at": None}, None):
        missing = await client.post(
            f"/api/v1/admin/stories/{sid}/publish", json=body_json, headers=reviewer.headers
        )
        assert missing.status == 422, body_json
        missing_body = await missing.json()
        assert_error(missing_body, "invalid_request")
        assert "revision" in missing_body["error"]["details"]["fields"]
    ok = await action(client, reviewer, sid, "publish", revision=sneaked["revision"])
    assert ok.status == 200, await ok.text()
    assert (await public_story(client, sid))["body_markdown"] == "偷改的第三版"


async def test_edits_of_a_scheduled_story_wait_too(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    at = clock.now() + timedelta(minutes=10)  # within the staff's access-token lifetime
    story = await create_story(client, editor, title="定时的故事", body_markdown=ORIGINAL)
    scheduled = await publish(client, staff, story["id"], publish_at=at.isoformat())
    sid = scheduled["id"]
    assert (scheduled["status"], scheduled["published_revision"]) == (
        "scheduled",
        scheduled["revision"],
    )
    edited = await edit(client, editor, sid, scheduled["revision"], body_markdown=UNREVIEWED)
    assert (edited["status"], edited["draft_status"]) == ("scheduled", "draft")
    # A revision of a public story goes live at once: no publish_at for it.
    submitted = await submit(client, editor, sid)
    later = await action(
        client, reviewer, sid, "publish",
        revision=submitted["revision"], publish_at=(at + timedelta(minutes=5)).isoformat(),
    )  # fmt: skip
    assert later.status == 409
    assert_error(await later.json(), "invalid_transition")
    # Its time comes: the public sees the reviewed revision, the edit still waits, and the
    # worker's move to published keeps it waiting.
    clock.advance(timedelta(minutes=10))
    assert (await public_story(client, sid))["body_markdown"] == ORIGINAL
    assert await publish_due_story(client.app, sid) is True
    after = await admin_story(client, reviewer, sid)
    assert (after["status"], after["draft_status"], after["body_markdown"]) == (
        "published",
        "submitted",
        UNREVIEWED,
    )
    assert (await stored_public_story(client, sid))["body_markdown"] == ORIGINAL
    out = await action(client, reviewer, sid, "publish", revision=after["revision"])
    assert out.status == 200, await out.text()
    assert (await public_story(client, sid))["body_markdown"] == UNREVIEWED


async def test_whoever_edited_a_revision_cannot_publish_it(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer, admin = staff["editor"], staff["reviewer"], staff["admin"]
    # An admin edits a story an editor wrote and a reviewer published: the admin may not
    # publish that edit; the reviewer may.
    live = await publish(client, staff, (await create_story(client, editor))["id"])
    sid = live["id"]
    edited = await edit(client, admin, sid, live["revision"], body_markdown=UNREVIEWED)
    assert edited["editor_ids"] == [admin.user_id]
    submitted = await submit(client, editor, sid)
    own = await action(client, admin, sid, "publish", revision=submitted["revision"])
    assert own.status == 403
    assert_error(await own.json(), "four_eyes_required")
    assert (await public_story(client, sid))["body_markdown"] == ""
    # Everyone who edited the revision counts, not only the last one.
    both = await edit(client, editor, sid, submitted["revision"], body_markdown="合写")
    assert both["editor_ids"] == sorted([admin.user_id, editor.user_id])
    own = await action(client, admin, sid, "publish", revision=both["revision"])
    assert own.status == 403
    ok = await action(client, reviewer, sid, "publish", revision=both["revision"])
    assert ok.status == 200, await ok.text()
    # The story's author reviews someone else's revision: four eyes, the author's two
    # and the editor's.
    authored = await publish(client, staff, (await create_story(client, admin))["id"])
    await edit(client, editor, authored["id"], authored["revision"], title="别人改的")
    theirs = await submit(client, editor, authored["id"])
    by_author = await action(client, admin, authored["id"], "publish", revision=theirs["revision"])
    assert by_author.status == 200, await by_author.text()
    # A draft edited by a reviewer-editor is not theirs to publish either.
    draft = await create_story(client, editor)
    patched = await edit(client, admin, draft["id"], draft["revision"], title="管理员改过")
    assert patched["editor_ids"] == sorted([editor.user_id, admin.user_id])
    in_review = await submit(client, editor, draft["id"])
    own = await action(client, admin, draft["id"], "publish", revision=in_review["revision"])
    assert own.status == 403
    assert_error(await own.json(), "four_eyes_required")


async def test_concurrent_reviewers_and_editors_never_mix_revisions(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    reviewer2 = await sign_in_staff(client, "reviewer2", Role.reviewer)
    for round_ in range(5):
        live = await publish(client, staff, (await create_story(client, editor))["id"])
        sid = live["id"]
        await edit(client, editor, sid, live["revision"], body_markdown=f"审过的第{round_}版")
        seen = await submit(client, editor, sid)
        # Two reviewers publish the revision they both saw: one does, the other is told.
        first, second = await asyncio.gather(
            action(client, reviewer, sid, "publish", revision=seen["revision"]),
            action(client, reviewer2, sid, "publish", revision=seen["revision"]),
        )
        assert sorted([first.status, second.status]) == [200, 409]
        assert_error(await (first if first.status == 409 else second).json(), "revision_conflict")
        after = await admin_story(client, editor, sid)
        assert after["revision"] == seen["revision"] + 1  # published once
        # An editor PATCHes while a reviewer publishes: one of them wins, whole.
        await edit(client, editor, sid, after["revision"], body_markdown=f"送审的第{round_}版")
        seen = await submit(client, editor, sid)
        published, patched = await asyncio.gather(
            action(client, reviewer, sid, "publish", revision=seen["revision"]),
            patch(client, editor, sid, seen["revision"], body_markdown=f"未审的第{round_}版"),
        )
        assert sorted([published.status, patched.status]) == [200, 409]
        final = await admin_story(client, editor, sid)
        public = (await stored_public_story(client, sid))["body_markdown"]
        if published.status == 200:  # the reviewed revision is live; the edit was refused
            assert public == f"送审的第{round_}版"
            assert (final["draft_status"], final["body_markdown"]) == ("none", public)
        else:  # the edit won; the publish of the revision it replaced was refused
            assert public == f"审过的第{round_}版"
            assert (final["draft_status"], final["body_markdown"]) == (
                "submitted",
                f"未审的第{round_}版",
            )


async def test_the_public_cache_changes_only_when_a_revision_is_published(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    live = await publish(client, staff, (await create_story(client, editor, title="旧标题"))["id"])
    sid = live["id"]
    feed = await client.get("/api/v1/stories")
    etag = feed.headers["ETag"]
    story_etag = (await client.get(f"/api/v1/stories/{sid}")).headers["ETag"]
    built = feed_loads(client, "mongodb")
    edited = await edit(client, editor, sid, live["revision"], title="新标题")
    seen = await submit(client, editor, sid)
    await edit(client, editor, sid, seen["revision"], title="再改的标题")
    # Nothing public changed: the cached answers stand (304 for the same ETag), and are
    # not even rebuilt.
    same = await client.get("/api/v1/stories", headers={"If-None-Match": etag})
    assert same.status == 304
    same = await client.get(f"/api/v1/stories/{sid}", headers={"If-None-Match": story_etag})
    assert same.status == 304
    assert feed_loads(client, "mongodb") == built
    assert edited["title"] == "新标题"
    out = await action(client, reviewer, sid, "publish", revision=seen["revision"] + 1)
    assert out.status == 200, await out.text()
    fresh = await client.get("/api/v1/stories", headers={"If-None-Match": etag})
    assert fresh.status == 200  # published: shown at once
    assert [s["title"] for s in (await fresh.json())["items"]] == ["再改的标题"]
    assert (await public_story(client, sid))["title"] == "再改的标题"


async def test_unpublishing_makes_the_pending_revision_the_draft(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    old_cover = await photo(client, editor, "olive")
    new_cover = await photo(client, editor, "navy")
    live = await publish(
        client, staff, (await create_story(client, editor, cover_media_id=old_cover))["id"]
    )
    sid = live["id"]
    edited = await edit(
        client, editor, sid, live["revision"], cover_media_id=new_cover, body_markdown=UNREVIEWED
    )
    assert edited["cover"]["id"] == new_cover
    # Both revisions' photos stay in use while both exist.
    assert await refs(client, old_cover) == [f"story:{sid}"]
    assert await refs(client, new_cover) == [f"story:{sid}"]
    assert (await public_story(client, sid))["cover"]["id"] == old_cover
    down = await action(client, editor, sid, "unpublish")
    assert down.status == 200, await down.text()
    body = await down.json()
    assert (body["status"], body["draft_status"], body["published_revision"]) == (
        "unpublished",
        "none",
        None,
    )
    assert (body["body_markdown"], body["cover"]["id"]) == (UNREVIEWED, new_cover)
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404
    assert await refs(client, old_cover) == []  # nothing shows it any more
    # It is reviewed again as a whole: its author and its editor may not publish it.
    again = await submit(client, editor, sid)
    assert again["status"] == "in_review"
    assert again["editor_ids"] == [editor.user_id]
    out = await action(client, reviewer, sid, "publish", revision=again["revision"])
    assert out.status == 200, await out.text()
    assert (await public_story(client, sid))["body_markdown"] == UNREVIEWED
