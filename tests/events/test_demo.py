"""The demo events: marked as demo, written by us (nothing of the city's decision
copied), checked on load, seeded once by the demo organizer and open for sign-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.events import seed as seed_events
from handlers.events.demo import DEMO_NOTICE, DEMO_TITLE_PREFIX, load_demo_events
from handlers.stories.demo import DEFAULT_DATA_DIR
from server.room import DemoDataError, DemoSource
from server.rooms import ROOMS
from tests.fixtures.app import Client
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


async def test_seeded_once_published_and_open(client: Client, tmp_path: Path) -> None:
    source = DemoSource(data=DEFAULT_DATA_DIR, art=tmp_path)
    auth = next(room for room in ROOMS if room.name == "auth")
    assert auth.seed is not None
    await auth.seed(source)(client.app)  # the demo organizer
    write = seed_events(source)
    assert await write(client.app) == f"demo events: {len(EVENTS)} created"
    assert await write(client.app) == "demo events: 0 created"
    body = await (await client.get("/api/v1/events?status=upcoming")).json()
    assert {item["title"] for item in body["items"]} == {e.title for e in EVENTS}
    assert all(item["status"] == "published" and item["seats_left"] > 0 for item in body["items"])
