"""Tickets: Ed25519-signed, verified offline with the public key alone; the door scan
is once, forged / cancelled / another event's are refused."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from handlers.events.schemas import MAX_SCANS
from handlers.events.tickets import qr_png
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


async def test_an_offline_batch_checks_each_sign_up_in_once_at_its_earliest_scan(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=5)
    other_event = await create_event(client, organizer, clock, capacity=5)
    users = [await sign_in_wechat(client, f"offline{i}") for i in range(5)]
    signups = [await _signed_up(client, u, event["id"], i) for i, u in enumerate(users)]
    tickets = [str(s["ticket"]) for s in signups]
    foreign = str((await _signed_up(client, users[0], other_event["id"], 9))["ticket"])
    cancel = await client.delete(
        f"/api/v1/events/{event['id']}/signups/me", headers=users[3].headers
    )
    assert cancel.status == 200
    opened = clock.now()
    clock.advance(timedelta(minutes=10))
    # The door scanned ticket 4 online, after the device (offline) had scanned it.
    online = await client.post(
        f"/api/v1/admin/events/{event['id']}/checkin",
        json={"ticket": tickets[4]},
        headers=organizer.headers,
    )
    assert online.status == 200

    def at(minutes: float) -> str:
        return (opened + timedelta(minutes=minutes)).isoformat()

    scans = [
        {"ticket": tickets[0], "scanned_at": at(3)},
        {"ticket": tickets[1], "scanned_at": at(2)},
        {"ticket": tickets[0], "scanned_at": at(1)},  # the earlier scan comes later
        {"ticket": foreign, "scanned_at": at(2)},
        {"ticket": tickets[3], "scanned_at": at(2)},  # cancelled
        {"ticket": "a QR code of something else" * 10, "scanned_at": at(2)},
        {"ticket": tickets[2], "scanned_at": at(30)},  # the device's clock is off
        {"ticket": tickets[2], "scanned_at": at(-20)},  # before the ticket was issued
        {"ticket": tickets[4], "scanned_at": at(4)},
        {"ticket": tickets[2], "scanned_at": "0001-01-01T00:00:00+14:00"},  # no instant
        {"ticket": tickets[2], "scanned_at": "9999-12-31T23:59:59-14:00"},
    ]
    path = f"/api/v1/admin/events/{event['id']}/checkins"
    first = await client.post(path, json={"scans": scans}, headers=organizer.headers)
    assert first.status == 200, await first.text()
    answer = await first.json()
    assert [r["result"] for r in answer["results"]] == [
        "already_attended", "attended", "attended", "ticket_invalid", "ticket_invalid",
        "ticket_invalid", "scan_time_invalid", "scan_time_invalid", "attended",
        "scan_time_invalid", "scan_time_invalid",
    ]  # fmt: skip
    assert [r["index"] for r in answer["results"]] == list(range(len(scans)))
    assert answer["counts"] == {
        "attended": 3, "already_attended": 1, "ticket_invalid": 3, "scan_time_invalid": 4,
    }  # fmt: skip
    by = f"user:{organizer.user_id}"
    repeat = answer["results"][0]
    assert (repeat["attended_at"], repeat["by"]) == (answer["results"][2]["attended_at"], by)
    assert repeat["signup_id"] == signups[0]["id"] and repeat["phone"] == "138****0000"
    assert answer["results"][3]["signup_id"] is None and answer["results"][3]["name"] is None

    # The same batch again, and reversed: the same answers, nothing moves.
    again = await client.post(path, json={"scans": scans}, headers=organizer.headers)
    assert await again.json() == answer
    backwards = await client.post(path, json={"scans": scans[::-1]}, headers=organizer.headers)
    assert [r["result"] for r in (await backwards.json())["results"]] == [
        r["result"] for r in answer["results"][::-1]
    ]
    mine = await (await client.get("/api/v1/me/signups", headers=users[0].headers)).json()
    assert mine["items"][0]["status"] == "confirmed"
    # The earliest scan is the check-in: ticket 4's online scan gave way to the device's.
    again_online = await client.post(
        f"/api/v1/admin/events/{event['id']}/checkin",
        json={"ticket": tickets[4]},
        headers=organizer.headers,
    )
    assert again_online.status == 409
    details = (await again_online.json())["error"]["details"]
    assert details["attended_at"].startswith((opened + timedelta(minutes=4)).isoformat()[:19])
    # The door's online scan of ticket 1 now finds the batch's check-in.
    assert (
        await client.post(
            f"/api/v1/admin/events/{event['id']}/checkin",
            json={"ticket": tickets[1]},
            headers=organizer.headers,
        )
    ).status == 409


async def test_an_offline_batch_is_bounded_and_its_scan_times_carry_an_offset(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock)
    path = f"/api/v1/admin/events/{event['id']}/checkins"
    scan = {"ticket": "T1.x", "scanned_at": clock.now().isoformat()}
    too_many = await client.post(
        path, json={"scans": [scan] * (MAX_SCANS + 1)}, headers=organizer.headers
    )
    assert too_many.status == 422
    assert "scans" in (await too_many.json())["error"]["details"]["fields"]
    naive = {"ticket": "T1.x", "scanned_at": "2026-12-01T10:00:00"}
    bodies: tuple[dict[str, Any], ...] = (
        {"scans": []},
        {"scans": [naive]},
        {"scans": [{"ticket": "T1.x"}]},
    )
    for body in bodies:
        resp = await client.post(path, json=body, headers=organizer.headers)
        assert resp.status == 422, body
        assert_error(await resp.json(), "invalid_request")
    full = await client.post(path, json={"scans": [scan] * MAX_SCANS}, headers=organizer.headers)
    assert full.status == 200
    assert (await full.json())["counts"]["ticket_invalid"] == MAX_SCANS


async def test_the_ticket_qr_code_is_its_owner_s_and_only_while_confirmed(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    holder, waiting = await sign_in_wechat(client, "qr1"), await sign_in_wechat(client, "qr2")
    confirmed = await _signed_up(client, holder, event["id"], 1)
    waitlisted = await _signed_up(client, waiting, event["id"], 2)
    path = "/api/v1/me/signups/{}/ticket.png"
    resp = await client.get(path.format(confirmed["id"]), headers=holder.headers)
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert resp.headers["Cache-Control"] == "private, no-store"
    png = await resp.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # The picture holds the ticket (segno draws it the same way every time).
    assert png == qr_png(str(confirmed["ticket"]))
    for other in (waiting, organizer):
        resp = await client.get(path.format(confirmed["id"]), headers=other.headers)
        assert resp.status == 404
    resp = await client.get(path.format(waitlisted["id"]), headers=waiting.headers)
    assert resp.status == 409
    assert_error(await resp.json(), "signup_not_confirmed")
    cancel = await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=holder.headers)
    assert cancel.status == 200
    resp = await client.get(path.format(confirmed["id"]), headers=holder.headers)
    assert resp.status == 409
    # The waiting one was promoted: their ticket now draws.
    assert (await client.get(path.format(waitlisted["id"]), headers=waiting.headers)).status == 200
