"""The events room's edge: events, sign-ups and their lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, Field

from handlers.media.schemas import MediaOut
from handlers.stories.schemas import PersonRef
from server.ids import ObjectIdText
from server.paging import Page, PageQuery
from server.rest import ApiIn, ApiOut, patch_field

VenueType = Literal["school", "enterprise", "community", "village", "agency"]
EventStatus = Literal["draft", "published", "cancelled", "finished"]
SignupStatus = Literal["confirmed", "waitlisted", "cancelled"]
MAX_CAPACITY = 10_000  # the seat ledger lives in the event document
MAX_SCANS = 500
"""Scans in one offline batch (past it, 422: the device sends the rest in another)."""
SCAN_CLOCK_SKEW = timedelta(minutes=5)
"""How far a door device's clock may be off: a scan later than now by more is refused."""
ScanResult = Literal["attended", "already_attended", "ticket_invalid", "scan_time_invalid"]


class EventIn(ApiIn):
    title: str = Field(min_length=1, max_length=80)
    description: str = Field("", max_length=5000)
    venue_type: VenueType
    venue_name: str = Field(min_length=1, max_length=80)
    address: str = Field("", max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    signup_opens_at: AwareDatetime | None = None
    """Default: sign-ups open when the event is published."""
    signup_deadline: AwareDatetime | None = None
    """Default: the start."""
    cancel_deadline: AwareDatetime | None = None
    """Until when a resident may cancel; default: the start."""
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    waitlist_enabled: bool = True
    speaker_ids: list[ObjectIdText] = Field(default_factory=list, max_length=10)
    cover_media_id: str | None = Field(None, min_length=1, max_length=64)


class EventPatch(ApiIn):
    """Only the fields sent change."""

    title: str = patch_field(min_length=1, max_length=80)
    description: str = patch_field(max_length=5000)
    venue_type: VenueType = patch_field()
    venue_name: str = patch_field(min_length=1, max_length=80)
    address: str = patch_field(max_length=200)
    starts_at: AwareDatetime = patch_field()
    ends_at: AwareDatetime = patch_field()
    signup_opens_at: AwareDatetime = patch_field()
    signup_deadline: AwareDatetime = patch_field()
    cancel_deadline: AwareDatetime = patch_field()
    capacity: int = patch_field(ge=1, le=MAX_CAPACITY)
    waitlist_enabled: bool = patch_field()
    speaker_ids: list[ObjectIdText] = patch_field(max_length=10)
    cover_media_id: str | None = Field(None, min_length=1, max_length=64)


class EventSummary(ApiOut):
    id: str
    title: str
    venue_type: VenueType
    venue_name: str
    address: str
    starts_at: datetime
    ends_at: datetime
    signup_opens_at: datetime
    signup_deadline: datetime
    capacity: int
    seats_left: int
    waitlist_enabled: bool
    status: EventStatus
    cover: MediaOut | None
    speakers: list[PersonRef]


class EventOut(EventSummary):
    description: str
    cancel_deadline: datetime
    published_at: datetime | None


class AdminEventOut(EventOut):
    organizer_id: str
    created_at: datetime
    updated_at: datetime


class EventListQuery(PageQuery):
    venue_type: VenueType | None = None
    status: Literal["upcoming", "past"] | None = None
    person_id: ObjectIdText | None = None


class EventPage(Page[EventSummary]):
    pass


class AdminEventPage(Page[AdminEventOut]):
    pass


class SignupIn(ApiIn):
    name: str = Field(min_length=1, max_length=32)
    phone: str = Field(min_length=1, max_length=20)
    """A mainland mobile number; kept encrypted, answered masked (``138****0000``)."""


class SignupOut(ApiOut):
    id: str
    event_id: str
    status: SignupStatus
    position: int | None
    """Place in the waitlist (1 is next), while waitlisted."""
    ticket: str | None
    name: str
    phone: str
    """Masked: ``138****0000``."""
    created_at: datetime


class MySignupOut(SignupOut):
    event: EventSummary | None


class MySignupPage(Page[MySignupOut]):
    pass


class CancelledOut(ApiOut):
    status: Literal["cancelled"]


class CheckinIn(ApiIn):
    ticket: str = Field(min_length=1, max_length=200)


class CheckinOut(ApiOut):
    signup_id: str
    event_id: str
    status: Literal["attended"]
    attended_at: datetime
    name: str
    phone: str
    """Masked."""


class ScanIn(ApiIn):
    ticket: str = Field(min_length=1, max_length=1000)
    """As scanned: anything that is no ticket of ours is answered ``ticket_invalid``."""
    scanned_at: AwareDatetime
    """When the device scanned it (its own clock, with an offset)."""


class CheckinBatchIn(ApiIn):
    scans: list[ScanIn] = Field(min_length=1, max_length=MAX_SCANS)


class ScanOut(ApiOut):
    index: int
    """The scan's place in the batch (0 first)."""
    result: ScanResult
    """``attended``: this scan is the sign-up's check-in (the earliest of every scan of
    its ticket); ``already_attended``: an earlier scan is (``attended_at``, ``by``);
    ``ticket_invalid``: forged, another event's, or not a confirmed sign-up;
    ``scan_time_invalid``: ``scanned_at`` later than now (beyond the clock skew allowed)
    or before the ticket was issued."""
    signup_id: str | None
    attended_at: datetime | None
    by: str | None
    name: str | None
    phone: str | None
    """Masked."""


class CheckinBatchCounts(ApiOut):
    attended: int
    already_attended: int
    ticket_invalid: int
    scan_time_invalid: int


class CheckinBatchOut(ApiOut):
    results: list[ScanOut]
    """One per scan, in the batch's order."""
    counts: CheckinBatchCounts


class AdminSignupQuery(PageQuery):
    status: SignupStatus | None = None
    """One status (``waitlisted``: in waitlist order, with positions); none: every
    sign-up, in the order they were made."""


class AdminSignupOut(ApiOut):
    id: str
    user_id: str | None
    """None once the person erased their account."""
    status: SignupStatus
    position: int | None
    """Place in the waitlist (1 is next), while waitlisted."""
    promoted: bool
    """Confirmed from the waitlist."""
    name: str
    phone: str
    """Masked: ``138****0000`` (in full only in the Excel export)."""
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    """``user``, ``event_cancelled`` or ``erased``."""
    attended_at: datetime | None
    attended_by: str | None


class AdminSignupPage(Page[AdminSignupOut]):
    pass


class AttendanceOut(ApiOut):
    capacity: int
    seats_left: int
    confirmed: int
    waitlisted: int
    cancelled: int
    attended: int
    """Confirmed sign-ups checked in at the door."""
    not_attended: int
    attendance_rate: float | None
    """``attended / confirmed`` (0..1), None while nobody is confirmed."""


class TicketKeyOut(ApiOut):
    algorithm: Literal["Ed25519"]
    public_key: str
    """The raw 32-byte public key, URL-safe base64 without padding."""
    format: str
