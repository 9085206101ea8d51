"""Sign-ups through HTTP: seats, the waitlist, cancellations, closed and full events,
Idempotency-Key, phone numbers (validated, masked), capacity changes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from handlers.events import EventServices
from server.clock import SettableClock
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat


async def sign_up(
    client: Client, user: Session, event_id: str, n: int = 0, **headers: str
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/events/{event_id}/signups",
        json={"name": f"居民{n}", "phone": phone_of(n)},
        headers={**user.headers, **headers},
    )
    body: dict[str, Any] = await resp.json()
    return resp.status, body


async def residents(client: Client, count: int) -> list[Session]:
    return [await sign_in_wechat(client, f"resident{i}") for i in range(count)]


async def test_seats_then_the_waitlist_then_promotion_on_cancellation(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    users = await residents(client, 4)
    answers = [await sign_up(client, user, event["id"], i) for i, user in enumerate(users)]
    assert [status for status, _ in answers] == [201] * 4
    assert [body["status"] for _, body in answers] == [
        "confirmed", "confirmed", "waitlisted", "waitlisted",
    ]  # fmt: skip
    assert [body["position"] for _, body in answers] == [None, None, 1, 2]
    assert answers[0][1]["phone"] == "138****0000"
    seats = (await (await client.get(f"/api/v1/events/{event['id']}")).json())["seats_left"]
    assert seats == 0

    again_status, again = await sign_up(client, users[0], event["id"], 0)
    assert again_status == 409
    assert_error(again, "already_signed_up")
    assert again["error"]["details"]["signup"]["id"] == answers[0][1]["id"]

    resp = await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=users[0].headers)
    assert resp.status == 200
    assert await resp.json() == {"status": "cancelled"}
    mine = await (await client.get("/api/v1/me/signups", headers=users[2].headers)).json()
    assert mine["items"][0]["status"] == "confirmed"
    assert mine["items"][0]["event"]["id"] == event["id"]
    last = await (await client.get("/api/v1/me/signups", headers=users[3].headers)).json()
    assert last["items"][0]["position"] == 1
    seats = (await (await client.get(f"/api/v1/events/{event['id']}")).json())["seats_left"]
    assert seats == 0
    gone = await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=users[0].headers)
    assert gone.status == 404


async def test_positions_move_up_when_someone_ahead_leaves_the_line(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    users = await residents(client, 5)
    answers = [await sign_up(client, user, event["id"], i) for i, user in enumerate(users[:4])]
    assert [body["position"] for _, body in answers] == [None, 1, 2, 3]
    # The confirmed one taps again (a new key): 409, and the place it took is nobody's.
    again_status, again = await sign_up(client, users[0], event["id"], 0)
    assert (again_status, again["error"]["code"]) == (409, "already_signed_up")
    status, fifth = await sign_up(client, users[4], event["id"], 4)
    assert (status, fifth["position"]) == (201, 4)
    # The first in line cancels: everyone behind moves up one.
    resp = await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=users[1].headers)
    assert resp.status == 200
    positions = []
    for user in users[2:]:
        mine = await (await client.get("/api/v1/me/signups", headers=user.headers)).json()
        positions.append(mine["items"][0]["position"])
    assert positions == [1, 2, 3]
    newcomer = await sign_in_wechat(client, "resident5")
    status, late = await sign_up(client, newcomer, event["id"], 5)
    assert (status, late["position"]) == (201, 4)


async def test_full_without_waitlist_is_409_event_full(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=1, waitlist_enabled=False)
    users = await residents(client, 3)
    assert (await sign_up(client, users[0], event["id"], 0))[0] == 201
    for i in (1, 2):  # the second through MongoDB, the third through the Redis gate too
        status, body = await sign_up(client, users[i], event["id"], i)
        assert status == 409
        assert_error(body, "event_full")


@pytest.mark.parametrize("when", ["before_opening", "after_deadline", "cancelled"])
async def test_closed_sign_ups_are_422(
    client: Client, organizer: Session, clock: SettableClock, when: str
) -> None:
    now = clock.now()
    event = await create_event(
        client, organizer, clock,
        signup_opens_at=(now + timedelta(minutes=5)).isoformat(),
        signup_deadline=(now + timedelta(minutes=10)).isoformat(),
    )  # fmt: skip
    user = await sign_in_wechat(client, "late")
    # Within the access tokens' 15 minutes.
    if when == "after_deadline":
        clock.set(now + timedelta(minutes=10))
    elif when == "cancelled":
        clock.set(now + timedelta(minutes=6))
        resp = await client.post(
            f"/api/v1/admin/events/{event['id']}/cancel", headers=organizer.headers
        )
        assert resp.status == 200
    status, body = await sign_up(client, user, event["id"])
    assert status == 422
    assert_error(body, "signup_closed")


async def test_one_idempotency_key_twice_is_one_sign_up(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    user = await sign_in_wechat(client, "tapper")
    first = await sign_up(client, user, event["id"], 7, **{"Idempotency-Key": "tap-1"})
    second = await sign_up(client, user, event["id"], 7, **{"Idempotency-Key": "tap-1"})
    assert first == second
    assert first[0] == 201
    counts = await services.signups.repo.counts(event["id"])
    assert counts == {"confirmed": 1}
    other = await client.post(
        f"/api/v1/events/{event['id']}/signups",
        json={"name": "别人", "phone": phone_of(8)},
        headers={**user.headers, "Idempotency-Key": "tap-1"},
    )
    assert_error(await other.json(), "idempotency_key_reused")


@pytest.mark.parametrize(
    "phone", ["12800000000", "1380000000", "138000000001", "abc", "１３８００００００００"]
)
async def test_phone_numbers_must_be_mainland_mobiles(
    client: Client, organizer: Session, clock: SettableClock, phone: str
) -> None:
    event = await create_event(client, organizer, clock)
    user = await sign_in_wechat(client, "wrongnumber")
    resp = await client.post(
        f"/api/v1/events/{event['id']}/signups",
        json={"name": "张三", "phone": phone},
        headers=user.headers,
    )
    assert resp.status == 422
    body = await resp.json()
    assert_error(body, "phone_invalid")
    assert phone not in await resp.text()


async def test_phone_numbers_are_encrypted_masked_and_never_logged(
    client: Client,
    organizer: Session,
    clock: SettableClock,
    services: EventServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="jiangxin")
    event = await create_event(client, organizer, clock, capacity=1)
    user = await sign_in_wechat(client, "private")
    resp = await client.post(
        f"/api/v1/events/{event['id']}/signups",
        json={"name": "李四", "phone": "+86 139-1234-5678"},
        headers=user.headers,
    )
    assert resp.status == 201
    text = await resp.text()
    assert "13912345678" not in text and "139****5678" in text
    mine = await client.get("/api/v1/me/signups", headers=user.headers)
    assert "13912345678" not in await mine.text()
    export = await client.get("/api/v1/me/export", headers=user.headers)
    assert "13912345678" not in await export.text()
    doc = await services.signups.repo.get((await resp.json())["id"])
    assert doc is not None
    assert b"13912345678" not in bytes(doc["phone"]["c"])
    assert doc["phone"]["k"] == "root"
    assert services.signups.phone_of(doc) == "13912345678"
    assert not any("12345678" in record.getMessage() for record in caplog.records)


async def test_raising_capacity_promotes_in_order_and_lowering_below_confirmed_is_409(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    users = await residents(client, 5)
    for i, user in enumerate(users):
        await sign_up(client, user, event["id"], i)
    path = f"/api/v1/admin/events/{event['id']}"
    low = await client.patch(path, json={"capacity": 1}, headers=organizer.headers)
    assert low.status == 409
    assert_error(await low.json(), "capacity_below_confirmed")
    high = await client.patch(path, json={"capacity": 4}, headers=organizer.headers)
    assert high.status == 200
    assert (await high.json())["seats_left"] == 0
    statuses = []
    for user in users:
        mine = await (await client.get("/api/v1/me/signups", headers=user.headers)).json()
        statuses.append((mine["items"][0]["status"], mine["items"][0]["position"]))
    assert statuses == [
        ("confirmed", None), ("confirmed", None), ("confirmed", None), ("confirmed", None),
        ("waitlisted", 1),
    ]  # fmt: skip


async def test_cancelling_the_event_cancels_every_sign_up(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    users = await residents(client, 3)
    for i, user in enumerate(users):
        await sign_up(client, user, event["id"], i)
    resp = await client.post(
        f"/api/v1/admin/events/{event['id']}/cancel", headers=organizer.headers
    )
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    assert await services.signups.repo.counts(event["id"]) == {"cancelled": 3}


async def test_erasure_gives_the_seat_to_the_next_in_line(
    client: Client, organizer: Session, clock: SettableClock, services: EventServices
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    first, second = await residents(client, 2)
    await sign_up(client, first, event["id"], 1)
    await sign_up(client, second, event["id"], 2)
    export = await (await client.get("/api/v1/me/export", headers=first.headers)).json()
    (exported,) = export["sections"]["event_signups"]
    assert (exported["event_id"], exported["status"]) == (event["id"], "confirmed")
    assert (exported["name"], exported["phone"]) == ("居民1", "138****0001")
    assert (await client.delete("/api/v1/me", headers=first.headers)).status == 202
    mine = await (await client.get("/api/v1/me/signups", headers=second.headers)).json()
    assert mine["items"][0]["status"] == "confirmed"
    assert mine["items"][0]["ticket"]  # promoted: a ticket of their own
    assert await services.signups.repo.counts(event["id"]) == {"cancelled": 1, "confirmed": 1}
    erased = await services.signups.repo.get(exported["id"])
    assert erased is not None
    assert (erased["user_id"], erased["name"], erased["phone_masked"]) == (None, "", "")
    assert "phone" not in erased and erased["cancel_reason"] == "erased"
