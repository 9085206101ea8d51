"""The invariant under concurrency and crashes: at every moment confirmed <= capacity and
one active sign-up per user and event (API.md), whatever the interleaving, with several
server processes, and after a process died between the seat write and the sign-up."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import aiohttp

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from handlers.events import EventServices
from handlers.events.repo import new_id
from handlers.events.signups import HOLD_GRACE
from server.clock import SettableClock
from tests.events.conftest import create_event, phone_of, resident
from tests.fixtures.app import Client
from tests.fixtures.live_server import LiveServers
from tests.fixtures.sessions import Session


async def tokens(client: Client, count: int, prefix: str) -> list[str]:
    """Access tokens of ``count`` WeChat users, signed in through the auth service (the
    HTTP sign-in is tested elsewhere; here it would only be slow)."""
    auth = client.app[AUTH_SERVICE]
    issued: list[str] = []
    for start in range(0, count, 100):
        batch = await asyncio.gather(
            *(auth.login_wechat(f"dev:{prefix}{i}") for i in range(start, min(count, start + 100)))
        )
        issued.extend(t.access_token for t in batch)
    return issued


async def check_invariant(services: EventServices, event_id: str) -> dict[str, int]:
    event = await services.events.repo.get(event_id)
    assert event is not None
    counts = await services.signups.repo.counts(event_id)
    held = event["capacity"] - event["seats_left"]
    assert len(event["seats"]) == held
    assert counts.get("confirmed", 0) <= event["capacity"]
    return {**counts, "held": held}


async def test_a_thousand_at_once_over_two_processes_fill_exactly_the_seats(
    client: Client,
    organizer: Session,
    clock: SettableClock,
    settings: Settings,
    live_server: LiveServers,
    services: EventServices,
) -> None:
    event = await create_event(client, organizer, clock, capacity=100)
    users = await tokens(client, 1000, "burst")
    # Two real server processes on the test's database, with the real clock (sign-ups are
    # open from the event's creation on, a week before it starts).
    servers = await asyncio.gather(
        live_server(settings=settings, rate_limits=False),
        live_server(settings=settings, rate_limits=False),
    )
    statuses: Counter[int] = Counter()
    answers: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sign_up(i: int, token: str) -> None:
            base = servers[i % 2].base_url
            async with session.post(
                f"{base}/api/v1/events/{event['id']}/signups",
                json={"name": f"居民{i}", "phone": phone_of(i)},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{i}"},
            ) as resp:
                statuses[resp.status] += 1
                if resp.status == 201:
                    answers.append(await resp.json())

        await asyncio.gather(*(sign_up(i, token) for i, token in enumerate(users)))
        # Every user taps again with the same key: replays, no second sign-up.
        replays: Counter[int] = Counter()

        async def tap_again(i: int, token: str) -> None:
            async with session.post(
                f"{servers[(i + 1) % 2].base_url}/api/v1/events/{event['id']}/signups",
                json={"name": f"居民{i}", "phone": phone_of(i)},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{i}"},
            ) as resp:
                replays[resp.status] += 1

        await asyncio.gather(*(tap_again(i, token) for i, token in enumerate(users[:200])))

    assert statuses == {201: 1000}
    assert replays == {201: 200}
    assert Counter(a["status"] for a in answers) == {"confirmed": 100, "waitlisted": 900}
    # Each waitlisted answer told its own place in line: 1..900, one each.
    assert sorted(a["position"] for a in answers if a["status"] == "waitlisted") == list(
        range(1, 901)
    )
    counts = await check_invariant(services, event["id"])
    assert counts == {"confirmed": 100, "waitlisted": 900, "held": 100}
    # The waitlist in a consistent order: positions 1..900, one each, in waitlist order.
    waiting = await services.signups.repo.first_waitlisted(event["id"], 1000)
    positions = [
        await services.signups.repo.position(event["id"], d["seq"], str(d["_id"])) for d in waiting
    ]
    assert positions == list(range(1, 901))


async def test_concurrent_cancellations_and_sign_ups_promote_one_per_freed_seat(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=100)
    signups = services.signups
    people = [new_id() for _ in range(250)]
    await asyncio.gather(  # 100 confirmed, then 150 waiting
        *(
            signups.sign_up(resident(user_id), event["id"], f"居民{i}", phone_of(i))
            for i, user_id in enumerate(people)
        )
    )
    waiting_before = [d["user_id"] for d in await signups.repo.first_waitlisted(event["id"], 1000)]
    holders = [
        d["user_id"] for d in await signups.repo.of_event_with_status(event["id"], "confirmed")
    ]
    assert len(holders) == 100
    newcomers = [new_id() for _ in range(100)]

    async def cancel(user_id: str) -> None:
        await signups.cancel_mine(resident(user_id), event["id"])

    async def join(i: int, user_id: str) -> None:
        await signups.sign_up(resident(user_id), event["id"], f"新人{i}", phone_of(500 + i))

    await asyncio.gather(
        *(cancel(user_id) for user_id in holders),
        *(join(i, user_id) for i, user_id in enumerate(newcomers)),
    )
    counts = await check_invariant(services, event["id"])
    assert counts == {"cancelled": 100, "confirmed": 100, "waitlisted": 150, "held": 100}
    confirmed = {
        doc["user_id"] for doc in await signups.repo.of_event_with_status(event["id"], "confirmed")
    }
    # Exactly one promotion per freed seat, first in line first; newcomers wait behind.
    assert confirmed == set(waiting_before[:100])
    still_waiting = [d["user_id"] for d in await signups.repo.first_waitlisted(event["id"], 1000)]
    assert still_waiting[:50] == waiting_before[100:]
    assert set(still_waiting[50:]) == set(newcomers)


async def test_a_seat_taken_by_a_request_that_died_goes_back_through_the_sweeper(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    signups = services.signups
    first, waiting = new_id(), new_id()
    await signups.sign_up(resident(first), event["id"], "甲", phone_of(1))
    # The first write of a sign-up only, as a process killed before the second does it.
    lost = new_id()
    assert await services.events.repo.claim_seat(
        event["id"], lost, clock.now(), epoch=None, first_come=True
    )
    assert (await signups.sign_up(resident(waiting), event["id"], "乙", phone_of(2))).signup[
        "status"
    ] == "waitlisted"
    assert await check_invariant(services, event["id"]) == {
        "confirmed": 1, "waitlisted": 1, "held": 2,
    }  # fmt: skip

    assert (await signups.sweep()).released == 0  # it may still be on its way
    clock.advance(HOLD_GRACE)
    result = await signups.sweep()
    assert (result.released, result.promoted) == (1, 1)
    assert await check_invariant(services, event["id"]) == {
        "confirmed": 2, "void": 1, "held": 2,
    }  # fmt: skip
    # The dead request's sign-up can never be written now: its id is taken.
    assert not await signups.repo.insert({"_id": lost, "active_key": "x"})


async def test_a_cancellation_that_died_before_giving_the_seat_back_is_repaired(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    signups = services.signups
    holder, waiting = new_id(), new_id()
    result = await signups.sign_up(resident(holder), event["id"], "甲", phone_of(1))
    await signups.sign_up(resident(waiting), event["id"], "乙", phone_of(2))
    # Only the first write of the cancellation (the sign-up), not the seat.
    await signups.repo.cancel(str(result.signup["_id"]), clock.now(), "user")
    assert await check_invariant(services, event["id"]) == {
        "cancelled": 1, "waitlisted": 1, "held": 1,
    }  # fmt: skip
    swept = await signups.sweep()  # a cancelled sign-up's seat goes back at once
    assert (swept.released, swept.promoted) == (1, 1)
    assert await check_invariant(services, event["id"]) == {
        "cancelled": 1, "confirmed": 1, "held": 1,
    }  # fmt: skip


async def test_a_promotion_that_died_midway_is_voided_and_redone(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    signups = services.signups
    holder, waiting = new_id(), new_id()
    held = await signups.sign_up(resident(holder), event["id"], "甲", phone_of(1))
    queued = await signups.sign_up(resident(waiting), event["id"], "乙", phone_of(2))
    queued_id = str(queued.signup["_id"])
    # The holder cancels; a promoter takes the seat for the waiting one and dies.
    await signups.repo.cancel(str(held.signup["_id"]), clock.now(), "user")
    await services.events.repo.release_seat(event["id"], str(held.signup["_id"]))
    assert await services.events.repo.claim_seat(
        event["id"], queued_id, clock.now(), epoch=0, first_come=False
    )
    clock.advance(HOLD_GRACE + timedelta(seconds=1))
    swept = await signups.sweep()
    assert (swept.released, swept.promoted) == (1, 1)
    # The dead promoter's confirmation (epoch 0) can no longer happen.
    assert await signups.repo.confirm_promoted(queued_id, 0, clock.now()) is None
    assert await check_invariant(services, event["id"]) == {
        "cancelled": 1, "confirmed": 1, "held": 1,
    }  # fmt: skip


async def test_a_waitlist_place_whose_sign_up_was_never_written_stops_counting_ahead(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    signups = services.signups
    await signups.sign_up(resident(new_id()), event["id"], "甲", phone_of(1))
    first = await signups.sign_up(resident(new_id()), event["id"], "乙", phone_of(2))
    # A process killed between the waitlist place (write 1) and the sign-up (write 2).
    assert await services.events.repo.join_waitlist(event["id"], clock.now())
    last = await signups.sign_up(resident(new_id()), event["id"], "丙", phone_of(3))
    assert (first.position, last.position) == (1, 3)  # the dead one might still come
    assert (await signups.sweep()).released == 0  # it may still be on its way
    clock.advance(HOLD_GRACE)
    await signups.sweep()
    assert (await signups.out(first.signup)).position == 1
    assert (await signups.out(last.signup)).position == 2
