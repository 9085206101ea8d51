"""劳模工匠 stories and people (API.md, "Stories and people")."""

from __future__ import annotations

from aiohttp import web

from handlers.stories.keys import (
    COMMENT_SERVICE,
    EDITORIAL_SERVICE,
    ENGAGEMENT_SERVICE,
    FEED_SERVICE,
    PEOPLE_SERVICE,
    STORY_CACHE,
    STORY_COUNTERS,
)
from handlers.stories.schemas import (
    AdminStoryListQuery,
    AdminStoryOut,
    AdminStoryPage,
    CommentIn,
    CommentOut,
    CommentPage,
    FavoriteOut,
    LikeOut,
    PeopleQuery,
    PersonDetailOut,
    PersonIn,
    PersonOut,
    PersonPage,
    PersonPatch,
    PublishIn,
    RejectIn,
    RevisionList,
    StoryIn,
    StoryListQuery,
    StoryOut,
    StoryPage,
    StoryPatch,
)
from server.access import current_principal, optional_principal
from server.api import ApiRoutes
from server.authorisation import Access, Whose
from server.ids import path_object_id
from server.paging import PageQuery
from server.principal import Role
from server.rest import json_bytes, read_body, read_query, respond, respond_revalidated

routes = ApiRoutes(tag="stories")

EDITORS = Access.roles(Role.editor)
REVIEWERS = Access.roles(Role.reviewer)
STAFF = Access.roles(Role.editor, Role.reviewer)
# Photos a story or person shows are the editor's own: someone else's is 422.
PHOTOS = {"kind": "photo", "code": "media_not_found"}
ENGAGE = Access.signed_in().on("story_id", "story")  # likes, favourites, comments
# Four eyes: nobody moderates their own comment (a staff member's waits for review).
MODERATE = REVIEWERS.on("comment_id", "comment", Whose.not_owner, code="four_eyes_required")


# -- public reads ----------------------------------------------------------------------
# The feed and story bodies are answered from the stories cache (server/cache.py): on a
# miss the route builds the JSON from the feed service's models; on a hit nothing is
# built at all. Their counters are laid over at answer time (handlers/stories/counters.py):
# read for this answer for a signed-in reader who wrote lately (who sees their own like at
# once, whichever process they reach: server/recent_writes.py), at most
# FEED_COUNTERS_TTL_S old for anyone else.


@routes.get(
    "/stories",
    "Published stories, pinned first, newest first; q searches Chinese text and pinyin "
    "(ETag; 304 on If-None-Match)",
    access=Access.public(),
    query=StoryListQuery,
    response=StoryPage,
    extra_responses={304: "Not Modified"},
)
async def list_stories(request: web.Request) -> web.Response:
    query = read_query(request, StoryListQuery)
    app = request.app
    key = query.canonical
    cache, counters = app[STORY_CACHE], app[STORY_COUNTERS]
    reader = optional_principal(request)
    cached = cache.peek("page", key)
    if cached is None:

        async def build() -> bytes:
            page = await app[FEED_SERVICE].public_page(query)
            return json_bytes(page.model_dump(mode="json"))

        cached = await cache.fetch("page", key, build)
    if reader is not None and reader.recent_writer:
        return (await counters.live(cached)).answer(request)
    # Nothing on the page is the reader's own: who wrote nothing lately sees what anyone sees.
    page = counters.peek(("page", key), cached) or await counters.recent(("page", key), cached)
    return page.answer(request)


