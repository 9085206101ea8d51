"""五进 events: what organizers write and what residents read.

Lifecycle: draft -> published -> cancelled | finished. An organizer manages the events
they created, an admin all of them; anyone else's event is 404 to an organizer. Every
change is one conditional single-document update on the expected status (capacity
changes also on the expected capacity and, when lowering, on enough free seats: below
the seats held is 409 ``capacity_below_confirmed``). Raising the capacity promotes the
waitlist in order; cancelling the event cancels every sign-up. A published event whose
end has passed reads as ``finished`` at once, and the worker stores it so every minute.
``seats_left`` is the event document's own counter (``repo.py``), exact on every read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from handlers.events.gate import SeatGate
from handlers.events.reminders import EventMessages
from handlers.events.repo import (
    ADMIN_EVENTS,
    EDITABLE_STATUSES,
    PAST,
    UPCOMING,
    Document,
    EventRepo,
    new_id,
)
from handlers.events.schemas import (
    AdminEventOut,
    AdminEventPage,
    EventListQuery,
    EventOut,
    EventPage,
    EventStatus,
    EventSummary,
)
from handlers.events.signups import SignupService
from handlers.media.service import MediaService
from handlers.stories.people import PeopleService
from server.clock import Clock
from server.errors import AppError, Conflict, InvalidRequest, NotFound
from server.paging import PageQuery
from server.principal import Principal, Role

COVER_PURPOSES = frozenset({"event"})


class EventTransitionInvalid(Conflict):
    code = "invalid_transition"
    message = "活动当前状态不允许此操作"


class CapacityBelowConfirmed(Conflict):
    code = "capacity_below_confirmed"
    message = "名额不能少于已确认报名的人数"


class SpeakerNotFound(AppError):
    status = 422
    code = "speaker_not_found"
    message = "主讲人不存在"


def _check_times(doc: Document) -> None:
    """The event's instants in order; 422 naming the field that is not."""
    bad: dict[str, str] = {}
    if doc["ends_at"] <= doc["starts_at"]:
        bad["ends_at"] = "after starts_at"
    if doc["signup_deadline"] <= doc["signup_opens_at"]:
        bad["signup_deadline"] = "after signup_opens_at"
    if doc["signup_deadline"] > doc["ends_at"]:
        bad["signup_deadline"] = "not after ends_at"
    if doc["cancel_deadline"] > doc["ends_at"]:
        bad["cancel_deadline"] = "not after ends_at"
    if bad:
        raise InvalidRequest.for_fields(bad)


