"""Organizers' pages: their events by status (an admin's: every event), the event form
(a draft, edits, publish, cancel after a confirmation page), the sign-up list with the
attendance and the Excel export, and the door page that checks tickets in.

Everything goes through the events room's services with the signed-in staff member's
``Principal``: ``EventService.owned`` makes another organizer's event 404, as the API
does, and forms are validated by the API's own models (``EventIn``, ``EventPatch``,
``AdminSignupQuery``, ``CheckinIn``, ``CheckinBatchIn``).

The door page works without JavaScript (a typed or pasted ticket, ``POST`` then the
result). Its script (``static/organizers.js``) adds camera scanning where the browser
has ``BarcodeDetector`` and an offline mode: it verifies each ticket with the events'
Ed25519 public key (the page's ``data-ticket-key``), keeps the scans in
``localStorage`` and sends them as one batch to ``POST .../door/scans``, the same
service as the API's batch check-in, answered per scan (JSON).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from handlers.auth.keys import AUTH_SERVICE
from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import see_other, set_back
from handlers.events.events import CapacityBelowConfirmed
from handlers.events.export import CANCEL_REASONS, STATUS_LABELS
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.events.repo import EDITABLE_STATUSES
from handlers.events.routes import export_event_signups as export_for_api
from handlers.events.schemas import (
    AdminEventOut,
    AdminSignupQuery,
    AttendanceOut,
    CheckinBatchCounts,
    CheckinBatchIn,
    CheckinIn,
    EventIn,
    EventPatch,
    EventStatus,
    ScanOut,
)
from handlers.events.signups import AlreadyAttended, TicketInvalid
from handlers.stories.keys import PEOPLE_SERVICE
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.audit import user_actor
from server.authorisation import Access, Whose
from server.clock import SHANGHAI
from server.errors import AppError, InvalidRequest
from server.ids import canonical_object_id, path_object_id
from server.paging import PageQuery
from server.principal import Role
from server.rest import ApiOut, read_query, respond
from server.spreadsheet import XLSX_CONTENT_TYPE

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

ORGANIZERS = Access.roles(Role.organizer)
# An organizer's own events; an admin's every one; another organizer's are 404.
MANAGE = ORGANIZERS.on("event_id", "event", Whose.owner_or_admin)
EVENTS = CONSOLE_PREFIX + "/events"

VENUE_TYPES = {
    "school": "进学校",
    "enterprise": "进企业",
    "community": "进社区",
    "village": "进农村",
    "agency": "进机关",
}
EVENT_STATUSES = {"draft": "草稿", "published": "已发布", "finished": "已结束",
                  "cancelled": "已取消"}  # fmt: skip
FIELD_LABELS = {
    "title": "标题",
    "description": "介绍",
    "venue_type": "类型",
    "venue_name": "地点名称",
    "address": "地址",
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "signup_opens_at": "报名开始",
    "signup_deadline": "报名截止",
    "cancel_deadline": "取消报名截止",
    "capacity": "名额",
    "waitlist_enabled": "候补",
    "speaker_ids": "主讲人",
    "ticket": "票号",
}
TEXT_FIELDS = ("title", "description", "venue_type", "venue_name", "address")
TIME_FIELDS = ("starts_at", "ends_at", "signup_opens_at", "signup_deadline", "cancel_deadline")
# pydantic's error types, said in Chinese (its own ``ctx`` fills the numbers).
_MESSAGES = {
    "missing": "必填",
    "string_too_short": "不能为空",
    "string_too_long": "太长了（最多 {max_length} 字）",
    "too_long": "最多 {max_length} 个",
    "int_parsing": "请填写整数",
    "int_from_float": "请填写整数",
    "greater_than_equal": "至少为 {ge}",
    "less_than_equal": "最多为 {le}",
    "literal_error": "请从列表中选择",
    "datetime_parsing": "请填写日期和时间",
    "datetime_from_date_parsing": "请填写日期和时间",
    "timezone_aware": "请填写日期和时间",
    "datetime_type": "请填写日期和时间",
    "string_pattern_mismatch": "无效的选项",
}
# The events service's reasons for times out of order (``_check_times``).
_TIME_REASONS = {
    "after starts_at": "须晚于开始时间",
    "after signup_opens_at": "须晚于报名开始时间",
    "not after ends_at": "不能晚于活动结束时间",
}
DOOR_RESULTS = {"attended": "已签到", "already_attended": "已经签到过"}
PEOPLE_OFFERED = 50  # the speakers' select: the first page of people (and those chosen)


class EventListQuery(PageQuery):
    status: EventStatus | None = None


class DoorScansOut(ApiOut):
    """The batch check-in's answer (``CheckinBatchOut``, ``by`` as a name), and the
    attendance after it."""

    results: list[ScanOut]
    counts: CheckinBatchCounts
    attendance: AttendanceOut


# -- helpers -----------------------------------------------------------------------------


def _when(instant: datetime | None) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if instant else ""


def _local_input(instant: datetime | None) -> str:
    """An instant as a ``datetime-local`` input shows it (Asia/Shanghai, to the minute)."""
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M") if instant else ""


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _labels() -> dict[str, Any]:
    return {
        "venue_types": VENUE_TYPES,
        "event_statuses": EVENT_STATUSES,
        "signup_statuses": STATUS_LABELS,
        "cancel_reasons": CANCEL_REASONS,
        "when": _when,
        "percent": _percent,
    }


def _event_path(event_id: str, page: str = "") -> str:
    return f"{EVENTS}/{event_id}{page}"


def _editable(event: AdminEventOut) -> bool:
    # ``status`` reads "finished" once the event is over: no longer editable either.
    return event.status in EDITABLE_STATUSES


async def _actor_names(request: web.Request, actors: Iterable[str | None]) -> dict[str, str]:
    """Who checked people in (``user:<id>``, as the service records it), by name."""
    ids = list(dict.fromkeys(a.removeprefix("user:") for a in actors if a and a[:5] == "user:"))
    names = await request.app[AUTH_SERVICE].display_names(ids) if ids else {}
    return {f"user:{user_id}": name for user_id, name in names.items()}


def _local_instant(raw: str) -> datetime | str:
    """A ``datetime-local`` value as an instant in Asia/Shanghai; what cannot be read is
    left as typed, for the model to refuse."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def _form_fields(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The event form as typed (to show it again)."""
    fields: dict[str, Any] = {
        name: str(form.get(name, "")) for name in (*TEXT_FIELDS, *TIME_FIELDS)
    }
    fields["capacity"] = str(form.get("capacity", ""))
    fields["waitlist_enabled"] = form.get("waitlist_enabled") == "on"
    fields["speaker_ids"] = [str(value) for value in form.getall("speaker_ids", [])]
    return fields


