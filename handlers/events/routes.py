"""五进 events and sign-ups (API.md, "五进 events and sign-ups")."""

from __future__ import annotations

from aiohttp import web

from handlers.events.export import export_signups
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.events.schemas import (
    MAX_SCANS,
    AdminEventOut,
    AdminEventPage,
    AdminSignupPage,
    AdminSignupQuery,
    AttendanceOut,
    CancelledOut,
    CheckinBatchCounts,
    CheckinBatchIn,
    CheckinBatchOut,
    CheckinIn,
    CheckinOut,
    EventIn,
    EventListQuery,
    EventOut,
    EventPage,
    EventPatch,
    MySignupOut,
    MySignupPage,
    SignupIn,
    SignupOut,
    TicketKeyOut,
)
from handlers.events.signups import signup_fingerprint
from handlers.events.tickets import PREFIX
from server.access import current_principal
from server.api import ApiRoutes
from server.audit import user_actor
from server.authorisation import Access, Whose
from server.idempotent import respond_idempotently
from server.ids import path_object_id
from server.keys import AUDIT, IDEMPOTENCY
from server.paging import PageQuery
from server.principal import Role
from server.rest import read_body, read_query, respond
from server.spreadsheet import XLSX_CONTENT_TYPE, xlsx_response

routes = ApiRoutes(tag="events")

ORGANIZERS = Access.roles(Role.organizer)
COVER = {"kind": "event_photo", "code": "media_not_found"}
# An organizer's own events; an admin's every one; another organizer's are 404.
MANAGE = ORGANIZERS.on("event_id", "event", Whose.owner_or_admin)


# -- residents -----------------------------------------------------------------------


@routes.get(
    "/events",
    "Published events (not drafts); venue_type=, status=upcoming|past, person_id= filter",
    access=Access.public(),
    query=EventListQuery,
    response=EventPage,
)
async def list_events(request: web.Request) -> web.Response:
    query = read_query(request, EventListQuery)
    return respond(await request.app[EVENT_SERVICE].public_page(query))


# Before /events/{event_id}, which would take it for an id.
@routes.get(
    "/events/ticket-key", "The Ed25519 public key that verifies tickets offline",
    access=Access.public(),
    response=TicketKeyOut,
)  # fmt: skip
async def ticket_key(request: web.Request) -> web.Response:
    tickets = request.app[SIGNUP_SERVICE].tickets
    return respond(
        TicketKeyOut(
            algorithm="Ed25519",
            public_key=tickets.public_key,
            format=f"{PREFIX}base64url(event id 12 B + sign-up id 12 B + Ed25519 signature "
            "64 B over b'jiangxin-ticket:v1' + the 24 bytes of ids)",
        )
    )


@routes.get(
    "/events/{event_id}", "An event", access=Access.public().on("event_id", "event"),
    response=EventOut,
)  # fmt: skip
async def get_event(request: web.Request) -> web.Response:
    events = request.app[EVENT_SERVICE]
    return respond(await events.out(await events.public(path_object_id(request, "event_id"))))


@routes.post(
    "/events/{event_id}/signups",
    "Sign up: confirmed, or waitlisted with a position; Idempotency-Key honoured",
    access=Access.signed_in().on("event_id", "event"),
    body=SignupIn,
    response=SignupOut,
    status=201,
    errors=(
        "signup_closed",
        "event_full",
        "already_signed_up",
        "phone_invalid",
        "idempotency_key_reused",
        "unavailable",
    ),
)
async def sign_up(request: web.Request) -> web.Response:
    principal = current_principal(request)
    event_id = path_object_id(request, "event_id")
    body = await read_body(request, SignupIn)
    signups = request.app[SIGNUP_SERVICE]

    async def produce() -> tuple[int, SignupOut]:
        result = await signups.sign_up(principal, event_id, body.name, body.phone)
        return 201, signups.answer(result)

    fingerprint = signup_fingerprint(event_id, body.name, body.phone)
    return await respond_idempotently(
        request, request.app[IDEMPOTENCY], principal.user_id, fingerprint, produce
    )


