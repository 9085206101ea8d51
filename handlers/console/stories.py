"""Editors' and reviewers' pages: stories by status, the editor with its preview, cover,
gallery and people, the review queue with the diff against the published revision,
publish now or at a time, cancel a schedule, reject.

Every action goes through the stories room's ``EditorialService`` with the signed-in
staff member's ``Principal``, and every form is validated by the API's own models
(``StoryIn``, ``StoryPatch``, ``PublishIn``, ``RejectIn``): the console can do nothing
the API would refuse (four eyes, revisions, photos, people). A save that meets a newer
revision (409) shows the editor again with the editor's own text kept, what changed
meanwhile, and the current revision: saving again is a deliberate choice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from handlers.auth.keys import AUTH_SERVICE
from handlers.console.diff import FieldDiff, field_diff
from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import see_other, set_back
from handlers.media.routes import admit_upload, read_upload, store_upload, upload_digest
from handlers.media.schemas import MediaOut
from handlers.stories.editorial import (
    InvalidTransition,
    PersonNotFound,
    RevisionConflict,
    working_copy,
)
from handlers.stories.keys import EDITORIAL_SERVICE, PEOPLE_SERVICE
from handlers.stories.repo import Document
from handlers.stories.schemas import (
    AdminStoryListQuery,
    AdminStoryOut,
    PeopleQuery,
    PublishIn,
    RejectIn,
    StoryIn,
    StoryPatch,
)
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Access, Whose
from server.clock import SHANGHAI
from server.errors import InvalidRequest
from server.idempotent import Replay
from server.ids import path_object_id
from server.keys import CLOCK, IDEMPOTENCY
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
    "person_ids": "人物",
    "gallery_media_ids": "图集",
    "revision": "版本",
    "reason": "理由",
    "publish_at": "发布时间",
}
_TAG_SPLIT = re.compile(r"[,，、\s]+")
PREVIEW_MAX_CHARS = 20_000  # a body's limit (StoryIn.body_markdown)
PEOPLE_CHOICES = 20  # people offered to link at once (a search finds the others)
SAVED_NOTICES = {
    "1": "已保存",
    "cover": "封面已更新",
    "gallery": "图集已更新",
    "unscheduled": "已取消排期：稿件已下线，修改后可重新提交审核。",
}
GALLERY_OPS = ("up", "down", "remove")
FORM_KEY = "form_key"
_FORM_KEY = re.compile(r"[0-9a-f]{32}")
_DATETIME_INPUT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">
DATETIME_INPUT_MAX_CHARS = 32


def _max_items(model: type[BaseModel], name: str) -> int:
    """A list field's ``max_length`` as the API's model declares it (said once)."""
    for rule in model.model_fields[name].metadata:
        limit = getattr(rule, "max_length", None)
        if isinstance(limit, int):
            return limit
    raise LookupError(f"{model.__name__}.{name} has no max_length")


GALLERY_MAX = _max_items(StoryPatch, "gallery_media_ids")
PEOPLE_MAX = _max_items(StoryPatch, "person_ids")


def shanghai_time(when: datetime | None) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if when else ""


def shanghai_input(value: str) -> datetime | None:
    """A ``datetime-local`` field's value as Beijing time (an offset, if one is given,
    is kept); None if it is no date and time."""
    if not value or len(value) > DATETIME_INPUT_MAX_CHARS:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def new_form_key() -> str:
    """A form's own key (a hidden field): sent twice, the form is acted on once."""
    return secrets.token_hex(16)


async def once(
    request: web.Request, form: MultiDictProxy[Any], act: Callable[[], Awaitable[web.Response]]
) -> web.Response:
    """``act`` once per form shown (its ``form_key``): a form sent again (a double click,
    a reload after a lost answer) goes where the first one went, through the API's
    idempotency records; an answer that is not a 303 (a form shown again with errors)
    keeps the key free for the corrected form."""
    key = str(form.get(FORM_KEY, ""))
    if not _FORM_KEY.fullmatch(key):  # no key (an old page): as the API without one
        return await act()
    store = request.app[IDEMPOTENCY]
    claim = await store.begin(current_principal(request).user_id, f"console:{key}", request.path)
    if isinstance(claim, Replay):
        return see_other(claim.body.decode())
    try:
        answer = await act()
    except BaseException:
        await store.release(claim)
        raise
    location = answer.headers.get("Location")
    if answer.status == 303 and location:
        await store.complete(claim, 303, location.encode(), "text/plain")
    else:
        await store.release(claim)
    return answer


