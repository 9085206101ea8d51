"""Sign-ups that never oversell: seats, the waitlist, cancellations, the sweeper.

MongoDB is the truth (``repo.py`` explains the seat ledger). A new sign-up:

1. the Redis gate may refuse a clearly full event without a waitlist (``gate.py``);
2. a seat (while the gate shows seats and nobody waiting, or knows nothing): the ledger
   takes one for a fresh sign-up id (write 1), only while the event is published, open
   and nobody was ever waitlisted (first come keeps its order); then the sign-up is
   inserted ``confirmed`` under that id (write 2). A crash between the two leaves a
   seat held by nobody, never a sign-up without a seat; the sweeper gives that seat
   back. A duplicate (the user signed up already) loses on the unique ``active_key``
   and gives its seat back at once;
3. else a waitlist place from the event's ``waitlist_seq`` (only while open and with a
   waitlist), then the sign-up ``waitlisted`` with it; a duplicate loses on
   ``active_key`` and its place is recorded as a gap. If seats are free by then, the
   waitlist is promoted;
4. when neither write matches (closed, no waitlist, a draft, no such event), the event
   is read: 404, 422 ``signup_closed``, 409 ``event_full``, or the decision again;
5. the event's status is read once more: a sign-up written while the event was being
   cancelled is cancelled too.

No read comes first, and the uniqueness of the active sign-up is the index's: a
confirmed sign-up costs two writes and a status read, so does a waitlisted one.

Positions: ``seq`` orders the line. While no sign-up ever left it (``waitlist_moved``,
raised before any cancellation of a waiting sign-up and by every promotion's seat), a
place's position is ``seq`` less the gaps before it (``place_in_line``): no count. Once
the line moved, positions are counted. A request that died between its place and its
sign-up leaves a place nobody holds; the sweeper notices (``_check_line``) and counting
takes over.

Promotion takes the first waitlisted sign-up, takes a seat for it (the ledger entry
carries the sign-up's ``promo_epoch``), then confirms it only while that epoch holds;
a promoter that loses (the person cancelled, another promoter won) gives the seat
back. Each freed seat promotes one person, however many cancel at once.

The sweeper (every minute) makes every ledger entry whose sign-up is not confirmed
give its seat back: at once when the sign-up is cancelled, after ``HOLD_GRACE`` when it
does not exist yet (first its id is taken by a tombstone, so the late insert of a
stalled request fails) or is still waitlisted (first its promotion epoch is moved, so
the stalled promoter's confirmation fails). Then it promotes into the freed seats.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.events.gate import SeatGate
from handlers.events.phones import PhoneCipher, SealedPhone, mask_phone, normalise_phone
from handlers.events.reminders import EventMessages
from handlers.events.repo import (
    EVENT_SIGNUPS,
    LISTED_STATUSES,
    MY_SIGNUPS,
    WAITLIST,
    Document,
    EventRepo,
    SignupRepo,
    active_key,
    new_id,
)
from handlers.events.schemas import (
    SCAN_CLOCK_SKEW,
    AdminSignupOut,
    AdminSignupPage,
    AdminSignupQuery,
    AttendanceOut,
    CheckinOut,
    ScanOut,
    ScanResult,
    SignupOut,
)
from handlers.events.tickets import TicketCodec, qr_png
from server.batching import Batcher
from server.clock import Clock
from server.errors import AppError, Conflict, InvalidRequest, NotFound, Unavailable
from server.paging import PageQuery
from server.principal import Principal

HOLD_GRACE = timedelta(seconds=60)
"""How long a seat may be held for a sign-up not yet written (far past any request)."""
_PROMOTION_BATCH = 10


class SignupClosed(AppError):
    status = 422
    code = "signup_closed"
    message = "报名未开始、已截止或活动已取消"


class CancellationClosed(AppError):
    status = 422
    code = "cancellation_closed"
    message = "已过取消报名的截止时间"


class EventFull(Conflict):
    code = "event_full"
    message = "名额已满"


class AlreadySignedUp(Conflict):
    code = "already_signed_up"
    message = "已经报名过这个活动"


class TicketInvalid(AppError):
    status = 422
    code = "ticket_invalid"
    message = "票据无效"


class AlreadyAttended(Conflict):
    code = "already_attended"
    message = "这张票已经签到过"


class SignupNotConfirmed(Conflict):
    code = "signup_not_confirmed"
    message = "报名尚未确认，还没有入场票"


class PhoneInvalid(InvalidRequest):
    code = "phone_invalid"
    message = "请填写中国大陆手机号"


@dataclass(frozen=True, slots=True)
class SignupResult:
    signup: Document
    position: int | None


@dataclass(frozen=True, slots=True)
class RotationResult:
    key_id: str
    """The key every number is sealed under now (the first of PHONE_ENCRYPTION_KEYS)."""
    rotated: int
    unreadable: int
    """Sealed under a key no longer configured: left as they are."""
    remaining: int
    """Not under ``key_id`` after the run (the unreadable ones, and any sealed meanwhile
    by a process still running with older settings)."""


@dataclass(frozen=True, slots=True)
class SweepResult:
    released: int
    promoted: int
    cancelled: int


def _stored_instant(at: datetime) -> datetime:
    """``at`` in UTC, to the millisecond: as MongoDB keeps it, so that a scan can be told
    from the one recorded."""
    utc = at.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _scan_instant(at: datetime) -> datetime | None:
    """A scan's time as stored, or None when it is none in UTC (year 1 at +14:00)."""
    try:
        return _stored_instant(at)
    except OverflowError:
        return None