class EventService:
    def __init__(
        self,
        repo: EventRepo,
        signups: SignupService,
        gate: SeatGate,
        people: PeopleService,
        media: MediaService,
        messages: EventMessages,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.signups = signups
        self.gate = gate
        self.people = people
        self.media = media
        self.messages = messages
        self.clock = clock

    # -- organizers --------------------------------------------------------------------

    async def _check_speakers(self, speaker_ids: list[str]) -> list[str]:
        ids = list(dict.fromkeys(speaker_ids))
        found = await self.people.by_id(ids)
        missing = [pid for pid in ids if pid not in found]
        if missing:
            raise SpeakerNotFound(details={"fields": {"speaker_ids": f"unknown: {missing}"}})
        return ids

    async def _use_cover(self, principal: Principal, media_ids: Collection[str], ref: str) -> None:
        await self.media.use(
            sorted(media_ids),
            ref,
            owner_id=principal.user_id,
            public=True,
            purposes=COVER_PURPOSES,
            field="cover_media_id",
        )

    async def create(self, principal: Principal, fields: dict[str, Any]) -> Document:
        now = self.clock.now()
        event_id = new_id()
        doc: Document = {
            "_id": event_id,
            "title": fields["title"],
            "description": fields.get("description", ""),
            "venue_type": fields["venue_type"],
            "venue_name": fields["venue_name"],
            "address": fields.get("address", ""),
            "starts_at": fields["starts_at"],
            "ends_at": fields["ends_at"],
            "signup_opens_at": fields.get("signup_opens_at") or now,
            "signup_deadline": fields.get("signup_deadline") or fields["starts_at"],
            "cancel_deadline": fields.get("cancel_deadline") or fields["starts_at"],
            "capacity": fields["capacity"],
            "seats_left": fields["capacity"],
            "seats": [],
            "waitlist_enabled": fields.get("waitlist_enabled", True),
            "waitlist_seq": 0,
            "waitlist_moved": 0,
            "waitlist_gaps": [],
            "speaker_ids": await self._check_speakers(fields.get("speaker_ids", [])),
            "cover_media_id": fields.get("cover_media_id"),
            "status": "draft",
            "organizer_id": principal.user_id,
            "version": 1,
            "signups_closed": False,
            "published_at": None,
            "cancelled_at": None,
            "created_at": now,
            "updated_at": now,
        }
        _check_times(doc)
        ref, cover = f"event:{event_id}", doc["cover_media_id"]
        if cover:
            await self._use_cover(principal, [cover], ref)
        try:
            return await self.repo.insert(doc)
        except BaseException:
            if cover:
                await asyncio.shield(self.media.release([cover], ref))
            raise

    async def owned(self, principal: Principal, event_id: str) -> Document:
        """The event, if ``principal`` manages it (its organizer, or an admin); else 404."""
        doc = await self.repo.get(event_id)
        if doc is None:
            raise NotFound()
        if Role.admin not in principal.roles and doc["organizer_id"] != principal.user_id:
            raise NotFound()
        return doc

    async def patch(self, principal: Principal, event_id: str, fields: dict[str, Any]) -> Document:
        current = await self.owned(principal, event_id)
        if current["status"] not in EDITABLE_STATUSES or self._over(current):
            raise EventTransitionInvalid(details={"status": self.status_of(current)})
        changes = {k: v for k, v in fields.items() if k != "capacity"}
        if "speaker_ids" in changes:
            changes["speaker_ids"] = await self._check_speakers(changes["speaker_ids"])
        _check_times({**current, **changes})
        delta = fields.get("capacity", current["capacity"]) - current["capacity"]
        changes["updated_at"] = self.clock.now()
        ref, old_cover = f"event:{event_id}", current.get("cover_media_id")
        new_cover = changes.get("cover_media_id", old_cover)
        added = {new_cover} if new_cover and new_cover != old_cover else set()
        if added:
            await self._use_cover(principal, added, ref)
        try:
            updated = await self.repo.update_if(
                event_id,
                EDITABLE_STATUSES,
                changes,
                capacity_from=current["capacity"] if delta else None,
                capacity_delta=delta,
            )
        except BaseException:
            await asyncio.shield(self.media.release(added, ref))
            raise
        if updated is None:
            await self.media.release(added, ref)
            latest = await self.repo.get(event_id)
            if latest is not None and latest["status"] not in EDITABLE_STATUSES:
                raise EventTransitionInvalid(details={"status": latest["status"]})
            if latest is not None and delta < 0 and latest["capacity"] == current["capacity"]:
                held = latest["capacity"] - latest["seats_left"]
                raise CapacityBelowConfirmed(details={"confirmed": held})
            raise Conflict(details={"reason": "changed concurrently"})
        if old_cover and old_cover != new_cover:
            await self.media.release([old_cover], ref)
        await self.gate.store(updated)
        if updated["status"] == "published" and updated["starts_at"] != current["starts_at"]:
            await self.messages.schedule_reminders(updated)  # the old job will do nothing
        if delta > 0:
            await self.signups.promote(event_id)
            updated = await self.repo.get(event_id) or updated
        return updated

    async def publish(self, principal: Principal, event_id: str) -> Document:
        current = await self.owned(principal, event_id)
        if current["status"] != "draft":
            raise EventTransitionInvalid(details={"status": self.status_of(current)})
        now = self.clock.now()
        updated = await self.repo.update_if(
            event_id, ("draft",), {"status": "published", "published_at": now, "updated_at": now}
        )
        if updated is None:
            raise EventTransitionInvalid(details={"status": "changed concurrently"})
        await self.gate.store(updated)
        await self.messages.schedule_reminders(updated)
        return updated

    async def cancel(self, principal: Principal, event_id: str) -> Document:
        """Cancel the event and every sign-up of it."""
        current = await self.owned(principal, event_id)
        if current["status"] == "cancelled":
            await self.signups.cancel_all(event_id)  # a retry finishes what one began
            return current
        if current["status"] not in EDITABLE_STATUSES or self._over(current):
            raise EventTransitionInvalid(details={"status": self.status_of(current)})
        now = self.clock.now()
        updated = await self.repo.update_if(
            event_id,
            EDITABLE_STATUSES,
            {"status": "cancelled", "cancelled_at": now, "updated_at": now},
        )
        if updated is None:
            raise EventTransitionInvalid(details={"status": "changed concurrently"})
        await self.gate.store(updated)
        await self.signups.cancel_all(event_id)
        return await self.repo.get(event_id) or updated

    async def finish_over(self) -> int:
        """Worker: published events that have ended become ``finished``."""
        return await self.repo.finish_over(self.clock.now())

    # -- reading -----------------------------------------------------------------------

    def _over(self, doc: Document) -> bool:
        over: bool = doc["ends_at"] <= self.clock.now()
        return over

    def status_of(self, doc: Document) -> str:
        status: str = doc["status"]
        return "finished" if status == "published" and self._over(doc) else status

    async def public(self, event_id: str) -> Document:
        doc = await self.repo.get(event_id)
        if doc is None or doc["status"] == "draft":
            raise NotFound()
        return doc

    async def public_page(self, query: EventListQuery) -> EventPage:
        keyset = UPCOMING if query.status == "upcoming" else PAST
        position = keyset.decode(query.cursor)
        now = self.clock.now()
        docs = await self.repo.public_page(
            keyset=keyset,
            over_before=now if query.status == "past" else None,
            over_after=now if query.status == "upcoming" else None,
            venue_type=query.venue_type,
            person_id=query.person_id,
            position=position,
            limit=query.limit + 1,
        )
        docs, next_cursor = keyset.page(docs, query.limit)
        return EventPage(items=await self.summaries(docs), next_cursor=next_cursor)

    async def admin_page(
        self, principal: Principal, query: PageQuery, status: EventStatus | None = None
    ) -> AdminEventPage:
        """The principal's events (an admin's: every one), newest first; only those
        reading as ``status`` when it is given (the console's tabs)."""
        position = ADMIN_EVENTS.decode(query.cursor)
        organizer = None if Role.admin in principal.roles else principal.user_id
        docs = await self.repo.admin_page(
            organizer_id=organizer,
            position=position,
            limit=query.limit + 1,
            status=status,
            now=self.clock.now(),
        )
        docs, next_cursor = ADMIN_EVENTS.page(docs, query.limit)
        return AdminEventPage(items=await self.admin_outs(docs), next_cursor=next_cursor)

    async def titles(self) -> set[str]:
        return await self.repo.titles()

    async def by_id(self, event_ids: list[str]) -> dict[str, Document]:
        return await self.repo.get_many(event_ids)

    async def _fields(self, docs: list[Document]) -> list[dict[str, Any]]:
        """Each event's summary fields, speakers and covers read in one query each."""
        speaker_ids = list(dict.fromkeys(pid for doc in docs for pid in doc["speaker_ids"]))
        people = await self.people.by_id(speaker_ids)
        covers = await self.media.get_outs(
            [doc["cover_media_id"] for doc in docs if doc.get("cover_media_id")]
        )
        return [
            {
                "id": str(doc["_id"]),
                **{name: doc[name] for name in _SUMMARY_FIELDS},
                "status": self.status_of(doc),
                "cover": covers.get(doc.get("cover_media_id") or ""),
                "speakers": [
                    PeopleService.ref(people[pid]) for pid in doc["speaker_ids"] if pid in people
                ],
            }
            for doc in docs
        ]

    async def summaries(self, docs: list[Document]) -> list[EventSummary]:
        return [EventSummary(**fields) for fields in await self._fields(docs)]

    async def out(self, doc: Document) -> EventOut:
        (fields,) = await self._fields([doc])
        return EventOut(**fields, **_detail(doc))

    async def admin_outs(self, docs: list[Document]) -> list[AdminEventOut]:
        return [
            AdminEventOut(
                **fields,
                **_detail(doc),
                organizer_id=doc["organizer_id"],
                created_at=doc["created_at"],
                updated_at=doc["updated_at"],
            )
            for doc, fields in zip(docs, await self._fields(docs), strict=True)
        ]

    async def admin_out(self, doc: Document) -> AdminEventOut:
        return (await self.admin_outs([doc]))[0]


_SUMMARY_FIELDS = (
    "title",
    "venue_type",
    "venue_name",
    "address",
    "starts_at",
    "ends_at",
    "signup_opens_at",
    "signup_deadline",
    "capacity",
    "seats_left",
    "waitlist_enabled",
)


def _detail(doc: Document) -> dict[str, Any]:
    return {
        "description": doc["description"],
        "cancel_deadline": doc["cancel_deadline"],
        "published_at": doc.get("published_at"),
    }