@routes.delete(
    "/events/{event_id}/signups/me",
    "Cancel my sign-up; a confirmed seat goes to the first waitlisted person",
    access=Access.signed_in().on("event_id", "event"),
    response=CancelledOut,
    errors=("cancellation_closed",),
)
async def cancel_my_signup(request: web.Request) -> web.Response:
    signups = request.app[SIGNUP_SERVICE]
    await signups.cancel_mine(current_principal(request), path_object_id(request, "event_id"))
    return respond(CancelledOut(status="cancelled"))


@routes.get(
    "/me/signups", "My sign-ups, newest first", access=Access.signed_in(), query=PageQuery,
    response=MySignupPage,
)  # fmt: skip
async def my_signups(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    signups, events = request.app[SIGNUP_SERVICE], request.app[EVENT_SERVICE]
    docs, next_cursor = await signups.mine(current_principal(request), query)
    found = list((await events.by_id(list({doc["event_id"] for doc in docs}))).values())
    summaries = {
        str(doc["_id"]): summary
        for doc, summary in zip(found, await events.summaries(found), strict=True)
    }
    items = [
        MySignupOut(**(await signups.out(doc)).model_dump(), event=summaries.get(doc["event_id"]))
        for doc in docs
    ]
    return respond(MySignupPage(items=items, next_cursor=next_cursor))


@routes.get(
    "/me/signups/{signup_id}/ticket.png",
    "The QR code of my confirmed sign-up's ticket (PNG; never cached by a proxy)",
    access=Access.signed_in().on("signup_id", "signup", Whose.owner),
    content_type="image/png", errors=("signup_not_confirmed",),
)  # fmt: skip
async def ticket_png(request: web.Request) -> web.Response:
    signups = request.app[SIGNUP_SERVICE]
    png = await signups.ticket_png(current_principal(request), path_object_id(request, "signup_id"))
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "private, no-store"}
    )


# -- organizers ------------------------------------------------------------------------


@routes.post(
    "/admin/events", "Create a draft event", access=ORGANIZERS.uses("cover_media_id", **COVER),
    body=EventIn,
    response=AdminEventOut, status=201, errors=("speaker_not_found", "media_not_found"),
)  # fmt: skip
async def create_event(request: web.Request) -> web.Response:
    body = await read_body(request, EventIn)
    events = request.app[EVENT_SERVICE]
    doc = await events.create(current_principal(request), body.model_dump())
    return respond(await events.admin_out(doc), status=201)


@routes.get(
    "/admin/events", "My events (an admin: every event), newest first", access=ORGANIZERS,
    query=PageQuery, response=AdminEventPage,
)  # fmt: skip
async def list_admin_events(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[EVENT_SERVICE].admin_page(current_principal(request), query))


@routes.get(
    "/admin/events/{event_id}", "One of my events (an admin: any)", access=MANAGE,
    response=AdminEventOut,
)  # fmt: skip
async def get_admin_event(request: web.Request) -> web.Response:
    events = request.app[EVENT_SERVICE]
    doc = await events.owned(current_principal(request), path_object_id(request, "event_id"))
    return respond(await events.admin_out(doc))


@routes.patch(
    "/admin/events/{event_id}",
    "Edit; raising capacity promotes the waitlist, lowering it below the seats held is 409",
    access=MANAGE.uses("cover_media_id", **COVER), body=EventPatch, response=AdminEventOut,
    errors=(
        "invalid_transition", "capacity_below_confirmed", "speaker_not_found",
        "media_not_found", "conflict",
    ),
)  # fmt: skip
async def update_event(request: web.Request) -> web.Response:
    body = await read_body(request, EventPatch)
    events = request.app[EVENT_SERVICE]
    doc = await events.patch(
        current_principal(request),
        path_object_id(request, "event_id"),
        body.model_dump(include=body.model_fields_set),
    )
    return respond(await events.admin_out(doc))


@routes.post(
    "/admin/events/{event_id}/publish", "Publish a draft", access=MANAGE,
    response=AdminEventOut, errors=("invalid_transition",),
)  # fmt: skip
async def publish_event(request: web.Request) -> web.Response:
    events = request.app[EVENT_SERVICE]
    doc = await events.publish(current_principal(request), path_object_id(request, "event_id"))
    return respond(await events.admin_out(doc))


