"""Labour tasks (teachers') and check-ins (students'), with photos and notes.

A check-in is one insert: the unique ``slot`` (``<task>:<student>:<period>``) refuses a
second one in the same period (409 ``already_checked_in``), so 300 students tapping at
once need no lock and no read before the write. Its photos must be the student's own
``checkin`` media (the media room checks and marks them before the insert and lets go
of them if the insert is refused); its note goes through WeChat text security first
(``risky`` is 422 ``content_rejected``; one WeChat could not pass is kept and flagged
for the teacher). Check-in photos are private: signed URLs appear only in answers to the
student, the teacher of the class they checked in from, and admins.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from handlers.auth.service import AuthService
from handlers.labour import photos
from handlers.labour.periods import TaskClosed, current_period, slot_for
from handlers.labour.repo import (
    MY_CHECKINS,
    TASKS,
    Document,
    NearPhotos,
    SlotTaken,
    TaskRepo,
    new_id,
)
from handlers.labour.schemas import (
    CheckInOut,
    CheckInPage,
    DuplicateOut,
    ReviewOut,
    TaskIn,
    TaskOut,
    TaskPage,
    date_range_problem,
)
from handlers.labour.schools import SchoolService, is_admin
from handlers.media.service import MediaService
from handlers.messages.service import MessageService
from server.batching import Batcher
from server.clock import Clock, local_date
from server.errors import AppError, Conflict, InvalidRequest, NotFound
from server.paging import PageQuery
from server.principal import Principal
from server.wechat import ContentRejected, WeChatClient, WeChatUnavailable

CHECKIN_PURPOSES = ("checkin",)


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = "本期已经打过卡了"


class PhotoRequired(AppError):
    status = 422
    code = "photo_required"
    message = "这个任务需要上传照片"


def checkin_ref(checkin_id: str) -> str:
    return f"checkin:{checkin_id}"


def checkin_day(doc: Document) -> date:
    """The Shanghai day a check-in was made for (check-ins of the first increment carry
    no ``day``: the day they were made)."""
    day = doc.get("day")
    return date.fromisoformat(day) if day else local_date(doc["created_at"])


class TaskService:
    privacy_section = "labour_checkins"

    def __init__(
        self,
        repo: TaskRepo,
        schools: SchoolService,
        media: MediaService,
        auth: AuthService,
        wechat: WeChatClient,
        messages: MessageService,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.schools = schools
        self.media = media
        self.auth = auth
        self.wechat = wechat
        self.messages = messages
        self.clock = clock
        # Group commit (server/batching.py): concurrent check-ins share their task read,
        # their duplicate-photo query (one aggregation, each its own conditions and
        # limit) and their insert (and, in the other services, their enrolment reads
        # and their photos' check and mark).
        self._tasks: Batcher[str, Document | None] = Batcher(self.repo.tasks_each)
        self._near_photos: Batcher[NearPhotos, list[Document]] = Batcher(self.repo.near_photos_each)
        self._inserts: Batcher[Document, Document] = Batcher(self.repo.insert_checkins)

    # -- tasks ------------------------------------------------------------------------

    async def _task_classes(self, principal: Principal, class_ids: list[str]) -> list[str]:
        """``class_ids`` without repeats, each a class the caller teaches now
        (``Teaching``: of the school they are attached to now), else 404: a teacher
        detached or moved to another school sets no task for their old classes, as for
        another teacher's. So a teacher's task is for classes of one school."""
        class_ids = list(dict.fromkeys(class_ids))
        classes = await self.schools.classes_by_id(class_ids)
        teaching = await self.schools.teaching(principal)
        for class_id in class_ids:
            doc = classes.get(class_id)
            if doc is None or not teaching.has_class(doc):
                raise NotFound(details={"fields": {"class_ids": f"no class of yours: {class_id}"}})
        return class_ids

    async def _school_ids(self, class_ids: list[str]) -> list[str]:
        classes = await self.schools.classes_by_id(class_ids)
        return sorted({classes[c]["school_id"] for c in class_ids if c in classes})

    async def create_task(self, principal: Principal, body: TaskIn) -> TaskOut:
        """A task for classes the caller teaches (any other class id: 404)."""
        class_ids = await self._task_classes(principal, body.class_ids)
        now = self.clock.now()
        doc = await self.repo.insert_task(
            {
                "teacher_id": principal.user_id,
                "school_ids": await self._school_ids(class_ids),
                "title": body.title,
                "description": body.description,
                "category": body.category,
                "class_ids": class_ids,
                "start_date": body.start_date.isoformat(),
                "end_date": body.end_date.isoformat(),
                "frequency": body.frequency,
                "hours": body.hours,
                "photo_required": body.photo_required,
                "makeup_days": body.makeup_days,
                "status": "open",
                "created_at": now,
                "updated_at": now,
            }
        )
        return self.task_out(doc)

    async def own_task(self, principal: Principal, task_id: str) -> Document:
        """The task, if the caller set it for classes of the school they are attached to
        now (``Teaching``) or is an admin; else 404."""
        doc = await self.repo.get_task(task_id)
        if doc is None or not await self.schools.sets(principal, doc):
            raise NotFound()
        return doc

    async def update_task(
        self, principal: Principal, task_id: str, fields: dict[str, Any]
    ) -> TaskOut:
        """Edit the caller's open task (only the fields sent). Check-ins already made keep
        their period, hours and category, and approved ones their ``credited_hours``:
        an edit never rewrites what was credited. A closed task: 422 ``task_closed``."""
        current = await self.own_task(principal, task_id)
        if current["status"] != "open":
            raise TaskClosed()
        changes: Document = {}
        for name in ("title", "description", "category", "hours", "photo_required", "makeup_days"):
            if name in fields:
                changes[name] = fields[name]
        if "class_ids" in fields:
            changes["class_ids"] = await self._task_classes(principal, fields["class_ids"])
            changes["school_ids"] = await self._school_ids(changes["class_ids"])
        start = fields.get("start_date") or date.fromisoformat(current["start_date"])
        end = fields.get("end_date") or date.fromisoformat(current["end_date"])
        problem = date_range_problem(start, end)
        if problem:
            named = [n for n in ("start_date", "end_date") if n in fields] or ["end_date"]
            raise InvalidRequest.for_fields(dict.fromkeys(named, problem))
        if "start_date" in fields:
            changes["start_date"] = start.isoformat()
        if "end_date" in fields:
            changes["end_date"] = end.isoformat()
        changes["updated_at"] = self.clock.now()
        updated = await self.repo.update_open_task(task_id, changes)
        if updated is None:  # closed (or erased) since it was read
            raise TaskClosed()
        return self.task_out(updated)

    async def close_task(self, principal: Principal, task_id: str) -> TaskOut:
        """Close the caller's task: it takes no new check-ins (422 ``task_closed``) and
        leaves the students' lists; what was checked in stays, and may still be
        reviewed. Closing a closed task answers it as it is."""
        await self.own_task(principal, task_id)
        closed = await self.repo.close_task(task_id, self.clock.now())
        if closed is None:
            raise NotFound()
        return self.task_out(closed)

    async def tasks_page(self, principal: Principal, query: PageQuery) -> TaskPage:
        """A student's: their class's open tasks with ``my_status``; a teacher's (in no
        class): the tasks they set for the school they are attached to now."""
        position = TASKS.decode(query.cursor)
        enrolment = await self.schools.enrolment(principal.user_id)
        if enrolment is None:
            teaching = await self.schools.teaching(principal)
            if teaching.nothing:
                return TaskPage(items=[], next_cursor=None)
            docs = await self.repo.tasks_of_teacher(
                principal.user_id, position, query.limit + 1, in_school=teaching.school_id
            )
            docs, next_cursor = TASKS.page(docs, query.limit)
            return TaskPage(items=[self.task_out(doc) for doc in docs], next_cursor=next_cursor)
        docs = await self.repo.tasks_of_class(enrolment["class_id"], position, query.limit + 1)
        docs, next_cursor = TASKS.page(docs, query.limit)
        return TaskPage(
            items=await self.student_task_outs(principal.user_id, docs), next_cursor=next_cursor
        )

    async def tasks_by_id(self, task_ids: list[str]) -> dict[str, TaskOut]:
        """The tasks of these ids (one query), to name them beside check-ins the caller
        may already see."""
        docs = await self.repo.get_tasks(list(dict.fromkeys(task_ids)))
        return {str(doc["_id"]): self.task_out(doc) for doc in docs}

    async def visible_task(self, principal: Principal, task_id: str) -> TaskOut:
        """A task for its teacher (``Teaching``), an admin, or a student of a class it is
        set for."""
        doc = await self.repo.get_task(task_id)
        if doc is None:
            raise NotFound()
        if await self.schools.sets(principal, doc):
            return self.task_out(doc)
        enrolment = await self.schools.enrolment(principal.user_id)
        if enrolment is None or enrolment["class_id"] not in doc["class_ids"]:
            raise NotFound()
        return (await self.student_task_outs(principal.user_id, [doc]))[0]

    async def student_task_outs(self, student_id: str, docs: list[Document]) -> list[TaskOut]:
        """Tasks with the student's state in each one's current period (one query)."""
        today = self.clock.today()
        periods = {str(doc["_id"]): current_period(doc, today) for doc in docs}
        latest: dict[str, str] = {}
        for checkin in await self.repo.checkins_for_periods(student_id, list(periods.items())):
            latest[checkin["task_id"]] = checkin["status"]  # oldest first: the last wins
        return [
            self.task_out(
                doc,
                my_status=latest.get(str(doc["_id"]), "todo"),
                period=periods[str(doc["_id"])],
            )
            for doc in docs
        ]

    @staticmethod
    def task_out(doc: Document, my_status: Any = None, period: str | None = None) -> TaskOut:
        return TaskOut(
            id=str(doc["_id"]),
            title=doc["title"],
            description=doc["description"],
            category=doc["category"],
            class_ids=doc["class_ids"],
            start_date=date.fromisoformat(doc["start_date"]),
            end_date=date.fromisoformat(doc["end_date"]),
            frequency=doc["frequency"],
            hours=doc["hours"],
            photo_required=doc["photo_required"],
            makeup_days=doc["makeup_days"],
            status=doc["status"],
            closed_at=doc.get("closed_at"),
            updated_at=doc.get("updated_at"),
            my_status=my_status,
            period=period,
        )

    # -- check-ins ----------------------------------------------------------------------

    async def _check_note(self, student_id: str, note: str) -> list[str]:
        """WeChat text security (scene 4, 社交日志) on a note; the flags it leaves."""
        if not note:
            return []
        openid = await self.auth.openid_of(student_id)
        if openid is None:
            return ["note_unchecked"]
        try:
            check = await self.wechat.msg_sec_check(note, openid, scene=4)
        except WeChatUnavailable:
            return ["note_unchecked"]  # the teacher reads it before approving anyway
        if check.suggest == "risky":
            raise ContentRejected(details={"fields": {"note": "refused by content security"}})
        return [] if check.suggest == "pass" else ["note_review"]

    async def check_in(
        self,
        principal: Principal,
        task_id: str,
        note: str,
        media_ids: list[str],
        day: date | None,
    ) -> CheckInOut:
        student_id = principal.user_id
        enrolment, task = await asyncio.gather(
            self.schools.enrolment(student_id), self._tasks.submit(task_id)
        )
        if task is None or enrolment is None or enrolment["class_id"] not in task["class_ids"]:
            raise NotFound()
        slot = slot_for(task, self.clock.today(), day)
        media_ids = list(dict.fromkeys(media_ids))
        if task["photo_required"] and not media_ids:
            raise PhotoRequired(details={"fields": {"media_ids": "at least one photo"}})
        flags = await self._check_note(student_id, note)
        checkin_id = new_id()
        ref = checkin_ref(checkin_id)
        used = await self.media.use(
            media_ids,
            ref,
            owner_id=student_id,
            public=False,
            purposes=CHECKIN_PURPOSES,
            field="media_ids",
        )
        now = self.clock.now()
        hashes = {m: h for m in media_ids if (h := photos.parse(used[m].get("phash"))) is not None}
        doc: Document = {
            "_id": checkin_id,
            "slot": f"{task_id}:{student_id}:{slot.period}",
            "task_id": task_id,
            "student_id": student_id,
            "class_id": enrolment["class_id"],
            "school_id": enrolment["school_id"],
            "teacher_id": task["teacher_id"],
            "category": task["category"],
            "hours": task["hours"],
            "period": slot.period,
            "day": slot.day.isoformat(),
            "status": "submitted",
            "note": note,
            "media_ids": media_ids,
            "late": slot.late,
            "flags": flags,
            "review": None,
            "created_at": now,
        }
        try:
            if hashes:
                await self._look_for_duplicates(doc, hashes)
            doc = await self._inserts.submit(doc)
        except SlotTaken:
            await self.media.release(media_ids, ref)
            raise AlreadyCheckedIn(details={"period": slot.period}) from None
        except BaseException:
            await self.media.release(media_ids, ref)
            raise
        # Consent withdrawn while this request ran: its erasure may have missed the
        # check-in, so it goes now (check-ins stop at once). Read after the insert.
        if await self.schools.enrolment(student_id) is None:
            await self._erase(doc)
            raise NotFound()
        return (await self.checkin_outs([doc], media=used))[0]

    async def _look_for_duplicates(self, doc: Document, hashes: dict[str, int]) -> None:
        """Keep the photos' hashes on ``doc`` and flag it if another student of the school
        handed in a photo like one of them in the last weeks (``handlers.labour.photos``)."""
        doc["photo_hashes"] = [
            f"{hashes[m]:016x}" if m in hashes else None for m in doc["media_ids"]
        ]
        doc["photo_bands"] = sorted({band for h in hashes.values() for band in photos.bands(h)})
        candidates = await self._near_photos.submit(
            NearPhotos(
                doc["school_id"], doc["photo_bands"], doc["created_at"] - photos.WINDOW,
                doc["student_id"],
            )
        )  # fmt: skip
        match = photos.closest(hashes, candidates)
        if match is not None:
            doc["flags"] = [*doc["flags"], "duplicate_photo"]
            doc["duplicate_of"] = {
                "checkin_id": str(match.checkin["_id"]),
                "student_id": match.checkin["student_id"],
                "class_id": match.checkin["class_id"],
                "media_id": match.media_id,
                "other_media_id": match.other_media_id,
                "distance": match.distance,
            }
            # Top level, for the index that finds it when that student is erased.
            doc["duplicate_student_id"] = match.checkin["student_id"]

    async def visible_checkin(self, principal: Principal, checkin_id: str) -> CheckInOut:
        """A check-in for its student, the teacher of its class, or an admin; else 404
        (``duplicate_of`` only for the teacher and admins)."""
        doc = await self.repo.get_checkin(checkin_id)
        if doc is None or not await self._may_see(principal, doc):
            raise NotFound()
        teacher = doc["student_id"] != principal.user_id
        return (await self.checkin_outs([doc], teacher_view=teacher))[0]

    async def _may_see(self, principal: Principal, doc: Document) -> bool:
        if doc["student_id"] == principal.user_id or is_admin(principal):
            return True
        classes = await self.schools.classes_by_id([doc["class_id"]])
        klass = classes.get(doc["class_id"])
        return klass is not None and await self.schools.teaches(principal, klass)

    async def my_checkins(self, principal: Principal, query: PageQuery) -> CheckInPage:
        position = MY_CHECKINS.decode(query.cursor)
        docs = await self.repo.checkins_page(principal.user_id, position, query.limit + 1)
        docs, next_cursor = MY_CHECKINS.page(docs, query.limit)
        return CheckInPage(items=await self.checkin_outs(docs), next_cursor=next_cursor)

    async def checkin_outs(
        self,
        docs: list[Document],
        teacher_view: bool = False,
        media: dict[str, Document] | None = None,
    ) -> list[CheckInOut]:
        """``CheckIn`` of each document, its photos read in one query, or taken from
        ``media`` (the records a check-in just checked and marked: ``MediaService.use``)
        (signed URLs: only call this for viewers allowed to see them); which other
        check-in a flagged one resembles only in a ``teacher_view``."""
        photos = (
            self.media.outs(media.values())
            if media is not None
            else await self.media.get_outs([m for doc in docs for m in doc["media_ids"]])
        )
        return [
            CheckInOut(
                id=str(doc["_id"]),
                task_id=doc["task_id"],
                student_id=doc["student_id"],
                period=doc["period"],
                status=doc["status"],
                note=doc["note"],
                photos=[photos[m] for m in doc["media_ids"] if m in photos],
                late=doc["late"],
                flags=doc["flags"],
                review=ReviewOut(**doc["review"]) if doc.get("review") else None,
                created_at=doc["created_at"],
                day=checkin_day(doc),
                hours=doc["hours"],
                credited_hours=doc.get("credited_hours"),
                duplicate_of=DuplicateOut(**doc["duplicate_of"])
                if teacher_view and doc.get("duplicate_of")
                else None,
            )
            for doc in docs
        ]

    # -- consent withdrawn, erasure ------------------------------------------------------

    async def _erase(self, doc: Document) -> None:
        checkin_id = str(doc["_id"])
        await self.media.release(doc["media_ids"], checkin_ref(checkin_id))
        await self.repo.delete_checkin(checkin_id)

    async def erase_checkins(self, student_id: str) -> int:
        """Every check-in of the student and every check-in photo they uploaded."""
        erased = 0
        while docs := await self.repo.checkins_of_student(student_id):
            for doc in docs:
                await self._erase(doc)
                erased += 1
        await self.media.delete_of_owner(student_id, CHECKIN_PURPOSES)
        # Other students' check-ins flagged as like one of theirs no longer name it.
        await self.repo.forget_duplicates_of(student_id)
        return erased

    async def withdraw_consent(self, principal: Principal) -> int:
        """A guardian withdraws consent: check-ins stop at once (the student leaves their
        class first), then their labour data and check-in photos are erased. Each step
        is idempotent: a retry finishes a failed run. The account stays a resident's."""
        await self.schools.stop_student(principal.user_id)
        erased = await self.erase_checkins(principal.user_id)
        await self.messages.forget(principal.user_id, "checkin_reviewed")
        return erased

    # -- personal data (server.privacy) -------------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        """Every check-in as the student sees it (the review, hours credited, flags and
        the photos with signed URLs), with its class, category and task title."""
        docs = await self.repo.checkins_of_student(user_id, limit=100_000)
        titles = {
            str(task["_id"]): task["title"]
            for task in await self.repo.get_tasks(list({doc["task_id"] for doc in docs}))
        }
        exported = []
        for start in range(0, len(docs), 500):
            chunk = docs[start : start + 500]
            for doc, out in zip(chunk, await self.checkin_outs(chunk), strict=True):
                exported.append(
                    {
                        **out.model_dump(mode="json", exclude={"duplicate_of", "student_name"}),
                        "task_title": titles.get(doc["task_id"]),
                        "class_id": doc["class_id"],
                        "category": doc["category"],
                    }
                )
        return exported

    async def erase_personal_data(self, user_id: str) -> None:
        await self.erase_checkins(user_id)  # the messages room erases their messages
