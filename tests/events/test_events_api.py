"""Events through HTTP: organizers write them, residents read them; lifecycle and lists."""

from __future__ import annotations

from datetime import timedelta

from server.clock import SettableClock
from server.principal import Role
from tests.events.conftest import create_event, event_body
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat


async def test_an_organizer_drafts_and_publishes_and_the_public_reads_it(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    draft = await create_event(client, organizer, clock, publish=False, capacity=30)
    assert draft["status"] == "draft"
    assert draft["seats_left"] == 30
    assert (await client.get(f"/api/v1/events/{draft['id']}")).status == 404
    listed = await (await client.get("/api/v1/events")).json()
    assert listed["items"] == []

    resp = await client.post(
        f"/api/v1/admin/events/{draft['id']}/publish", headers=organizer.headers
    )
    assert resp.status == 200
    event = await (await client.get(f"/api/v1/events/{draft['id']}")).json()
    assert event["status"] == "published"
    assert event["seats_left"] == 30
    assert event["speakers"] == [] and event["cover"] is None
    again = await client.post(
        f"/api/v1/admin/events/{draft['id']}/publish", headers=organizer.headers
    )
    assert again.status == 409
    assert_error(await again.json(), "invalid_transition")


async def test_residents_cannot_write_events_and_organizers_only_their_own(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    resident = await sign_in_wechat(client, "alice")
    resp = await client.post(
        "/api/v1/admin/events", json=event_body(clock), headers=resident.headers
    )
    assert resp.status == 403
    event = await create_event(client, organizer, clock)
    other = await sign_in_staff(client, "organizer2", Role.organizer)
    for method, path in (
        ("GET", ""),
        ("PATCH", ""),
        ("POST", "/publish"),
        ("POST", "/cancel"),
    ):
        body = {"title": "x"} if method == "PATCH" else None
        resp = await client.request(
            method, f"/api/v1/admin/events/{event['id']}{path}", headers=other.headers, json=body
        )
        assert resp.status == 404, (method, path)
    admin = await sign_in_staff(client, "admin1", Role.admin)
    resp = await client.patch(
        f"/api/v1/admin/events/{event['id']}", json={"title": "改过的"}, headers=admin.headers
    )
    assert resp.status == 200
    assert (await resp.json())["title"] == "改过的"
    mine = await (await client.get("/api/v1/admin/events", headers=other.headers)).json()
    assert mine["items"] == []
    everything = await (await client.get("/api/v1/admin/events", headers=admin.headers)).json()
    assert [e["id"] for e in everything["items"]] == [event["id"]]


async def test_times_out_of_order_are_422(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    body = event_body(clock)
    body["ends_at"] = body["starts_at"]
    resp = await client.post("/api/v1/admin/events", json=body, headers=organizer.headers)
    assert resp.status == 422
    assert "ends_at" in (await resp.json())["error"]["details"]["fields"]
    naive = event_body(clock, starts_at="2030-01-01T10:00:00")
    resp = await client.post("/api/v1/admin/events", json=naive, headers=organizer.headers)
    assert resp.status == 422
    wrong = event_body(clock, venue_type="mall")
    resp = await client.post("/api/v1/admin/events", json=wrong, headers=organizer.headers)
    assert resp.status == 422


async def test_lists_filter_by_venue_time_and_speaker_and_page(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    now = clock.now()
    editor = await sign_in_staff(client, "editor1", Role.editor)
    person = await (
        await client.post("/api/v1/admin/people", json={"name": "易冉"}, headers=editor.headers)
    ).json()
    soon = now + timedelta(days=1)
    past_start = now - timedelta(days=3)
    school = await create_event(client, organizer, clock, title="学校", starts_at=soon.isoformat(),
                                ends_at=(soon + timedelta(hours=1)).isoformat(),
                                speaker_ids=[person["id"]])  # fmt: skip
    village = await create_event(
        client, organizer, clock, title="乡村", venue_type="village",
        starts_at=(soon + timedelta(days=1)).isoformat(),
        ends_at=(soon + timedelta(days=1, hours=1)).isoformat(),
    )  # fmt: skip
    over = await create_event(
        client, organizer, clock, title="已结束", venue_type="community",
        starts_at=past_start.isoformat(), ends_at=(past_start + timedelta(hours=2)).isoformat(),
        signup_opens_at=(past_start - timedelta(days=1)).isoformat(),
    )  # fmt: skip

    async def ids(query: str) -> list[str]:
        body = await (await client.get(f"/api/v1/events?{query}")).json()
        return [item["id"] for item in body["items"]]

    assert await ids("status=upcoming") == [school["id"], village["id"]]
    assert await ids("status=past") == [over["id"]]
    assert await ids("") == [village["id"], school["id"], over["id"]]
    assert await ids("venue_type=village") == [village["id"]]
    assert await ids(f"person_id={person['id']}") == [school["id"]]
    detail = await (await client.get(f"/api/v1/events/{over['id']}")).json()
    assert detail["status"] == "finished"
    speakers = (await (await client.get(f"/api/v1/events/{school['id']}")).json())["speakers"]
    assert [s["name"] for s in speakers] == ["易冉"]

    first = await (await client.get("/api/v1/events?status=upcoming&limit=1")).json()
    assert [i["id"] for i in first["items"]] == [school["id"]]
    second = await (
        await client.get(f"/api/v1/events?status=upcoming&limit=1&cursor={first['next_cursor']}")
    ).json()
    assert [i["id"] for i in second["items"]] == [village["id"]]
    assert second["next_cursor"] is None
    foreign = await client.get(f"/api/v1/events?status=past&cursor={first['next_cursor']}")
    assert_error(await foreign.json(), "invalid_cursor")


async def test_unknown_speakers_are_422(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    body = event_body(clock, speaker_ids=["0" * 24])
    resp = await client.post("/api/v1/admin/events", json=body, headers=organizer.headers)
    assert resp.status == 422
    assert_error(await resp.json(), "speaker_not_found")
