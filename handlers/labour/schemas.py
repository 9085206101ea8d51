"""The labour room's edge: schools, classes, consent, tasks and check-ins."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from handlers.media.schemas import MediaOut
from server.ids import ObjectIdText
from server.paging import Page, PageQuery
from server.rest import ApiIn, ApiOut, ApiQuery, patch_field

Category = Literal["daily_life", "productive", "service"]
Frequency = Literal["once", "daily", "weekly"]
Relationship = Literal["father", "mother", "grandparent", "other_guardian"]
CheckInStatus = Literal["submitted", "approved", "rejected"]
MyStatus = Literal["todo", "submitted", "approved", "rejected"]

# -- schools and classes ------------------------------------------------------------------


class SchoolIn(ApiIn):
    name: str = Field(min_length=1, max_length=64)
    district: str = Field(min_length=1, max_length=32)


class SchoolOut(ApiOut):
    id: str
    name: str
    district: str
    created_at: datetime


class SchoolPage(Page[SchoolOut]):
    pass


class TeacherIn(ApiIn):
    user_id: ObjectIdText


class TeacherOut(ApiOut):
    user_id: str
    school_id: str


class ClassIn(ApiIn):
    school_id: ObjectIdText
    name: str = Field(min_length=1, max_length=32)
    grade: int = Field(ge=1, le=12, description="1-6 primary, 7-9 junior, 10-12 senior")


class ClassOut(ApiOut):
    id: str
    school_id: str
    name: str
    grade: int
    join_code: str | None = Field(description="Only in answers to the class's teacher")
    join_code_expires_at: datetime | None = None
    student_count: int


class ClassPage(Page[ClassOut]):
    pass


class ConsentIn(ApiIn):
    guardian_name: str = Field(min_length=1, max_length=32)
    relationship: Relationship
    version: str = Field(min_length=1, max_length=32)


class JoinIn(ApiIn):
    join_code: str = Field(min_length=1, max_length=32)
    student_name: str = Field(min_length=1, max_length=32)
    # Optional here so that its absence is the contract's 422 guardian_consent_required,
    # not a generic invalid_request.
    guardian_consent: ConsentIn | None = None


class ConsentTextOut(ApiOut):
    version: str
    title: str
    text: str
    sha256: str


class StudentOut(ApiOut):
    """A student as their own class's teacher sees them (real name included)."""

    user_id: str
    student_name: str
    nickname: str
    joined_at: datetime


class StudentPage(Page[StudentOut]):
    pass


class WithdrawnOut(ApiOut):
    status: Literal["withdrawn"] = "withdrawn"
    erased_checkins: int


# -- tasks and check-ins --------------------------------------------------------------------