def _scan_out(index: int, result: ScanResult, doc: Document | None) -> ScanOut:
    shown = doc is not None and result in ("attended", "already_attended")
    return ScanOut(
        index=index,
        result=result,
        signup_id=str(doc["_id"]) if doc is not None else None,
        attended_at=doc["attended_at"] if shown and doc else None,
        by=doc.get("attended_by") if shown and doc else None,
        name=doc.get("name", "") if doc is not None else None,
        phone=doc.get("phone_masked", "") if doc is not None else None,
    )


def _admin_out(doc: Document, position: int | None) -> AdminSignupOut:
    return AdminSignupOut(
        id=str(doc["_id"]),
        user_id=doc.get("user_id"),
        status=doc["status"],
        position=position,
        promoted=doc.get("promoted", False),
        name=doc.get("name", ""),
        phone=doc.get("phone_masked", ""),
        created_at=doc["created_at"],
        confirmed_at=doc.get("confirmed_at"),
        cancelled_at=doc.get("cancelled_at"),
        cancel_reason=doc.get("cancel_reason"),
        attended_at=doc.get("attended_at"),
        attended_by=doc.get("attended_by"),
    )


def place_in_line(line: Document, seq: int) -> int | None:
    """The position of waitlist place ``seq`` from the event's line state alone: while no
    sign-up ever left the line (``waitlist_moved`` is 0; every leaving marks it first),
    everyone who took an earlier place is still ahead, but for the places recorded as
    never taken (``waitlist_gaps``). None when it must be counted (the line moved, or an
    event from before the line was kept)."""
    if line.get("waitlist_moved") != 0:
        return None
    gaps = line.get("waitlist_gaps") or []
    return seq - sum(1 for gap in gaps if gap < seq)


def signup_fingerprint(event_id: str, name: str, phone: str) -> str:
    """What makes two sign-up requests the same one (``Idempotency-Key``)."""
    digits = normalise_phone(phone) or phone
    return hashlib.sha256(f"{event_id}\x00{name}\x00{digits}".encode()).hexdigest()


