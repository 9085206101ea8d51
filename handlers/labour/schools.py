"""Schools, their teachers, classes with join codes, enrolment with guardian consent.

Who sees what: an admin everything; a teacher the classes they created in the school an
admin has attached them to *now* (``Teaching``: detached, or moved to another school,
those classes, their tasks and check-ins are 404 to them until they are attached there
again; nothing is deleted) and, inside those classes only, their students' real names;
a student their own class (without its join code). Anything else is 404, not 403.

A student is in one class at a time: their enrolment is one document (``_id`` = their
user id), so joining another class is one atomic write that moves them, and
``class_history`` keeps where they were. The school and class shown by ``GET /me`` and
the ``student`` role are written to the account through the auth room's service.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from config.settings import Settings
from handlers.auth.repo import UserRecord
from handlers.auth.service import AuthService
from handlers.labour import codes, consent
from handlers.labour.repo import (
    CLASSES,
    SCHOOLS,
    STUDENTS,
    CodeTaken,
    Document,
    SchoolRepo,
    new_id,
)
from handlers.labour.schemas import (
    ClassOut,
    ClassPage,
    ConsentIn,
    SchoolOut,
    SchoolPage,
    StudentOut,
    StudentPage,
)
from server.audit import AuditLog, user_actor
from server.batching import Batcher
from server.clock import Clock
from server.errors import AppError, InvalidRequest, NotFound, RateLimited
from server.paging import PageQuery, Position
from server.principal import Principal, Role
from server.redis_state import RateLimiter
from server.signing import PurposeSigner

_CODE_ATTEMPTS = 5  # draws of a fresh generation before a (40-bit) collision is an error


class GuardianConsentRequired(AppError):
    status = 422
    code = "guardian_consent_required"
    message = "加入班级需要监护人同意"


class JoinCodeInvalid(AppError):
    status = 422
    code = "join_code_invalid"
    message = "班级码无效或已过期，请向老师确认"


class NotATeacher(InvalidRequest):
    code = "not_a_teacher"
    message = "该账号不是教师账号"


def is_admin(principal: Principal) -> bool:
    return Role.admin in principal.roles


@dataclass(frozen=True, slots=True)
class Teaching:
    """What a principal may act on as a teacher, resolved once (one small read of their
    attachment, ``SchoolService.teaching``): an admin every class and task; anyone else
    the classes they created in the school they are attached to now, and the tasks they
    set for that school's classes. Not attached (detached, erased), nothing; moved to
    another school, only that school's. The one rule of the room's teacher access: every
    path (by id, lists, progress, report, review, join codes) asks it."""

    user_id: str
    admin: bool
    school_id: str | None
    """The school the teacher is attached to now (None: none, or an admin)."""

    def has_class(self, klass: Document) -> bool:
        return self.admin or (
            self.school_id is not None
            and klass["teacher_id"] == self.user_id
            and klass["school_id"] == self.school_id
        )

    def has_task(self, task: Document) -> bool:
        # A teacher's task is for classes of one school (``TaskService._task_classes``).
        return self.admin or (
            self.school_id is not None
            and task["teacher_id"] == self.user_id
            and task.get("school_ids") == [self.school_id]
        )

    @property
    def nothing(self) -> bool:
        """A teacher of no school now: their lists are empty, without a query."""
        return not self.admin and self.school_id is None


class SchoolService:
    privacy_section = "labour_classes"

    def __init__(
        self,
        settings: Settings,
        repo: SchoolRepo,
        auth: AuthService,
        rate_limiter: RateLimiter,
        audit: AuditLog,
        clock: Clock,
        code_signer: PurposeSigner,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.auth = auth
        self.rate_limiter = rate_limiter
        self.audit = audit
        self.clock = clock
        self.code_signer = code_signer
        # Group commit (server/batching.py): concurrent requests' enrolment reads (a
        # check-in's before and after its insert) share one query.
        self._enrolments: Batcher[str, Document | None] = Batcher(self._read_enrolments)

    async def _read_enrolments(self, student_ids: list[str]) -> list[Document | None]:
        found = {
            doc["_id"]: doc
            for doc in await self.repo.enrolments_of(list(dict.fromkeys(student_ids)))
        }
        return [found.get(student_id) for student_id in student_ids]

    # -- schools and teachers (admins) --------------------------------------------------

    async def create_school(self, principal: Principal, name: str, district: str) -> SchoolOut:
        doc = await self.repo.insert_school(
            {
                "name": name,
                "district": district,
                "created_by": principal.user_id,
                "created_at": self.clock.now(),
            }
        )
        return self.school_out(doc)

    async def demo_school(self, principal: Principal, name: str, district: str) -> SchoolOut:
        """The school of this name, created if missing (``python -m server seed``)."""
        doc = await self.repo.find_school_by_name(name)
        if doc is None:
            return await self.create_school(principal, name, district)
        return self.school_out(doc)

    async def schools_page(self, query: PageQuery) -> SchoolPage:
        position = SCHOOLS.decode(query.cursor)
        docs = await self.repo.schools_page(position, query.limit + 1)
        docs, next_cursor = SCHOOLS.page(docs, query.limit)
        return SchoolPage(items=[self.school_out(doc) for doc in docs], next_cursor=next_cursor)

    async def attach_teacher(self, principal: Principal, school_id: str, user_id: str) -> str:
        """Attach a teacher account (it must hold the ``teacher`` role) to the school."""
        if await self.repo.get_school(school_id) is None:
            raise NotFound()
        try:
            user = await self.auth.get_user(user_id)
        except NotFound:
            raise InvalidRequest.for_fields({"user_id": "no such account"}) from None
        if Role.teacher not in user.roles:
            raise NotATeacher(details={"fields": {"user_id": "not a teacher account"}})
        await self.repo.attach_teacher(user_id, school_id, self.clock.now())
        await self.auth.set_affiliation(user_id, school_id=school_id, class_id=None)
        await self.audit.record(
            user_actor(principal.user_id), "teacher_attached", user_id, {"school_id": school_id}
        )
        return school_id

    async def detach_teacher(self, principal: Principal, school_id: str, user_id: str) -> None:
        """Detach a teacher from the school (their classes stay, with their history)."""
        if await self.repo.get_school(school_id) is None:
            raise NotFound()
        if not await self.repo.detach_teacher_from(user_id, school_id):
            raise InvalidRequest.for_fields({"user_id": "not a teacher of this school"})
        with contextlib.suppress(NotFound):  # an erased account: nothing to update
            await self.auth.set_affiliation(user_id, school_id=None, class_id=None)
        await self.audit.record(
            user_actor(principal.user_id), "teacher_detached", user_id, {"school_id": school_id}
        )

    async def teachers_of(self, school_ids: list[str]) -> dict[str, list[str]]:
        """The user ids of the teachers attached to each of ``school_ids``, in the order
        attached (one query)."""
        teachers: dict[str, list[str]] = {school_id: [] for school_id in school_ids}
        for doc in await self.repo.teachers_of_schools(list(teachers)):
            teachers[doc["school_id"]].append(str(doc["_id"]))
        return teachers

    async def schools_by_id(self, school_ids: list[str]) -> dict[str, SchoolOut]:
        """The schools among ``school_ids``, in one query."""
        docs = await self.repo.get_schools(list(dict.fromkeys(school_ids)))
        return {str(doc["_id"]): self.school_out(doc) for doc in docs}

    async def get_school(self, school_id: str) -> SchoolOut:
        doc = await self.repo.get_school(school_id)
        if doc is None:
            raise NotFound()
        return self.school_out(doc)

    @staticmethod
    def school_out(doc: Document) -> SchoolOut:
        return SchoolOut(
            id=str(doc["_id"]),
            name=doc["name"],
            district=doc["district"],
            created_at=doc["created_at"],
        )

    # -- classes (teachers) ---------------------------------------------------------------

    def _code_fields(self, class_id: str) -> tuple[Document, str]:
        generation = codes.new_generation()
        code = codes.derive_code(self.code_signer, class_id, generation)
        expires_at = self.clock.now() + timedelta(days=self.settings.join_code_ttl_days)
        fields = {
            "join_code_generation": generation,
            "join_code_digest": codes.digest(self.code_signer, code),
            "join_code_expires_at": expires_at,
        }
        return fields, code

    async def create_class(
        self, principal: Principal, school_id: str, name: str, grade: int
    ) -> ClassOut:
        """A class in the school the teacher is attached to now (another school, or
        none: 404)."""
        teaching = await self.teaching(principal)
        if not teaching.admin and teaching.school_id != school_id:
            raise NotFound()
        if await self.repo.get_school(school_id) is None:
            raise NotFound()
        class_id = new_id()
        for _ in range(_CODE_ATTEMPTS):
            fields, _code = self._code_fields(class_id)
            try:
                doc = await self.repo.insert_class(
                    {
                        "_id": class_id,
                        "school_id": school_id,
                        "teacher_id": principal.user_id,
                        "name": name,
                        "grade": grade,
                        "created_at": self.clock.now(),
                        **fields,
                    }
                )
            except CodeTaken:
                continue
            return (await self.class_outs([doc], principal, teaching))[0]
        raise RuntimeError("no free join code after several draws")

    async def rotate_join_code(self, principal: Principal, class_id: str) -> ClassOut:
        _, teaching = await self._own_class(principal, class_id)
        for _ in range(_CODE_ATTEMPTS):
            fields, _code = self._code_fields(class_id)
            try:
                doc = await self.repo.set_join_code(
                    class_id,
                    fields["join_code_generation"],
                    fields["join_code_digest"],
                    fields["join_code_expires_at"],
                )
            except CodeTaken:
                continue
            if doc is None:
                raise NotFound()
            return (await self.class_outs([doc], principal, teaching))[0]
        raise RuntimeError("no free join code after several draws")

    # -- who teaches what, now (``Teaching``) -------------------------------------------

    async def teaching(self, principal: Principal) -> Teaching:
        """What the caller may act on as a teacher: one read of their attachment (none
        for an admin). Resolve it once per call and ask it of every class and task."""
        if is_admin(principal):
            return Teaching(principal.user_id, admin=True, school_id=None)
        school_id = await self.repo.school_of_teacher(principal.user_id)
        return Teaching(principal.user_id, admin=False, school_id=school_id)

    async def teaches(self, principal: Principal, klass: Document) -> bool:
        """Whether the caller may act on ``klass`` as its teacher (``Teaching``); the
        attachment is read only for the teacher who created it."""
        if is_admin(principal):
            return True
        if klass["teacher_id"] != principal.user_id:
            return False
        return (await self.teaching(principal)).has_class(klass)

    async def sets(self, principal: Principal, task: Document) -> bool:
        """Whether the caller may act on ``task`` as its teacher (``Teaching``); the
        attachment is read only for the teacher who set it."""
        if is_admin(principal):
            return True
        if task["teacher_id"] != principal.user_id:
            return False
        return (await self.teaching(principal)).has_task(task)

    async def _own_class(self, principal: Principal, class_id: str) -> tuple[Document, Teaching]:
        doc = await self.repo.get_class(class_id)
        if doc is None:
            raise NotFound()
        teaching = await self.teaching(principal)
        if not teaching.has_class(doc):
            raise NotFound()
        return doc, teaching

    async def own_class(self, principal: Principal, class_id: str) -> Document:
        """The class, if the caller teaches it now (``Teaching``) or is an admin; else
        404."""
        return (await self._own_class(principal, class_id))[0]

    async def visible_class(self, principal: Principal, class_id: str) -> Document:
        """The class, for its teacher (``Teaching``), an admin or a student in it; else
        404."""
        doc = await self.repo.get_class(class_id)
        if doc is None:
            raise NotFound()
        if await self.teaches(principal, doc):
            return doc
        enrolment = await self.repo.enrolment(principal.user_id)
        if enrolment is None or enrolment["class_id"] != class_id:
            raise NotFound()
        return doc

    async def classes_of(self, principal: Principal, query: PageQuery) -> ClassPage:
        """The caller's classes: the ones they teach now (of the school they are
        attached to; none while attached to none)."""
        position = CLASSES.decode(query.cursor)
        teaching = await self.teaching(principal)
        if teaching.nothing:
            return ClassPage(items=[], next_cursor=None)
        docs = await self.repo.classes_of_teacher(
            principal.user_id, position, query.limit + 1, in_school=teaching.school_id
        )
        docs, next_cursor = CLASSES.page(docs, query.limit)
        items = await self.class_outs(docs, principal, teaching)
        return ClassPage(items=items, next_cursor=next_cursor)

    async def classes_by_id(self, class_ids: list[str]) -> dict[str, Document]:
        return {str(doc["_id"]): doc for doc in await self.repo.get_classes(class_ids)}

    async def class_outs(
        self, docs: list[Document], principal: Principal, teaching: Teaching | None = None
    ) -> list[ClassOut]:
        """``ClassOut`` of each class; the join code only for its teacher (``Teaching``:
        ``teaching`` if the caller has it already) and admins."""
        counts = await self.repo.student_counts([str(doc["_id"]) for doc in docs])
        if teaching is None and not is_admin(principal):
            mine = any(doc["teacher_id"] == principal.user_id for doc in docs)
            teaching = await self.teaching(principal) if mine else None
        outs = []
        for doc in docs:
            class_id = str(doc["_id"])
            teaches = is_admin(principal) or (teaching is not None and teaching.has_class(doc))
            code = (
                codes.derive_code(self.code_signer, class_id, doc["join_code_generation"])
                if teaches
                else None
            )
            outs.append(
                ClassOut(
                    id=class_id,
                    school_id=doc["school_id"],
                    name=doc["name"],
                    grade=doc["grade"],
                    join_code=code,
                    join_code_expires_at=doc["join_code_expires_at"] if teaches else None,
                    student_count=counts[class_id],
                )
            )
        return outs

    # -- joining, with a guardian's consent ------------------------------------------------

    async def _guard_attempts(self, principal: Principal, address: str) -> None:
        """Every attempt counts against the user; failed ones against the address too
        (one school's students share a NAT address and mostly type the code right)."""
        wait = await self.rate_limiter.hit(
            f"join:user:{principal.user_id}", self.settings.join_attempts_per_user_per_hour, 3600
        )
        if wait is None:
            wait = await self.rate_limiter.blocked_for(
                f"join:address:{address}", self.settings.join_failures_per_address_per_hour, 3600
            )
        if wait is not None:
            raise RateLimited(wait, "尝试次数过多，请稍后再试")

    async def join(
        self,
        principal: Principal,
        address: str,
        join_code: str,
        student_name: str,
        guardian: ConsentIn | None,
    ) -> UserRecord:
        """Join (or move to) the class of ``join_code`` with a guardian's consent."""
        current = consent.current()
        if guardian is None:
            raise GuardianConsentRequired(details={"current_version": current.version})
        if guardian.version != current.version:
            raise GuardianConsentRequired(
                "监护人同意书已更新，请监护人阅读新版后再同意",
                details={
                    "current_version": current.version,
                    "fields": {"guardian_consent.version": "not the current version"},
                },
            )
        await self._guard_attempts(principal, address)
        code = codes.normalise(join_code)
        doc = None
        if code is not None:
            doc = await self.repo.class_by_code_digest(codes.digest(self.code_signer, code))
        if doc is None or doc["join_code_expires_at"] <= self.clock.now():
            await self.rate_limiter.hit(
                f"join:address:{address}", self.settings.join_failures_per_address_per_hour, 3600
            )
            raise JoinCodeInvalid(details={"fields": {"join_code": "unknown or expired"}})
        class_id, school_id = str(doc["_id"]), doc["school_id"]
        student_id = principal.user_id
        now = self.clock.now()
        record = await self.repo.insert_consent(
            {
                "student_id": student_id,
                "class_id": class_id,
                "guardian_name": guardian.guardian_name,
                "relationship": guardian.relationship,
                "version": current.version,
                "text_sha256": current.sha256,
                "consented_at": now,
                "withdrawn_at": None,
            }
        )
        before = await self.repo.enrol(
            student_id,
            {
                "class_id": class_id,
                "school_id": school_id,
                "student_name": student_name,
                "consent_id": str(record["_id"]),
                "joined_at": now,
            },
        )
        if before is None or before["class_id"] != class_id:
            if before is not None:
                await self.repo.close_history(student_id, before["class_id"], now, "moved")
            await self.repo.add_history(
                {
                    "student_id": student_id,
                    "class_id": class_id,
                    "school_id": school_id,
                    "joined_at": now,
                    "left_at": None,
                }
            )
        return await self.auth.set_affiliation(
            student_id, school_id=school_id, class_id=class_id, add_role=Role.student
        )

    async def enrolment(self, student_id: str) -> Document | None:
        """The student's class now (None: in no class, so no check-ins). Read after the
        call: what the caller wrote before is seen (concurrent calls share the query)."""
        return await self._enrolments.submit(student_id)

    async def students_page(
        self, principal: Principal, class_id: str, query: PageQuery
    ) -> StudentPage:
        """The class's students with their real names: for its teacher only."""
        await self.own_class(principal, class_id)
        position = STUDENTS.decode(query.cursor)
        docs = await self.repo.students_page(class_id, position, query.limit + 1)
        docs, next_cursor = STUDENTS.page(docs, query.limit)
        names = await self.auth.display_names([doc["_id"] for doc in docs])
        items = [
            StudentOut(
                user_id=doc["_id"],
                student_name=doc["student_name"],
                nickname=names[doc["_id"]],
                joined_at=doc["joined_at"],
            )
            for doc in docs
        ]
        return StudentPage(items=items, next_cursor=next_cursor)

    async def enrolments_page(
        self, class_id: str, position: Position | None, limit: int
    ) -> list[Document]:
        """The class's enrolments after ``position`` (``STUDENTS`` order); the caller has
        checked that the class is the viewer's."""
        return await self.repo.students_page(class_id, position, limit)

    async def real_names(
        self, principal: Principal, student_ids: list[str], teaching: Teaching | None = None
    ) -> dict[str, str]:
        """Real names of those of ``student_ids`` now in a class the caller teaches now
        (``Teaching``, read unless given: three small queries, whatever their number)."""
        enrolments = await self.repo.enrolments_of(list(dict.fromkeys(student_ids)))
        if not enrolments:
            return {}
        classes = await self.classes_by_id([doc["class_id"] for doc in enrolments])
        teaching = teaching or await self.teaching(principal)
        return {
            doc["_id"]: doc["student_name"]
            for doc in enrolments
            if doc["class_id"] in classes and teaching.has_class(classes[doc["class_id"]])
        }

    async def school_of_teacher(self, user_id: str) -> str | None:
        return await self.repo.school_of_teacher(user_id)

    async def class_ids_taught(
        self, principal: Principal, teaching: Teaching | None = None
    ) -> list[str]:
        """The classes the caller teaches now (``Teaching``, read unless given)."""
        teaching = teaching or await self.teaching(principal)
        if teaching.nothing:
            return []
        return await self.repo.class_ids_of_teacher(principal.user_id, in_school=teaching.school_id)

    async def remove_student(self, principal: Principal, class_id: str, student_id: str) -> None:
        """The teacher takes a student out of their class (history and check-ins stay)."""
        await self.own_class(principal, class_id)
        removed = await self.repo.unenrol(student_id, class_id)
        if removed is None:
            raise NotFound()
        await self.leave(student_id, class_id, "removed")
        await self.audit.record(
            user_actor(principal.user_id), "student_removed", student_id, {"class_id": class_id}
        )

    async def leave(self, student_id: str, class_id: str | None, reason: str) -> None:
        """After an enrolment ended: history closed, the account no longer a student."""
        if class_id is not None:
            await self.repo.close_history(student_id, class_id, self.clock.now(), reason)
        with contextlib.suppress(NotFound):  # an erased account: nothing to update
            await self.auth.set_affiliation(
                student_id, school_id=None, class_id=None, remove_role=Role.student
            )

    async def stop_student(self, student_id: str) -> None:
        """Consent withdrawn: consents marked, out of their class at once (no check-in
        is taken from here on); idempotent, so a retry finishes a failed run."""
        await self.repo.withdraw_consents(student_id, self.clock.now())
        enrolment = await self.repo.unenrol(student_id)
        await self.leave(
            student_id, enrolment["class_id"] if enrolment else None, "consent_withdrawn"
        )
        await self.repo.delete_history_of(student_id)

    # -- personal data (server.privacy) -------------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        """The class they are in, every class they joined (with its school's and its own
        name), the guardian consents given (and withdrawn) with the text's version and
        SHA-256; for a teacher, the school they are attached to."""
        enrolment = await self.repo.enrolment(user_id)
        history = await self.repo.history_of(user_id)
        classes = await self.classes_by_id([doc["class_id"] for doc in history])
        school_ids = {doc["school_id"] for doc in history}
        teaching = await self.repo.teacher_attachment(user_id)
        if teaching is not None:
            school_ids.add(teaching["school_id"])
        schools = {
            str(doc["_id"]): doc["name"] for doc in await self.repo.get_schools(list(school_ids))
        }
        return {
            "enrolment": None
            if enrolment is None
            else {
                "class_id": enrolment["class_id"],
                "school_id": enrolment["school_id"],
                "student_name": enrolment["student_name"],
                "joined_at": enrolment["joined_at"].isoformat(),
            },
            "classes_joined": [
                {
                    "class_id": doc["class_id"],
                    "class_name": classes[doc["class_id"]]["name"]
                    if doc["class_id"] in classes
                    else None,
                    "school_id": doc["school_id"],
                    "school_name": schools.get(doc["school_id"]),
                    "joined_at": doc["joined_at"].isoformat(),
                    "left_at": doc["left_at"].isoformat() if doc.get("left_at") else None,
                    "left_reason": doc.get("left_reason"),
                }
                for doc in history
            ],
            "guardian_consents": [
                {
                    "class_id": doc["class_id"],
                    "guardian_name": doc["guardian_name"],
                    "relationship": doc["relationship"],
                    "version": doc["version"],
                    "text_sha256": doc.get("text_sha256"),
                    "consented_at": doc["consented_at"].isoformat(),
                    "withdrawn_at": doc["withdrawn_at"].isoformat()
                    if doc.get("withdrawn_at")
                    else None,
                }
                for doc in await self.repo.consents_of(user_id)
            ],
            "teacher_of_school": None
            if teaching is None
            else {
                "school_id": teaching["school_id"],
                "school_name": schools.get(teaching["school_id"]),
                "attached_at": teaching["attached_at"].isoformat(),
            },
        }

    async def erase_personal_data(self, user_id: str) -> None:
        """Enrolment, class history and consents go; a teacher's attachment to a school
        too (the classes and tasks they made stay the school's, under their id)."""
        await self.repo.unenrol(user_id)
        await self.repo.delete_history_of(user_id)
        await self.repo.delete_consents_of(user_id)
        await self.repo.detach_teacher(user_id)