@routes.post(
    "/admin/events/{event_id}/cancel", "Cancel the event and every sign-up of it",
    access=MANAGE, response=AdminEventOut, errors=("invalid_transition",),
)  # fmt: skip
async def cancel_event(request: web.Request) -> web.Response:
    events = request.app[EVENT_SERVICE]
    doc = await events.cancel(current_principal(request), path_object_id(request, "event_id"))
    return respond(await events.admin_out(doc))


@routes.get(
    "/admin/events/{event_id}/signups",
    "The event's sign-ups (status=confirmed|waitlisted|cancelled; the waitlist in order, "
    "with positions), phone numbers masked",
    access=MANAGE, query=AdminSignupQuery, response=AdminSignupPage,
)  # fmt: skip
async def list_event_signups(request: web.Request) -> web.Response:
    query = read_query(request, AdminSignupQuery)
    event = await request.app[EVENT_SERVICE].owned(
        current_principal(request), path_object_id(request, "event_id")
    )
    return respond(await request.app[SIGNUP_SERVICE].organizer_page(str(event["_id"]), query))


@routes.get(
    "/admin/events/{event_id}/attendance",
    "Sign-up counts by status, check-ins and the attendance rate",
    access=MANAGE, response=AttendanceOut,
)  # fmt: skip
async def event_attendance(request: web.Request) -> web.Response:
    event = await request.app[EVENT_SERVICE].owned(
        current_principal(request), path_object_id(request, "event_id")
    )
    return respond(await request.app[SIGNUP_SERVICE].attendance(event))


@routes.get(
    "/admin/events/{event_id}/signups.xlsx",
    "Excel export of every sign-up (Chinese headers; the only place phone numbers are in "
    "full); every export is written to the audit log",
    access=MANAGE, content_type=XLSX_CONTENT_TYPE,
)  # fmt: skip
async def export_event_signups(request: web.Request) -> web.Response:
    principal = current_principal(request)
    event = await request.app[EVENT_SERVICE].owned(principal, path_object_id(request, "event_id"))
    export = await export_signups(
        event, request.app[SIGNUP_SERVICE], request.app[AUDIT], user_actor(principal.user_id)
    )
    return xlsx_response(export.body, export.filename)


# -- tickets and the door --------------------------------------------------------------


@routes.post(
    "/admin/events/{event_id}/checkin",
    "Scan a ticket at the door: attended once; again 409 already_attended; forged, "
    "cancelled or another event's 422 ticket_invalid",
    access=MANAGE, body=CheckinIn, response=CheckinOut,
    errors=("ticket_invalid", "already_attended"),
)  # fmt: skip
async def check_in(request: web.Request) -> web.Response:
    principal = current_principal(request)
    body = await read_body(request, CheckinIn)
    event = await request.app[EVENT_SERVICE].owned(principal, path_object_id(request, "event_id"))
    signups = request.app[SIGNUP_SERVICE]
    out = await signups.check_in(str(event["_id"]), body.ticket, user_actor(principal.user_id))
    return respond(out)


@routes.post(
    "/admin/events/{event_id}/checkins",
    f"Tickets scanned offline, each with its scan time (at most {MAX_SCANS} a batch): a "
    "result per scan; a sign-up is checked in once, at its earliest scan, whatever the "
    "order and however many times a batch is sent",
    access=MANAGE, body=CheckinBatchIn, response=CheckinBatchOut,
)  # fmt: skip
async def check_in_batch(request: web.Request) -> web.Response:
    principal = current_principal(request)
    body = await read_body(request, CheckinBatchIn)
    event = await request.app[EVENT_SERVICE].owned(principal, path_object_id(request, "event_id"))
    results = await request.app[SIGNUP_SERVICE].check_in_batch(
        str(event["_id"]),
        [(scan.ticket, scan.scanned_at) for scan in body.scans],
        user_actor(principal.user_id),
    )
    counts = dict.fromkeys(CheckinBatchCounts.model_fields, 0)
    for result in results:
        counts[result.result] += 1
    return respond(CheckinBatchOut(results=results, counts=CheckinBatchCounts(**counts)))