def _labels() -> dict[str, Any]:
    return {
        "categories": CATEGORIES,
        "statuses": STATUSES,
        "draft_statuses": DRAFT_STATUSES,
        "when": shanghai_time,
    }


def split_tags(value: object) -> list[str]:
    return [tag for tag in _TAG_SPLIT.split(str(value or "")) if tag]


def _story_fields(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The editor form as the API's body would carry it (every linked person is a checked
    box: none checked is none linked)."""
    return {
        "title": str(form.get("title", "")),
        "summary": str(form.get("summary", "")),
        "body_markdown": str(form.get("body_markdown", "")).replace("\r\n", "\n"),
        "category": str(form.get("category", "")),
        "tags": split_tags(form.get("tags")),
        "person_ids": [str(value) for value in form.getall("person_ids", [])],
        "pinned": form.get("pinned") == "on",
    }


def _message(error: Any) -> str:
    """A pydantic error in Chinese, for the usual limits (else pydantic's own words)."""
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "string_too_short":
        return "不能为空" if ctx.get("min_length") == 1 else f"至少 {ctx.get('min_length')} 个字"
    if kind == "string_too_long":
        return f"最多 {ctx.get('max_length')} 个字"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind in ("greater_than_equal", "less_than_equal", "int_parsing", "int_type"):
        return "数值不在允许的范围内"
    if kind == "missing":
        return "必填"
    return str(error["msg"])


def field_errors(exc: ValidationError, labels: dict[str, str] = FIELD_LABELS) -> dict[str, str]:
    """The first error of each field of the form, labelled in Chinese."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(name, f"{labels.get(name, name)}：{_message(error)}")
    return errors


async def _people_choices(request: web.Request, linked_ids: list[str], q: str) -> dict[str, Any]:
    """The people the story links (checked) and others to link: those matching ``q``,
    or the first ones."""
    people = request.app[PEOPLE_SERVICE]
    wanted = list(dict.fromkeys(linked_ids))[:PEOPLE_MAX]  # a flood of ids reads no more
    found = await people.by_id(wanted)
    linked = [people.ref(found[pid]) for pid in wanted if pid in found]
    error = ""
    try:
        query = PeopleQuery(q=q or None, limit=PEOPLE_CHOICES)
    except ValidationError:
        query, error = PeopleQuery(limit=PEOPLE_CHOICES), "查找的文字最多 50 个字"
    page = await people.page(None, query.q, query)
    others = [person for person in page.items if person.id not in found]
    return {"linked": linked, "others": others, "q": q, "error": error,
            "more": page.next_cursor is not None}  # fmt: skip


def _gallery(doc: Document, story: AdminStoryOut) -> list[dict[str, Any]]:
    """The gallery in order, each photo with its ``Media`` (None: not shown any more)."""
    shown: dict[str, MediaOut] = {media.id: media for media in story.gallery}
    ids: list[str] = working_copy(doc).get("gallery_media_ids") or []
    return [{"id": media_id, "media": shown.get(media_id)} for media_id in ids]


async def _editor(
    request: web.Request,
    *,
    doc: Document | None,
    fields: dict[str, Any],
    errors: dict[str, str] | None = None,
    preview: str | None = None,
    notice: str = "",
    status: int = 200,
    revision: object = None,
    conflict: dict[str, Any] | None = None,
    people_q: str = "",
    form_key: str = "",
) -> web.Response:
    """The editor on ``fields``; ``revision`` is the one the form carries (default: the
    story's: a form shown again keeps the one its editor saw)."""
    story = await request.app[EDITORIAL_SERVICE].admin_out(doc) if doc else None
    context = {
        "story": story,
        "fields": fields,
        "errors": errors or {},
        "preview": preview,
        "notice": notice,
        "revision": revision if revision is not None else (story.revision if story else ""),
        "conflict": conflict,
        "people": await _people_choices(request, fields["person_ids"], people_q),
        "gallery": _gallery(doc, story) if doc and story else [],
        "gallery_max": GALLERY_MAX,
        "form_key": form_key if _FORM_KEY.fullmatch(form_key) else new_form_key(),
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
        "person_ids": [person.id for person in story.people],
        "pinned": story.pinned,
    }


def _content(fields: dict[str, Any]) -> dict[str, str]:
    return {key: str(fields.get(key, "")) for key in ("title", "summary", "body_markdown")}


async def _conflict(
    request: web.Request, story_id: str, current: AdminStoryOut, fields: dict[str, Any]
) -> dict[str, Any]:
    """What the editor needs to decide after a 409: who saved which revision when, and
    how it differs from the text they were about to save."""
    entries = await request.app[EDITORIAL_SERVICE].revisions(story_id)
    entry = next((e for e in reversed(entries) if e.revision == current.revision), None)
    by = entry.by if entry else ""
    names = await request.app[AUTH_SERVICE].display_names([by]) if by else {}
    return {
        "revision": current.revision,
        "by": names.get(by, ""),
        "mine": by == current_principal(request).user_id,
        "at": shanghai_time(entry.at if entry else current.updated_at),
        "diffs": _diffs(_content(_fields_of(current)), _content(fields)),
    }


def _person_error() -> dict[str, str]:
    return {"person_ids": "人物：所选的人物不存在，请重新选择"}


async def _names(request: web.Request, stories: list[AdminStoryOut]) -> dict[str, str]:
    ids = [story.author_id for story in stories]
    return await request.app[AUTH_SERVICE].display_names(ids) if ids else {}


def _can(request: web.Request) -> dict[str, bool]:
    """Which of the story pages the signed-in staff member may open (their declarations)."""
    roles = current_principal(request).roles
    return {
        "can_edit": EDITORS.admits(roles) is None,
        "can_review": REVIEWERS.admits(roles) is None,
    }


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
        **_can(request),
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
        "scheduled": request.query.get("scheduled"),
        "rejected": request.query.get("rejected"),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/review_queue.html", context)


# -- the editor ----------------------------------------------------------------------------


def _empty_fields() -> dict[str, Any]:
    return {"title": "", "summary": "", "body_markdown": "", "category": "model_worker",
            "tags": [], "person_ids": [], "pinned": False}  # fmt: skip


@routes.get("/stories/new", "The editor, for a new draft", access=EDITORS)
async def new_story_page(request: web.Request) -> web.Response:
    return await _editor(request, doc=None, fields=_empty_fields())


@routes.post(
    "/stories/new",
    "Save a new draft (or preview it, or find people to link, or save and submit it); "
    "sent twice, one draft",
    access=EDITORS,
    status=303,
    errors=("csrf_invalid", "invalid_transition"),
)
async def create_story(request: web.Request) -> web.Response:
    set_back(request, STORIES + "/new")
    form = await request.post()
    fields = _story_fields(form)
    action = form.get("action")
    editorial = request.app[EDITORIAL_SERVICE]
    again: dict[str, Any] = {
        "doc": None,
        "fields": fields,
        "people_q": str(form.get("people_q", "")),
        "form_key": str(form.get(FORM_KEY, "")),
    }
    if action == "find_people":
        return await _editor(request, **again)
    try:
        body = StoryIn.model_validate(fields)
    except ValidationError as exc:
        return await _editor(request, **again, errors=field_errors(exc), status=422)
    if action == "preview":
        return await _editor(request, **again, preview=editorial.preview(body.body_markdown))

    async def save() -> web.Response:
        principal = current_principal(request)
        try:
            doc = await editorial.create(principal, body.model_dump())
        except PersonNotFound:
            return await _editor(request, **again, errors=_person_error(), status=422)
        story_id = str(doc["_id"])
        if action == "submit":
            await editorial.submit(principal, story_id)
            return see_other(f"{STORIES}?status=in_review")
        return see_other(f"{STORIES}/{story_id}/edit?saved=1")

    return await once(request, form, save)


@routes.get("/stories/{story_id}/edit", "The editor, on a story (its pending revision)",
            access=EDITORS.on("story_id", "story"))  # fmt: skip
async def edit_story_page(request: web.Request) -> web.Response:
    editorial = request.app[EDITORIAL_SERVICE]
    doc = await editorial.get(path_object_id(request, "story_id"))
    story = await editorial.admin_out(doc)
    notice = SAVED_NOTICES.get(request.query.get("saved", ""), "")
    return await _editor(request, doc=doc, fields=_fields_of(story), notice=notice)


@routes.post(
    "/stories/{story_id}/edit",
    "Save the story at the revision the editor saw (changed since: the editor again, 409, "
    "their text kept and the current revision shown), or preview it, or find people to "
    "link, or save and submit it",
    access=EDITORS.on("story_id", "story"),
    status=303,
    errors=("csrf_invalid", "revision_conflict", "invalid_transition"),
)
async def update_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    editorial = request.app[EDITORIAL_SERVICE]
    doc = await editorial.get(story_id)
    form = await request.post()
    fields = _story_fields(form)
    action = form.get("action")
    seen = form.get("revision")
    again: dict[str, Any] = {
        "doc": doc,
        "fields": fields,
        "revision": seen,
        "people_q": str(form.get("people_q", "")),
    }
    if action == "find_people":
        return await _editor(request, **again)
    try:
        body = StoryPatch.model_validate({**fields, "revision": seen})
    except ValidationError as exc:
        return await _editor(request, **again, errors=field_errors(exc), status=422)
    if action == "preview":
        return await _editor(request, **again, preview=editorial.preview(body.body_markdown))
    principal = current_principal(request)
    changes = body.model_dump(include=body.model_fields_set - {"revision"})
    try:
        await editorial.patch(principal, story_id, body.revision, changes)
    except RevisionConflict:
        # Someone saved meanwhile: nothing of this text is lost, nothing is overwritten
        # unseen. The form now carries the current revision: saving again is a choice.
        doc = await editorial.get(story_id)
        current = await editorial.admin_out(doc)
        conflict = await _conflict(request, story_id, current, fields)
        return await _editor(request, **{**again, "doc": doc, "revision": current.revision},
                             conflict=conflict, preview=editorial.preview(body.body_markdown),
                             status=409)  # fmt: skip
    except PersonNotFound:
        return await _editor(request, **again, errors=_person_error(), status=422)
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
    cover = await upload_photo(request)
    await editorial.patch(
        current_principal(request), story_id, seen.revision, {"cover_media_id": cover.id}
    )
    return see_other(f"{STORIES}/{story_id}/edit?saved=cover")


async def upload_photo(request: web.Request) -> MediaOut:
    """A photo for a story or a person through the media room's upload edge (its limits
    admitted before a byte of the body is read, the Pillow pipeline), as the API's."""
    principal = current_principal(request)
    await admit_upload(request, principal)
    data, _purpose = await read_upload(request)
    return await store_upload(request, principal, data, "story", await upload_digest(data))


UPLOAD_ERRORS = (
    "csrf_invalid",
    "revision_conflict",
    "invalid_request",
    "image_unsupported",
    "image_too_large",
    "image_invalid",
    "unsupported_media_type",
    "image_too_complex",
    "rate_limited",
    "unavailable",
)


async def _gallery_at(
    request: web.Request, story_id: str, revision: object
) -> tuple[int, list[str]]:
    """The revision the editor saw and the story's gallery then (changed since: 409)."""
    seen = StoryPatch.model_validate({"revision": revision})
    doc = await request.app[EDITORIAL_SERVICE].get(story_id)
    if doc["revision"] != seen.revision:
        raise RevisionConflict(details={"current_revision": doc["revision"]})
    return seen.revision, list(working_copy(doc).get("gallery_media_ids") or [])


@routes.post(
    "/stories/{story_id}/gallery/upload",
    "Add a photo to the gallery through the media pipeline (the API's limits), at the "
    "revision the editor saw (multipart; the CSRF token and revision in the query)",
    access=EDITORS.on("story_id", "story"),
    status=303,
    errors=UPLOAD_ERRORS,
)
async def upload_gallery_photo(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    revision, gallery = await _gallery_at(request, story_id, request.query.get("revision"))
    if len(gallery) >= GALLERY_MAX:  # refused before a byte of the photo is read
        raise InvalidRequest.for_fields(
            {"gallery_media_ids": f"at most {GALLERY_MAX}"}, f"图集最多 {GALLERY_MAX} 张图片"
        )
    photo = await upload_photo(request)
    await request.app[EDITORIAL_SERVICE].patch(
        current_principal(request), story_id, revision, {"gallery_media_ids": [*gallery, photo.id]}
    )
    return see_other(f"{STORIES}/{story_id}/edit?saved=gallery")


@routes.post(
    "/stories/{story_id}/gallery",
    "Move a gallery photo up or down, or remove it (op=up|down|remove:<media id>), at "
    "the revision the editor saw",
    access=EDITORS.on("story_id", "story"),
    status=303,
    errors=("csrf_invalid", "revision_conflict", "invalid_request"),
)
async def edit_gallery(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/edit")
    form = await request.post()
    revision, gallery = await _gallery_at(request, story_id, form.get("revision"))
    op, _, media_id = str(form.get("op", "")).partition(":")
    if op not in GALLERY_OPS or media_id not in gallery:
        raise InvalidRequest.for_fields({"op": "up, down or remove a photo of the gallery"},
                                        "图集中没有这张图片，请刷新页面后再试")  # fmt: skip
    at = gallery.index(media_id)
    if op == "remove":
        del gallery[at]
    else:
        to = max(0, min(len(gallery) - 1, at - 1 if op == "up" else at + 1))
        gallery.insert(to, gallery.pop(at))
    await request.app[EDITORIAL_SERVICE].patch(
        current_principal(request), story_id, revision, {"gallery_media_ids": gallery}
    )
    return see_other(f"{STORIES}/{story_id}/edit?saved=gallery")


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


def _diffs(before: dict[str, str], after: dict[str, str]) -> list[FieldDiff]:
    return [
        field_diff("标题", before["title"], after["title"]),
        field_diff("摘要", before["summary"], after["summary"]),
        field_diff("正文", before["body_markdown"], after["body_markdown"]),
    ]


async def _review(
    request: web.Request,
    story_id: str,
    *,
    errors: dict[str, str] | None = None,
    publish_at: str = "",
    status: int = 200,
) -> web.Response:
    editorial = request.app[EDITORIAL_SERVICE]
    story = await editorial.admin_out(await editorial.get(story_id))
    before = await _published_content(request, story)
    awaiting = story.status == "in_review" or story.draft_status == "submitted"
    now = request.app[CLOCK].now()
    context = {
        "story": story,
        "diffs": _diffs(before, _content(_fields_of(story))),
        "first_publication": story.published_revision is None and not before["title"],
        "awaiting": awaiting,
        "own": current_principal(request).user_id in story.editor_ids,
        "authors": await _names(request, [story]),
        "errors": errors or {},
        "publish_at": publish_at,
        "earliest": now.astimezone(SHANGHAI).strftime(_DATETIME_INPUT),
        "done": request.query.get("done", ""),
        **_can(request),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "stories/review.html", context, status=status)


@routes.get(
    "/stories/{story_id}/review",
    "The revision under review against the published one, with publish (now or at a "
    "time), reject, and a schedule's cancel",
    access=REVIEWERS.on("story_id", "story"),
)
async def review_story_page(request: web.Request) -> web.Response:
    return await _review(request, path_object_id(request, "story_id"))


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


@routes.post(
    "/stories/{story_id}/schedule",
    "Publish the revision the reviewer saw at a time to come (Beijing time; 409 "
    "revision_conflict if it changed since; never by who wrote it)",
    access=REVIEWERS.on("story_id", "story", Whose.not_owner, code="four_eyes_required"),
    status=303,
    errors=("csrf_invalid", "invalid_transition", "four_eyes_required", "revision_conflict"),
)
async def schedule_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    set_back(request, f"{STORIES}/{story_id}/review")
    form = await request.post()
    raw = str(form.get("publish_at", "")).strip()[: DATETIME_INPUT_MAX_CHARS + 1]
    when = shanghai_input(raw)
    if when is None:
        errors = {"publish_at": "发布时间：请填写有效的日期和时间"}
    elif when <= request.app[CLOCK].now():
        errors = {"publish_at": "发布时间：须晚于现在（北京时间）"}
    else:
        errors = {}
    try:
        body = PublishIn.model_validate({"revision": form.get("revision"), "publish_at": when})
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
    if errors:
        return await _review(request, story_id, errors=errors, publish_at=raw, status=422)
    await request.app[EDITORIAL_SERVICE].publish(
        current_principal(request), story_id, body.revision, body.publish_at
    )
    return see_other(f"{REVIEW}?scheduled={story_id}")


@routes.post(
    "/stories/{story_id}/unschedule",
    "Cancel a scheduled publication seen at its revision: the story is taken back "
    "(unpublished), to be submitted and reviewed again",
    access=STAFF.on("story_id", "story"),
    status=303,
    errors=("csrf_invalid", "invalid_transition", "revision_conflict"),
)
async def unschedule_story(request: web.Request) -> web.Response:
    story_id = path_object_id(request, "story_id")
    editorial = request.app[EDITORIAL_SERVICE]
    form = await request.post()
    seen = StoryPatch.model_validate({"revision": form.get("revision")})
    doc = await editorial.get(story_id)
    can = _can(request)
    page = f"{STORIES}/{story_id}/{'edit' if can['can_edit'] else 'review'}"
    set_back(request, page)
    # At the revision seen, which was scheduled: published by the worker meanwhile (or
    # edited), it is a 409, never a story taken down unseen.
    if doc["revision"] == seen.revision and doc["status"] != "scheduled":
        raise InvalidTransition(details={"status": doc["status"], "allowed_from": ["scheduled"]})
    await editorial.unpublish(current_principal(request), story_id, seen.revision)
    return see_other(f"{page}?{'saved' if can['can_edit'] else 'done'}=unscheduled")
