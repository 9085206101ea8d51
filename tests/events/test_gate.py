"""The Redis gate: a full event without a waitlist is refused from Redis alone, the gate
is rebuilt from MongoDB when missing, and without Redis sign-ups go on, exact."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp import web

from config.settings import Settings
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from server.app import create_app
from server.clock import SettableClock
from server.errors import REDIS_UNAVAILABLE
from server.keys import REDIS
from server.principal import Role
from tests.events.conftest import create_event, phone_of
from tests.events.test_invariant import tokens
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.errors import assert_error
from tests.fixtures.redis_process import RedisProcess
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat
from tests.fixtures.waiting import eventually


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


async def test_redis_killed_in_the_middle_of_a_burst(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    own_redis: RedisProcess,
) -> None:
    """No oversell, nothing but 201, 409 and 503 (with Retry-After) while Redis goes away,
    and the gate rebuilt from MongoDB once it is back."""
    app = create_app(
        settings.model_copy(update={"redis_url": own_redis.url, "rate_limits": False}),
        clock=clock,
    )
    client = await aiohttp_client(app)
    organizer = await sign_in_staff(client, "organizer-kill", Role.organizer)
    event = await create_event(client, organizer, clock, capacity=60, waitlist_enabled=False)
    users = await tokens(client, 240, "kill")
    answers: dict[int, tuple[int, str | None]] = {}
    killed = asyncio.Event()

    async def sign_up(i: int) -> None:
        resp = await client.post(
            f"/api/v1/events/{event['id']}/signups",
            json={"name": f"居民{i}", "phone": phone_of(i)},
            headers={"Authorization": f"Bearer {users[i]}"},
        )
        answers[i] = (resp.status, resp.headers.get("Retry-After"))
        if len(answers) == 40:  # in the middle of the burst
            await asyncio.to_thread(own_redis.stop)
            killed.set()

    await asyncio.gather(*(sign_up(i) for i in range(len(users))))
    assert killed.is_set()
    statuses = Counter(status for status, _ in answers.values())
    assert set(statuses) <= {201, 409, 503}, statuses
    assert all(retry for status, retry in answers.values() if status == 503)
    signups = client.app[SIGNUP_SERVICE]
    assert (await signups.repo.counts(event["id"])).get("confirmed", 0) <= 60
    assert statuses[201] == (await signups.repo.counts(event["id"])).get("confirmed", 0)

    own_redis.start()  # empty: the gate is gone
    gate, redis = signups.gate, client.app[REDIS].client

    async def redis_back() -> bool:
        try:
            return bool(await redis.ping())
        except REDIS_UNAVAILABLE:
            return False

    await eventually(redis_back, what="Redis to answer again")
    assert await gate.view(event["id"]) is None
    # Those answered 503 try again, and one more: the seats left, then "full".
    late = len(users)
    users.append((await tokens(client, 1, "kill-late"))[0])
    retried = [i for i, (status, _) in answers.items() if status == 503]
    for i in [*retried, late]:
        await sign_up(i)
    assert answers[late][0] == 409
    counts = await signups.repo.counts(event["id"])
    assert counts == {"confirmed": 60}
    event_doc = await signups.events.get(event["id"])
    assert event_doc is not None
    assert len(event_doc["seats"]) == event_doc["capacity"] - event_doc["seats_left"] == 60
    # Rebuilt from MongoDB by the requests that read the event: it refuses on its own again.
    view = await gate.view(event["id"])
    assert view is not None and view.version == event_doc["version"]
    assert view.seats_left == 0 and view.clearly_full(clock.timestamp())


async def _calls(client: Client) -> Counter[str]:
    """Commands the Redis server has run so far, by name (``INFO commandstats``)."""
    stats = await client.app[REDIS].client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()})


async def test_a_bursts_sign_ups_share_their_gate_reads_and_writes(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    """200 sign-ups of one event at once read the gate and write it back by a few shared
    commands, not two each, and the gate ends as the newest event MongoDB gave."""
    event = await create_event(client, organizer, clock, capacity=20)
    users = await tokens(client, 200, "share")
    before = await _calls(client)

    async def sign_up(i: int) -> int:
        resp = await client.post(
            f"/api/v1/events/{event['id']}/signups",
            json={"name": f"居民{i}", "phone": phone_of(i)},
            headers={"Authorization": f"Bearer {users[i]}"},
        )
        return resp.status

    statuses = await asyncio.gather(*(sign_up(i) for i in range(len(users))))
    after = await _calls(client)
    assert Counter(statuses) == {201: 200}
    reads, writes = after["hgetall"] - before["hgetall"], after["evalsha"] - before["evalsha"]
    assert 1 <= reads <= len(users) // 4
    assert 1 <= writes <= len(users) // 4
    signups = client.app[SIGNUP_SERVICE]
    assert await signups.repo.counts(event["id"]) == {"confirmed": 20, "waitlisted": 180}
    doc = await signups.events.get(event["id"])
    view = await signups.gate.view(event["id"])
    assert doc is not None and view is not None
    assert (view.version, view.seats_left, view.line_started) == (doc["version"], 0, True)


async def test_of_concurrent_gate_writes_the_newest_stays(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=5)
    signups = client.app[SIGNUP_SERVICE]
    doc = await signups.events.get(event["id"])
    assert doc is not None
    base = doc["version"]
    pictures = [{**doc, "version": base + n, "seats_left": 5 - n} for n in (2, 5, 1, 4, 3)]
    await asyncio.gather(*(signups.gate.store(picture) for picture in pictures))
    view = await signups.gate.view(event["id"])
    assert view is not None and (view.version, view.seats_left) == (base + 5, 0)
    # An older picture written later changes nothing.
    await signups.gate.store({**doc, "version": base + 3, "seats_left": 2})
    view = await signups.gate.view(event["id"])
    assert view is not None and (view.version, view.seats_left) == (base + 5, 0)
