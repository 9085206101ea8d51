"""The editorial pages in the authorisation matrix: the gallery, scheduling, people and
the comment queue (stories, people and comments are the stories room's factories')."""

from __future__ import annotations

import io
from datetime import timedelta

import aiohttp

from handlers.stories.keys import EDITORIAL_SERVICE
from server.clock import SHANGHAI
from server.keys import CLOCK
from tests.fixtures.authorisation import Call, Case, builds, plain
from tests.media.authorisation import PHOTO, photo

STORY = "/admin/stories/{story_id}"
PERSON = "/admin/people/{person_id}"

plain(
    ("GET", "/admin/people"),
    ("GET", "/admin/people/new"),
    ("GET", PERSON + "/edit"),
    ("GET", "/admin/comments"),
    ("POST", "/admin/comments/{comment_id}/approve"),
    ("POST", "/admin/comments/{comment_id}/reject"),
)


def _photo_form() -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(PHOTO), filename="p.jpg", content_type="image/jpeg")
    return form


@builds("POST", STORY + "/gallery/upload", states={"story_id": "draft"})
async def upload_gallery_photo(case: Case) -> Call:
    return Call(data=_photo_form(), query={"revision": str(case.objects["story_id"].revision)})


@builds("POST", STORY + "/gallery", states={"story_id": "draft"})
async def edit_gallery(case: Case) -> Call:
    """Removes the one photo the story's own editor put in its gallery."""
    world = case.world
    owner = case.caller if case.caller is not None and case.own("story_id") else world.other
    media = await photo(world, owner, None)
    story = case.objects["story_id"]
    assert story.revision is not None
    doc = await world.app[EDITORIAL_SERVICE].patch(
        owner.principal, story.id, story.revision, {"gallery_media_ids": [media.id]}
    )
    return Call(data={"revision": doc["revision"], "op": f"remove:{media.id}"})


@builds("POST", STORY + "/schedule", states={"story_id": "in_review"})
async def schedule_story(case: Case) -> Call:
    tomorrow = case.world.app[CLOCK].now().astimezone(SHANGHAI) + timedelta(days=1)
    return Call(data={"revision": case.objects["story_id"].revision,
                      "publish_at": tomorrow.strftime("%Y-%m-%dT%H:%M")})  # fmt: skip


@builds("POST", STORY + "/unschedule", states={"story_id": "scheduled"})
async def unschedule_story(case: Case) -> Call:
    return Call(data={"revision": case.objects["story_id"].revision})


@builds("POST", "/admin/people/new")
async def create_person(case: Case) -> Call:
    return Call(data={"name": "矩阵人物", "honours": "全国劳动模范 2015"})


@builds("POST", PERSON + "/edit")
async def update_person(case: Case) -> Call:
    return Call(data={"name": "矩阵人物", "workplace": "株洲"})


@builds("POST", PERSON + "/portrait")
async def upload_portrait(case: Case) -> Call:
    return Call(data=_photo_form())


@builds("POST", "/admin/comments/moderate")
async def moderate_comments(case: Case) -> Call:
    """Someone else's pending comment, approved in bulk."""
    comment = await case.world.make("comment", case.world.other, None)
    return Call(data={"ids": comment.id, "decision": "approve"})