def _body_of(fields: dict[str, Any]) -> dict[str, Any]:
    """The event form as the API's body would carry it (times left empty: not sent)."""
    body = {name: fields[name] for name in (*TEXT_FIELDS, "waitlist_enabled", "speaker_ids")}
    body["capacity"] = fields["capacity"].strip()
    for name in TIME_FIELDS:
        if fields[name].strip():
            body[name] = _local_instant(fields[name].strip())
    return body


def _fields_of(event: AdminEventOut) -> dict[str, Any]:
    return {
        **{name: getattr(event, name) for name in TEXT_FIELDS},
        **{name: _local_input(getattr(event, name)) for name in TIME_FIELDS},
        "capacity": str(event.capacity),
        "waitlist_enabled": event.waitlist_enabled,
        "speaker_ids": [speaker.id for speaker in event.speakers],
    }


def _message(error: Any) -> str:
    template = _MESSAGES.get(error["type"])
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return template


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(name, f"{FIELD_LABELS.get(name, name)}：{_message(error)}")
    return errors


def _service_field_errors(exc: AppError) -> dict[str, str] | None:
    """A refusal of the events service that names fields (times out of order, an
    unknown speaker, fewer seats than confirmed), as the form shows it; None for any
    other."""
    if isinstance(exc, CapacityBelowConfirmed):
        held = exc.details.get("confirmed", "")
        return {"capacity": f"名额：不能少于已确认报名的 {held} 人"}
    fields = exc.details.get("fields") if exc.status == 422 else None
    if not isinstance(fields, dict):
        return None
    if exc.code == "speaker_not_found":
        return {"speaker_ids": "主讲人：不存在，请重新选择"}
    return {
        name: f"{FIELD_LABELS.get(name, name)}：{_TIME_REASONS.get(str(reason), reason)}"
        for name, reason in fields.items()
    }


