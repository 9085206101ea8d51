"""The events room in the authorisation matrix: events of an organizer (draft or, by
default, published), cover photos (purpose ``event``), and tickets of their sign-ups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.events.repo import new_id
from server.principal import Principal, Role
from tests.events.conftest import phone_of, resident
from tests.fixtures.authorisation import Call, Caller, Case, Obj, World, builds, factory, plain
from tests.media.test_media_api import jpeg_bytes, upload

EVENT = "/api/v1/events/{event_id}"
ADMIN_EVENT = "/api/v1/admin/events/{event_id}"
COVER = jpeg_bytes((48, 32), color="teal")


def _fields(world: World, **extra: Any) -> dict[str, Any]:
    starts = world.app[EVENT_SERVICE].clock.now() + timedelta(days=7)
    return {
        "title": "矩阵活动",
        "venue_type": "community",
        "venue_name": "示例社区",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "capacity": 50,
        **extra,
    }


@factory("event")
async def event(world: World, owner: Caller, state: str | None) -> Obj:
    """An event ``owner`` organizes: ``draft`` or (by default) ``published``."""
    events = world.app[EVENT_SERVICE]
    doc = await events.create(owner.principal, _fields(world))
    if state != "draft":
        doc = await events.publish(owner.principal, str(doc["_id"]))
    return Obj(str(doc["_id"]))


@factory("signup")
async def signup(world: World, owner: Caller, state: str | None) -> Obj:
    """``owner``'s confirmed sign-up of an event of some organizer's."""
    events, signups = world.app[EVENT_SERVICE], world.app[SIGNUP_SERVICE]
    organizer = Principal(new_id(), "matrix", frozenset({Role.organizer}), "matrix")
    doc = await events.create(organizer, _fields(world))
    await events.publish(organizer, str(doc["_id"]))
    result = await signups.sign_up(owner.principal, str(doc["_id"]), "矩阵居民", phone_of(5))
    assert result.signup["status"] == "confirmed"
    return Obj(str(result.signup["_id"]))


@factory("event_photo")
async def event_photo(world: World, owner: Caller, state: str | None) -> Obj:
    """A public photo uploaded for events (once per owner and module)."""
    key = ("event_photo", owner.user_id)
    if key not in world.memo:
        resp = await upload(world.client, owner.session, COVER, purpose="event")
        assert resp.status == 201, await resp.text()
        world.memo[key] = Obj((await resp.json())["id"])
    return world.memo[key]


plain(
    ("GET", "/api/v1/events"),
    ("GET", EVENT),
    ("GET", "/api/v1/events/ticket-key"),
    ("GET", "/api/v1/me/signups"),
    ("GET", "/api/v1/me/signups/{signup_id}/ticket.png"),
    ("GET", "/api/v1/admin/events"),
    ("GET", ADMIN_EVENT),
    ("POST", ADMIN_EVENT + "/cancel"),
    ("GET", ADMIN_EVENT + "/signups"),
    ("GET", ADMIN_EVENT + "/attendance"),
    ("GET", ADMIN_EVENT + "/signups.xlsx"),
)
plain(("POST", ADMIN_EVENT + "/publish"), states={"event_id": "draft"})


@builds("POST", EVENT + "/signups")
async def sign_up(case: Case) -> Call:
    return Call(json={"name": "矩阵居民", "phone": phone_of(1)})


@builds("DELETE", EVENT + "/signups/me")
async def cancel_my_signup(case: Case) -> Call:
    """The caller's own sign-up, made first (anyone may sign up for anyone's event)."""
    if case.caller is not None:
        signups = case.world.app[SIGNUP_SERVICE]
        await signups.sign_up(case.caller.principal, case.id("event_id"), "矩阵居民", phone_of(2))
    return Call()


def _event_json(case: Case) -> dict[str, Any]:
    fields = _fields(case.world, cover_media_id=case.id("cover_media_id"))
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items()}


@builds("POST", "/api/v1/admin/events")
async def create_event(case: Case) -> Call:
    return Call(json=_event_json(case))


@builds("PATCH", ADMIN_EVENT)
async def update_event(case: Case) -> Call:
    return Call(json={"title": "改名", "cover_media_id": case.id("cover_media_id")})


@builds("POST", ADMIN_EVENT + "/checkin")
async def check_in(case: Case) -> Call:
    """A ticket of a resident's confirmed sign-up of this event."""
    signups = case.world.app[SIGNUP_SERVICE]
    result = await signups.sign_up(resident(new_id()), case.id("event_id"), "到场", phone_of(3))
    out = await signups.out(result.signup)
    return Call(json={"ticket": out.ticket})


@builds("POST", ADMIN_EVENT + "/checkins")
async def check_in_batch(case: Case) -> Call:
    """A ticket of a resident's confirmed sign-up of this event, scanned offline."""
    signups = case.world.app[SIGNUP_SERVICE]
    result = await signups.sign_up(resident(new_id()), case.id("event_id"), "离线", phone_of(4))
    out = await signups.out(result.signup)
    scanned_at = signups.clock.now().isoformat()
    return Call(json={"scans": [{"ticket": out.ticket, "scanned_at": scanned_at}]})
