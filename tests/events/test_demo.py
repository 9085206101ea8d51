"""The demo events: marked as demo, written by us (nothing of the city's decision
copied), checked on load, seeded once by the demo organizer, open for sign-ups, with
demo residents signed up and, at the events over, checked in."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.auth import DEMO_PASSWORD
from handlers.events import seed as seed_events
from handlers.events.demo import DEMO_NOTICE, DEMO_TITLE_PREFIX, load_demo_events
from handlers.stories.demo import DEFAULT_DATA_DIR
from server.room import DemoDataError, DemoSource
from server.rooms import ROOMS
from tests.fixtures.app import Client
from tests.fixtures.sessions import sign_in_password
from tests.stories.test_demo import DECISION

EVENTS = load_demo_events(DEFAULT_DATA_DIR)


def _letters(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def test_a_few_marked_demo_events_in_every_kind_of_place() -> None:
    assert len(EVENTS) >= 4
    assert len({e.venue_type for e in EVENTS}) >= 4
    for event in EVENTS:
        assert event.title.startswith(DEMO_TITLE_PREFIX)
        assert event.description.startswith(DEMO_NOTICE)
        assert "株洲" in event.address
        assert event.speakers == ()  # invented events name no real person


def test_no_twenty_character_run_is_shared_with_the_decision() -> None:
    if not DECISION.is_file():
        pytest.skip(f"the city's decision is not available at {DECISION}")
    decision = _letters(DECISION.read_text(encoding="utf-8"))
    runs = {decision[i : i + 20] for i in range(len(decision) - 19)}
    for event in EVENTS:
        flat = _letters(event.title + event.description)
        assert not [flat[i : i + 20] for i in range(len(flat) - 19) if flat[i : i + 20] in runs]


def test_a_malformed_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "events.toml").write_text('[[events]]\ntitle = "没有标记"\n', encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"events\.toml: events\[0\]: missing field"):
        load_demo_events(tmp_path)


async def test_seeded_once_published_open_and_signed_up(client: Client, tmp_path: Path) -> None:
    source = DemoSource(data=DEFAULT_DATA_DIR, art=tmp_path)
    auth = next(room for room in ROOMS if room.name == "auth")
    assert auth.seed is not None
    await auth.seed(source)(client.app)  # the demo organizer
    write = seed_events(source)
    signups = sum(e.signups for e in EVENTS)
    attended = sum(e.attended for e in EVENTS)
    assert await write(client.app) == (
        f"demo events: {len(EVENTS)} created, {signups} sign-ups (dev:demo-resident-01...), "
        f"{attended} checked in"
    )
    assert await write(client.app) == (
        "demo events: 0 created, 0 sign-ups (dev:demo-resident-01...), 0 checked in"
    )
    upcoming = [e for e in EVENTS if not e.over]
    body = await (await client.get("/api/v1/events?status=upcoming")).json()
    assert {item["title"] for item in body["items"]} == {e.title for e in upcoming}
    assert all(item["status"] == "published" for item in body["items"])
    assert any(item["seats_left"] == 0 for item in body["items"])  # one is full
    past = await (await client.get("/api/v1/events?status=past")).json()
    assert {item["title"] for item in past["items"]} == {e.title for e in EVENTS if e.over}
    organizer = await sign_in_password(client, "organizer", DEMO_PASSWORD)
    for item in [*body["items"], *past["items"]]:
        demo = next(e for e in EVENTS if e.title == item["title"])
        resp = await client.get(
            f"/api/v1/admin/events/{item['id']}/attendance", headers=organizer.headers
        )
        counts = await resp.json()
        assert counts["confirmed"] == min(demo.signups, demo.capacity), counts
        assert counts["waitlisted"] == max(0, demo.signups - demo.capacity), counts
        assert counts["attended"] == demo.attended, counts


def test_check_ins_only_at_an_event_over(tmp_path: Path) -> None:
    table = (
        '[[events]]\ntitle = "【示例】x"\ndescription = "本活动为演示内容。"\n'
        'venue_type = "community"\nvenue_name = "示例"\nstarts_at = "10:00"\nhours = 2\n'
        "signup_closes_hours_before = 2\ncapacity = 10\nwaitlist = false\n"
    )
    (tmp_path / "events.toml").write_text(
        table + "starts_in_days = 3\nsignups = 5\nattended = 2\n", encoding="utf-8"
    )
    with pytest.raises(DemoDataError, match="only an event over has attended"):
        load_demo_events(tmp_path)
    (tmp_path / "events.toml").write_text(
        table + "starts_in_days = -3\nsignups = 12\n", encoding="utf-8"
    )
    with pytest.raises(DemoDataError, match="more sign-ups than seats"):
        load_demo_events(tmp_path)
    (tmp_path / "events.toml").write_text(
        table + "starts_in_days = -3\nsignups = 5\nattended = 4\n", encoding="utf-8"
    )
    (event,) = load_demo_events(tmp_path)
    assert (event.over, event.signups, event.attended) == (True, 5, 4)