async def _people(request: web.Request, event: AdminEventOut | None) -> list[dict[str, str]]:
    """Who may be chosen as a speaker: the first page of people, and those chosen."""
    page = await request.app[PEOPLE_SERVICE].page(None, None, PageQuery(limit=PEOPLE_OFFERED))
    offered = [(person.id, person.name, person.honours) for person in page.items]
    known = {person_id for person_id, _, _ in offered}
    chosen = [(s.id, s.name, s.honours) for s in (event.speakers if event else [])]
    offered += [entry for entry in chosen if entry[0] not in known]
    return [
        {"id": person_id, "label": name + (f"（{honours[0].name}）" if honours else "")}
        for person_id, name, honours in offered
    ]


async def _event_form(
    request: web.Request,
    *,
    event: AdminEventOut | None,
    fields: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "event": event,
        "fields": fields,
        "errors": errors or {},
        "people": await _people(request, event),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(
        request, "organizers/form.html", context, status=status
    )


async def _owned_out(request: web.Request, event_id: str) -> AdminEventOut:
    events = request.app[EVENT_SERVICE]
    return await events.admin_out(await events.owned(current_principal(request), event_id))


# -- events ------------------------------------------------------------------------------


@routes.get("/events", "My events by status (an admin: every event), newest first",
            access=ORGANIZERS)  # fmt: skip
async def event_list(request: web.Request) -> web.Response:
    query = read_query(request, EventListQuery)
    principal = current_principal(request)
    page = await request.app[EVENT_SERVICE].admin_page(principal, query, query.status)
    every = Role.admin in principal.roles
    organizers = (
        await request.app[AUTH_SERVICE].display_names([e.organizer_id for e in page.items])
        if every and page.items
        else {}
    )
    context = {"page": page, "status": query.status, "organizers": organizers, "every": every,
               **_labels()}  # fmt: skip
    return request.app[CONSOLE_PAGES].render(request, "organizers/list.html", context)


@routes.get("/events/new", "The event form, for a new draft", access=ORGANIZERS)
async def new_event_page(request: web.Request) -> web.Response:
    fields: dict[str, Any] = dict.fromkeys((*TEXT_FIELDS, *TIME_FIELDS), "")
    fields.update(venue_type="community", capacity="50", waitlist_enabled=True, speaker_ids=[])
    return await _event_form(request, event=None, fields=fields)


@routes.post("/events/new", "Save a new draft event (the API's EventIn)", access=ORGANIZERS,
             status=303, errors=("csrf_invalid", "speaker_not_found"))  # fmt: skip
async def create_event(request: web.Request) -> web.Response:
    set_back(request, EVENTS + "/new")
    fields = _form_fields(await request.post())
    try:
        body = EventIn.model_validate(_body_of(fields))
    except ValidationError as exc:
        errors = _field_errors(exc)
        return await _event_form(request, event=None, fields=fields, errors=errors, status=422)
    try:
        doc = await request.app[EVENT_SERVICE].create(current_principal(request), body.model_dump())
    except AppError as exc:
        refused = _service_field_errors(exc)
        if refused is None:
            raise
        return await _event_form(request, event=None, fields=fields, errors=refused, status=422)
    return see_other(_event_path(str(doc["_id"]), "?saved=1"))


@routes.get("/events/{event_id}", "One of my events (an admin: any): what it is, its "
            "attendance, what can be done with it", access=MANAGE)  # fmt: skip
async def event_page(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    events = request.app[EVENT_SERVICE]
    doc = await events.owned(current_principal(request), event_id)
    event = await events.admin_out(doc)
    notices = {"saved": "已保存", "published": "已发布：居民现在可以看到并报名",
               "cancelled": "活动已取消，所有报名已取消"}  # fmt: skip
    notice = next((text for key, text in notices.items() if request.query.get(key)), "")
    context = {
        "event": event,
        "editable": _editable(event),
        "attendance": await request.app[SIGNUP_SERVICE].attendance(doc),
        "notice": notice,
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "organizers/event.html", context)


@routes.get("/events/{event_id}/edit", "The event form, on one of my events",
            access=MANAGE, errors=("invalid_transition",))  # fmt: skip
async def edit_event_page(request: web.Request) -> web.Response:
    event = await _owned_out(request, path_object_id(request, "event_id"))
    return await _event_form(request, event=event, fields=_fields_of(event))


def _same(new: Any, old: Any) -> bool:
    if isinstance(new, datetime) and isinstance(old, datetime):
        # Shown to the minute and sent back as it was: the event keeps its seconds (and
        # its reminders, which a new start would move).
        return new.astimezone(UTC).replace(second=0, microsecond=0) == old.astimezone(UTC).replace(
            second=0, microsecond=0
        )
    return bool(new == old)


def _changes(body: EventIn, event: AdminEventOut) -> dict[str, Any]:
    """What the form changes of ``event``, as the API's patch would carry it."""
    current = {**event.model_dump(), "speaker_ids": [speaker.id for speaker in event.speakers]}
    return {
        name: getattr(body, name)
        for name in body.model_fields_set
        if name in EventPatch.model_fields
        and name != "cover_media_id"
        and not _same(getattr(body, name), current[name])
    }


@routes.post(
    "/events/{event_id}/edit",
    "Save my event's changes (the API's EventPatch: raising the capacity promotes the "
    "waitlist, below the seats held is refused)",
    access=MANAGE,
    status=303,
    errors=("csrf_invalid", "invalid_transition", "capacity_below_confirmed",
            "speaker_not_found", "conflict"),
)  # fmt: skip
async def update_event(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    set_back(request, _event_path(event_id, "/edit"))
    event = await _owned_out(request, event_id)
    fields = _form_fields(await request.post())
    try:
        # The whole form as a new event would be (nothing required left empty), then
        # what it changes as the API's patch.
        body = EventIn.model_validate(_body_of(fields))
        patch = EventPatch.model_validate(_changes(body, event))
    except ValidationError as exc:
        errors = _field_errors(exc)
        return await _event_form(request, event=event, fields=fields, errors=errors, status=422)
    if patch.model_fields_set:
        try:
            await request.app[EVENT_SERVICE].patch(
                current_principal(request),
                event_id,
                patch.model_dump(include=patch.model_fields_set),
            )
        except AppError as exc:
            refused = _service_field_errors(exc)
            if refused is None:
                raise
            return await _event_form(
                request, event=event, fields=fields, errors=refused, status=422
            )
    return see_other(_event_path(event_id, "?saved=1"))


@routes.post("/events/{event_id}/publish", "Publish my draft event", access=MANAGE,
             status=303, errors=("csrf_invalid", "invalid_transition"))  # fmt: skip
async def publish_event(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    set_back(request, _event_path(event_id))
    await request.app[EVENT_SERVICE].publish(current_principal(request), event_id)
    return see_other(_event_path(event_id, "?published=1"))


@routes.get("/events/{event_id}/cancel", "Confirm cancelling my event (what it will do)",
            access=MANAGE)  # fmt: skip
async def cancel_event_page(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    events = request.app[EVENT_SERVICE]
    doc = await events.owned(current_principal(request), event_id)
    event = await events.admin_out(doc)
    context = {
        "event": event,
        "editable": _editable(event),
        "attendance": await request.app[SIGNUP_SERVICE].attendance(doc),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "organizers/cancel.html", context)


@routes.post("/events/{event_id}/cancel", "Cancel my event and every sign-up of it",
             access=MANAGE, status=303, errors=("csrf_invalid", "invalid_transition"))  # fmt: skip
async def cancel_event(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    set_back(request, _event_path(event_id))
    await request.app[EVENT_SERVICE].cancel(current_principal(request), event_id)
    return see_other(_event_path(event_id, "?cancelled=1"))


# -- sign-ups ----------------------------------------------------------------------------


@routes.get(
    "/events/{event_id}/signups",
    "My event's sign-ups by status (the waitlist in order, with positions), phone numbers "
    "masked, with the attendance and the Excel export",
    access=MANAGE,
)
async def signup_list(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    query = read_query(request, AdminSignupQuery)
    events, signups = request.app[EVENT_SERVICE], request.app[SIGNUP_SERVICE]
    doc = await events.owned(current_principal(request), event_id)
    page = await signups.organizer_page(event_id, query)
    context = {
        "event": await events.admin_out(doc),
        "page": page,
        "status": query.status,
        "attendance": await signups.attendance(doc),
        "checkers": await _actor_names(request, (item.attended_by for item in page.items)),
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(request, "organizers/signups.html", context)


@routes.get(
    "/events/{event_id}/signups.xlsx",
    "Excel export of my event's sign-ups (the only place phone numbers are in full); "
    "every export is written to the audit log",
    access=MANAGE,
    content_type=XLSX_CONTENT_TYPE,
)
async def export_event_signups(request: web.Request) -> web.StreamResponse:
    # The API's own handler: the same file, the same audit entries, this session's principal.
    return await export_for_api(request)


# -- the door ----------------------------------------------------------------------------


async def _door(
    request: web.Request,
    event_id: str,
    *,
    ticket: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    events, signups = request.app[EVENT_SERVICE], request.app[SIGNUP_SERVICE]
    doc = await events.owned(current_principal(request), event_id)
    result, checked = request.query.get("result", ""), None
    signup_id = canonical_object_id(request.query.get("signup", ""))
    if result in DOOR_RESULTS and signup_id is not None and not error:
        checked = await signups.organizer_one(event_id, signup_id)
    checkers = await _actor_names(request, [checked.attended_by if checked else None])
    context = {
        "event": await events.admin_out(doc),
        "attendance": await signups.attendance(doc),
        "ticket_key": signups.tickets.public_key,
        "ticket": ticket,
        "error": error,
        "result": result if checked is not None and checked.attended_at else "",
        "results": DOOR_RESULTS,
        "checked": checked,
        "checkers": checkers,
        **_labels(),
    }
    return request.app[CONSOLE_PAGES].render(
        request, "organizers/door.html", context, status=status
    )


@routes.get("/events/{event_id}/door", "签到: the door page of my event (manual entry; "
            "camera and offline scans with JavaScript)", access=MANAGE)  # fmt: skip
async def door_page(request: web.Request) -> web.Response:
    return await _door(request, path_object_id(request, "event_id"))


@routes.post(
    "/events/{event_id}/door",
    "Check in a ticket typed or pasted at the door: to the door page with the result "
    "(attended, or already attended: when and by whom); an invalid ticket is shown again",
    access=MANAGE,
    status=303,
    errors=("csrf_invalid", "ticket_invalid"),
)
async def door_check_in(request: web.Request) -> web.Response:
    event_id = path_object_id(request, "event_id")
    door = _event_path(event_id, "/door")
    set_back(request, door)
    principal = current_principal(request)
    event = await request.app[EVENT_SERVICE].owned(principal, event_id)
    ticket = str((await request.post()).get("ticket", "")).strip()
    try:
        body = CheckinIn.model_validate({"ticket": ticket})
    except ValidationError:
        error = "请输入票号" if not ticket else "无效票"
        return await _door(request, event_id, ticket=ticket[:200], error=error, status=422)
    signups = request.app[SIGNUP_SERVICE]
    try:
        out = await signups.check_in(str(event["_id"]), body.ticket, user_actor(principal.user_id))
    except AlreadyAttended:
        # The service verified the ticket before it found it checked in.
        ids = signups.tickets.verify(body.ticket) or ("", "")
        return see_other(f"{door}?result=already_attended&signup={ids[1]}")
    except TicketInvalid:
        return await _door(request, event_id, ticket=ticket, error="无效票", status=422)
    return see_other(f"{door}?result=attended&signup={out.signup_id}")


@routes.post(
    "/events/{event_id}/door/scans",
    "The door page's scans (kept while offline) as one batch, the form field ``scans`` "
    "holding the API's JSON list of {ticket, scanned_at}: the API's batch check-in, "
    "answered per scan (JSON) with the attendance after it; sent again, answered the same",
    access=MANAGE,
    content_type="application/json",
    errors=("csrf_invalid", "invalid_request"),
)
async def door_scans(request: web.Request) -> web.Response:
    principal = current_principal(request)
    event_id = path_object_id(request, "event_id")
    events, signups = request.app[EVENT_SERVICE], request.app[SIGNUP_SERVICE]
    event = await events.owned(principal, event_id)
    raw = (await request.post()).get("scans")
    try:
        scans = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        scans = None
    if not isinstance(scans, list):
        raise InvalidRequest.for_fields({"scans": "a JSON list of {ticket, scanned_at}"})
    body = CheckinBatchIn.model_validate({"scans": scans})  # 422 past MAX_SCANS
    results = await signups.check_in_batch(
        event_id,
        [(scan.ticket, scan.scanned_at) for scan in body.scans],
        user_actor(principal.user_id),
    )
    names = await _actor_names(request, (result.by for result in results))
    counts = dict.fromkeys(CheckinBatchCounts.model_fields, 0)
    for result in results:
        counts[result.result] += 1
    named = [r.model_copy(update={"by": names.get(r.by, r.by)}) if r.by else r for r in results]
    return respond(
        DoorScansOut(
            results=named,
            counts=CheckinBatchCounts(**counts),
            attendance=await signups.attendance(event),
        )
    )
