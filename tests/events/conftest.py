"""Helpers of the events tests: an organizer, events created and published over HTTP,
residents, and the room's services for calling without HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from handlers.events import EventServices
from handlers.events.keys import EVENT_MESSAGES, EVENT_SERVICE, SIGNUP_SERVICE
from server.clock import SettableClock
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_staff


@pytest.fixture
async def organizer(client: Client) -> Session:
    return await sign_in_staff(client, "organizer1", Role.organizer)


def event_body(clock: SettableClock, **fields: Any) -> dict[str, Any]:
    """A valid ``EventIn``: starting in a week, sign-ups open now."""
    starts = clock.now() + timedelta(days=7)
    body: dict[str, Any] = {
        "title": "工匠进校园",
        "description": "一堂动手课",
        "venue_type": "school",
        "venue_name": "示例中学",
        "address": "株洲市芦淞区",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": 10,
    }
    body.update(fields)
    return body


async def create_event(
    client: Client, organizer: Session, clock: SettableClock, *, publish: bool = True, **fields: Any
) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/admin/events", json=event_body(clock, **fields), headers=organizer.headers
    )
    assert resp.status == 201, await resp.text()
    event: dict[str, Any] = await resp.json()
    if publish:
        resp = await client.post(
            f"/api/v1/admin/events/{event['id']}/publish", headers=organizer.headers
        )
        assert resp.status == 200, await resp.text()
        event = await resp.json()
    return event


def phone_of(n: int) -> str:
    """A distinct valid mainland mobile number per ``n``."""
    return f"138{n:08d}"


def resident(user_id: str) -> Principal:
    return Principal(user_id, "test-session", frozenset({Role.resident}), "test-token")


@pytest.fixture
def services(client: Client) -> EventServices:
    """The test app's own events services (what its routes use)."""
    return EventServices(
        client.app[EVENT_SERVICE], client.app[SIGNUP_SERVICE], client.app[EVENT_MESSAGES]
    )
