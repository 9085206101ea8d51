"""Tickets: Ed25519-signed, verified offline with the public key alone; the door scan
is once, forged / cancelled / another event's are refused."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from server.clock import SettableClock
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _signed_up(client: Client, user: Session, event_id: str, n: int) -> dict[str, object]:
    resp = await client.post(
        f"/api/v1/events/{event_id}/signups",
        json={"name": f"居民{n}", "phone": phone_of(n)},
        headers=user.headers,
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, object] = await resp.json()
    return body


async def test_a_ticket_verifies_offline_and_carries_no_personal_data(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    user = await sign_in_wechat(client, "holder")
    signup = await _signed_up(client, user, event["id"], 1)
    ticket = signup["ticket"]
    assert isinstance(ticket, str) and ticket.startswith("T1.") and len(ticket) < 130
    key = await (await client.get("/api/v1/events/ticket-key")).json()
    public = Ed25519PublicKey.from_public_bytes(_unb64(key["public_key"]))
    raw = _unb64(ticket[3:])
    body, signature = raw[:24], raw[24:]
    public.verify(signature, b"jiangxin-ticket:v1" + body)  # what a door device does
    assert body.hex() == event["id"] + signup["id"]
    tampered = bytes([body[0] ^ 1]) + body[1:]
    try:
        public.verify(signature, b"jiangxin-ticket:v1" + tampered)
        raise AssertionError("a tampered ticket verified")
    except InvalidSignature:
        pass
    waiting = await _signed_up(client, await sign_in_wechat(client, "waiter"), event["id"], 2)
    assert waiting["ticket"] is None


async def test_the_door_scan_is_once_and_refuses_forged_cancelled_and_foreign_tickets(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=3)
    other_event = await create_event(client, organizer, clock, capacity=3)
    users = [await sign_in_wechat(client, f"door{i}") for i in range(3)]
    tickets = [
        str((await _signed_up(client, u, event["id"], i))["ticket"]) for i, u in enumerate(users)
    ]
    foreign = str((await _signed_up(client, users[0], other_event["id"], 9))["ticket"])
    path = f"/api/v1/admin/events/{event['id']}/checkin"

    first = await client.post(path, json={"ticket": tickets[0]}, headers=organizer.headers)
    assert first.status == 200
    attended = await first.json()
    assert attended["status"] == "attended" and attended["phone"] == "138****0000"
    again = await client.post(path, json={"ticket": tickets[0]}, headers=organizer.headers)
    assert again.status == 409
    body = await again.json()
    assert_error(body, "already_attended")
    assert body["error"]["details"]["by"] == f"user:{organizer.user_id}"
    assert body["error"]["details"]["attended_at"]

    cancel = await client.delete(
        f"/api/v1/events/{event['id']}/signups/me", headers=users[1].headers
    )
    assert cancel.status == 200
    forged = tickets[2][:-2] + ("AA" if not tickets[2].endswith("AA") else "BB")
    for bad in (tickets[1], foreign, forged, "T1.", "not a ticket", "T1." + "A" * 118):
        resp = await client.post(path, json={"ticket": bad}, headers=organizer.headers)
        assert resp.status == 422, bad
        assert_error(await resp.json(), "ticket_invalid")
    ok = await client.post(path, json={"ticket": tickets[2]}, headers=organizer.headers)
    assert ok.status == 200
