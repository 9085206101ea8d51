"""The events numbers of the staff dashboard: sign-ups and attendance per event, for an
organizer's own events (an admin: everyone's). Counts only (no names, no phones): the
events in one query, their sign-ups counted in one aggregation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers.events.repo import EventRepo, SignupRepo
from server.clock import Clock
from server.principal import Principal, Role

LATEST = 12


@dataclass(frozen=True, slots=True)
class EventTally:
    event_id: str
    title: str
    starts_at: datetime
    status: str
    """``published`` (not over yet), ``finished`` or ``cancelled``."""
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    attended: int

    @property
    def attendance_rate(self) -> float | None:
        """Of the confirmed sign-ups, the share checked in (None: nobody confirmed)."""
        return self.attended / self.confirmed if self.confirmed else None


class EventStats:
    def __init__(self, events: EventRepo, signups: SignupRepo, clock: Clock) -> None:
        self.events = events
        self.signups = signups
        self.clock = clock

    async def latest(self, principal: Principal, limit: int = LATEST) -> list[EventTally]:
        """The caller's ``limit`` events that start last (an admin: anyone's), the
        earliest first, each with its sign-ups counted."""
        organizer = None if Role.admin in principal.roles else principal.user_id
        docs = await self.events.latest_of(organizer, limit)
        tallies = await self.signups.tallies([str(doc["_id"]) for doc in docs])
        now = self.clock.now()
        out = []
        for doc in reversed(docs):
            tally = tallies[str(doc["_id"])]
            status = doc["status"]
            if status == "published" and doc["ends_at"] <= now:
                status = "finished"
            out.append(
                EventTally(
                    event_id=str(doc["_id"]),
                    title=doc["title"],
                    starts_at=doc["starts_at"],
                    status=status,
                    capacity=doc["capacity"],
                    confirmed=tally["confirmed"],
                    waitlisted=tally["waitlisted"],
                    cancelled=tally["cancelled"],
                    attended=tally["attended"],
                )
            )
        return out