class SignupService:
    privacy_section = "event_signups"

    def __init__(
        self,
        events: EventRepo,
        repo: SignupRepo,
        gate: SeatGate,
        phones: PhoneCipher,
        tickets: TicketCodec,
        messages: EventMessages,
        clock: Clock,
    ) -> None:
        self.events = events
        self.repo = repo
        self.gate = gate
        self.messages = messages
        self.phones = phones
        self.tickets = tickets
        self.clock = clock
        # Group commit (server/batching.py): a burst's concurrent sign-ups in this process
        # share their waitlist write, their inserts and their status reads.
        self._places: Batcher[str, tuple[Document, int] | None] = Batcher(self._take_places)
        self._inserts: Batcher[Document, bool] = Batcher(self.repo.insert_many)
        self._statuses: Batcher[str, str | None] = Batcher(self._read_statuses)
        # One promoter per event for a batch's sign-ups that found seats free (each
        # would fill the same seats); it starts after their inserts, so it sees them.
        self._promotions: Batcher[str, int] = Batcher(self._promote_each)

    async def _promote_each(self, event_ids: list[str]) -> list[int]:
        promoted = {event_id: await self.promote(event_id) for event_id in set(event_ids)}
        return [promoted[event_id] for event_id in event_ids]

    async def _take_places(
        self, event_ids: list[str]
    ) -> list[tuple[Document, int] | BaseException | None]:
        """One waitlist write per event for all its sign-ups in the batch: ``k`` places
        by one ``$inc``, handed out in the order they were asked for."""
        wanted: dict[str, int] = {}
        for event_id in event_ids:
            wanted[event_id] = wanted.get(event_id, 0) + 1
        now = self.clock.now()
        joined = dict(
            zip(
                wanted,
                await asyncio.gather(
                    *(self.events.join_waitlist(e, now, k) for e, k in wanted.items()),
                    return_exceptions=True,
                ),
                strict=True,
            )
        )
        results: list[tuple[Document, int] | BaseException | None] = []
        handed: dict[str, int] = {}
        for event_id in event_ids:
            event = joined[event_id]
            if event is None or isinstance(event, BaseException):
                results.append(event)
                continue
            first = event["waitlist_seq"] - wanted[event_id] + 1
            results.append((event, first + handed.get(event_id, 0)))
            handed[event_id] = handed.get(event_id, 0) + 1
        return results

    async def _read_statuses(self, event_ids: list[str]) -> list[str | None]:
        statuses = await self.events.statuses(event_ids)
        return [statuses.get(event_id) for event_id in event_ids]

    # -- signing up ------------------------------------------------------------------

    def _check_open(self, event: Document | None, now: datetime) -> Document:
        if event is None or event["status"] == "draft":
            raise NotFound()
        window = event["signup_opens_at"] <= now < event["signup_deadline"]
        if event["status"] != "published" or not window or event["ends_at"] <= now:
            raise SignupClosed(details={"status": event["status"]})
        return event

    async def sign_up(
        self, principal: Principal, event_id: str, name: str, phone: str
    ) -> SignupResult:
        """The fast path: no read first. The conditional write (a seat, or a waitlist
        place when the gate says the seats are gone or somebody waits) checks that the
        event is open; when it matches nothing, ``_sign_up_checked`` reads the event and
        decides as before."""
        digits = normalise_phone(phone)
        if digits is None:
            raise PhoneInvalid(details={"fields": {"phone": "a mainland mobile number"}})
        now = self.clock.now()
        view = await self.gate.view(event_id)
        if view is not None and view.clearly_full(now.timestamp()):
            raise EventFull()
        signup_id = new_id()
        base = self._new_signup(signup_id, event_id, principal.user_id, name, digits, now)
        if view is None or view.seats_for_newcomers():
            claimed = await self.events.claim_seat(
                event_id, signup_id, now, epoch=None, first_come=True, open_at=now
            )
            if claimed is not None:
                await self.gate.store(claimed)
                return await self._insert_confirmed(base)
        place = await self._places.submit(event_id)
        if place is None:  # closed, no waitlist, not there: read it and see
            return await self._sign_up_checked(base, now)
        return await self._insert_waitlisted(base, *place)

    async def _sign_up_checked(self, base: Document, now: datetime) -> SignupResult:
        event_id = base["event_id"]
        event = self._check_open(await self.events.get(event_id), now)
        await self.gate.store(event)  # rebuilt from MongoDB: missing or behind
        first_come = not event["waitlist_enabled"] or event["waitlist_seq"] == 0
        if first_come and event["seats_left"] > 0:
            claimed = await self.events.claim_seat(
                event_id, base["_id"], now, epoch=None, first_come=True, open_at=now
            )
            if claimed is not None:
                await self.gate.store(claimed)
                return await self._insert_confirmed(base)
        if not event["waitlist_enabled"]:
            raise EventFull()
        joined = await self.events.join_waitlist(event_id, now)
        if joined is None:  # cancelled (or the waitlist turned off) meanwhile
            raise SignupClosed(details={"status": "changed"})
        return await self._insert_waitlisted(base, joined, joined["waitlist_seq"])

    async def _insert_waitlisted(self, base: Document, joined: Document, seq: int) -> SignupResult:
        """Write 2 of a waitlisted sign-up: the sign-up at place ``seq`` (``joined``: the
        event as the write that gave it left it)."""
        signup_id, event_id = base["_id"], base["event_id"]
        await self.gate.store(joined)
        doc = {**base, "status": "waitlisted", "seq": seq}
        if not await self._inserts.submit(doc):
            # The user's other sign-up won (the unique active_key): nobody holds the place.
            await self.events.record_gap(event_id, seq)
            raise await self._duplicate(event_id, base["user_id"])
        current = doc
        position = place_in_line(joined, seq)
        if joined["seats_left"] > 0:  # seats freed meanwhile: the line moves, us too maybe
            await self._promotions.submit(event_id)
            current = await self.repo.get(signup_id) or doc
            position = None
        await self._unless_event_cancelled(event_id, current)
        if current["status"] != "waitlisted":
            return SignupResult(current, None)
        if position is None:
            position = await self._position(current)
        return SignupResult(current, position)

    def _new_signup(
        self, signup_id: str, event_id: str, user_id: str, name: str, digits: str, now: datetime
    ) -> Document:
        sealed = self.phones.seal(digits, signup_id)
        return {
            "_id": signup_id,
            "event_id": event_id,
            "user_id": user_id,
            "active_key": active_key(event_id, user_id),
            "seq": None,
            "promo_epoch": 0,
            "promoted": False,
            "name": name,
            "phone": {"k": sealed.key_id, "n": sealed.nonce, "c": sealed.ciphertext},
            "phone_masked": mask_phone(digits),
            "created_at": now,
            "confirmed_at": None,
            "cancelled_at": None,
            "attended_at": None,
        }

    async def _insert_confirmed(self, base: Document) -> SignupResult:
        signup_id, event_id = base["_id"], base["event_id"]
        doc = {**base, "status": "confirmed", "confirmed_at": base["created_at"]}
        # A failure here leaves the seat held: the sweeper decides (tombstone or not).
        if not await self._inserts.submit(doc):
            if await self.repo.get(signup_id) is not None:
                # Our id was taken by the sweeper's tombstone: this request stalled past
                # HOLD_GRACE and its seat went back. The client may simply try again.
                raise Unavailable("报名超时，请重试")
            released = await self.events.release_seat(event_id, signup_id)
            if released is not None:
                await self.gate.store(released)
                if released["waitlist_seq"] > 0:  # somebody may wait for that seat
                    await self.promote(event_id)
            raise await self._duplicate(event_id, base["user_id"])
        await self._unless_event_cancelled(event_id, doc)
        return SignupResult(doc, None)

    async def _unless_event_cancelled(self, event_id: str, doc: Document) -> None:
        """A sign-up written while its event was being cancelled is cancelled too."""
        # Read after our insert (the batch's read starts after it): if the cancellation's
        # sweep of the sign-ups missed ours, we see the event cancelled.
        if await self._statuses.submit(event_id) == "cancelled":
            await self._cancel(doc, "event_cancelled")
            raise SignupClosed(details={"status": "cancelled"})

    async def _duplicate(self, event_id: str, user_id: str) -> AppError:
        existing = await self.repo.active(event_id, user_id)
        if existing is None:  # cancelled meanwhile: a retry will do
            return Conflict()
        return await self._already(existing)

    async def _already(self, existing: Document) -> AppError:
        out = await self.out(existing)
        return AlreadySignedUp(details={"signup": out.model_dump(mode="json")})

    async def _position(self, doc: Document) -> int | None:
        """1 + how many wait ahead: from the sign-up's place while the line never moved
        (``place_in_line``), else counted."""
        if doc["status"] != "waitlisted":
            return None
        line = await self.events.line(doc["event_id"])
        position = place_in_line(line, doc["seq"]) if line is not None else None
        if position is not None:
            return position
        return await self.repo.position(doc["event_id"], doc["seq"], str(doc["_id"]))

    # -- cancelling --------------------------------------------------------------------

    async def cancel_mine(self, principal: Principal, event_id: str) -> None:
        event = await self.events.get(event_id)
        if event is None or event["status"] == "draft":
            raise NotFound()
        doc = await self.repo.active(event_id, principal.user_id)
        if doc is None:
            raise NotFound()
        if self.clock.now() >= event["cancel_deadline"]:
            raise CancellationClosed()
        await self._cancel(doc, "user")

    async def _cancel(self, doc: Document, reason: str, event: Document | None = None) -> bool:
        """Cancel an active sign-up; a confirmed one gives its seat back (after it stopped
        being confirmed) and the waitlist moves up. False if it was not active.
        ``event``: the cancelled event, for its message (``cancel_all``)."""
        signup_id, event_id = str(doc["_id"]), doc["event_id"]
        if doc["status"] == "waitlisted" and reason != "event_cancelled":
            await self.events.mark_line_moved(event_id)  # before it leaves the line
        before = await self.repo.cancel(signup_id, self.clock.now(), reason)
        if before is None:
            return False
        if reason == "event_cancelled":
            await self.messages.tell({**before, "tell_pending": reason}, event)
        if before["status"] == "confirmed":
            released = await self.events.release_seat(event_id, signup_id)
            if released is not None:
                await self.gate.store(released)
                await self.promote(event_id)
        return True

    async def cancel_all(self, event_id: str) -> int:
        """Every active sign-up of a cancelled event, cancelled; how many."""
        cancelled = 0
        await self.events.mark_line_moved(event_id)  # the line empties, in any order
        event = await self.events.get(event_id)
        while ids := await self.repo.active_ids_of_event(event_id):
            for signup_id in ids:
                doc = await self.repo.get(signup_id)
                if doc is not None:
                    cancelled += await self._cancel(doc, "event_cancelled", event)
        await self.events.mark_signups_closed(event_id)
        return cancelled

    # -- the waitlist --------------------------------------------------------------------

    async def promote(self, event_id: str) -> int:
        """Fill the free seats from the waitlist, first in line first; how many moved up."""
        promoted = 0
        tried: set[str] = set()
        while True:
            event = await self.events.get(event_id)
            if event is None or event["status"] != "published" or event["seats_left"] <= 0:
                return promoted
            holding = {seat["s"] for seat in event["seats"]}
            line = await self.repo.first_waitlisted(event_id, len(tried) + _PROMOTION_BATCH)
            candidates = [d for d in line if str(d["_id"]) not in tried | holding]
            if not candidates:
                return promoted
            for candidate in candidates:
                signup_id = str(candidate["_id"])
                tried.add(signup_id)
                now = self.clock.now()
                epoch = candidate["promo_epoch"]
                claimed = await self.events.claim_seat(
                    event_id, signup_id, now, epoch=epoch, first_come=False
                )
                if claimed is None:
                    break  # full again, or another promoter holds this one: look again
                confirmed = await self.repo.confirm_promoted(signup_id, epoch, now)
                if confirmed is not None:
                    await self.gate.store(claimed)
                    await self.messages.tell(confirmed, event)
                    promoted += 1
                    break  # one seat filled: read the event again
                released = await self.events.release_seat(event_id, signup_id)
                if released is not None:
                    await self.gate.store(released)

    # -- the sweeper ---------------------------------------------------------------------

    async def reconcile(self, event_id: str) -> SweepResult:
        """Give back every seat whose sign-up is not confirmed (see the module), then
        promote into the free seats."""
        event = await self.events.get(event_id)
        if event is None:
            return SweepResult(0, 0, 0)
        if event["status"] == "cancelled":
            return SweepResult(0, 0, await self.cancel_all(event_id))
        now = self.clock.now()
        await self._check_line(event, now)
        seats = list(event["seats"])
        states = await self.repo.states([seat["s"] for seat in seats])
        released = 0
        for seat in seats:
            signup_id = seat["s"]
            state = states.get(signup_id)
            status = state["status"] if state else None
            if status == "confirmed":
                continue
            stale = seat["at"] <= now - HOLD_GRACE
            if status is None or status == "waitlisted":
                if not stale:
                    continue  # a request or a promotion still on its way
                if status is None and not await self.repo.tombstone(signup_id, event_id, now):
                    status = "unknown"  # written meanwhile: read it again below
                if status == "waitlisted" and seat.get("e") is not None:
                    await self.repo.void_promotion(signup_id, seat["e"])
                again = await self.repo.get(signup_id)
                if again is not None and again["status"] == "confirmed":
                    continue
            if await self.events.release_seat(event_id, signup_id) is not None:
                released += 1
        promoted = await self.promote(event_id)
        latest = await self.events.get(event_id)
        if latest is not None:
            await self.gate.store(latest)
        return SweepResult(released, promoted, 0)

    async def _check_line(self, event: Document, now: datetime) -> None:
        """A waitlist place taken by a request that died before writing its sign-up
        would be counted ahead of everyone behind it forever: once the last place was
        taken ``HOLD_GRACE`` ago, every place must have its sign-up (or be a recorded
        gap); if not, positions are counted from now on."""
        if event.get("waitlist_moved") != 0 or event.get("waitlist_seq", 0) == 0:
            return
        joined_at = event.get("waitlist_joined_at")
        if joined_at is not None and joined_at > now - HOLD_GRACE:
            return  # a request may still be on its way
        event_id = str(event["_id"])
        taken = event["waitlist_seq"] - len(event.get("waitlist_gaps") or [])
        if await self.repo.count_in_line(event_id) < taken:
            await self.events.mark_line_moved(event_id)

    async def sweep(self) -> SweepResult:
        """Reconcile every published event with seats and every cancelled event whose
        sign-ups were not all cancelled."""
        totals = SweepResult(0, 0, 0)
        event_ids = [
            *await self.events.published_with_seats(),
            *await self.events.cancelled_not_closed(),
        ]
        for event_id in event_ids:
            result = await self.reconcile(event_id)
            totals = SweepResult(
                totals.released + result.released,
                totals.promoted + result.promoted,
                totals.cancelled + result.cancelled,
            )
        return totals

    # -- at the door -------------------------------------------------------------------

    async def check_in(self, event_id: str, ticket: object, by: str) -> CheckinOut:
        """First scan of a valid ticket of a confirmed sign-up of ``event_id``: attended.
        Again: 409 ``already_attended`` (when, by whom); forged, cancelled, another
        event's: 422 ``ticket_invalid``."""
        ids = self.tickets.verify(ticket)
        if ids is None or ids[0] != event_id:
            raise TicketInvalid()
        signup_id = ids[1]
        doc = await self.repo.mark_attended(signup_id, event_id, self.clock.now(), by)
        if doc is None:
            current = await self.repo.get(signup_id)
            if current is not None and current.get("attended_at") is not None:
                raise AlreadyAttended(
                    details={
                        "attended_at": current["attended_at"].isoformat(),
                        "by": current.get("attended_by"),
                    }
                )
            raise TicketInvalid(details={"status": current["status"] if current else None})
        return CheckinOut(
            signup_id=signup_id,
            event_id=event_id,
            status="attended",
            attended_at=doc["attended_at"],
            name=doc.get("name", ""),
            phone=doc.get("phone_masked", ""),
        )

    async def check_in_batch(
        self, event_id: str, scans: list[tuple[str, datetime]], by: str
    ) -> list[ScanOut]:
        """Scans made offline at the door, each ``(ticket, scanned_at)``: a sign-up's
        check-in is its earliest scan, whatever order the scans come in and however many
        times a batch is sent; each scan is answered from what is recorded after the
        whole batch (so a batch sent again is answered the same way)."""
        now = self.clock.now()
        parsed: list[tuple[str, datetime | None] | None] = []
        for ticket, at in scans:
            ids = self.tickets.verify(ticket)
            mine = ids is not None and ids[0] == event_id
            parsed.append((ids[1], _scan_instant(at)) if ids is not None and mine else None)
        before = await self.repo.get_many(list({scan[0] for scan in parsed if scan}))
        decided: dict[int, tuple[ScanResult, Document | None]] = {}
        earliest: dict[str, datetime] = {}
        for index, scan in enumerate(parsed):
            doc = before.get(scan[0]) if scan is not None else None
            if scan is None or doc is None or doc["status"] != "confirmed":
                decided[index] = ("ticket_invalid", None)
            elif scan[1] is None or not self._plausible_scan(doc, scan[1], now):
                decided[index] = ("scan_time_invalid", doc)
            elif scan[0] not in earliest or scan[1] < earliest[scan[0]]:
                earliest[scan[0]] = scan[1]
        for signup_id, at in earliest.items():
            await self.repo.record_scan(signup_id, event_id, at, by)
        after = await self.repo.get_many(list(earliest))
        results: list[ScanOut] = []
        for index, scan in enumerate(parsed):
            if index in decided or scan is None:
                results.append(_scan_out(index, *decided[index]))
                continue
            doc = after.get(scan[0])
            if doc is None or doc["status"] != "confirmed" or doc["attended_at"] is None:
                # cancelled meanwhile
                results.append(_scan_out(index, "ticket_invalid", None))
                continue
            won = _stored_instant(doc["attended_at"]) == scan[1] and doc["attended_by"] == by
            results.append(_scan_out(index, "attended" if won else "already_attended", doc))
        return results

    def _plausible_scan(self, doc: Document, at: datetime, now: datetime) -> bool:
        """Not later than now beyond the skew a device's clock may have, nor before the
        ticket existed (the sign-up's confirmation, with the same skew)."""
        issued: datetime = doc.get("confirmed_at") or doc["created_at"]
        return issued - SCAN_CLOCK_SKEW <= at <= now + SCAN_CLOCK_SKEW

    # -- reading ---------------------------------------------------------------------

    async def mine(
        self, principal: Principal, query: PageQuery
    ) -> tuple[list[Document], str | None]:
        position = MY_SIGNUPS.decode(query.cursor)
        docs = await self.repo.page_of_user(principal.user_id, position, query.limit + 1)
        return MY_SIGNUPS.page(docs, query.limit)

    async def out(self, doc: Document) -> SignupOut:
        return self._out(doc, await self._position(doc))

    def answer(self, result: SignupResult) -> SignupOut:
        """The answer to a sign-up: its position as the sign-up found it."""
        return self._out(result.signup, result.position)

    def _out(self, doc: Document, position: int | None) -> SignupOut:
        return SignupOut(
            id=str(doc["_id"]),
            event_id=doc["event_id"],
            status=doc["status"],
            position=position,
            ticket=self.tickets.issue(doc["event_id"], str(doc["_id"]))
            if doc["status"] == "confirmed"
            else None,
            name=doc.get("name", ""),
            phone=doc.get("phone_masked", ""),
            created_at=doc["created_at"],
        )

    async def ticket_png(self, principal: Principal, signup_id: str) -> bytes:
        """The QR code of the caller's own confirmed sign-up; someone else's is 404, one
        not confirmed (waitlisted, cancelled) 409 ``signup_not_confirmed``."""
        doc = await self.repo.get(signup_id)
        if doc is None or doc.get("user_id") != principal.user_id:
            raise NotFound()
        if doc["status"] != "confirmed":
            raise SignupNotConfirmed(details={"status": doc["status"]})
        ticket = self.tickets.issue(doc["event_id"], signup_id)
        return await asyncio.to_thread(qr_png, ticket)

    # -- the organizer's views ---------------------------------------------------------

    async def organizer_page(self, event_id: str, query: AdminSignupQuery) -> AdminSignupPage:
        """A page of the event's sign-ups by status (phone numbers masked); waitlisted
        ones carry their positions."""
        keyset = WAITLIST if query.status == "waitlisted" else EVENT_SIGNUPS
        position = keyset.decode(query.cursor)
        docs = await self.repo.page_of_event(event_id, query.status, position, query.limit + 1)
        docs, next_cursor = keyset.page(docs, query.limit)
        positions: list[int | None]
        if query.status == "waitlisted" and docs:
            first = await self._position(docs[0]) or 1  # the rest of the page follow it
            positions = list(range(first, first + len(docs)))
        else:
            positions = [await self._position(doc) for doc in docs]
        items = [_admin_out(doc, at) for doc, at in zip(docs, positions, strict=True)]
        return AdminSignupPage(items=items, next_cursor=next_cursor)

    async def organizer_one(self, event_id: str, signup_id: str) -> AdminSignupOut | None:
        """One sign-up of ``event_id`` as its organizer's list shows it (phone masked);
        None when there is no such sign-up of that event."""
        doc = await self.repo.get(signup_id)
        if doc is None or doc["event_id"] != event_id or doc["status"] not in LISTED_STATUSES:
            return None
        return _admin_out(doc, await self._position(doc))

    async def of_event(self, event_id: str) -> list[Document]:
        """Every sign-up of the event (for the Excel export), in the order they were made."""
        return await self.repo.of_event(event_id)

    async def attendance(self, event: Document) -> AttendanceOut:
        tally = await self.repo.tally(str(event["_id"]))
        confirmed, attended = tally["confirmed"], tally["attended"]
        return AttendanceOut(
            capacity=event["capacity"],
            seats_left=event["seats_left"],
            confirmed=confirmed,
            waitlisted=tally["waitlisted"],
            cancelled=tally["cancelled"],
            attended=attended,
            not_attended=confirmed - attended,
            attendance_rate=round(attended / confirmed, 4) if confirmed else None,
        )

    def phone_of(self, doc: Document) -> str | None:
        """The full number (for the organizer's export only; never answered elsewhere)."""
        sealed = doc.get("phone")
        if not sealed:
            return None
        return self.phones.open(
            SealedPhone(sealed["k"], bytes(sealed["n"]), bytes(sealed["c"])), str(doc["_id"])
        )

    async def rotate_phone_keys(self, batch: int = 500) -> RotationResult:
        """Seal every phone number under the current key (the first configured). Each
        number is re-sealed by one conditional update, so a run can stop anywhere and be
        run again: it only ever looks at numbers under another key."""
        current = self.phones.current_key_id
        rotated = unreadable = 0
        after: Any = None
        while docs := await self.repo.sealed_not_under(current, after, batch):
            for doc in docs:
                digits = self.phone_of(doc)
                if digits is None:
                    unreadable += 1
                    continue
                fresh = self.phones.seal(digits, str(doc["_id"]))
                new = {"k": fresh.key_id, "n": fresh.nonce, "c": fresh.ciphertext}
                rotated += await self.repo.reseal_phone(doc["_id"], doc["phone"], new)
            after = docs[-1]["_id"]
        remaining = await self.repo.count_not_under(current)
        return RotationResult(current, rotated, unreadable, remaining)

    # -- personal data (server.privacy) ----------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {
                "id": str(doc["_id"]),
                "event_id": doc["event_id"],
                "status": doc["status"],
                "name": doc.get("name", ""),
                # Masked here too: the full number is kept encrypted, for the organizer.
                "phone": doc.get("phone_masked", ""),
                "created_at": doc["created_at"].isoformat(),
                "cancelled_at": doc["cancelled_at"].isoformat()
                if doc.get("cancelled_at")
                else None,
            }
            for doc in await self.repo.of_user(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        """Every active sign-up cancelled (a confirmed seat goes to the next in line),
        then names and phone numbers removed. Idempotent."""
        for doc in await self.repo.active_of_user(user_id):
            await self._cancel(doc, "erased")
        await asyncio.shield(self.repo.anonymise_user(user_id))
