"""Teachers review check-ins of their own classes: one, or many in one request.

"Their own" is ``Teaching``'s (``handlers/labour/schools.py``): the classes they created
in the school they are attached to now, resolved once per call; a check-in of any other
class is not found, in a list, by id and in a bulk decision alike.

A decision is one conditional update that matches only a ``submitted`` check-in
(``TaskRepo.review``): two teachers approving the same check-in at the same moment
make one decision, and the hours are credited once. The hours credited are the ones
the check-in was made for, so editing a task later never rewrites approved hours.
A rejection frees the check-in's period: the student may redo it.

The student is told by a subscribe message through the outbox (``handlers/messages``),
one per check-in decided. The decision marks the check-in ``tell_pending`` and the mark
goes once the message is in the outbox; the worker's minute sweep (``tell_reviews``)
queues the message of any decision whose request died between the two.
"""

from __future__ import annotations

from handlers.labour.repo import TEACHER_CHECKINS, Document, TaskRepo
from handlers.labour.schemas import (
    BulkReviewOut,
    BulkReviewResult,
    CheckInOut,
    CheckInPage,
    TeacherCheckInQuery,
)
from handlers.labour.schools import SchoolService, Teaching
from handlers.labour.tasks import TaskService
from handlers.messages.service import TELL_GRACE, Message, MessageService
from handlers.messages.values import phrase, thing, time_value
from server.clock import Clock
from server.errors import Conflict, NotFound
from server.principal import Principal


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    message = "这条打卡已经审核过了"