@routes.get(
    "/stories/{story_id}", "A published story (ETag; 304 on If-None-Match)",
    access=Access.public().on("story_id", "story"),
    response=StoryOut, extra_responses={304: "Not Modified"},
)  # fmt: skip
async def get_story(request: web.Request) -> web.Response:
    viewer = optional_principal(request)
    story_id = path_object_id(request, "story_id")
    app = request.app
    cache, counters = app[STORY_CACHE], app[STORY_COUNTERS]
    cached = cache.peek("story", story_id)
    if cached is None:

        async def build() -> bytes:
            story = await app[FEED_SERVICE].story(story_id)  # a 404 is raised, not cached
            return json_bytes(story.model_dump(mode="json"))

        cached = await cache.fetch("story", story_id, build)
    engagement = app[ENGAGEMENT_SERVICE]
    engagement.record_view(story_id)
    key = ("story", story_id)
    if viewer is None or not viewer.recent_writer:  # server/recent_writes.py
        story = counters.peek(key, cached) or await counters.recent(key, cached)
        if viewer is None:
            return story.answer(request)
        liked, favorited = await engagement.held_flags(viewer.user_id, story_id)
        return counters.flagged(key, story, liked, favorited).private_answer(request)
    liked, favorited = await engagement.flags(viewer.user_id, story_id)
    story = await counters.live(cached, liked=liked, favorited=favorited)
    return respond_revalidated(request, story.body, private=True, etag=story.etag)


async def _engage(request: web.Request, kind: str, on: bool) -> web.Response:
    service = request.app[ENGAGEMENT_SERVICE]
    principal = current_principal(request)
    story_id = path_object_id(request, "story_id")
    if kind == "likes":
        return respond(await service.like(principal, story_id, on))
    return respond(await service.favorite(principal, story_id, on))


@routes.post("/stories/{story_id}/like", "Like (idempotent)", access=ENGAGE, response=LikeOut)
async def like_story(request: web.Request) -> web.Response:
    return await _engage(request, "likes", True)


@routes.delete(
    "/stories/{story_id}/like", "Take back a like (idempotent)", access=ENGAGE, response=LikeOut
)
async def unlike_story(request: web.Request) -> web.Response:
    return await _engage(request, "likes", False)


@routes.post(
    "/stories/{story_id}/favorite", "Favourite (idempotent)", access=ENGAGE, response=FavoriteOut
)
async def favorite_story(request: web.Request) -> web.Response:
    return await _engage(request, "favorites", True)


@routes.delete(
    "/stories/{story_id}/favorite", "Remove from favourites (idempotent)", access=ENGAGE,
    response=FavoriteOut,
)  # fmt: skip
async def unfavorite_story(request: web.Request) -> web.Response:
    return await _engage(request, "favorites", False)


