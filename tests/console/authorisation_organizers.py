"""Organizers' pages in the authorisation matrix: events are the events room's factory's
(``tests/events/authorisation.py``), tickets of residents' sign-ups of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.events.repo import new_id
from server.clock import SHANGHAI
from tests.events.conftest import phone_of, resident
from tests.fixtures.authorisation import Call, Case, World, builds, plain

EVENT = "/admin/events/{event_id}"

plain(
    ("GET", "/admin/events"),
    ("GET", "/admin/events/new"),
    ("GET", EVENT),
    ("GET", EVENT + "/edit"),
    ("GET", EVENT + "/cancel"),
    ("POST", EVENT + "/cancel"),
    ("GET", EVENT + "/signups"),
    ("GET", EVENT + "/signups.xlsx"),
    ("GET", EVENT + "/door"),
)
plain(("POST", EVENT + "/publish"), states={"event_id": "draft"})


def _form(world: World) -> dict[str, Any]:
    starts = world.app[EVENT_SERVICE].clock.now() + timedelta(days=7)
    local = "%Y-%m-%dT%H:%M"
    return {
        "title": "矩阵活动",
        "venue_type": "community",
        "venue_name": "示例社区",
        "starts_at": starts.astimezone(SHANGHAI).strftime(local),
        "ends_at": (starts + timedelta(hours=2)).astimezone(SHANGHAI).strftime(local),
        "capacity": "50",
    }


@builds("POST", "/admin/events/new")
async def create_event(case: Case) -> Call:
    return Call(data=_form(case.world))


@builds("POST", EVENT + "/edit")
async def update_event(case: Case) -> Call:
    return Call(data={**_form(case.world), "title": "改名"})


async def _ticket(case: Case, name: str, n: int) -> str:
    """A ticket of a resident's confirmed sign-up of the case's event."""
    signups = case.world.app[SIGNUP_SERVICE]
    result = await signups.sign_up(resident(new_id()), case.id("event_id"), name, phone_of(n))
    return (await signups.out(result.signup)).ticket or ""


@builds("POST", EVENT + "/door")
async def door_check_in(case: Case) -> Call:
    return Call(data={"ticket": await _ticket(case, "到场", 6)})


@builds("POST", EVENT + "/door/scans")
async def door_scans(case: Case) -> Call:
    ticket = await _ticket(case, "离线", 7)
    scanned_at = case.world.app[SIGNUP_SERVICE].clock.now().isoformat()
    return Call(
        data={"scans": orjson.dumps([{"ticket": ticket, "scanned_at": scanned_at}]).decode()}
    )
