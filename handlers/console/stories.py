"""Editors' and reviewers' pages: stories by status, the editor with its preview, the
review queue with the diff against the published revision, publish and reject.

Every action goes through the stories room's ``EditorialService`` with the signed-in
staff member's ``Principal``, and every form is validated by the API's own models
(``StoryIn``, ``StoryPatch``, ``PublishIn``, ``RejectIn``): the console can do nothing
the API would refuse (four eyes, revisions, photos, people).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from handlers.auth.keys import AUTH_SERVICE
from handlers.console.diff import FieldDiff, field_diff
from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import see_other, set_back
from handlers.media.routes import admit_upload, read_upload, store_upload, upload_digest
from handlers.stories.keys import EDITORIAL_SERVICE
from handlers.stories.schemas import (
    AdminStoryListQuery,
    AdminStoryOut,
    PublishIn,
    RejectIn,
    StoryIn,
    StoryPatch,
)
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Access, Whose
from server.clock import SHANGHAI
from server.ids import path_object_id
from server.paging import PageQuery
from server.principal import Role
from server.rest import read_query

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

EDITORS = Access.roles(Role.editor)
REVIEWERS = Access.roles(Role.reviewer)
STAFF = Access.roles(Role.editor, Role.reviewer)
STORIES = CONSOLE_PREFIX + "/stories"
REVIEW = CONSOLE_PREFIX + "/review"

CATEGORIES = {
    "model_worker": "劳模",
    "craftsman": "工匠",
    "frontline_worker": "一线劳动者",
    "team": "工人先锋号、创新工作室",
    "policy": "政策解读",
}
STATUSES = {
    "draft": "草稿",
    "in_review": "待审核",
    "scheduled": "已排期",
    "published": "已发布",
    "unpublished": "已下线",
}
DRAFT_STATUSES = {"draft": "修订中", "submitted": "修订待审核", "rejected": "修订被退回"}
FIELD_LABELS = {
    "title": "标题",
    "summary": "摘要",
    "body_markdown": "正文",
    "category": "分类",
    "tags": "标签",
    "revision": "版本",
    "reason": "理由",
}
_TAG_SPLIT = re.compile(r"[,，、\s]+")
PREVIEW_MAX_CHARS = 20_000  # a body's limit (StoryIn.body_markdown)


def _shanghai(when: datetime | None) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if when else ""


def _labels() -> dict[str, Any]:
    return {
        "categories": CATEGORIES,
        "statuses": STATUSES,
        "draft_statuses": DRAFT_STATUSES,
        "when": _shanghai,
    }


def _story_fields(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The editor form as the API's body would carry it."""
    tags = [tag for tag in _TAG_SPLIT.split(str(form.get("tags", ""))) if tag]
    return {
        "title": str(form.get("title", "")),
        "summary": str(form.get("summary", "")),
        "body_markdown": str(form.get("body_markdown", "")).replace("\r\n", "\n"),
        "category": str(form.get("category", "")),
        "tags": tags,
        "pinned": form.get("pinned") == "on",
    }


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(name, f"{FIELD_LABELS.get(name, name)}：{error['msg']}")
    return errors