@routes.get(
    "/me/favorites", "My favourite stories", access=Access.signed_in(), query=PageQuery,
    response=StoryPage,
)  # fmt: skip
async def my_favorites(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    engagement = request.app[ENGAGEMENT_SERVICE]
    return respond(await engagement.favorites_page(current_principal(request), query))


@routes.get(
    "/people",
    "Model workers and craftsmen; honor= filters, q= finds names (also by pinyin)",
    access=Access.public(),
    query=PeopleQuery,
    response=PersonPage,
)
async def list_people(request: web.Request) -> web.Response:
    query = read_query(request, PeopleQuery)
    return respond(await request.app[PEOPLE_SERVICE].page(query.honor, query.q, query))


@routes.get(
    "/people/{person_id}", "A person with honours and stories",
    access=Access.public().on("person_id", "person"),
    response=PersonDetailOut,
)  # fmt: skip
async def get_person(request: web.Request) -> web.Response:
    people = request.app[PEOPLE_SERVICE]
    person_id = path_object_id(request, "person_id")
    out = await people.out(await people.get(person_id))
    stories = await request.app[FEED_SERVICE].of_person(person_id)
    return respond(PersonDetailOut(**out.model_dump(), stories=stories))


# -- editors and reviewers --------------------------------------------------------------


@routes.post(
    "/admin/people", "Create a person", access=EDITORS.uses("portrait_media_id", **PHOTOS),
    body=PersonIn, response=PersonOut,
    status=201, errors=("media_not_found",),
)  # fmt: skip
async def create_person(request: web.Request) -> web.Response:
    body = await read_body(request, PersonIn)
    people = request.app[PEOPLE_SERVICE]
    doc = await people.create(current_principal(request), body.model_dump())
    return respond(await people.out(doc), status=201)


@routes.patch(
    "/admin/people/{person_id}", "Edit a person",
    access=EDITORS.on("person_id", "person").uses("portrait_media_id", **PHOTOS),
    body=PersonPatch,
    response=PersonOut, errors=("media_not_found",),
)  # fmt: skip
async def update_person(request: web.Request) -> web.Response:
    body = await read_body(request, PersonPatch)
    people = request.app[PEOPLE_SERVICE]
    doc = await people.update(
        current_principal(request),
        path_object_id(request, "person_id"),
        body.model_dump(include=body.model_fields_set),
    )
    return respond(await people.out(doc))


@routes.post(
    "/admin/stories", "Create a draft",
    access=EDITORS.uses("cover_media_id", "gallery_media_ids", **PHOTOS),
    body=StoryIn, response=AdminStoryOut,
    status=201, errors=("person_not_found", "media_not_found"),
)  # fmt: skip
async def create_story(request: web.Request) -> web.Response:
    body = await read_body(request, StoryIn)
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.create(current_principal(request), body.model_dump())
    return respond(await service.admin_out(doc), status=201)


@routes.patch(
    "/admin/stories/{story_id}",
    "Edit; a stale revision is 409 revision_conflict. A published or scheduled story "
    "keeps its reviewed revision public: the edit is its pending revision (draft_status)",
    access=EDITORS.on("story_id", "story").uses("cover_media_id", "gallery_media_ids", **PHOTOS),
    body=StoryPatch, response=AdminStoryOut,
    errors=("revision_conflict", "person_not_found", "media_not_found"),
)  # fmt: skip
async def update_story(request: web.Request) -> web.Response:
    body = await read_body(request, StoryPatch)
    fields = body.model_dump(include=body.model_fields_set - {"revision"})
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.patch(
        current_principal(request), path_object_id(request, "story_id"), body.revision, fields
    )
    return respond(await service.admin_out(doc))


@routes.post(
    "/admin/stories/{story_id}/submit",
    "Send a draft, or a public story's pending revision, to review",
    access=EDITORS.on("story_id", "story"),
    response=AdminStoryOut, errors=("invalid_transition",),
)  # fmt: skip
async def submit_story(request: web.Request) -> web.Response:
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.submit(current_principal(request), path_object_id(request, "story_id"))
    return respond(await service.admin_out(doc))


@routes.post(
    "/admin/stories/{story_id}/publish",
    "Publish the revision the reviewer saw (required: changed since, 409 "
    "revision_conflict): a story in review, now or at publish_at, or a public story's "
    "submitted revision, at once (a reviewer or admin; never who wrote it)",
    access=REVIEWERS.on("story_id", "story", Whose.not_owner, code="four_eyes_required"),
    body=PublishIn, response=AdminStoryOut,
    errors=("invalid_transition", "four_eyes_required", "revision_conflict"),
)  # fmt: skip
async def publish_story(request: web.Request) -> web.Response:
    # No body is no revision: the same 422 as a body without one.
    body = (
        await read_body(request, PublishIn)
        if request.can_read_body
        else PublishIn.model_validate({})
    )
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.publish(
        current_principal(request),
        path_object_id(request, "story_id"),
        body.revision,
        body.publish_at,
    )
    return respond(await service.admin_out(doc))


@routes.post(
    "/admin/stories/{story_id}/reject",
    "Send back to draft with a reason (a public story's submitted revision: rejected, "
    "the reviewed one stays public)",
    access=REVIEWERS.on("story_id", "story"),
    body=RejectIn, response=AdminStoryOut, errors=("invalid_transition",),
)  # fmt: skip
async def reject_story(request: web.Request) -> web.Response:
    body = await read_body(request, RejectIn)
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.reject(
        current_principal(request), path_object_id(request, "story_id"), body.reason
    )
    return respond(await service.admin_out(doc))


@routes.post(
    "/admin/stories/{story_id}/unpublish",
    "Take a story down (its pending revision, if any, becomes its draft)",
    access=STAFF.on("story_id", "story"),
    response=AdminStoryOut, errors=("invalid_transition",),
)  # fmt: skip
async def unpublish_story(request: web.Request) -> web.Response:
    service = request.app[EDITORIAL_SERVICE]
    doc = await service.unpublish(current_principal(request), path_object_id(request, "story_id"))
    return respond(await service.admin_out(doc))


@routes.get(
    "/admin/stories",
    "All stories for staff, newest first; status= and draft_status= filter",
    access=STAFF,
    query=AdminStoryListQuery, response=AdminStoryPage,
)  # fmt: skip
async def list_admin_stories(request: web.Request) -> web.Response:
    query = read_query(request, AdminStoryListQuery)
    service = request.app[EDITORIAL_SERVICE]
    return respond(await service.admin_page(query.status, query, draft_status=query.draft_status))


@routes.get(
    "/admin/stories/{story_id}", "Any story, for staff", access=STAFF.on("story_id", "story"),
    response=AdminStoryOut,
)  # fmt: skip
async def get_admin_story(request: web.Request) -> web.Response:
    service = request.app[EDITORIAL_SERVICE]
    return respond(await service.admin_out(await service.get(path_object_id(request, "story_id"))))


@routes.get(
    "/admin/stories/{story_id}/revisions", "Revision history",
    access=STAFF.on("story_id", "story"),
    response=RevisionList,
)  # fmt: skip
async def list_revisions(request: web.Request) -> web.Response:
    service = request.app[EDITORIAL_SERVICE]
    return respond(RevisionList(items=await service.revisions(path_object_id(request, "story_id"))))


# -- comments ----------------------------------------------------------------------------


@routes.get(
    "/stories/{story_id}/comments", "Approved comments, newest first",
    access=Access.public().on("story_id", "story"),
    query=PageQuery, response=CommentPage,
)  # fmt: skip
async def list_comments(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    comments = request.app[COMMENT_SERVICE]
    return respond(await comments.public_page(path_object_id(request, "story_id"), query))


@routes.post(
    "/stories/{story_id}/comments",
    "Comment; WeChat content security decides approved, pending (a reviewer decides) "
    "or 422 content_rejected",
    access=ENGAGE, body=CommentIn, response=CommentOut, status=201,
    errors=("content_rejected", "rate_limited", "unavailable"),
)  # fmt: skip
async def post_comment(request: web.Request) -> web.Response:
    body = await read_body(request, CommentIn)
    comments = request.app[COMMENT_SERVICE]
    out = await comments.post(
        current_principal(request), path_object_id(request, "story_id"), body.text
    )
    return respond(out, status=201)


@routes.get(
    "/admin/comments", "The moderation queue (pending comments, oldest first)",
    access=REVIEWERS, query=PageQuery, response=CommentPage,
)  # fmt: skip
async def list_pending_comments(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[COMMENT_SERVICE].pending_page(query))


async def _moderate(request: web.Request, approve: bool) -> web.Response:
    comments = request.app[COMMENT_SERVICE]
    out = await comments.moderate(
        current_principal(request), path_object_id(request, "comment_id"), approve
    )
    return respond(out)


@routes.post(
    "/admin/comments/{comment_id}/approve",
    "Approve a pending comment (someone else's: never one's own)", access=MODERATE,
    response=CommentOut, errors=("four_eyes_required",),
)  # fmt: skip
async def approve_comment(request: web.Request) -> web.Response:
    return await _moderate(request, True)


@routes.post(
    "/admin/comments/{comment_id}/reject",
    "Reject a pending comment (someone else's: never one's own)", access=MODERATE,
    response=CommentOut, errors=("four_eyes_required",),
)  # fmt: skip
async def reject_comment(request: web.Request) -> web.Response:
    return await _moderate(request, False)
