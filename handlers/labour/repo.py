"""The only code that touches the labour room's collections, and the only place in the
room that writes a MongoDB filter or update.

Integrity is in unique indexes, never in a read before a write:

- ``classes.join_code_digest``: no two classes answer to one join code.
- ``enrolments._id`` is the student's id: a student is in one class at a time, and
  moving class is one atomic update of that document (``class_history`` keeps where
  they were).
- ``checkins.slot`` is ``<task>:<student>:<period>``: one check-in per task, student and
  period. A rejected check-in moves its slot out of the way (to its own id), so it may
  be redone.

Every indexed field is top level (see DESIGN.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from server.paging import ID_DESCENDING, Keyset, Position, SortField
from server.repo import as_object_id, find_page

Document = dict[str, Any]
DUPLICATE_KEY = 11000

SCHOOLS = Keyset("schools", ID_DESCENDING)
CLASSES = Keyset("classes", ID_DESCENDING)
STUDENTS = Keyset("class_students", (SortField("_id", "str"),))
"""A class's students by their user id (an enrolment's ``_id``)."""
TASKS = Keyset("tasks", ID_DESCENDING)
MY_CHECKINS = Keyset("my_checkins", ID_DESCENDING)
TEACHER_CHECKINS = Keyset("teacher_checkins", ID_DESCENDING)


NEAR_PHOTOS_LIMIT = 200
"""Candidates read per check-in's duplicate-photo query; the nearest of them is named."""
NEAR_PHOTOS_PER_COMMAND = 50
"""Queries per aggregation: its answer is one document (16 MB at most), and 50 queries'
candidates, projected, stay far below that."""


@dataclass(frozen=True, slots=True)
class NearPhotos:
    """One check-in's duplicate-photo query: see ``TaskRepo.near_photos_each``."""

    school_id: str
    bands: list[int]
    since: datetime
    not_student: str


class SlotTaken(Exception):
    """The student has a check-in for this task and period already."""


class CodeTaken(Exception):
    """Another class answers to this join code (a collision: draw another)."""


def new_id() -> str:
    """An id for a document about to be written (its photos are marked as used first)."""
    return str(ObjectId())


def _oids(ids: list[str]) -> list[ObjectId]:
    return [oid for oid in map(as_object_id, ids) if oid is not None]


