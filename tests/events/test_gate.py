"""The Redis gate: a full event without a waitlist is refused from Redis alone, the gate
is rebuilt from MongoDB when missing, and without Redis sign-ups go on, exact."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from config.settings import Settings
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from server.app import create_app
from server.clock import SettableClock
from server.keys import REDIS
from server.principal import Role
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat


async def _sign_up(client: Client, user: Session, event_id: str, n: int) -> tuple[int, Any]:
    resp = await client.post(
        f"/api/v1/events/{event_id}/signups",
        json={"name": "居民", "phone": phone_of(n)},
        headers=user.headers,
    )
    return resp.status, await resp.json()


async def test_a_full_event_is_refused_by_the_gate_and_the_gate_is_rebuilt(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=1, waitlist_enabled=False)
    first, second = await sign_in_wechat(client, "g1"), await sign_in_wechat(client, "g2")
    assert (await _sign_up(client, first, event["id"], 1))[0] == 201
    gate = client.app[SIGNUP_SERVICE].gate
    view = await gate.view(event["id"])
    assert view is not None and view.clearly_full(clock.timestamp())
    # The gate decides alone: with the event gone from MongoDB it still says full.
    events = client.app[EVENT_SERVICE]
    await events.repo.collection.delete_one({})
    status, body = await _sign_up(client, second, event["id"], 2)
    assert status == 409
    assert_error(body, "event_full")
    # Missing, it is rebuilt from MongoDB by the next request that reads the event.
    await client.app[REDIS].client.delete(gate._key(event["id"]))
    status, _ = await _sign_up(client, second, event["id"], 2)
    assert status == 404  # the event really is gone now
    assert await gate.view(event["id"]) is None


async def test_without_redis_sign_ups_go_on_and_never_oversell(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock, unused_tcp_port: int
) -> None:
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0"})
    app: web.Application = create_app(no_redis, clock=clock)
    client = await aiohttp_client(app)
    organizer = await sign_in_staff(client, "organizer-nr", Role.organizer)
    event = await create_event(client, organizer, clock, capacity=2, waitlist_enabled=False)
    users = [await sign_in_wechat(client, f"nr{i}") for i in range(3)]
    answers = [await _sign_up(client, user, event["id"], i) for i, user in enumerate(users)]
    assert [status for status, _ in answers] == [201, 201, 409]
    assert_error(answers[2][1], "event_full")
    counts = await client.app[SIGNUP_SERVICE].repo.counts(event["id"])
    assert counts == {"confirmed": 2}