class TaskIn(ApiIn):
    title: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=2000)
    category: Category
    class_ids: list[ObjectIdText] = Field(min_length=1, max_length=20)
    start_date: date = Field(description="Asia/Shanghai date")
    end_date: date = Field(description="Asia/Shanghai date, inclusive")
    frequency: Frequency
    hours: float = Field(gt=0, le=24, description="Credited per approved check-in")
    photo_required: bool = False
    makeup_days: int = Field(
        0, ge=0, le=7, description="补卡: days after a period a late check-in is taken"
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> TaskIn:
        problem = date_range_problem(self.start_date, self.end_date)
        if problem:
            raise ValueError(problem)
        return self


MAX_TASK_DAYS = 366


def date_range_problem(start: date, end: date) -> str | None:
    """Why a task cannot run from ``start`` to ``end`` (None: it can)."""
    if end < start:
        return "end_date is before start_date"
    if (end - start).days > MAX_TASK_DAYS:
        return "a task lasts at most a year"
    return None


class TaskPatch(ApiIn):
    """Only the fields sent change. The frequency is fixed once set (it decides what the
    periods of the check-ins already made are); changing hours or category applies to
    check-ins made from now on: the ones made before keep theirs, and approved hours are
    never rewritten."""

    title: str = patch_field(min_length=1, max_length=64)
    description: str = patch_field(max_length=2000)
    category: Category = patch_field()
    class_ids: list[ObjectIdText] = patch_field(min_length=1, max_length=20)
    start_date: date = patch_field(description="Asia/Shanghai date")
    end_date: date = patch_field(description="Asia/Shanghai date, inclusive")
    hours: float = patch_field(gt=0, le=24)
    photo_required: bool = patch_field()
    makeup_days: int = patch_field(ge=0, le=7)


class TaskOut(ApiOut):
    id: str
    title: str
    description: str
    category: Category
    class_ids: list[str]
    start_date: date
    end_date: date
    frequency: Frequency
    hours: float
    photo_required: bool
    makeup_days: int
    status: Literal["open", "closed"]
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    my_status: MyStatus | None = Field(
        None, description="The caller's state in the current period (students)"
    )
    period: str | None = Field(None, description="The current period (students)")


class TaskPage(Page[TaskOut]):
    pass


class CheckInIn(ApiIn):
    note: str = Field("", max_length=500)
    media_ids: list[str] = Field(default_factory=list, max_length=9)
    date: dt.date | None = Field(
        None,
        description="The Asia/Shanghai day checked in for (补卡 of an earlier period within "
        "the task's makeup_days); today when left out",
    )


class ReviewOut(ApiOut):
    decision: Literal["approved", "rejected"]
    comment: str
    by: str
    at: datetime


class DuplicateOut(ApiOut):
    """The other student's check-in whose photo this one's resembles (teachers only)."""

    checkin_id: str
    student_id: str
    class_id: str
    media_id: str = Field(description="This check-in's photo")
    other_media_id: str = Field(description="The other check-in's photo")
    distance: int = Field(description="Bits of 64 the two photos' hashes differ in")
    student_name: str | None = Field(
        None, description="The other student's real name, if in a class of the viewer's"
    )


class CheckInOut(ApiOut):
    id: str
    task_id: str
    student_id: str
    period: str
    status: CheckInStatus
    note: str
    photos: list[MediaOut]
    late: bool
    flags: list[str]
    review: ReviewOut | None
    created_at: datetime
    day: dt.date = Field(description="The Asia/Shanghai day checked in for (a daily task's period)")
    hours: float = Field(description="Hours this check-in is worth (the task's when it was made)")
    credited_hours: float | None = Field(
        None, description="Hours credited by its approval (never rewritten by task edits)"
    )
    duplicate_of: DuplicateOut | None = Field(
        None,
        description="With the flag duplicate_photo: the check-in whose photo it resembles "
        "(in answers to teachers and admins only)",
    )
    student_name: str | None = Field(
        None, description="The student's real name: only for the teacher of their class"
    )


class CheckInPage(Page[CheckInOut]):
    pass


class TeacherCheckInQuery(PageQuery):
    status: CheckInStatus | None = None
    class_id: ObjectIdText | None = None


Decision = Literal["approved", "rejected"]


class ReviewIn(ApiIn):
    decision: Decision
    comment: str = Field("", max_length=200)


class BulkReviewIn(ApiIn):
    ids: list[ObjectIdText] = Field(min_length=1, max_length=100)
    decision: Decision
    comment: str = Field("", max_length=200)


class BulkReviewResult(ApiOut):
    id: str
    status: CheckInStatus | None = Field(description="The check-in's status after the request")
    error: Literal["not_found", "already_reviewed"] | None = None


class BulkReviewOut(ApiOut):
    results: list[BulkReviewResult]


# -- summaries and badges ------------------------------------------------------------------


class CategorySummary(ApiOut):
    hours: float = Field(description="Hours credited by approved check-ins")
    count: int = Field(description="Approved check-ins")


class BadgeOut(ApiOut):
    code: str
    name: str
    description: str
    earned_on: date | None = Field(
        description="The Asia/Shanghai day it was earned (the approval that completed it); "
        "null: not yet"
    )


class LabourSummaryOut(ApiOut):
    total_hours: float
    approved_count: int
    by_category: dict[Category, CategorySummary]
    current_streak: int = Field(
        description="Consecutive days with an approved daily check-in, through today (or "
        "yesterday, while today has none approved yet)"
    )
    longest_streak: int
    badges: list[BadgeOut] = Field(description="Every badge; earned_on null: not yet earned")
    as_of: date = Field(description="The Asia/Shanghai day the streaks are counted to")


class StudentSummaryOut(LabourSummaryOut):
    """A student's summary of the check-ins they made in this class (their teacher's)."""

    user_id: str
    student_name: str


class StudentSummaryPage(Page[StudentSummaryOut]):
    pass


# -- teachers' views ------------------------------------------------------------------------

MAX_VIEW_DAYS = 92
MAX_REPORT_DAYS = 366


class ProgressQuery(PageQuery):
    """Students by user id, a page of them; periods of the days ``from_date`` to
    ``to_date`` (default: the last 31 days of the task up to today)."""

    class_id: ObjectIdText | None = Field(None, description="One of the task's classes only")
    from_date: date | None = None
    to_date: date | None = None


class ProgressCell(ApiOut):
    period: str
    status: MyStatus
    checkin_id: str | None
    late: bool


class StudentProgress(ApiOut):
    user_id: str
    student_name: str
    class_id: str
    done: int = Field(description="Periods with a check-in submitted or approved")
    cells: list[ProgressCell] = Field(description="One per period, in the order of periods")


class PeriodTotals(ApiOut):
    period: str
    approved: int
    submitted: int
    rejected: int
    todo: int = Field(description="Students of the task's classes with nothing checked in")


class TaskProgressOut(Page[StudentProgress]):
    task: TaskOut
    periods: list[str]
    totals: list[PeriodTotals] = Field(description="Over every student, not only this page")


class ReportQuery(ApiQuery):
    from_date: date = Field(description="Asia/Shanghai day, the first counted")
    to_date: date = Field(description="Asia/Shanghai day, the last counted (at most a year)")


__all__ = ["PageQuery"]
