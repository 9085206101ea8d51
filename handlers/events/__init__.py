"""五进 events: events, sign-ups that never oversell, the waitlist and its sweeper."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import orjson
from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.events.demo import load_demo_events, seed_demo_events
from handlers.events.events import (
    CapacityBelowConfirmed,
    EventService,
    EventTransitionInvalid,
    SpeakerNotFound,
)
from handlers.events.gate import SeatGate
from handlers.events.keys import EVENT_MESSAGES, EVENT_SERVICE, EVENT_STATS, SIGNUP_SERVICE
from handlers.events.phones import PhoneCipher, parse_keys
from handlers.events.reminders import EventMessages
from handlers.events.repo import EventRepo, SignupRepo
from handlers.events.routes import routes
from handlers.events.signups import (
    AlreadyAttended,
    AlreadySignedUp,
    CancellationClosed,
    EventFull,
    PhoneInvalid,
    SignupClosed,
    SignupNotConfirmed,
    SignupService,
    TicketInvalid,
)
from handlers.events.stats import EventStats
from handlers.events.tickets import TicketCodec
from handlers.media.keys import MEDIA_SERVICE
from handlers.messages.keys import MESSAGE_SERVICE
from handlers.stories.keys import PEOPLE_SERVICE
from server.clock import Clock, SettableClock
from server.keys import CLOCK, DEGRADE, JOBS, MONGO_DB, REDIS, SETTINGS, SIGNER
from server.principal import Principal
from server.privacy import PersonalDataProvider
from server.room import Command, Cron, Database, DemoSource, Room, SeedWriter


@dataclass(frozen=True, slots=True)
class EventServices:
    events: EventService
    signups: SignupService
    messages: EventMessages


def build_services(app: web.Application, clock: Clock | None = None) -> EventServices:
    """The room's services over the app's shared resources (tests build their own; the
    demo seed, on a clock of its own)."""
    db, clock = app[MONGO_DB], clock or app[CLOCK]
    gate = SeatGate(app[REDIS], app[DEGRADE])
    keys = parse_keys(app[SETTINGS].phone_encryption_keys.get_secret_value())
    phones = PhoneCipher(keys, app[SIGNER])
    event_repo, signup_repo = EventRepo(db), SignupRepo(db)
    tickets = TicketCodec(app[SIGNER])
    messages = EventMessages(
        app[MESSAGE_SERVICE], event_repo, signup_repo, app[JOBS], app[DEGRADE], clock
    )
    signups = SignupService(event_repo, signup_repo, gate, phones, tickets, messages, clock)
    events = EventService(
        event_repo, signups, gate, app[PEOPLE_SERVICE], app[MEDIA_SERVICE], messages, clock
    )
    return EventServices(events, signups, messages)


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    services = build_services(app)
    app[EVENT_SERVICE] = services.events
    app[SIGNUP_SERVICE] = services.signups
    app[EVENT_MESSAGES] = services.messages
    app[EVENT_STATS] = EventStats(EventRepo(app[MONGO_DB]), SignupRepo(app[MONGO_DB]), app[CLOCK])
    yield


async def ensure_indexes(db: Database) -> None:
    await EventRepo(db).ensure_indexes()
    await SignupRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[SIGNUP_SERVICE],)


async def sweep_signups(app: web.Application) -> dict[str, int]:
    """Seats held by no confirmed sign-up go back, the waitlist moves up, sign-ups of
    cancelled events are cancelled (every minute)."""
    return asdict(await app[SIGNUP_SERVICE].sweep())


async def finish_events(app: web.Application) -> int:
    """Published events that have ended are stored as finished (every minute)."""
    return await app[EVENT_SERVICE].finish_over()


async def remind_event(app: web.Application, event_id: str, starts_at: str) -> int:
    """The reminders of an event, a day before the start it was queued for."""
    return await app[EVENT_MESSAGES].remind(event_id, starts_at)


async def remind_upcoming(app: web.Application) -> int:
    """Reminders for events within a day that their job did not give (hourly)."""
    return await app[EVENT_MESSAGES].remind_upcoming()


async def tell_signups(app: web.Application) -> int:
    """Promotions and cancellations whose message was not queued (every minute)."""
    return await app[EVENT_MESSAGES].tell_untold()


async def _sweep_command(app: web.Application, args: argparse.Namespace) -> None:
    print(orjson.dumps(await sweep_signups(app)).decode())


async def _rotate_command(app: web.Application, args: argparse.Namespace) -> None:
    result = await app[SIGNUP_SERVICE].rotate_phone_keys(batch=args.batch)
    # Done when "remaining" is 0; else numbers under a key that is gone, or sealed meanwhile
    # by a process still running with the old settings.
    print(orjson.dumps(asdict(result)).decode())


def _rotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=500, help="sign-ups read at a time")


def seed(source: DemoSource) -> SeedWriter:
    """The demo events of ``source.data/events.toml`` (checked first)."""
    demo = load_demo_events(source.data)

    async def write(app: web.Application) -> str:
        auth = app[AUTH_SERVICE]
        organizer = await auth.demo_staff("organizer")

        def services_at(at: datetime | None) -> tuple[EventService, SignupService]:
            if at is None:
                return app[EVENT_SERVICE], app[SIGNUP_SERVICE]
            services = build_services(app, SettableClock(at))
            return services.events, services.signups

        made: list[Principal] = []  # the demo residents so far, made once each

        async def residents(count: int) -> list[Principal]:
            for n in range(len(made) + 1, count + 1):
                account = await auth.demo_resident(f"demo-resident-{n:02d}", f"演示居民{n:02d}")
                made.append(auth.seed_principal(account))
            return made[:count]

        seeded = await seed_demo_events(
            services_at, app[PEOPLE_SERVICE], organizer, demo, app[CLOCK].now(), residents
        )
        return (
            f"demo events: {seeded.events} created, {seeded.signups} sign-ups "
            f"(dev:demo-resident-01...), {seeded.attended} checked in"
        )

    return write


ROOM = Room(
    name="events",
    routes=(routes,),
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    jobs=(remind_event,),
    crons=(
        Cron(sweep_signups, second=40),
        Cron(finish_events, second=50),
        Cron(tell_signups, second=35),
        Cron(remind_upcoming, minute=5, second=0),
    ),
    seed=seed,
    commands=(
        Command(
            "sweep-signups",
            "give back seats held by no confirmed sign-up and promote the waitlist",
            _sweep_command,
        ),
        Command(
            "rotate-phone-keys",
            "re-seal every sign-up's phone number under the first key of "
            "PHONE_ENCRYPTION_KEYS (idempotent, resumable)",
            _rotate_command,
            _rotate_arguments,
        ),
    ),
    errors=(
        SignupClosed,
        CancellationClosed,
        EventFull,
        AlreadySignedUp,
        PhoneInvalid,
        EventTransitionInvalid,
        CapacityBelowConfirmed,
        SpeakerNotFound,
        TicketInvalid,
        AlreadyAttended,
        SignupNotConfirmed,
    ),
)
