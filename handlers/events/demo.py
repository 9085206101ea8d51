"""The demo events of ``python -m server seed``: ``demo/events.toml`` (format in its
header), checked before anything is written, then created and published by the demo
``organizer`` account, with demo residents' sign-ups and, for the events already over,
their check-ins at the door. Events over were made on a clock set back to a week before
them, and checked in on one set to their start, through the room's own services.
Idempotent: an event whose title exists is left alone (with its sign-ups)."""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args

from handlers.events.events import EventService
from handlers.events.schemas import MAX_CAPACITY, VenueType
from handlers.events.signups import SignupService
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
    "signups", "attended",
}  # fmt: skip
_OPTIONAL = {"speakers", "address", "signups", "attended"}
PAST_OPENED_DAYS = 7
"""An event over was open for sign-ups from this many days before its start."""
SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗"
GIVEN = (
    "建华",
    "秀英",
    "志强",
    "桂兰",
    "海燕",
    "国平",
    "丽娟",
    "卫东",
    "春梅",
    "永红",
    "晓峰",
    "玉兰",
)
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
    signups: int = 0
    attended: int = 0

    @property
    def over(self) -> bool:
        return self.starts_in_days < 0

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
    missing = sorted(_FIELDS - _OPTIONAL - set(table))
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
    numbers = ("hours", "signup_closes_hours_before", "capacity")
    for name in numbers:
        value = table[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _fail(path, where, f"{name!r} must be a positive number")
    if not isinstance(table["capacity"], int) or table["capacity"] > MAX_CAPACITY:
        raise _fail(path, where, f"capacity must be an integer up to {MAX_CAPACITY}")
    days = table["starts_in_days"]
    if isinstance(days, bool) or not isinstance(days, int) or days == 0:
        raise _fail(path, where, "starts_in_days must be a whole number of days, not 0")
    if days < 0 and table["hours"] >= 24:
        raise _fail(path, where, "an event over must have ended by the seed (hours < 24)")
    if days > 0 and table["signup_closes_hours_before"] >= days * 24:
        raise _fail(path, where, "sign-ups would close before the seed")
    if days < 0 and table["signup_closes_hours_before"] >= PAST_OPENED_DAYS * 24:
        raise _fail(path, where, f"sign-ups open {PAST_OPENED_DAYS} days before an event over")
    if not isinstance(table["waitlist"], bool):
        raise _fail(path, where, "waitlist must be true or false")
    for name in ("signups", "attended"):
        value = table.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(path, where, f"{name!r} must be a whole number, 0 or more")
    signups, attended = table.get("signups", 0), table.get("attended", 0)
    if signups > table["capacity"] and not table["waitlist"]:
        raise _fail(path, where, "more sign-ups than seats, and no waitlist")
    if attended and days > 0:
        raise _fail(path, where, "only an event over has attended")
    if attended > min(signups, table["capacity"]):
        raise _fail(path, where, "attended must be at most the confirmed sign-ups")
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
        signups=signups,
        attended=attended,
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


ServicesAt = Callable[[datetime | None], tuple[EventService, SignupService]]
"""The room's services on a clock set to the instant given (None: the app's own)."""
Residents = Callable[[int], Awaitable[list[Principal]]]
"""The first ``n`` demo residents' accounts (made if missing)."""


def resident_name(number: int) -> str:
    return SURNAMES[number % len(SURNAMES)] + GIVEN[number * 7 % len(GIVEN)]


def resident_phone(number: int) -> str:
    return f"1390000{number:04d}"  # 139 0000 xxxx: a made-up range


@dataclass(frozen=True, slots=True)
class SeededEvents:
    events: int
    signups: int
    attended: int


async def _sign_up_and_check_in(
    services_at: ServicesAt,
    organizer: Principal,
    event: DemoEvent,
    doc: dict[str, Any],
    signups: SignupService,
    residents: Residents,
) -> tuple[int, int]:
    """The event's demo sign-ups, all at once (as a crowd would), then, for an event
    over, its first ``attended`` confirmed tickets scanned at the door."""
    event_id = str(doc["_id"])
    people = await residents(event.signups)
    results = await asyncio.gather(
        *(
            signups.sign_up(who, event_id, resident_name(n), resident_phone(n))
            for n, who in enumerate(people, start=1)
        )
    )
    confirmed = [r for r in results if r.signup["status"] == "confirmed"]
    confirmed.sort(key=lambda result: str(result.signup["_id"]))
    attended = 0
    if event.attended:
        _, door = services_at(doc["starts_at"] + timedelta(minutes=10))
        for result in confirmed[: event.attended]:
            await door.check_in(event_id, door.answer(result).ticket, organizer.user_id)
            attended += 1
    return len(results), attended


async def seed_demo_events(
    services_at: ServicesAt,
    people: PeopleService,
    organizer: Principal,
    demo: tuple[DemoEvent, ...],
    now: datetime,
    residents: Residents,
) -> SeededEvents:
    """Create and publish the demo events that do not exist yet, with their sign-ups and
    check-ins; how many of each."""
    today = now.astimezone(SHANGHAI).date()
    events, _ = services_at(None)
    existing = await events.titles()
    created = signed_up = attended = 0
    for event in demo:
        if event.title in existing:
            continue
        speaker_ids = []
        for name in event.speakers:
            person = await people.find_by_name(name)
            if person is None:
                raise DemoDataError(f"{EVENTS_FILE}: speaker {name!r} is not in people.toml")
            speaker_ids.append(str(person["_id"]))
        fields = event.fields(today, speaker_ids)
        opened = fields["starts_at"] - timedelta(days=PAST_OPENED_DAYS) if event.over else None
        events_then, signups_then = services_at(opened)
        doc = await events_then.create(organizer, fields)
        doc = await events_then.publish(organizer, str(doc["_id"]))
        created += 1
        if event.signups:
            counts = await _sign_up_and_check_in(
                services_at, organizer, event, doc, signups_then, residents
            )
            signed_up, attended = signed_up + counts[0], attended + counts[1]
    return SeededEvents(created, signed_up, attended)