def _editor(
    request: web.Request,
    *,
    story: AdminStoryOut | None,
    fields: dict[str, Any],
    errors: dict[str, str] | None = None,
    preview: str | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    context = {
        "story": story,
        "fields": fields,
        "errors": errors or {},
        "preview": preview,
        "notice": notice,
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/edit.html", context, status=status)


def _fields_of(story: AdminStoryOut) -> dict[str, Any]:
    return {
        "title": story.title,
        "summary": story.summary,
        "body_markdown": story.body_markdown,
        "category": story.category,
        "tags": story.tags,
        "pinned": story.pinned,
    }


async def _names(request: web.Request, stories: list[AdminStoryOut]) -> dict[str, str]:
    ids = [story.author_id for story in stories]
    return await request.app[AUTH_SERVICE].display_names(ids) if ids else {}


# -- lists ---------------------------------------------------------------------------------


@routes.get("/stories", "Stories by status (editors and reviewers)", access=STAFF)
async def story_list(request: web.Request) -> web.Response:
    query = read_query(request, AdminStoryListQuery)
    editorial = request.app[EDITORIAL_SERVICE]
    page = await editorial.admin_page(query.status, query, draft_status=query.draft_status)
    context = {
        "page": page,
        "status": query.status,
        "authors": await _names(request, page.items),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/list.html", context)


@routes.get("/review", "The review queue: stories and revisions awaiting a reviewer",
            access=REVIEWERS)  # fmt: skip
async def review_queue(request: web.Request) -> web.Response:
    editorial = request.app[EDITORIAL_SERVICE]
    query = PageQuery(limit=50)
    new = await editorial.admin_page("in_review", query)
    revisions = await editorial.admin_page(None, query, draft_status="submitted")
    items = sorted([*new.items, *revisions.items], key=lambda s: s.updated_at)
    me = current_principal(request).user_id
    context = {
        "items": items,
        "mine": {story.id for story in items if me in story.editor_ids},
        "more": bool(new.next_cursor or revisions.next_cursor),
        "authors": await _names(request, items),
        "published": request.query.get("published"),
        "rejected": request.query.get("rejected"),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/review_queue.html", context)


# -- the editor ----------------------------------------------------------------------------


@routes.get("/stories/new", "The editor, for a new draft", access=EDITORS)
async def new_story_page(request: web.Request) -> web.Response:
    fields = {"title": "", "summary": "", "body_markdown": "", "category": "model_worker",
              "tags": [], "pinned": False}  # fmt: skip
    return _editor(request, story=None, fields=fields)


@routes.post("/stories/new", "Save a new draft (or preview it, or save and submit it)",
             access=EDITORS, status=303, errors=("csrf_invalid", "invalid_transition"))  # fmt: skip
async def create_story(request: web.Request) -> web.Response:
    set_back(request, STORIES + "/new")
    form = await request.post()
    fields = _story_fields(form)
    action = form.get("action")
    editorial = request.app[EDITORIAL_SERVICE]
    try:
        body = StoryIn.model_validate(fields)
    except ValidationError as exc:
        return _editor(request, story=None, fields=fields, errors=_field_errors(exc), status=422)
    if action == "preview":
        preview = editorial.preview(body.body_markdown)
        return _editor(request, story=None, fields=fields, preview=preview)
    principal = current_principal(request)
    doc = await editorial.create(principal, body.model_dump())
    story_id = str(doc["_id"])
    if action == "submit":
        await editorial.submit(principal, story_id)
        return see_other(f"{STORIES}?status=in_review")
    return see_other(f"{STORIES}/{story_id}/edit?saved=1")


@routes.get("/stories/{story_id}/edit", "The editor, on a story (its pending revision)",
            access=EDITORS.on("story_id", "story"))  # fmt: skip
async def edit_story_page(request: web.Request) -> web.Response:
    editorial = request.app[EDITORIAL_SERVICE]
    story = await editorial.admin_out(await editorial.get(path_object_id(request, "story_id")))
    notice = "已保存" if request.query.get("saved") else ""
    return _editor(request, story=story, fields=_fields_of(story), notice=notice)


@routes.post(
    "/stories/{story_id}/edit",
    "Save the story at the revision the editor saw (409 revision_conflict if it changed), "
    "or preview it, or save and submit it",
    access=EDITORS.on("story_id", "story"),
    status=303,
    errors=("csrf_invalid", "revision_conflict", "invalid_transition"),
)
async def update_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    editorial = request.app[EDITORIAL_SERVICE]
    story = await editorial.admin_out(await editorial.get(story_id))
    form = await request.post()
    fields = _story_fields(form)
    action = form.get("action")
    try:
        body = StoryPatch.model_validate({**fields, "revision": form.get("revision")})
    except ValidationError as exc:
        return _editor(request, story=story, fields=fields, errors=_field_errors(exc), status=422)
    if action == "preview":
        preview = editorial.preview(body.body_markdown)
        return _editor(request, story=story, fields=fields, preview=preview)
    principal = current_principal(request)
    changes = body.model_dump(include=body.model_fields_set - {"revision"})
    await editorial.patch(principal, story_id, body.revision, changes)
    if action == "submit":
        await editorial.submit(principal, story_id)
        return see_other(f"{STORIES}?status=in_review")
    return see_other(f"{STORIES}/{story_id}/edit?saved=1")


@routes.post("/stories/{story_id}/submit", "Send a draft (or a pending revision) to review",
             access=EDITORS.on("story_id", "story"), status=303,
             errors=("csrf_invalid", "invalid_transition"))  # fmt: skip
async def submit_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    await request.app[EDITORIAL_SERVICE].submit(current_principal(request), story_id)
    return see_other(f"{STORIES}?status=in_review")


@routes.post(
    "/stories/{story_id}/cover",
    "Upload a cover photo through the media pipeline (the API's limits) and show it, at "
    "the revision the editor saw (multipart; the CSRF token and revision in the query)",
    access=EDITORS.on("story_id", "story"),
    status=303,
    errors=(
        "csrf_invalid",
        "revision_conflict",
        "image_unsupported",
        "image_too_large",
        "image_invalid",
        "unsupported_media_type",
        "image_too_complex",
        "rate_limited",
        "unavailable",
    ),
)
async def upload_cover(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    editorial = request.app[EDITORIAL_SERVICE]
    seen = StoryPatch.model_validate({"revision": request.query.get("revision")})
    await editorial.get(story_id)  # 404 before a byte of the photo is read
    principal = current_principal(request)
    await admit_upload(request, principal)
    data, _purpose = await read_upload(request)
    cover = await store_upload(request, principal, data, "story", await upload_digest(data))
    await editorial.patch(principal, story_id, seen.revision, {"cover_media_id": cover.id})
    return see_other(f"{STORIES}/{story_id}/edit?saved=1")


@routes.post("/stories/preview", "The body as it would be published (an HTML fragment, "
             "for the editor's live preview)", access=EDITORS,
             errors=("csrf_invalid",))  # fmt: skip
async def preview_story(request: web.Request) -> web.Response:
    form = await request.post()
    markdown = str(form.get("body_markdown", ""))[:PREVIEW_MAX_CHARS]
    html = request.app[EDITORIAL_SERVICE].preview(markdown)
    return web.Response(text=html, content_type="text/html")


# -- review ----------------------------------------------------------------------------


async def _published_content(request: web.Request, story: AdminStoryOut) -> dict[str, str]:
    """The revision the public reads (or last read, for a story taken down); nothing for
    a story never published."""
    revisions = await request.app[EDITORIAL_SERVICE].revisions(story.id)
    published = [
        entry
        for entry in revisions
        if entry.revision == story.published_revision
        or (story.published_revision is None and entry.action == "publish")
    ]
    if not published:
        return {"title": "", "summary": "", "body_markdown": ""}
    entry = published[-1]
    return {"title": entry.title, "summary": entry.summary, "body_markdown": entry.body_markdown}


def _diffs(before: dict[str, str], story: AdminStoryOut) -> list[FieldDiff]:
    return [
        field_diff("标题", before["title"], story.title),
        field_diff("摘要", before["summary"], story.summary),
        field_diff("正文", before["body_markdown"], story.body_markdown),
    ]


@routes.get(
    "/stories/{story_id}/review",
    "The revision under review against the published one, with publish and reject",
    access=REVIEWERS.on("story_id", "story"),
)
async def review_story_page(request: web.Request) -> web.Response:
    editorial = request.app[EDITORIAL_SERVICE]
    doc = await editorial.get(path_object_id(request, "story_id"))
    story = await editorial.admin_out(doc)
    before = await _published_content(request, story)
    awaiting = story.status == "in_review" or story.draft_status == "submitted"
    context = {
        "story": story,
        "diffs": _diffs(before, story),
        "first_publication": story.published_revision is None and not before["title"],
        "awaiting": awaiting,
        "own": current_principal(request).user_id in story.editor_ids,
        "authors": await _names(request, [story]),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/review.html", context)


@routes.post(
    "/stories/{story_id}/publish",
    "Publish now the revision the reviewer saw (409 revision_conflict if it changed since; "
    "never by who wrote it)",
    access=REVIEWERS.on("story_id", "story", Whose.not_owner, code="four_eyes_required"),
    status=303,
    errors=("csrf_invalid", "invalid_transition", "four_eyes_required", "revision_conflict"),
)
async def publish_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/review")
    form = await request.post()
    body = PublishIn.model_validate({"revision": form.get("revision")})
    await request.app[EDITORIAL_SERVICE].publish(
        current_principal(request), story_id, body.revision, None
    )
    return see_other(f"{REVIEW}?published={story_id}")


@routes.post("/stories/{story_id}/reject", "Send back to the editors with a reason",
             access=REVIEWERS.on("story_id", "story"), status=303,
             errors=("csrf_invalid", "invalid_transition"))  # fmt: skip
async def reject_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/review")
    form = await request.post()
    body = RejectIn.model_validate({"reason": form.get("reason")})
    await request.app[EDITORIAL_SERVICE].reject(current_principal(request), story_id, body.reason)
    return see_other(f"{REVIEW}?rejected={story_id}")
