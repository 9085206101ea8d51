"""The organizer's views of an event: its sign-ups by status (paged, the waitlist in
order with positions, phone numbers masked), the attendance counts and rate."""

from __future__ import annotations

from typing import Any

from server.clock import SettableClock
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat


async def signed_up_residents(
    client: Client, event_id: str, count: int, prefix: str = "org"
) -> list[tuple[Session, dict[str, Any]]]:
    made = []
    for i in range(count):
        user = await sign_in_wechat(client, f"{prefix}{i}")
        resp = await client.post(
            f"/api/v1/events/{event_id}/signups",
            json={"name": f"居民{i}", "phone": phone_of(1000 + i)},
            headers=user.headers,
        )
        assert resp.status == 201, await resp.text()
        made.append((user, await resp.json()))
    return made


async def test_sign_ups_by_status_the_waitlist_in_order_and_attendance(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    people = await signed_up_residents(client, event["id"], 5)
    ids = [body["id"] for _, body in people]
    resp = await client.delete(
        f"/api/v1/events/{event['id']}/signups/me", headers=people[3][0].headers
    )
    assert resp.status == 200
    checkin = await client.post(
        f"/api/v1/admin/events/{event['id']}/checkin",
        json={"ticket": people[0][1]["ticket"]},
        headers=organizer.headers,
    )
    assert checkin.status == 200
    base = f"/api/v1/admin/events/{event['id']}/signups"

    async def listed(query: str) -> dict[str, Any]:
        resp = await client.get(f"{base}?{query}", headers=organizer.headers)
        assert resp.status == 200, await resp.text()
        text = await resp.text()
        assert not any(phone_of(1000 + i) in text for i in range(5))  # masked, always
        body: dict[str, Any] = await resp.json()
        return body

    confirmed = await listed("status=confirmed")
    assert [item["id"] for item in confirmed["items"]] == ids[:2]
    assert confirmed["items"][0]["phone"] == "138****1000"
    assert confirmed["items"][0]["attended_at"] is not None
    assert confirmed["items"][0]["attended_by"] == f"user:{organizer.user_id}"
    assert confirmed["items"][1]["attended_at"] is None
    # The waitlist page by page, in order, with positions that run on across pages.
    first = await listed("status=waitlisted&limit=1")
    assert [(i["id"], i["position"]) for i in first["items"]] == [(ids[2], 1)]
    second = await listed(f"status=waitlisted&limit=1&cursor={first['next_cursor']}")
    assert [(i["id"], i["position"]) for i in second["items"]] == [(ids[4], 2)]
    assert second["next_cursor"] is None
    cancelled = await listed("status=cancelled")
    assert [(i["id"], i["cancel_reason"]) for i in cancelled["items"]] == [(ids[3], "user")]
    everyone = await listed("limit=50")
    assert [i["id"] for i in everyone["items"]] == ids
    assert [i["position"] for i in everyone["items"]] == [None, None, 1, None, 2]

    resp = await client.get(
        f"/api/v1/admin/events/{event['id']}/attendance", headers=organizer.headers
    )
    assert await resp.json() == {
        "capacity": 2, "seats_left": 0, "confirmed": 2, "waitlisted": 2, "cancelled": 1,
        "attended": 1, "not_attended": 1, "attendance_rate": 0.5,
    }  # fmt: skip

    bad = await client.get(f"{base}?status=void", headers=organizer.headers)
    assert bad.status == 422
    assert_error(await bad.json(), "invalid_request")
    wrong_list = await client.get(
        f"{base}?status=confirmed&cursor={first['next_cursor']}", headers=organizer.headers
    )
    assert wrong_list.status == 422
    assert_error(await wrong_list.json(), "invalid_cursor")


async def test_attendance_of_an_event_nobody_signed_up_for(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=3)
    resp = await client.get(
        f"/api/v1/admin/events/{event['id']}/attendance", headers=organizer.headers
    )
    body = await resp.json()
    assert (body["confirmed"], body["attendance_rate"], body["seats_left"]) == (0, None, 3)
    page = await client.get(
        f"/api/v1/admin/events/{event['id']}/signups", headers=organizer.headers
    )
    assert await page.json() == {"items": [], "next_cursor": None}
