"""What the events room tells people, through the outbox (``handlers/messages``): a
seat from the waitlist, the event cancelled, and a reminder the day before.

Promotions and cancellations: the sign-up's own update marks it ``tell_pending`` (the
kind of message) with ``tell_pending_at``; the mark goes once the message is in the
outbox, and the worker's minute sweep (``tell_signups``) queues the message of any
sign-up whose request or promoter died in between. One message per sign-up and kind
(the outbox's key), so telling twice sends once.

Reminders are scheduled on the job queue when an event is published or moved
(``remind_event`` at the start minus a day, with the start it was scheduled for, so
the job of an event since moved does nothing); each confirmed sign-up gets one
reminder per start time. An hourly sweep (``remind_upcoming``) reminds those confirmed
since (and covers a job lost with Redis). A reminder is not sent after the start.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.events.repo import Document, EventRepo, SignupRepo
from handlers.messages.service import TELL_GRACE, Message, MessageKind, MessageService
from handlers.messages.values import thing, time_value
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.jobqueue import JobQueue

REMIND_JOB = "remind_event"  # the room's job (handlers/events/__init__.py)
REMIND_BEFORE = timedelta(days=1)

_NOTES: dict[str, str] = {
    "event_promoted": "您已从候补转为报名成功",
    "event_cancelled": "活动已取消，敬请谅解",
    "event_reminder": "活动明天开始，请凭电子票入场",
}


class EventMessages:
    def __init__(
        self,
        messages: MessageService,
        events: EventRepo,
        signups: SignupRepo,
        jobs: JobQueue,
        degrade: Degrade,
        clock: Clock,
    ) -> None:
        self.messages = messages
        self.events = events
        self.signups = signups
        self.jobs = jobs
        self.degrade = degrade
        self.clock = clock

    def _message(self, kind: MessageKind, key: str, signup: Document, event: Document) -> Message:
        return Message(
            key=key,
            user_id=signup["user_id"],
            kind=kind,
            page=f"pages/events/detail?id={event['_id']}",
            data={
                "thing1": thing(event["title"]),
                "time2": time_value(event["starts_at"]),
                "thing3": thing(event["venue_name"]),
                "thing4": thing(_NOTES[kind]),
            },
            # News of a seat or of a cancellation is of no use once the event began.
            expires_at=event["starts_at"],
        )

    # -- promotions and cancellations ---------------------------------------------------

    async def tell(self, signup: Document, event: Document | None = None) -> None:
        """The message a sign-up's ``tell_pending`` asks for, in the outbox; ``event``:
        its event, when the caller holds it (read here otherwise)."""
        kind = signup.get("tell_pending")
        if event is None or str(event["_id"]) != signup["event_id"]:
            event = await self.events.get(signup["event_id"])
        signup_id = str(signup["_id"])
        if event is not None and kind in ("event_promoted", "event_cancelled"):
            message = self._message(kind, f"{kind}:{signup_id}", signup, event)
            await self.messages.enqueue(message)
        await self.signups.told(signup_id)

    async def tell_untold(self, limit: int = 500) -> int:
        """Queue what a dead request or promoter did not (every minute on the worker)."""
        untold = await self.signups.untold(self.clock.now() - TELL_GRACE, limit)
        events: dict[str, Document | None] = {}
        for signup in untold:
            event_id = signup["event_id"]
            if event_id not in events:
                events[event_id] = await self.events.get(event_id)
            await self.tell(signup, events[event_id])
        return len(untold)

    # -- reminders ----------------------------------------------------------------------

    async def schedule_reminders(self, event: Document) -> None:
        """Queue the reminders of a published event for a day before its start."""
        starts_at: datetime = event["starts_at"]
        event_id = str(event["_id"])
        try:
            await self.jobs.run_at(
                REMIND_JOB,
                starts_at - REMIND_BEFORE,
                f"remind:{event_id}:{int(starts_at.timestamp())}",
                event_id,
                starts_at.isoformat(),
            )
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("schedule_reminders", exc)  # the hourly sweep reminds them

    async def remind(self, event_id: str, starts_at: str | None = None) -> int:
        """Queue a reminder for each confirmed sign-up of a published event that has not
        begun; ``starts_at``: the start the job was queued for (moved since: nothing)."""
        event = await self.events.get(event_id)
        now = self.clock.now()
        if event is None or event["status"] != "published" or event["starts_at"] <= now:
            return 0
        if starts_at is not None and event["starts_at"].isoformat() != starts_at:
            return 0
        stamp = int(event["starts_at"].timestamp())
        queued = 0
        for signup in await self.signups.of_event_with_status(event_id, "confirmed"):
            key = f"event_reminder:{signup['_id']}:{stamp}"
            queued += await self.messages.enqueue(
                self._message("event_reminder", key, signup, event)
            )
        return queued

    async def remind_upcoming(self) -> int:
        """Remind the confirmed sign-ups of every event starting within a day (hourly)."""
        now = self.clock.now()
        queued = 0
        for event_id in await self.events.published_starting_between(now, now + REMIND_BEFORE):
            queued += await self.remind(event_id)
        return queued
