"""The only code that touches ``events`` and ``event_signups``; the room's only MongoDB
filters and updates.

The seat ledger lives in the event document: ``capacity``, ``seats_left`` and
``seats``, one entry ``{s: sign-up id, at, e: promotion epoch}`` per seat held, and
every write that changes one changes the others in the same single-document update,
so ``len(seats) == capacity - seats_left`` always. A seat is taken by a conditional
update (``seats_left > 0``, the sign-up not holding one already) and given back by one
that matches only while the entry is there: each release happens once, however many
cancellations, promoters and sweepers try it. A sign-up is ``confirmed`` only after its
entry is in the ledger and leaves the ledger only after it stopped being confirmed, so
confirmed sign-ups are always a subset of the ledger (docs/architecture.md, "Events").

One active sign-up per user and event: ``active_key`` is ``<event>:<user>`` while the
sign-up is confirmed or waitlisted and ``~<its own id>`` afterwards, under a unique
index (the partial index we cannot use, as ``users.openid`` does). Every indexed field
is top level.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from server.paging import ID_ASCENDING, ID_DESCENDING, Keyset, Position, SortField
from server.repo import as_object_id, find_page

Document = dict[str, Any]
DUPLICATE_KEY = 11000
ACTIVE_STATUSES = ("confirmed", "waitlisted")
EDITABLE_STATUSES = ("draft", "published")

UPCOMING = Keyset(
    "events_upcoming", (SortField("starts_at", "datetime"), SortField("_id", "object_id"))
)
"""Events not over yet, soonest first."""
PAST = Keyset(
    "events_past",
    (
        SortField("starts_at", "datetime", descending=True),
        SortField("_id", "object_id", descending=True),
    ),
)
"""Events over (or every public event), latest first."""
ADMIN_EVENTS = Keyset("admin_events", ID_DESCENDING)
MY_SIGNUPS = Keyset("my_signups", ID_DESCENDING)
EVENT_SIGNUPS = Keyset("event_signups", ID_ASCENDING)
"""An event's sign-ups for its organizer, in the order they were made."""
WAITLIST = Keyset("event_waitlist", (SortField("seq", "int"), SortField("_id", "object_id")))
"""An event's waitlist, first in line first (see ``SignupRepo``)."""
LISTED_STATUSES = ("confirmed", "waitlisted", "cancelled")  # not the sweeper's ``void``

LEDGER_VIEW = dict.fromkeys(
    (
        "status", "version", "signup_opens_at", "signup_deadline", "seats_left",
        "waitlist_enabled", "waitlist_seq", "waitlist_moved", "waitlist_gaps",
    ),
    1,
)  # fmt: skip
"""What the sign-up paths need back from a ledger write (the gate's snapshot, the line's
state): not the ``seats`` list, which grows with the capacity and would be decoded on
every write."""


def new_id() -> str:
    return str(ObjectId())


def inactive_key(signup_id: str) -> str:
    return f"~{signup_id}"


def active_key(event_id: str, user_id: str) -> str:
    return f"{event_id}:{user_id}"


def _open_at(now: datetime) -> Document:
    """The event's sign-up window contains ``now`` and the event is not over."""
    return {
        "signup_opens_at": {"$lte": now},
        "signup_deadline": {"$gt": now},
        "ends_at": {"$gt": now},
    }


def _reads_as(status: str, now: datetime | None) -> Document:
    """Events whose status reads as ``status`` at ``now``: a published event that has
    ended is finished, before the worker stores it so (``EventService.status_of``)."""
    if status == "published":
        return {"status": "published", "ends_at": {"$gt": now}}
    if status == "finished":
        return {"$or": [{"status": "finished"}, {"status": "published", "ends_at": {"$lte": now}}]}
    return {"status": status}


class EventRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["events"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("starts_at", ASCENDING)])
        await self.collection.create_index([("speaker_ids", ASCENDING)])
        await self.collection.create_index([("organizer_id", ASCENDING), ("_id", DESCENDING)])

    async def insert(self, doc: Document) -> Document:
        doc = {**doc, "_id": as_object_id(doc["_id"])}
        await self.collection.insert_one(doc)
        return doc

    async def get(self, event_id: str) -> Document | None:
        oid = as_object_id(event_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def get_many(self, event_ids: list[str]) -> dict[str, Document]:
        oids = [oid for oid in map(as_object_id, event_ids) if oid is not None]
        if not oids:
            return {}
        return {str(doc["_id"]): doc async for doc in self.collection.find({"_id": {"$in": oids}})}

    async def update_if(
        self,
        event_id: str,
        statuses: tuple[str, ...],
        changes: Document,
        *,
        capacity_from: int | None = None,
        capacity_delta: int = 0,
    ) -> Document | None:
        """Set ``changes`` while the event is in one of ``statuses``; with
        ``capacity_from``, also move ``capacity`` (and ``seats_left``) by
        ``capacity_delta``, only while it still is ``capacity_from`` and, when lowering,
        while enough seats are free. None when the event does not match."""
        oid = as_object_id(event_id)
        if oid is None:
            return None
        query: Document = {"_id": oid, "status": {"$in": list(statuses)}}
        inc: Document = {"version": 1}
        if capacity_from is not None:
            query["capacity"] = capacity_from
            if capacity_delta < 0:
                query["seats_left"] = {"$gte": -capacity_delta}
            inc.update(capacity=capacity_delta, seats_left=capacity_delta)
        update: Document = {"$inc": inc}
        if changes:
            update["$set"] = changes
        return await self.collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )

    # -- the seat ledger -------------------------------------------------------------

    async def claim_seat(
        self,
        event_id: str,
        signup_id: str,
        at: datetime,
        *,
        epoch: int | None,
        first_come: bool,
        open_at: datetime | None = None,
    ) -> Document | None:
        """Take a seat for ``signup_id`` if one is free and it holds none; ``first_come``
        (a new sign-up, not a promotion) only while nobody was ever waitlisted, so the
        waitlist keeps its order; ``open_at``: only while sign-ups are open then. A
        promotion (``epoch`` given) marks the line as moved (``waitlist_moved``) in the same
        write, before its sign-up leaves the line. The event after (``LEDGER_VIEW``), or
        None."""
        oid = as_object_id(event_id)
        query: Document = {
            "_id": oid,
            "status": "published",
            "seats_left": {"$gt": 0},
            "seats.s": {"$ne": signup_id},
        }
        if first_come:
            query["waitlist_seq"] = 0
        if open_at is not None:
            query.update(_open_at(open_at))
        inc: Document = {"seats_left": -1, "version": 1}
        if epoch is not None:
            inc["waitlist_moved"] = 1
        return await self.collection.find_one_and_update(
            query,
            {"$inc": inc, "$push": {"seats": {"s": signup_id, "at": at, "e": epoch}}},
            projection=LEDGER_VIEW,
            return_document=ReturnDocument.AFTER,
        )

    async def release_seat(self, event_id: str, signup_id: str) -> Document | None:
        """Give back ``signup_id``'s seat; None if it holds none (given back already)."""
        oid = as_object_id(event_id)
        return await self.collection.find_one_and_update(
            {"_id": oid, "seats.s": signup_id},
            {"$pull": {"seats": {"s": signup_id}}, "$inc": {"seats_left": 1, "version": 1}},
            projection=LEDGER_VIEW,
            return_document=ReturnDocument.AFTER,
        )

    async def join_waitlist(self, event_id: str, now: datetime, places: int = 1) -> Document | None:
        """The next ``places`` places in the waitlist (the last is ``waitlist_seq``
        after), or None when the event is not open for sign-ups at ``now`` or has no
        waitlist."""
        oid = as_object_id(event_id)
        return await self.collection.find_one_and_update(
            {"_id": oid, "status": "published", "waitlist_enabled": True, **_open_at(now)},
            {
                "$inc": {"waitlist_seq": places, "version": 1},
                "$set": {"waitlist_joined_at": now},
            },
            projection=LEDGER_VIEW,
            return_document=ReturnDocument.AFTER,
        )

    # -- the line's state (positions without counting, ``SignupService._position``) --

    async def line(self, event_id: str) -> Document | None:
        """``waitlist_moved`` and ``waitlist_gaps`` of the event."""
        return await self.collection.find_one(
            {"_id": as_object_id(event_id)}, projection={"waitlist_moved": 1, "waitlist_gaps": 1}
        )

    async def mark_line_moved(self, event_id: str) -> None:
        """A sign-up is about to leave the line (or may have, unseen): from now on
        positions are counted."""
        await self.collection.update_one(
            {"_id": as_object_id(event_id)}, {"$inc": {"waitlist_moved": 1, "version": 1}}
        )

    async def record_gap(self, event_id: str, seq: int) -> None:
        """Waitlist place ``seq`` was taken by a request whose sign-up was not written
        (the user's other sign-up won): nobody holds it."""
        await self.collection.update_one(
            {"_id": as_object_id(event_id)},
            {"$push": {"waitlist_gaps": seq}, "$inc": {"version": 1}},
        )

    async def statuses(self, event_ids: list[str]) -> dict[str, str]:
        oids = [oid for oid in map(as_object_id, set(event_ids)) if oid is not None]
        cursor = self.collection.find({"_id": {"$in": oids}}, projection={"status": 1})
        return {str(doc["_id"]): str(doc["status"]) async for doc in cursor}

    # -- lists -----------------------------------------------------------------------

    async def public_page(
        self,
        *,
        keyset: Keyset,
        over_before: datetime | None,
        over_after: datetime | None,
        venue_type: str | None,
        person_id: str | None,
        position: Position | None,
        limit: int,
    ) -> list[Document]:
        """Events the public sees (not drafts); ``over_before``: ended before it (past),
        ``over_after``: not ended by then (upcoming)."""
        query: Document = {"status": {"$ne": "draft"}}
        if over_before is not None:
            query["ends_at"] = {"$lt": over_before}
        if over_after is not None:
            query["ends_at"] = {"$gte": over_after}
        if venue_type:
            query["venue_type"] = venue_type
        if person_id:
            query["speaker_ids"] = person_id
        return await find_page(self.collection, query, keyset, position, limit)

    async def admin_page(
        self,
        *,
        organizer_id: str | None,
        position: Position | None,
        limit: int,
        status: str | None = None,
        now: datetime | None = None,
    ) -> list[Document]:
        """Events (of ``organizer_id``; reading as ``status`` at ``now``), newest first."""
        query: Document = {} if organizer_id is None else {"organizer_id": organizer_id}
        if status is not None:
            query.update(_reads_as(status, now))
        return await find_page(self.collection, query, ADMIN_EVENTS, position, limit)

    async def titles(self) -> set[str]:
        return {doc["title"] async for doc in self.collection.find({}, projection={"title": 1})}

    async def latest_of(self, organizer_id: str | None, limit: int) -> list[Document]:
        """The ``limit`` events (not drafts) of ``organizer_id`` (None: anyone's) that
        start last, without their seat ledgers (the dashboard)."""
        query: Document = {"status": {"$ne": "draft"}}
        if organizer_id is not None:
            query["organizer_id"] = organizer_id
        cursor = (
            self.collection.find(query, projection={"seats": 0, "description": 0})
            .sort([("starts_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def published_starting_between(self, start: datetime, end: datetime) -> list[str]:
        """Published events starting in (start, end] (the reminders' sweep)."""
        cursor = self.collection.find(
            {"status": "published", "starts_at": {"$gt": start, "$lte": end}},
            projection={"_id": 1},
        )
        return [str(doc["_id"]) async for doc in cursor]

    # -- the sweeper -----------------------------------------------------------------

    async def published_with_seats(self, limit: int = 1000) -> list[str]:
        cursor = self.collection.find(
            {"status": "published", "seats.0": {"$exists": True}}, projection={"_id": 1}
        ).limit(limit)
        return [str(doc["_id"]) async for doc in cursor]

    async def cancelled_not_closed(self, limit: int = 1000) -> list[str]:
        """Cancelled events whose sign-ups were not all cancelled yet."""
        cursor = self.collection.find(
            {"status": "cancelled", "signups_closed": False}, projection={"_id": 1}
        ).limit(limit)
        return [str(doc["_id"]) async for doc in cursor]

    async def mark_signups_closed(self, event_id: str) -> None:
        await self.collection.update_one(
            {"_id": as_object_id(event_id)}, {"$set": {"signups_closed": True}}
        )

    async def finish_over(self, now: datetime) -> int:
        """published -> finished for events that have ended."""
        result = await self.collection.update_many(
            {"status": "published", "ends_at": {"$lte": now}},
            {"$set": {"status": "finished", "updated_at": now}, "$inc": {"version": 1}},
        )
        return result.modified_count


class SignupRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["event_signups"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("active_key", ASCENDING)], unique=True)
        await self.collection.create_index(
            [("event_id", ASCENDING), ("status", ASCENDING), ("seq", ASCENDING), ("_id", ASCENDING)]
        )
        await self.collection.create_index([("user_id", ASCENDING), ("_id", DESCENDING)])
        await self.collection.create_index(
            [("tell_pending", ASCENDING), ("tell_pending_at", ASCENDING)]
        )

    async def insert(self, doc: Document) -> bool:
        """Insert under its own id; False when that id or its ``active_key`` is taken."""
        try:
            await self.collection.insert_one({**doc, "_id": as_object_id(doc["_id"])})
        except DuplicateKeyError:
            return False
        return True

    async def insert_many(self, docs: list[Document]) -> list[bool | Exception]:
        """Each inserted under its own id (one command), in no particular order: per
        document, False when its id or ``active_key`` is taken, the error if it failed
        otherwise."""
        results: list[bool | Exception] = [True] * len(docs)
        try:
            await self.collection.insert_many(
                [{**doc, "_id": as_object_id(doc["_id"])} for doc in docs], ordered=False
            )
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                duplicate = error.get("code") == DUPLICATE_KEY
                results[error["index"]] = (
                    False
                    if duplicate
                    else OperationFailure(error.get("errmsg", "insert failed"), error.get("code"))
                )
            if exc.details.get("writeConcernErrors"):
                return [exc] * len(docs)
        return results

    async def tombstone(self, signup_id: str, event_id: str, now: datetime) -> bool:
        """Take ``signup_id`` before its sign-up was written, so that it never will be
        (a seat held by a request that died); False when the sign-up exists."""
        return await self.insert(
            {
                "_id": signup_id,
                "event_id": event_id,
                "user_id": None,
                "status": "void",
                "active_key": inactive_key(signup_id),
                "created_at": now,
            }
        )

    async def get(self, signup_id: str) -> Document | None:
        oid = as_object_id(signup_id)
        return await self.collection.find_one({"_id": oid}) if oid else None

    async def active(self, event_id: str, user_id: str) -> Document | None:
        return await self.collection.find_one({"active_key": active_key(event_id, user_id)})

    async def states(self, signup_ids: list[str]) -> dict[str, Document]:
        """``status`` and ``promo_epoch`` of each of ``signup_ids`` that exists."""
        oids = [oid for oid in map(as_object_id, signup_ids) if oid is not None]
        if not oids:
            return {}
        cursor = self.collection.find(
            {"_id": {"$in": oids}}, projection={"status": 1, "promo_epoch": 1}
        )
        return {str(doc["_id"]): doc async for doc in cursor}

    # The waitlist's order is (seq, _id): ``seq`` is the event's ``waitlist_seq`` as the
    # ``$inc`` returned it, one value per caller (MongoDB; mongo-java-server serialises
    # findAndModify per collection: scripts/probe_mongo_semantics.py checks it), and
    # ``_id`` would order two equal ones the same way for every reader.

    async def first_waitlisted(self, event_id: str, limit: int) -> list[Document]:
        cursor = (
            self.collection.find({"event_id": event_id, "status": "waitlisted"})
            .sort([("seq", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def position(self, event_id: str, seq: int, signup_id: str) -> int:
        """1 + how many wait ahead of the sign-up at waitlist place ``seq``."""
        ahead = await self.collection.count_documents(
            {
                "event_id": event_id,
                "status": "waitlisted",
                "$or": [
                    {"seq": {"$lt": seq}},
                    {"seq": seq, "_id": {"$lt": as_object_id(signup_id)}},
                ],
            }
        )
        return ahead + 1

    async def count_in_line(self, event_id: str) -> int:
        """Sign-ups of ``event_id`` written with a waitlist place (whatever became of
        them since)."""
        return await self.collection.count_documents({"event_id": event_id, "seq": {"$ne": None}})

    async def confirm_promoted(self, signup_id: str, epoch: int, now: datetime) -> Document | None:
        """waitlisted -> confirmed, only while its promotion epoch is still ``epoch``."""
        return await self.collection.find_one_and_update(
            {"_id": as_object_id(signup_id), "status": "waitlisted", "promo_epoch": epoch},
            {
                "$set": {
                    "status": "confirmed",
                    "confirmed_at": now,
                    "promoted": True,
                    # until the message is in the outbox (handlers/events/reminders.py)
                    "tell_pending": "event_promoted",
                    "tell_pending_at": now,
                },
                "$inc": {"promo_epoch": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def void_promotion(self, signup_id: str, epoch: int) -> None:
        """Make a promotion begun at ``epoch`` impossible to finish (its promoter died)."""
        await self.collection.update_one(
            {"_id": as_object_id(signup_id), "promo_epoch": epoch}, {"$inc": {"promo_epoch": 1}}
        )

    async def cancel(self, signup_id: str, now: datetime, reason: str) -> Document | None:
        """An active sign-up -> cancelled; the sign-up as it was before, or None. The
        event's cancellation is told to the person (``tell_pending``); their own is not."""
        changes: Document = {
            "status": "cancelled",
            "active_key": inactive_key(signup_id),
            "cancelled_at": now,
            "cancel_reason": reason,
        }
        if reason == "event_cancelled":
            changes |= {"tell_pending": "event_cancelled", "tell_pending_at": now}
        return await self.collection.find_one_and_update(
            {"_id": as_object_id(signup_id), "status": {"$in": list(ACTIVE_STATUSES)}},
            {"$set": changes, "$inc": {"promo_epoch": 1}},
            return_document=ReturnDocument.BEFORE,
        )

    async def told(self, signup_id: str) -> None:
        """The message ``tell_pending`` asked for is in the outbox."""
        await self.collection.update_one(
            {"_id": as_object_id(signup_id)},
            {"$unset": {"tell_pending": "", "tell_pending_at": ""}},
        )

    async def untold(self, before: datetime, limit: int) -> list[Document]:
        """Sign-ups marked ``tell_pending`` before ``before`` (their teller died)."""
        cursor = self.collection.find(
            {
                "tell_pending": {"$in": ["event_promoted", "event_cancelled"]},
                "tell_pending_at": {"$lte": before},
            }
        ).limit(limit)
        return [doc async for doc in cursor]

    async def mark_attended(
        self, signup_id: str, event_id: str, now: datetime, by: str
    ) -> Document | None:
        """A confirmed sign-up of ``event_id`` not yet checked in -> attended, once."""
        return await self.collection.find_one_and_update(
            {
                "_id": as_object_id(signup_id),
                "event_id": event_id,
                "status": "confirmed",
                "attended_at": None,
            },
            {"$set": {"attended_at": now, "attended_by": by}},
            return_document=ReturnDocument.AFTER,
        )

    async def record_scan(self, signup_id: str, event_id: str, at: datetime, by: str) -> None:
        """An offline scan of a confirmed sign-up of ``event_id``: its check-in becomes
        ``(at, by)`` unless an earlier scan is recorded (ties: the smaller ``by``), so
        whatever order scans arrive in, and however often, the earliest one stays."""
        await self.collection.update_one(
            {
                "_id": as_object_id(signup_id),
                "event_id": event_id,
                "status": "confirmed",
                "$or": [
                    {"attended_at": None},
                    {"attended_at": {"$gt": at}},
                    {"attended_at": at, "attended_by": {"$gt": by}},
                ],
            },
            {"$set": {"attended_at": at, "attended_by": by}},
        )

    async def get_many(self, signup_ids: list[str]) -> dict[str, Document]:
        oids = [oid for oid in map(as_object_id, signup_ids) if oid is not None]
        if not oids:
            return {}
        cursor = self.collection.find({"_id": {"$in": oids}})
        return {str(doc["_id"]): doc async for doc in cursor}

    # -- key rotation (phones.py) -------------------------------------------------------

    async def sealed_not_under(self, key_id: str, after: Any | None, limit: int) -> list[Document]:
        """Sign-ups whose phone number is sealed under another key than ``key_id``, in
        ``_id`` order after ``after``."""
        query: Document = {"phone.k": {"$exists": True, "$ne": key_id}}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = (
            self.collection.find(query, projection={"phone": 1})
            .sort([("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def count_not_under(self, key_id: str) -> int:
        return await self.collection.count_documents({"phone.k": {"$exists": True, "$ne": key_id}})

    async def reseal_phone(self, signup_id: Any, old: Document, new: Document) -> bool:
        """Replace the sealed number, only while it is still ``old`` (not erased, not
        re-sealed by another run meanwhile)."""
        result = await self.collection.update_one(
            {"_id": signup_id, "phone.k": old["k"], "phone.n": old["n"]}, {"$set": {"phone": new}}
        )
        return result.modified_count == 1

    async def active_ids_of_event(self, event_id: str, limit: int = 500) -> list[str]:
        cursor = self.collection.find(
            {"event_id": event_id, "status": {"$in": list(ACTIVE_STATUSES)}},
            projection={"_id": 1},
        ).limit(limit)
        return [str(doc["_id"]) async for doc in cursor]

    async def of_event_with_status(self, event_id: str, status: str) -> list[Document]:
        cursor = self.collection.find({"event_id": event_id, "status": status})
        return [doc async for doc in cursor]

    async def page_of_event(
        self, event_id: str, status: str | None, position: Position | None, limit: int
    ) -> list[Document]:
        """Sign-ups of ``event_id`` with ``status`` (or every one), for its organizer:
        the waitlist in its order, the others in the order they were made."""
        statuses = [status] if status else list(LISTED_STATUSES)
        query: Document = {"event_id": event_id, "status": {"$in": statuses}}
        keyset = WAITLIST if status == "waitlisted" else EVENT_SIGNUPS
        return await find_page(self.collection, query, keyset, position, limit)

    async def tally(self, event_id: str) -> dict[str, int]:
        """How many sign-ups of ``event_id`` have each status, and ``attended``: the
        confirmed ones checked in."""
        tally = dict.fromkeys((*LISTED_STATUSES, "attended"), 0)
        cursor = self.collection.find(
            {"event_id": event_id, "status": {"$in": list(LISTED_STATUSES)}},
            projection={"status": 1, "attended_at": 1},
        )
        async for doc in cursor:
            tally[doc["status"]] += 1
            if doc["status"] == "confirmed" and doc.get("attended_at") is not None:
                tally["attended"] += 1
        return tally

    async def tallies(self, event_ids: list[str]) -> dict[str, dict[str, int]]:
        """``tally`` of each of ``event_ids`` in one aggregation: by event, how many
        sign-ups have each listed status, and ``attended``."""
        tallies = {
            event_id: dict.fromkeys((*LISTED_STATUSES, "attended"), 0) for event_id in event_ids
        }
        if not event_ids:
            return tallies
        cursor = await self.collection.aggregate(
            [
                {
                    "$match": {
                        "event_id": {"$in": event_ids},
                        "status": {"$in": list(LISTED_STATUSES)},
                    }
                },
                {
                    "$group": {
                        "_id": {"event": "$event_id", "status": "$status"},
                        "n": {"$sum": 1},
                        # attended_at is a date once checked in, null or absent before
                        "attended": {"$sum": {"$cond": [{"$gt": ["$attended_at", None]}, 1, 0]}},
                    }
                },
            ]
        )
        async for doc in cursor:
            tally = tallies[doc["_id"]["event"]]
            tally[doc["_id"]["status"]] = int(doc["n"])
            if doc["_id"]["status"] == "confirmed":
                tally["attended"] = int(doc["attended"])
        return tallies

    async def of_event(self, event_id: str) -> list[Document]:
        """Every sign-up of ``event_id`` (the export), in the order they were made."""
        cursor = self.collection.find(
            {"event_id": event_id, "status": {"$in": list(LISTED_STATUSES)}}
        ).sort([("_id", ASCENDING)])
        return [doc async for doc in cursor]

    async def counts(self, event_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self.collection.find({"event_id": event_id}, projection={"status": 1}):
            counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        return counts

    async def page_of_user(
        self, user_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        return await find_page(self.collection, {"user_id": user_id}, MY_SIGNUPS, position, limit)

    async def of_user(self, user_id: str) -> list[Document]:
        cursor = self.collection.find({"user_id": user_id}).sort([("_id", ASCENDING)])
        return [doc async for doc in cursor]

    async def active_of_user(self, user_id: str) -> list[Document]:
        cursor = self.collection.find(
            {"user_id": user_id, "status": {"$in": list(ACTIVE_STATUSES)}}
        )
        return [doc async for doc in cursor]

    async def anonymise_user(self, user_id: str) -> None:
        """Strip name and phone from every sign-up of ``user_id`` (all cancelled first)."""
        await self.collection.update_many(
            {"user_id": user_id},
            {
                "$set": {"name": "", "phone_masked": "", "user_id": None},
                "$unset": {"phone": ""},
            },
        )
