"""The demo events of ``python -m server seed``: ``demo/events.toml`` (format in its
header), checked before anything is written, then created and published by the demo
``organizer`` account. Idempotent: an event whose title exists is left alone."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args

from handlers.events.events import EventService
from handlers.events.schemas import MAX_CAPACITY, VenueType
from handlers.stories.people import PeopleService
from server.clock import SHANGHAI
from server.principal import Principal
from server.room import DemoDataError

EVENTS_FILE = "events.toml"
DEMO_TITLE_PREFIX = "【示例】"
DEMO_NOTICE = "本活动为演示内容"
_FIELDS = {
    "title", "description", "venue_type", "venue_name", "address", "starts_in_days",
    "starts_at", "hours", "signup_closes_hours_before", "capacity", "waitlist", "speakers",
}  # fmt: skip
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True, slots=True)
class DemoEvent:
    title: str
    description: str
    venue_type: VenueType
    venue_name: str
    address: str
    starts_in_days: int
    starts_at: time
    hours: float
    signup_closes_hours_before: float
    capacity: int
    waitlist: bool
    speakers: tuple[str, ...]

    def fields(self, today: date, speaker_ids: list[str]) -> dict[str, Any]:
        """The ``EventIn`` fields of this event, dated from ``today`` (Shanghai)."""
        day = today + timedelta(days=self.starts_in_days)
        starts = datetime.combine(day, self.starts_at, SHANGHAI)
        return {
            "title": self.title,
            "description": self.description,
            "venue_type": self.venue_type,
            "venue_name": self.venue_name,
            "address": self.address,
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=self.hours),
            "signup_deadline": starts - timedelta(hours=self.signup_closes_hours_before),
            "capacity": self.capacity,
            "waitlist_enabled": self.waitlist,
            "speaker_ids": speaker_ids,
        }


def _fail(path: Path, where: str, problem: str) -> DemoDataError:
    return DemoDataError(f"{path}: {where}{problem}")


def _event(path: Path, index: int, table: object) -> DemoEvent:
    where = f"events[{index}]: "
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table")
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise _fail(path, where, f"unknown field {', '.join(unknown)}")
    missing = sorted(_FIELDS - {"speakers", "address"} - set(table))
    if missing:
        raise _fail(path, where, f"missing field {', '.join(missing)}")
    texts = ("title", "description", "venue_type", "venue_name", "address", "starts_at")
    for name in texts:
        if name in table and (not isinstance(table[name], str) or not table[name].strip()):
            raise _fail(path, where, f"{name!r} must be a non-empty string")
    if not table["title"].startswith(DEMO_TITLE_PREFIX):
        raise _fail(path, where, f"the title must start with {DEMO_TITLE_PREFIX}")
    if not table["description"].startswith(DEMO_NOTICE):
        raise _fail(path, where, f"the description must start with {DEMO_NOTICE}")
    if table["venue_type"] not in get_args(VenueType):
        raise _fail(path, where, f"venue_type must be one of {', '.join(get_args(VenueType))}")
    clock_time = _TIME.fullmatch(table["starts_at"])
    if clock_time is None:
        raise _fail(path, where, "starts_at must be HH:MM")
    numbers = ("starts_in_days", "hours", "signup_closes_hours_before", "capacity")
    for name in numbers:
        value = table[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _fail(path, where, f"{name!r} must be a positive number")
    if not isinstance(table["capacity"], int) or table["capacity"] > MAX_CAPACITY:
        raise _fail(path, where, f"capacity must be an integer up to {MAX_CAPACITY}")
    if not isinstance(table["starts_in_days"], int):
        raise _fail(path, where, "starts_in_days must be an integer")
    if table["signup_closes_hours_before"] >= table["starts_in_days"] * 24:
        raise _fail(path, where, "sign-ups would close before the seed")
    if not isinstance(table["waitlist"], bool):
        raise _fail(path, where, "waitlist must be true or false")
    speakers = table.get("speakers", [])
    if not isinstance(speakers, list) or not all(isinstance(s, str) and s for s in speakers):
        raise _fail(path, where, "speakers must be a list of names")
    return DemoEvent(
        title=table["title"],
        description=table["description"],
        venue_type=table["venue_type"],
        venue_name=table["venue_name"],
        address=table.get("address", ""),
        starts_in_days=table["starts_in_days"],
        starts_at=time(int(clock_time[1]), int(clock_time[2])),
        hours=float(table["hours"]),
        signup_closes_hours_before=float(table["signup_closes_hours_before"]),
        capacity=table["capacity"],
        waitlist=table["waitlist"],
        speakers=tuple(speakers),
    )


def load_demo_events(data_dir: Path) -> tuple[DemoEvent, ...]:
    """The demo events of ``data_dir/events.toml`` (none if the file is absent)."""
    path = data_dir / EVENTS_FILE
    if not path.exists():
        return ()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DemoDataError(f"{path}: {exc}") from None
    tables = data.get("events", [])
    if set(data) - {"events"} or not isinstance(tables, list):
        raise DemoDataError(f"{path}: only [[events]] tables belong here")
    events = tuple(_event(path, i, table) for i, table in enumerate(tables))
    titles = [event.title for event in events]
    if len(set(titles)) != len(titles):
        raise DemoDataError(f"{path}: a title is used twice")
    return events


async def seed_demo_events(
    events: EventService,
    people: PeopleService,
    organizer: Principal,
    demo: tuple[DemoEvent, ...],
    today: date,
) -> int:
    """Create and publish the demo events that do not exist yet; how many."""
    existing = await events.titles()
    created = 0
    for event in demo:
        if event.title in existing:
            continue
        speaker_ids = []
        for name in event.speakers:
            person = await people.find_by_name(name)
            if person is None:
                raise DemoDataError(f"{EVENTS_FILE}: speaker {name!r} is not in people.toml")
            speaker_ids.append(str(person["_id"]))
        doc = await events.create(organizer, event.fields(today, speaker_ids))
        await events.publish(organizer, str(doc["_id"]))
        created += 1
    return created
