"""The stories room in the authorisation matrix: stories (an author's, in the state a
route acts on), people, and comments waiting for a reviewer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.stories.keys import COMMENT_SERVICE, EDITORIAL_SERVICE, PEOPLE_SERVICE
from handlers.stories.schemas import PublishIn
from server.keys import CLOCK
from tests.fixtures.authorisation import Call, Caller, Case, Obj, World, builds, factory, plain

STORY = "/api/v1/stories/{story_id}"
ADMIN_STORY = "/api/v1/admin/stories/{story_id}"


def publish_body(revision: int | None) -> dict[str, Any]:
    """What a reviewer sends to publish (the revision seen, if the route takes one)."""
    return {"revision": revision} if "revision" in PublishIn.model_fields else {}


@factory("story")
async def story(world: World, owner: Caller, state: str | None) -> Obj:
    """A story ``owner`` wrote: ``draft``, ``in_review``, ``scheduled`` (for tomorrow) or
    (by default) ``published`` (by a reviewer who is not its author, through the API)."""
    editorial = world.app[EDITORIAL_SERVICE]
    doc = await editorial.create(owner.principal, {"title": "矩阵稿件", "category": "policy"})
    story_id = str(doc["_id"])
    if state != "draft":
        doc = await editorial.submit(owner.principal, story_id)
    if state in (None, "published", "scheduled"):
        body = publish_body(doc["revision"])
        if state == "scheduled":
            body["publish_at"] = (world.app[CLOCK].now() + timedelta(days=1)).isoformat()
        resp = await world.client.post(
            f"/api/v1/admin/stories/{story_id}/publish",
            json=body,
            headers=world.publisher.headers,
        )
        assert resp.status == 200, await resp.text()
        doc = await resp.json()
    return Obj(story_id, revision=doc["revision"])


@factory("person")
async def person(world: World, owner: Caller, state: str | None) -> Obj:
    doc = await world.app[PEOPLE_SERVICE].create(owner.principal, {"name": "矩阵人物"})
    return Obj(str(doc["_id"]))


@factory("comment")
async def comment(world: World, owner: Caller, state: str | None) -> Obj:
    """A comment of ``owner``'s waiting for a reviewer, on someone else's published story."""
    on = await world.make("story", world.other, "published")
    out = await world.app[COMMENT_SERVICE].post(owner.principal, on.id, "待审核的评论")
    assert out.status == "pending"
    return Obj(out.id)


plain(
    ("GET", "/api/v1/stories"),
    ("GET", STORY),
    ("POST", STORY + "/like"),
    ("DELETE", STORY + "/like"),
    ("POST", STORY + "/favorite"),
    ("DELETE", STORY + "/favorite"),
    ("GET", STORY + "/comments"),
    ("GET", "/api/v1/me/favorites"),
    ("GET", "/api/v1/people"),
    ("GET", "/api/v1/people/{person_id}"),
    ("GET", "/api/v1/admin/stories"),
    ("GET", ADMIN_STORY),
    ("GET", ADMIN_STORY + "/revisions"),
    ("POST", ADMIN_STORY + "/unpublish"),
    ("GET", "/api/v1/admin/comments"),
    ("POST", "/api/v1/admin/comments/{comment_id}/approve"),
    ("POST", "/api/v1/admin/comments/{comment_id}/reject"),
)
plain(("POST", ADMIN_STORY + "/submit"), states={"story_id": "draft"})


@builds("POST", "/api/v1/admin/people")
async def create_person(case: Case) -> Call:
    return Call(json={"name": "矩阵人物", "portrait_media_id": case.id("portrait_media_id")})


@builds("PATCH", "/api/v1/admin/people/{person_id}")
async def update_person(case: Case) -> Call:
    return Call(json={"portrait_media_id": case.id("portrait_media_id")})


def _photos(case: Case) -> dict[str, Any]:
    return {
        "cover_media_id": case.id("cover_media_id"),
        "gallery_media_ids": [case.id("gallery_media_ids")],
    }


@builds("POST", "/api/v1/admin/stories")
async def create_story(case: Case) -> Call:
    return Call(json={"title": "矩阵稿件", "category": "policy", **_photos(case)})


@builds("PATCH", ADMIN_STORY, states={"story_id": "draft"})
async def update_story(case: Case) -> Call:
    return Call(json={"revision": case.objects["story_id"].revision, **_photos(case)})


@builds("POST", ADMIN_STORY + "/publish", states={"story_id": "in_review"})
async def publish_story(case: Case) -> Call:
    return Call(json=publish_body(case.objects["story_id"].revision))


@builds("POST", ADMIN_STORY + "/reject", states={"story_id": "in_review"})
async def reject_story(case: Case) -> Call:
    return Call(json={"reason": "请补充事迹"})


@builds("POST", STORY + "/comments")
async def post_comment(case: Case) -> Call:
    return Call(json={"text": "向劳模学习"})
