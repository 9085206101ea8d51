"""The labour room's demo content (``python -m server seed``, development only): a school
with the demo ``teacher``, two classes, students who joined with a guardian's consent,
three tasks and three weeks of check-ins with photos, approved, rejected, waiting for
review, and one photo passed off from a classmate (flagged ``duplicate_photo``), so
that the console's dashboard and review queue show something. The photos are drawn
by ``python -m tools.demo_photos`` (the product never draws) into the art directory,
and checked before anything is written.

Everything goes through the room's services, as the mini-program's requests would: the
past is made by services on a clock set back to each check-in's hour and each
review's. Idempotent: what exists (the school, classes and tasks by name, a student by
their ``dev:`` account, a student's history once they have a check-in) is left alone.
Demo students sign in like any development user: ``dev:demo-student-01`` and so on.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.labour import consent
from handlers.labour.keys import SCHOOL_SERVICE, TASK_SERVICE
from handlers.labour.repo import TaskRepo
from handlers.labour.review import ReviewService
from handlers.labour.schemas import ClassOut, ConsentIn, TaskIn, TaskOut
from handlers.labour.tasks import TaskService
from handlers.media.keys import MEDIA_SERVICE
from handlers.messages.keys import MESSAGE_SERVICE
from handlers.stories.demo import DEFAULT_ART_DIR, REPO_ROOT
from server.clock import SHANGHAI, SettableClock, iso_week
from server.keys import CLOCK, MONGO_DB, WECHAT
from server.paging import PageQuery
from server.principal import Principal, Role
from server.room import DemoDataError

DEMO_SCHOOL = ("株洲市匠心实验小学（演示）", "天元区")
CLASSES = (("三年级（1）班", 3), ("三年级（2）班", 3))
HISTORY_DAYS = 21
"""How far back the check-ins go (three weeks, within the duplicate-photo window)."""
PENDING_DAYS = 2
"""Check-ins of the last days wait for the teacher; older ones are decided."""
SEED_ADDRESS = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class DemoStudent:
    name: str  # the dev: sign-in
    student_name: str
    class_index: int
    guardian: str
    relationship: str


STUDENTS = (
    DemoStudent("demo-student-01", "林小禾", 0, "林建国", "father"),
    DemoStudent("demo-student-02", "周一诺", 0, "陈丽", "mother"),
    DemoStudent("demo-student-03", "谭子墨", 0, "谭卫东", "father"),
    DemoStudent("demo-student-04", "刘星语", 0, "刘桂英", "grandparent"),
    DemoStudent("demo-student-05", "易思远", 1, "易志强", "father"),
    DemoStudent("demo-student-06", "贺雨桐", 1, "黄芳", "mother"),
    DemoStudent("demo-student-07", "邓沐阳", 1, "邓友才", "other_guardian"),
)
# The second student hands in a copy of the first one's photo of yesterday (both check
# in to the daily task that day, whatever their rate).
ORIGINAL, COPIER = STUDENTS[0].name, STUDENTS[1].name


@dataclass(frozen=True, slots=True)
class DemoTask:
    title: str
    description: str
    category: str
    frequency: str
    hours: float
    photo_required: bool
    class_indexes: tuple[int, ...]
    rate: float  # how often a student does it
    hour: int  # when, Shanghai time


TASKS = (
    DemoTask("整理自己的书桌（演示）", "每天放学后整理书桌，拍一张整理后的照片。",
             "daily_life", "daily", 0.5, True, (0, 1), 0.6, 17),
    DemoTask("给班级菜地浇水（演示）", "每周轮到自己时给班级菜地浇一次水，拍下菜苗的样子。",
             "productive", "weekly", 1.0, True, (0, 1), 0.8, 10),
    DemoTask("社区垃圾分类志愿服务（演示）", "每周和家长一起在小区垃圾分类点值守一次，写几句感受。",
             "service", "weekly", 1.5, False, (0,), 0.6, 9),
)  # fmt: skip
REJECTION = "照片看不清，请重新拍一张"


CHECKIN_PHOTOS = 200
"""Photos drawn for the demo (``python -m tools.demo_photos``): more than the history
hands in, each used once."""
PHOTOS_COMMAND = "python -m tools.demo_photos"


def checkin_photo_path(art_dir: Path, number: int) -> Path:
    return art_dir / "checkins" / f"photo-{number:03d}.jpg"


def copy_photo_path(art_dir: Path) -> Path:
    """The first photo as a classmate hands it in again (flagged ``duplicate_photo``)."""
    return art_dir / "checkins" / "copy-of-photo-000.jpg"


@dataclass(frozen=True, slots=True)
class CheckinArt:
    photos: tuple[bytes, ...]
    copy: bytes


def load_checkin_art(art_dir: Path) -> CheckinArt:
    """The drawn check-in photos; if any is missing, say how to draw them."""
    wanted = [checkin_photo_path(art_dir, n) for n in range(CHECKIN_PHOTOS)]
    missing = [path for path in [*wanted, copy_photo_path(art_dir)] if not path.is_file()]
    if missing:
        command = PHOTOS_COMMAND
        if art_dir.resolve() != DEFAULT_ART_DIR:
            command += f" --out {art_dir}"
        raise DemoDataError(
            f"{art_dir}: {len(missing)} of {CHECKIN_PHOTOS + 1} demo check-in photos are "
            f"missing ({missing[0].relative_to(art_dir)}…); draw them first, from the repo "
            f"root ({REPO_ROOT}):\n    {command}\n(`make run` does it for you)"
        )
    return CheckinArt(
        tuple(path.read_bytes() for path in wanted), copy_photo_path(art_dir).read_bytes()
    )


@dataclass(frozen=True, slots=True)
class Planned:
    student: DemoStudent
    task: TaskOut
    at: datetime
    photo: bool  # the task needs one

    @property
    def day(self) -> date:
        return self.at.astimezone(SHANGHAI).date()


def _at(day: date, hour: int, rnd: random.Random) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI) + timedelta(minutes=rnd.randint(0, 180))


def plan_history(
    student: DemoStudent, tasks: dict[str, TaskOut], today: date, now: datetime
) -> list[Planned]:
    """The student's check-ins of the last ``HISTORY_DAYS`` days, oldest first: the
    same every time for the same student and day."""
    rnd = random.Random(f"{student.name}:{today.isoformat()}")  # noqa: S311
    first = today - timedelta(days=HISTORY_DAYS)
    planned: list[Planned] = []
    for demo in TASKS:
        if student.class_index not in demo.class_indexes:
            continue
        task = tasks[demo.title]
        if demo.frequency == "daily":
            days = [first + timedelta(days=n) for n in range(HISTORY_DAYS + 1)]
        else:  # a day in each week
            weeks = sorted({iso_week(first + timedelta(days=n)) for n in range(HISTORY_DAYS + 1)},
                           key=str)  # fmt: skip
            days = [max(first, min(today, week.monday + timedelta(days=rnd.randint(0, 6))))
                    for week in weeks]  # fmt: skip
        for day in days:
            forced = (
                demo.frequency == "daily"
                and day == today - timedelta(days=1)
                and student.name in (ORIGINAL, COPIER)
            )
            if not forced and rnd.random() > demo.rate:
                continue
            at = _at(day, demo.hour, rnd)
            if at >= now:
                continue
            planned.append(Planned(student, task, at, demo.photo_required))
    return sorted(planned, key=lambda p: p.at)


class LabourDemo:
    """Writes the demo through the room's services (``seed``)."""

    def __init__(self, app: web.Application, teacher: Principal, art: CheckinArt) -> None:
        self.app = app
        self.teacher = teacher
        self.art = art
        self.schools = app[SCHOOL_SERVICE]
        self.tasks = app[TASK_SERVICE]
        self.media = app[MEDIA_SERVICE]
        self.now = app[CLOCK].now()
        self.today = app[CLOCK].today()

    def _task_service(self, at: datetime) -> TaskService:
        """The room's check-in service with its clock at ``at``."""
        app = self.app
        return TaskService(
            TaskRepo(app[MONGO_DB]), self.schools, self.media, app[AUTH_SERVICE], app[WECHAT],
            app[MESSAGE_SERVICE], SettableClock(at),
        )  # fmt: skip

    def _review_service(self, at: datetime) -> ReviewService:
        clock = SettableClock(at)
        return ReviewService(
            TaskRepo(self.app[MONGO_DB]), self.schools, self._task_service(at),
            self.app[MESSAGE_SERVICE], clock,
        )  # fmt: skip

    async def classes(self, school_id: str) -> list[ClassOut]:
        existing = {
            c.name: c
            for c in (await self.schools.classes_of(self.teacher, PageQuery(limit=50))).items
        }
        out = []
        for name, grade in CLASSES:
            found = existing.get(name) or await self.schools.create_class(
                self.teacher, school_id, name, grade
            )
            out.append(found)
        return out

    async def demo_tasks(self, classes: list[ClassOut]) -> dict[str, TaskOut]:
        mine = {
            t.title: t
            for t in (await self.tasks.tasks_page(self.teacher, PageQuery(limit=50))).items
        }
        first = self.today - timedelta(days=HISTORY_DAYS)
        out: dict[str, TaskOut] = {}
        for demo in TASKS:
            class_ids = [classes[i].id for i in demo.class_indexes]
            task = mine.get(demo.title)
            if task is None:
                body = TaskIn.model_validate(
                    {
                        "title": demo.title, "description": demo.description,
                        "category": demo.category, "class_ids": class_ids,
                        "start_date": first, "end_date": self.today + timedelta(days=60),
                        "frequency": demo.frequency, "hours": demo.hours,
                        "photo_required": demo.photo_required, "makeup_days": 2,
                    }
                )  # fmt: skip
                task = await self.tasks.create_task(self.teacher, body)
            elif task.status == "open" and (
                task.start_date > first or set(task.class_ids) != set(class_ids)
            ):
                # Seeded before the history was: the task starts early enough for it.
                changes: dict[str, Any] = {
                    "start_date": min(task.start_date, first),
                    "class_ids": class_ids,
                }
                task = await self.tasks.update_task(self.teacher, task.id, changes)
            out[demo.title] = task
        return out

    async def students(self, classes: list[ClassOut]) -> dict[str, Principal]:
        auth = self.app[AUTH_SERVICE]
        version = consent.current().version
        out = {}
        for number, student in enumerate(STUDENTS, start=1):
            user = await auth.demo_resident(student.name, f"演示学生{number:02d}")
            principal = Principal(user.id, "seed", frozenset({Role.resident, Role.student}), "seed")
            if await self.schools.enrolment(user.id) is None:
                code = classes[student.class_index].join_code or ""  # the teacher's own
                guardian = ConsentIn.model_validate(
                    {"guardian_name": student.guardian, "relationship": student.relationship,
                     "version": version}
                )  # fmt: skip
                await self.schools.join(
                    principal, SEED_ADDRESS, code, student.student_name, guardian
                )
            out[student.name] = principal
        return out

    async def _upload(self, principal: Principal, data: bytes) -> str:
        return str((await self.media.upload(principal.user_id, data, "checkin"))["_id"])

    async def _check_in(self, planned: Planned, principal: Principal, media_ids: list[str]) -> Any:
        service = self._task_service(planned.at)
        # No notes: WeChat's text check knows only accounts signed in through it.
        return await service.check_in(principal, planned.task.id, "", media_ids, None)

    async def history(self, tasks: dict[str, TaskOut], students: dict[str, Principal]) -> int:
        """Every student's check-ins (for those who have none yet), then the teacher's
        decisions on them; how many check-ins."""
        todo: dict[str, list[Planned]] = {}
        for student in STUDENTS:
            principal = students[student.name]
            if (await self.tasks.my_checkins(principal, PageQuery(limit=1))).items:
                continue
            todo[student.name] = plan_history(student, tasks, self.today, self.now)
        yesterday = self.today - timedelta(days=1)

        def pair(p: Planned, name: str) -> bool:
            return p.student.name == name and p.task.title == TASKS[0].title and p.day == yesterday

        # Each photo is handed in once (photo 0: the original of the copy), in plan order.
        photo_of: dict[int, int] = {}
        numbers = iter(range(1, len(self.art.photos)))
        for plans in todo.values():
            for planned in plans:
                if planned.photo:
                    photo_of[id(planned)] = 0 if pair(planned, ORIGINAL) else next(numbers)
        made: list[tuple[Planned, Any]] = []
        gate = asyncio.Semaphore(4)

        async def student_history(name: str, plans: list[Planned]) -> None:
            principal = students[name]
            for planned in plans:
                if pair(planned, COPIER):
                    continue
                async with gate:
                    media_ids = []
                    if planned.photo:
                        data = self.art.photos[photo_of[id(planned)]]
                        media_ids.append(await self._upload(principal, data))
                    made.append((planned, await self._check_in(planned, principal, media_ids)))

        await asyncio.gather(*(student_history(name, plans) for name, plans in todo.items()))
        # The copy: the classmate's photo of yesterday handed in again, after it.
        originals = [p for p in todo.get(ORIGINAL, []) if pair(p, ORIGINAL)]
        for planned in [p for p in todo.get(COPIER, []) if pair(p, COPIER)] if originals else []:
            principal = students[COPIER]
            later = Planned(
                planned.student, planned.task, originals[0].at + timedelta(hours=1), True
            )
            media_id = await self._upload(principal, self.art.copy)
            made.append((later, await self._check_in(later, principal, [media_id])))
        await self._decide(made)
        return len(made)

    async def _decide(self, made: list[tuple[Planned, Any]]) -> None:
        """The teacher decides what is older than ``PENDING_DAYS``, the morning after
        (mostly approved; now and then a photo to take again), in one bulk review a day."""
        by_morning: dict[tuple[datetime, str], list[str]] = {}
        for planned, checkin in made:
            if planned.day > self.today - timedelta(days=PENDING_DAYS + 1):
                continue
            morning = datetime.combine(planned.day + timedelta(days=1), time(8, 30), SHANGHAI)
            rnd = random.Random(f"{planned.student.name}:{planned.task.title}:{planned.day}")  # noqa: S311
            decision = "rejected" if rnd.random() < 0.08 else "approved"
            by_morning.setdefault((morning, decision), []).append(checkin.id)
        for (morning, decision), ids in sorted(by_morning.items()):
            comment = REJECTION if decision == "rejected" else ""
            await self._review_service(morning).review_many(self.teacher, ids, decision, comment)


async def seed_labour(
    app: web.Application, admin: Principal, teacher: Principal, art: CheckinArt
) -> str:
    schools = app[SCHOOL_SERVICE]
    school = await schools.demo_school(admin, *DEMO_SCHOOL)
    await schools.attach_teacher(admin, school.id, teacher.user_id)
    demo = LabourDemo(app, teacher, art)
    classes = await demo.classes(school.id)
    tasks = await demo.demo_tasks(classes)
    students = await demo.students(classes)
    made = await demo.history(tasks, students)
    codes = ", ".join(f"{c.name} (join code {c.join_code})" for c in classes)
    return (
        f"demo labour: {school.name}, classes {codes}, {len(students)} students "
        f"(dev:demo-student-01...), {len(tasks)} tasks by 'teacher', {made} check-ins made"
    )