class ReviewService:
    def __init__(
        self,
        repo: TaskRepo,
        schools: SchoolService,
        tasks: TaskService,
        messages: MessageService,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.schools = schools
        self.tasks = tasks
        self.messages = messages
        self.clock = clock

    async def _teaches(
        self, principal: Principal, docs: list[Document]
    ) -> tuple[set[str], Teaching]:
        """The classes among ``docs``' that the caller may review (they teach it now, or
        are an admin), and the ``Teaching`` that says so."""
        teaching = await self.schools.teaching(principal)
        if not docs or teaching.nothing:
            return set(), teaching
        classes = await self.schools.classes_by_id([doc["class_id"] for doc in docs])
        return {class_id for class_id, doc in classes.items() if teaching.has_class(doc)}, teaching

    async def page(
        self, principal: Principal, query: TeacherCheckInQuery, flag: str | None = None
    ) -> CheckInPage:
        """Check-ins of the caller's classes (one of them with ``class_id``; another
        teacher's class: 404), newest first, with real names; with ``flag``, only those
        flagged so (the console's duplicate photos)."""
        position = TEACHER_CHECKINS.decode(query.cursor)
        teaching = await self.schools.teaching(principal)
        class_ids: list[str] | None
        if query.class_id is not None:
            klass = (await self.schools.classes_by_id([query.class_id])).get(query.class_id)
            if klass is None or not teaching.has_class(klass):
                raise NotFound()
            class_ids = [query.class_id]
        elif teaching.admin:
            class_ids = None
        else:
            class_ids = await self.schools.class_ids_taught(principal, teaching)
            if not class_ids:  # no class now (detached): nothing to list
                return CheckInPage(items=[], next_cursor=None)
        docs = await self.repo.checkins_of_classes(
            class_ids, query.status, position, query.limit + 1, flag
        )
        docs, next_cursor = TEACHER_CHECKINS.page(docs, query.limit)
        items = await self.outs(principal, docs, teaching)
        return CheckInPage(items=items, next_cursor=next_cursor)

    async def reviewable(
        self, principal: Principal, checkin_ids: list[str]
    ) -> dict[str, CheckInOut]:
        """Those of ``checkin_ids`` the caller may see and review (their classes'; an
        admin's, all), by id; the others left out as if they did not exist (one query
        for the check-ins, whatever their number)."""
        docs = await self.repo.get_checkins(list(dict.fromkeys(checkin_ids)))
        allowed, teaching = await self._teaches(principal, docs)
        outs = await self.outs(
            principal, [doc for doc in docs if doc["class_id"] in allowed], teaching
        )
        return {out.id: out for out in outs}

    async def outs(
        self, principal: Principal, docs: list[Document], teaching: Teaching | None = None
    ) -> list[CheckInOut]:
        """Check-ins the caller may see, with the real names they may see (``Teaching``:
        ``teaching`` if the caller has it already)."""
        if not docs:
            return []
        outs = await self.tasks.checkin_outs(docs, teacher_view=True)
        students = [doc["student_id"] for doc in docs]
        students += [out.duplicate_of.student_id for out in outs if out.duplicate_of]
        names = await self.schools.real_names(principal, students, teaching)
        for out in outs:
            out.student_name = names.get(out.student_id)
            if out.duplicate_of is not None:
                out.duplicate_of.student_name = names.get(out.duplicate_of.student_id)
        return outs

    async def _decide(
        self,
        principal: Principal,
        doc: Document,
        decision: str,
        comment: str,
        titles: dict[str, str] | None = None,
    ) -> Document | None:
        review = {
            "decision": decision,
            "comment": comment,
            "by": principal.user_id,
            "at": self.clock.now(),
        }
        decided = await self.repo.review(str(doc["_id"]), decision, review, float(doc["hours"]))
        if decided is not None:
            await self._tell(decided, {} if titles is None else titles)
        return decided

    async def _task_title(self, task_id: str, titles: dict[str, str]) -> str:
        """The task's title, read once per batch of decisions (``titles``)."""
        if task_id not in titles:
            task = await self.repo.get_task(task_id)
            titles[task_id] = task["title"] if task else "劳动任务"
        return titles[task_id]

    async def _tell(self, decided: Document, titles: dict[str, str]) -> None:
        """The student's message about a decision, in the outbox (once per check-in)."""
        checkin_id = str(decided["_id"])
        title = await self._task_title(str(decided["task_id"]), titles)
        review = decided["review"]
        await self.messages.enqueue(
            Message(
                key=f"checkin_reviewed:{checkin_id}",
                user_id=decided["student_id"],
                kind="checkin_reviewed",
                page=f"pages/labour/checkin?id={checkin_id}",
                data={
                    "thing1": thing(title),
                    "phrase2": phrase("通过" if decided["status"] == "approved" else "未通过"),
                    "thing3": thing(review.get("comment") or "无"),
                    "time4": time_value(review["at"]),
                },
            )
        )
        await self.repo.told(checkin_id)

    async def tell_untold(self, limit: int = 500) -> int:
        """Queue the messages of decisions whose request died before it did (a minute
        after the decision: a request still on its way does it itself)."""
        untold = await self.repo.untold(self.clock.now() - TELL_GRACE, limit)
        titles: dict[str, str] = {}
        for doc in untold:
            await self._tell(doc, titles)
        return len(untold)

    async def review(
        self, principal: Principal, checkin_id: str, decision: str, comment: str
    ) -> CheckInOut:
        doc = await self.repo.get_checkin(checkin_id)
        allowed, teaching = await self._teaches(principal, [doc] if doc else [])
        if doc is None or doc["class_id"] not in allowed:
            raise NotFound()
        decided = await self._decide(principal, doc, decision, comment)
        if decided is None:
            current = await self.repo.get_checkin(checkin_id)
            raise AlreadyReviewed(details={"status": current["status"] if current else None})
        return (await self.outs(principal, [decided], teaching))[0]

    async def review_many(
        self, principal: Principal, checkin_ids: list[str], decision: str, comment: str
    ) -> BulkReviewOut:
        """Each id decided on its own (the same rules as one by one); a result per id,
        in the order given."""
        ids = list(dict.fromkeys(checkin_ids))
        docs = {str(doc["_id"]): doc for doc in await self.repo.get_checkins(ids)}
        allowed, _ = await self._teaches(principal, list(docs.values()))
        titles: dict[str, str] = {}
        results = []
        for checkin_id in ids:
            doc = docs.get(checkin_id)
            if doc is None or doc["class_id"] not in allowed:
                results.append(BulkReviewResult(id=checkin_id, status=None, error="not_found"))
                continue
            decided = await self._decide(principal, doc, decision, comment, titles)
            current = decided or await self.repo.get_checkin(checkin_id)
            if current is None:  # erased meanwhile (consent withdrawn)
                results.append(BulkReviewResult(id=checkin_id, status=None, error="not_found"))
            elif decided is None:
                results.append(
                    BulkReviewResult(
                        id=checkin_id, status=current["status"], error="already_reviewed"
                    )
                )
            else:
                results.append(BulkReviewResult(id=checkin_id, status=decided["status"]))
        return BulkReviewOut(results=results)