class SchoolRepo:
    """Schools, their teachers, classes, enrolments, class history and consents."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.schools = db["schools"]
        self.teachers = db["school_teachers"]
        self.classes = db["classes"]
        self.enrolments = db["enrolments"]
        self.history = db["class_history"]
        self.consents = db["guardian_consents"]

    async def ensure_indexes(self) -> None:
        await self.teachers.create_index([("school_id", ASCENDING)])
        await self.classes.create_index([("join_code_digest", ASCENDING)], unique=True)
        await self.classes.create_index([("teacher_id", ASCENDING)])
        await self.classes.create_index([("school_id", ASCENDING)])
        await self.enrolments.create_index([("class_id", ASCENDING)])
        await self.history.create_index([("student_id", ASCENDING), ("joined_at", ASCENDING)])
        await self.consents.create_index([("student_id", ASCENDING)])

    # -- schools and teachers ---------------------------------------------------------

    async def insert_school(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.schools.insert_one(doc)
        return doc

    async def get_school(self, school_id: str) -> Document | None:
        oid = as_object_id(school_id)
        return await self.schools.find_one({"_id": oid}) if oid else None

    async def find_school_by_name(self, name: str) -> Document | None:
        return await self.schools.find_one({"name": name})

    async def schools_page(self, position: Position | None, limit: int) -> list[Document]:
        return await find_page(self.schools, {}, SCHOOLS, position, limit)

    async def attach_teacher(self, user_id: str, school_id: str, now: datetime) -> None:
        """The teacher's school (one: attaching again moves them)."""
        await self.teachers.update_one(
            {"_id": user_id},
            {"$set": {"school_id": school_id, "attached_at": now}},
            upsert=True,
        )

    async def school_of_teacher(self, user_id: str) -> str | None:
        doc = await self.teachers.find_one({"_id": user_id})
        return str(doc["school_id"]) if doc else None

    async def teacher_attachment(self, user_id: str) -> Document | None:
        return await self.teachers.find_one({"_id": user_id})

    async def detach_teacher(self, user_id: str) -> None:
        await self.teachers.delete_one({"_id": user_id})

    async def detach_teacher_from(self, user_id: str, school_id: str) -> bool:
        """Detach the teacher if they are attached to ``school_id``; whether they were."""
        done = await self.teachers.delete_one({"_id": user_id, "school_id": school_id})
        return done.deleted_count == 1

    async def teachers_of_schools(
        self, school_ids: list[str], limit: int = 2_000
    ) -> list[Document]:
        """The attachments of the teachers of ``school_ids``, in the order attached."""
        if not school_ids:
            return []
        cursor = self.teachers.find({"school_id": {"$in": school_ids}}).sort(
            [("attached_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [doc async for doc in cursor.limit(limit)]

    async def get_schools(self, school_ids: list[str]) -> list[Document]:
        oids = _oids(school_ids)
        if not oids:
            return []
        return [doc async for doc in self.schools.find({"_id": {"$in": oids}})]

    # -- classes ------------------------------------------------------------------------

    async def insert_class(self, doc: Document) -> Document:
        """Insert under ``doc["_id"]``; ``CodeTaken`` if its join code collides."""
        doc = {**doc, "_id": as_object_id(doc["_id"]) or ObjectId()}
        try:
            await self.classes.insert_one(doc)
        except DuplicateKeyError:
            raise CodeTaken() from None
        return doc

    async def get_class(self, class_id: str) -> Document | None:
        oid = as_object_id(class_id)
        return await self.classes.find_one({"_id": oid}) if oid else None

    async def get_classes(self, class_ids: list[str]) -> list[Document]:
        oids = _oids(class_ids)
        if not oids:
            return []
        return [doc async for doc in self.classes.find({"_id": {"$in": oids}})]

    async def class_by_code_digest(self, digest: str) -> Document | None:
        return await self.classes.find_one({"join_code_digest": digest})

    async def set_join_code(
        self, class_id: str, generation: str, digest: str, expires_at: datetime
    ) -> Document | None:
        """A new join code for the class (the old one stops working); ``CodeTaken`` on a
        collision."""
        oid = as_object_id(class_id)
        if oid is None:
            return None
        try:
            return await self.classes.find_one_and_update(
                {"_id": oid},
                {
                    "$set": {
                        "join_code_generation": generation,
                        "join_code_digest": digest,
                        "join_code_expires_at": expires_at,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise CodeTaken() from None

    async def classes_of_school(self, school_id: str, limit: int = 500) -> list[Document]:
        """The school's classes (name and grade), by grade, then name."""
        cursor = self.classes.find(
            {"school_id": school_id}, projection={"name": 1, "grade": 1, "teacher_id": 1}
        ).sort([("grade", ASCENDING), ("name", ASCENDING)])
        return [doc async for doc in cursor.limit(limit)]

    @staticmethod
    def _of_teacher(teacher_id: str, in_school: str | None) -> Document:
        """The classes ``teacher_id`` created in ``in_school`` (None: in any school, for
        an admin's own; a teacher's are always asked for in the school they are
        attached to now)."""
        query: Document = {"teacher_id": teacher_id}
        if in_school is not None:
            query["school_id"] = in_school
        return query

    async def class_ids_of_teacher(
        self, teacher_id: str, limit: int = 1000, *, in_school: str | None
    ) -> list[str]:
        query = self._of_teacher(teacher_id, in_school)
        cursor = self.classes.find(query, projection={"_id": 1})
        return [str(doc["_id"]) async for doc in cursor.limit(limit)]

    async def classes_of_teacher(
        self, teacher_id: str, position: Position | None, limit: int, *, in_school: str | None
    ) -> list[Document]:
        query = self._of_teacher(teacher_id, in_school)
        return await find_page(self.classes, query, CLASSES, position, limit)

    async def student_counts(self, class_ids: list[str]) -> dict[str, int]:
        """Students now in each class, counted (no counter that can drift)."""
        if not class_ids:
            return {}
        cursor = await self.enrolments.aggregate(
            [
                {"$match": {"class_id": {"$in": class_ids}}},
                {"$group": {"_id": "$class_id", "n": {"$sum": 1}}},
            ]
        )
        counts = {str(doc["_id"]): int(doc["n"]) async for doc in cursor}
        return {class_id: counts.get(class_id, 0) for class_id in class_ids}

    # -- enrolments and history ---------------------------------------------------------

    async def enrol(self, student_id: str, fields: Document) -> Document | None:
        """Put the student in a class (moving them if they were in another): one atomic
        write of their one enrolment; returns the enrolment it replaced, if any."""
        for _ in range(3):
            try:
                return await self.enrolments.find_one_and_update(
                    {"_id": student_id},
                    {"$set": fields},
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
            except DuplicateKeyError:
                continue  # a concurrent first join inserted it: now it is an update
        raise RuntimeError("enrolment neither inserted nor updated")

    async def enrolment(self, student_id: str) -> Document | None:
        return await self.enrolments.find_one({"_id": student_id})

    async def enrolments_of(self, student_ids: list[str]) -> list[Document]:
        if not student_ids:
            return []
        return [doc async for doc in self.enrolments.find({"_id": {"$in": student_ids}})]

    async def unenrol(self, student_id: str, class_id: str | None = None) -> Document | None:
        """Take the student out of their class (of ``class_id`` only, if given)."""
        query: Document = {"_id": student_id}
        if class_id is not None:
            query["class_id"] = class_id
        return await self.enrolments.find_one_and_delete(query)

    async def students_page(
        self, class_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        return await find_page(self.enrolments, {"class_id": class_id}, STUDENTS, position, limit)

    async def roster_page(
        self, class_ids: list[str], position: Position | None, limit: int
    ) -> list[Document]:
        """Students now in any of these classes, by user id."""
        query = {"class_id": {"$in": class_ids}}
        return await find_page(self.enrolments, query, STUDENTS, position, limit)

    async def roster_ids(self, class_ids: list[str], limit: int = 10_000) -> list[str]:
        cursor = self.enrolments.find({"class_id": {"$in": class_ids}}, projection={"_id": 1})
        return [str(doc["_id"]) async for doc in cursor.limit(limit)]

    async def roster(self, class_id: str, limit: int = 2_000) -> list[Document]:
        """Every student now in the class, by user id."""
        cursor = self.enrolments.find({"class_id": class_id}).sort("_id", ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    async def add_history(self, doc: Document) -> None:
        await self.history.insert_one({**doc, "_id": ObjectId()})

    async def close_history(
        self, student_id: str, class_id: str, now: datetime, reason: str
    ) -> None:
        await self.history.update_many(
            {"student_id": student_id, "class_id": class_id, "left_at": None},
            {"$set": {"left_at": now, "left_reason": reason}},
        )

    async def history_of(self, student_id: str) -> list[Document]:
        cursor = self.history.find({"student_id": student_id}).sort("joined_at", ASCENDING)
        return [doc async for doc in cursor]

    async def delete_history_of(self, student_id: str) -> None:
        await self.history.delete_many({"student_id": student_id})

    # -- guardian consents --------------------------------------------------------------

    async def insert_consent(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.consents.insert_one(doc)
        return doc

    async def consents_of(self, student_id: str) -> list[Document]:
        cursor = self.consents.find({"student_id": student_id}).sort("consented_at", ASCENDING)
        return [doc async for doc in cursor]

    async def withdraw_consents(self, student_id: str, now: datetime) -> int:
        result = await self.consents.update_many(
            {"student_id": student_id, "withdrawn_at": None}, {"$set": {"withdrawn_at": now}}
        )
        return int(result.modified_count)

    async def delete_consents_of(self, student_id: str) -> None:
        await self.consents.delete_many({"student_id": student_id})


class TaskRepo:
    """Tasks and check-ins."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.tasks = db["labour_tasks"]
        self.checkins = db["checkins"]

    async def ensure_indexes(self) -> None:
        await self.tasks.create_index([("class_ids", ASCENDING), ("_id", DESCENDING)])
        await self.tasks.create_index([("teacher_id", ASCENDING), ("_id", DESCENDING)])
        await self.checkins.create_index([("slot", ASCENDING)], unique=True)
        await self.checkins.create_index([("student_id", ASCENDING), ("_id", DESCENDING)])
        await self.checkins.create_index([("task_id", ASCENDING), ("period", ASCENDING)])
        await self.checkins.create_index([("tell_pending", ASCENDING)])
        # Another student's photo like this one (handlers.labour.photos).
        await self.checkins.create_index(
            [("school_id", ASCENDING), ("photo_bands", ASCENDING), ("created_at", ASCENDING)]
        )
        await self.checkins.create_index([("duplicate_student_id", ASCENDING)])
        # The teacher's lists, progress and the class report.
        await self.checkins.create_index([("class_id", ASCENDING), ("_id", DESCENDING)])
        # The dashboard's counts by day: of classes, and of a school.
        await self.checkins.create_index([("class_id", ASCENDING), ("day", ASCENDING)])
        await self.checkins.create_index([("school_id", ASCENDING), ("day", ASCENDING)])

    # -- tasks ---------------------------------------------------------------------------

    async def insert_task(self, doc: Document) -> Document:
        doc = {**doc, "_id": ObjectId()}
        await self.tasks.insert_one(doc)
        return doc

    async def get_task(self, task_id: str) -> Document | None:
        oid = as_object_id(task_id)
        return await self.tasks.find_one({"_id": oid}) if oid else None

    async def update_open_task(self, task_id: str, changes: Document) -> Document | None:
        """``changes`` to the task while it is open (None: it is closed, or gone)."""
        oid = as_object_id(task_id)
        if oid is None:
            return None
        return await self.tasks.find_one_and_update(
            {"_id": oid, "status": "open"},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    async def close_task(self, task_id: str, now: datetime) -> Document | None:
        """Close the task (once: a closed one keeps its ``closed_at``); the task after."""
        oid = as_object_id(task_id)
        if oid is None:
            return None
        closed = await self.tasks.find_one_and_update(
            {"_id": oid, "status": "open"},
            {"$set": {"status": "closed", "closed_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return closed or await self.tasks.find_one({"_id": oid})

    async def get_tasks(self, task_ids: list[str]) -> list[Document]:
        oids = _oids(task_ids)
        if not oids:
            return []
        return [doc async for doc in self.tasks.find({"_id": {"$in": oids}})]

    async def tasks_each(self, task_ids: list[str]) -> list[Document | None]:
        """The task of each of ``task_ids``, in order (None: no such task); one query
        (``get_tasks``), whatever their number."""
        found = {doc["_id"]: doc for doc in await self.get_tasks(list(dict.fromkeys(task_ids)))}
        return [found.get(as_object_id(task_id)) for task_id in task_ids]

    async def tasks_of_class(
        self, class_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        return await find_page(
            self.tasks, {"class_ids": class_id, "status": "open"}, TASKS, position, limit
        )

    async def tasks_of_teacher(
        self, teacher_id: str, position: Position | None, limit: int, *, in_school: str | None
    ) -> list[Document]:
        """The tasks ``teacher_id`` set for classes of ``in_school`` (a teacher's are of
        one school: ``school_ids`` is exactly it; None: of any school, an admin's own)."""
        query: Document = {"teacher_id": teacher_id}
        if in_school is not None:
            query["school_ids"] = [in_school]
        return await find_page(self.tasks, query, TASKS, position, limit)

    # -- check-ins ----------------------------------------------------------------------

    async def insert_checkins(self, docs: list[Document]) -> list[Document | Exception]:
        """Each under its own ``doc["_id"]``, by one command (unordered): per document the
        document as stored, ``SlotTaken`` if its slot is taken (the unique index
        decides, not a read before; the others are inserted all the same), or the error
        that refused it."""
        stored = [{**doc, "_id": as_object_id(doc["_id"]) or ObjectId()} for doc in docs]
        results: list[Document | Exception] = list(stored)
        try:
            await self.checkins.insert_many(stored, ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                return [exc] * len(docs)
            for error in exc.details.get("writeErrors", []):
                results[error["index"]] = (
                    SlotTaken()
                    if error.get("code") == DUPLICATE_KEY
                    else OperationFailure(error.get("errmsg", "insert failed"), error.get("code"))
                )
        return results

    async def near_photos_each(
        self, queries: list[NearPhotos]
    ) -> list[list[Document] | BaseException]:
        """For each query, check-ins of its school since its ``since``, not by its
        ``not_student``, with a photo sharing one of its ``bands`` (the fields a
        comparison needs), at most ``NEAR_PHOTOS_LIMIT`` each.

        Concurrent check-ins' queries share one aggregation per school (group commit):
        one ``$match`` reads the school's candidates for all of them (on MongoDB from the
        ``school_id, photo_bands, created_at`` index; mongo-java-server scans once per
        batch instead of once per check-in), then a ``$facet`` per query applies its own
        conditions and its own limit. A single ``find`` with one shared limit let a busy
        school's matches, or a student's own daily photos, crowd out another check-in's,
        and copied photos went unflagged exactly when many checked in. An aggregation
        that fails fails its own queries only (their check-ins), not the batch's others."""
        results: list[list[Document] | BaseException] = [[] for _ in queries]
        by_school: dict[str, list[int]] = {}
        for index, query in enumerate(queries):
            if query.bands:
                by_school.setdefault(query.school_id, []).append(index)
        chunks = [
            (school_id, indexes[at : at + NEAR_PHOTOS_PER_COMMAND])
            for school_id, indexes in by_school.items()
            for at in range(0, len(indexes), NEAR_PHOTOS_PER_COMMAND)
        ]
        found = await asyncio.gather(
            *(
                self._near_photos(school, [queries[i] for i in indexes])
                for school, indexes in chunks
            ),
            return_exceptions=True,
        )
        for (_, indexes), lists in zip(chunks, found, strict=True):
            if isinstance(lists, BaseException):
                for index in indexes:
                    results[index] = lists
                continue
            for index, docs in zip(indexes, lists, strict=True):
                results[index] = docs
        return results

    async def _near_photos(self, school_id: str, queries: list[NearPhotos]) -> list[list[Document]]:
        fields = {
            "student_id": 1, "class_id": 1, "media_ids": 1, "photo_hashes": 1, "created_at": 1,
        }  # fmt: skip
        facets = {
            f"q{i}": [
                {
                    "$match": {
                        "photo_bands": {"$in": query.bands},
                        "created_at": {"$gte": query.since},
                        "student_id": {"$ne": query.not_student},
                    }
                },
                {"$limit": NEAR_PHOTOS_LIMIT},
                {"$project": fields},
            ]
            for i, query in enumerate(queries)
        }
        pipeline: list[Document] = [
            {
                "$match": {
                    "school_id": school_id,
                    "photo_bands": {"$in": sorted({b for query in queries for b in query.bands})},
                    "created_at": {"$gte": min(query.since for query in queries)},
                }
            },
            {"$project": {**fields, "photo_bands": 1}},
            {"$facet": facets},
        ]
        cursor = await self.checkins.aggregate(pipeline)
        out = await cursor.to_list(None)
        facet = out[0] if out else {}
        return [list(facet.get(f"q{i}", [])) for i in range(len(queries))]

    async def forget_duplicates_of(self, student_id: str) -> None:
        """Check-ins naming one of ``student_id``'s as the photo they resemble name it no
        more (their ``duplicate_photo`` flag stays, for the teacher)."""
        await self.checkins.update_many(
            {"duplicate_student_id": student_id},
            {"$unset": {"duplicate_of": "", "duplicate_student_id": ""}},
        )

    async def get_checkin(self, checkin_id: str) -> Document | None:
        oid = as_object_id(checkin_id)
        return await self.checkins.find_one({"_id": oid}) if oid else None

    async def delete_checkin(self, checkin_id: str) -> bool:
        oid = as_object_id(checkin_id)
        if oid is None:
            return False
        result = await self.checkins.delete_one({"_id": oid})
        return bool(result.deleted_count)

    async def checkins_for_periods(
        self, student_id: str, task_periods: list[tuple[str, str]]
    ) -> list[Document]:
        """The student's check-ins of these (task, period) pairs, oldest first."""
        if not task_periods:
            return []
        cursor = self.checkins.find(
            {
                "student_id": student_id,
                "$or": [{"task_id": task, "period": period} for task, period in task_periods],
            }
        ).sort("_id", ASCENDING)
        return [doc async for doc in cursor]

    async def checkins_page(
        self, student_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        return await find_page(
            self.checkins, {"student_id": student_id}, MY_CHECKINS, position, limit
        )

    async def checkins_of_student(self, student_id: str, limit: int = 500) -> list[Document]:
        cursor = self.checkins.find({"student_id": student_id}).sort("_id", ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    async def approved_of_students(
        self, student_ids: list[str], fields: tuple[str, ...], class_id: str | None = None
    ) -> list[Document]:
        """The approved check-ins of these students (made in ``class_id``, if given), only
        ``fields`` of each: one query, whatever the number of students."""
        if not student_ids:
            return []
        query: Document = {"student_id": {"$in": student_ids}, "status": "approved"}
        if class_id is not None:
            query["class_id"] = class_id
        cursor = self.checkins.find(query, projection=dict.fromkeys(fields, 1))
        return [doc async for doc in cursor]

    async def checkins_of_task(
        self, task_id: str, periods: list[str], fields: tuple[str, ...]
    ) -> list[Document]:
        """The task's check-ins of these periods (``fields`` of each), oldest first."""
        if not periods:
            return []
        cursor = self.checkins.find(
            {"task_id": task_id, "period": {"$in": periods}},
            projection=dict.fromkeys(fields, 1),
        ).sort("_id", ASCENDING)
        return [doc async for doc in cursor]

    async def approved_in_class(
        self, class_id: str, first: str, last: str, fields: tuple[str, ...]
    ) -> list[Document]:
        """Approved check-ins made in the class for the days ``first`` to ``last``
        (ISO dates, inclusive)."""
        cursor = self.checkins.find(
            {"class_id": class_id, "status": "approved", "day": {"$gte": first, "$lte": last}},
            projection=dict.fromkeys(fields, 1),
        )
        return [doc async for doc in cursor]

    async def checkins_of_classes(
        self,
        class_ids: list[str] | None,
        status: str | None,
        position: Position | None,
        limit: int,
        flag: str | None = None,
    ) -> list[Document]:
        """Check-ins of these classes (None: of every class), newest first; with
        ``flag``, only those carrying it."""
        query: Document = {}
        if class_ids is not None:
            query["class_id"] = {"$in": class_ids}
        if status is not None:
            query["status"] = status
        if flag is not None:
            query["flags"] = flag
        return await find_page(self.checkins, query, TEACHER_CHECKINS, position, limit)

    async def review(
        self, checkin_id: str, decision: str, review: Document, credited_hours: float
    ) -> Document | None:
        """Decide a submitted check-in, once: the update matches only while it is
        ``submitted``, so of two teachers deciding at the same moment one wins and the
        hours are credited once. A rejected check-in frees its slot (its own id takes
        it), so the student may redo it. None if it is not submitted (any more)."""
        oid = as_object_id(checkin_id)
        if oid is None:
            return None
        # tell_pending: until the student's message is in the outbox (ReviewService).
        changes: Document = {"status": decision, "review": review, "tell_pending": True}
        if decision == "approved":
            changes["credited_hours"] = credited_hours
        else:
            changes["slot"] = str(oid)
        return await self.checkins.find_one_and_update(
            {"_id": oid, "status": "submitted"},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    async def told(self, checkin_id: str) -> None:
        """The decision's message is in the outbox."""
        oid = as_object_id(checkin_id)
        if oid is not None:
            await self.checkins.update_one({"_id": oid}, {"$unset": {"tell_pending": ""}})

    async def untold(self, decided_before: datetime, limit: int) -> list[Document]:
        """Decisions whose message did not reach the outbox (the request died between)."""
        cursor = self.checkins.find(
            {"tell_pending": True, "review.at": {"$lte": decided_before}}
        ).limit(limit)
        return [doc async for doc in cursor]

    async def get_checkins(self, checkin_ids: list[str]) -> list[Document]:
        oids = _oids(checkin_ids)
        if not oids:
            return []
        return [doc async for doc in self.checkins.find({"_id": {"$in": oids}})]

    # -- the dashboard's counts (one aggregation each) ---------------------------------

    @staticmethod
    def _of(class_ids: list[str] | None, school_id: str | None, first: str, last: str) -> Document:
        query: Document = {"day": {"$gte": first, "$lte": last}}
        if class_ids is not None:
            query["class_id"] = {"$in": class_ids}
        if school_id is not None:
            query["school_id"] = school_id
        return query

    async def counts_by_day(
        self, class_ids: list[str] | None, school_id: str | None, first: str, last: str
    ) -> list[Document]:
        """Check-ins of these classes (or of the school) for the days ``first`` to
        ``last`` (ISO dates), counted by day and status: ``{"day", "status", "n"}``."""
        cursor = await self.checkins.aggregate(
            [
                {"$match": self._of(class_ids, school_id, first, last)},
                {"$group": {"_id": {"day": "$day", "status": "$status"}, "n": {"$sum": 1}}},
            ]
        )
        return [{**doc["_id"], "n": int(doc["n"])} async for doc in cursor]

    async def hours_by_category(
        self, class_ids: list[str] | None, school_id: str | None, first: str, last: str
    ) -> list[Document]:
        """Approved check-ins of these classes (or of the school) for those days: hours
        credited and check-ins by category, ``{"category", "hours", "n"}``."""
        query = {**self._of(class_ids, school_id, first, last), "status": "approved"}
        cursor = await self.checkins.aggregate(
            [
                {"$match": query},
                {
                    "$group": {
                        "_id": "$category",
                        "hours": {"$sum": "$credited_hours"},
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        return [
            {"category": doc["_id"], "hours": float(doc["hours"]), "n": int(doc["n"])}
            async for doc in cursor
        ]
