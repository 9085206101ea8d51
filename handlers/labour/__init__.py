"""劳动教育打卡: schools, classes with join codes, guardian consent, tasks, check-ins."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.labour.demo import load_checkin_art, seed_labour
from handlers.labour.keys import (
    LABOUR_STATS,
    REPORT_SERVICE,
    REVIEW_SERVICE,
    SCHOOL_SERVICE,
    SUMMARY_SERVICE,
    TASK_SERVICE,
)
from handlers.labour.periods import TaskClosed, TaskNotOpen
from handlers.labour.repo import SchoolRepo, TaskRepo
from handlers.labour.reports import ReportService
from handlers.labour.review import AlreadyReviewed, ReviewService
from handlers.labour.routes import routes
from handlers.labour.schools import (
    GuardianConsentRequired,
    JoinCodeInvalid,
    NotATeacher,
    SchoolService,
)
from handlers.labour.stats import LabourStats
from handlers.labour.summary import SummaryService
from handlers.labour.tasks import AlreadyCheckedIn, PhotoRequired, TaskService
from handlers.media.keys import MEDIA_SERVICE
from handlers.messages.keys import MESSAGE_SERVICE
from server.keys import AUDIT, CLOCK, MONGO_DB, RATE_LIMITER, SETTINGS, SIGNER, WECHAT
from server.privacy import PersonalDataProvider
from server.room import Cron, Database, DemoSource, Room, SeedWriter
from server.signing import JOIN_CODE
from server.wechat import ContentRejected


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    db = app[MONGO_DB]
    schools = SchoolService(
        app[SETTINGS],
        SchoolRepo(db),
        app[AUTH_SERVICE],
        app[RATE_LIMITER],
        app[AUDIT],
        app[CLOCK],
        app[SIGNER].for_purpose(JOIN_CODE),
    )
    app[SCHOOL_SERVICE] = schools
    tasks = TaskService(
        TaskRepo(db),
        schools,
        app[MEDIA_SERVICE],
        app[AUTH_SERVICE],
        app[WECHAT],
        app[MESSAGE_SERVICE],
        app[CLOCK],
    )
    app[TASK_SERVICE] = tasks
    app[REVIEW_SERVICE] = ReviewService(
        TaskRepo(db), schools, tasks, app[MESSAGE_SERVICE], app[CLOCK]
    )
    app[SUMMARY_SERVICE] = SummaryService(TaskRepo(db), schools, app[CLOCK])
    app[REPORT_SERVICE] = ReportService(
        TaskRepo(db), SchoolRepo(db), schools, tasks, app[AUDIT], app[CLOCK]
    )
    app[LABOUR_STATS] = LabourStats(TaskRepo(db), SchoolRepo(db), schools, app[CLOCK])
    yield


async def ensure_indexes(db: Database) -> None:
    await SchoolRepo(db).ensure_indexes()
    await TaskRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    # Erased in reverse: the check-ins (and their photos) first, then the classes.
    return (app[SCHOOL_SERVICE], app[TASK_SERVICE])


async def tell_reviews(app: web.Application) -> int:
    """Queue the messages of decisions whose request died first (every minute)."""
    return await app[REVIEW_SERVICE].tell_untold()


def seed(source: DemoSource) -> SeedWriter:
    """A demo school made by the demo ``admin``, with the demo ``teacher`` attached (both
    made by the auth room's seed), two classes, students who joined with a guardian's
    consent, three tasks and three weeks of check-ins with the photos ``python -m
    tools.demo_photos`` drew (checked first; ``demo.py``); what exists already is left
    alone."""
    art = load_checkin_art(source.art)

    async def write(app: web.Application) -> str:
        auth = app[AUTH_SERVICE]
        admin, teacher = await auth.demo_staff("admin"), await auth.demo_staff("teacher")
        return await seed_labour(app, admin, teacher, art)

    return write


ROOM = Room(
    name="labour",
    routes=(routes,),
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    crons=(Cron(tell_reviews, second=25),),
    seed=seed,
    errors=(
        GuardianConsentRequired,
        JoinCodeInvalid,
        NotATeacher,
        TaskNotOpen,
        TaskClosed,
        PhotoRequired,
        AlreadyCheckedIn,
        AlreadyReviewed,
        ContentRejected,
    ),
)
