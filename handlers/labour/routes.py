"""劳动教育打卡 (API.md, "Labour education"): schools, classes, consent, tasks, check-ins.

Student routes declare no role: the ``student`` role reaches a token only at its next
refresh, while the enrolment in MongoDB is the truth at once (a student who just joined
checks in; one whose guardian withdrew consent cannot). The services answer 404 for
every object the caller may not see.
"""

from __future__ import annotations

import hashlib

import orjson
from aiohttp import web

from handlers.auth.routes import user_out
from handlers.auth.schemas import UserOut
from handlers.labour import consent
from handlers.labour.keys import (
    REPORT_SERVICE,
    REVIEW_SERVICE,
    SCHOOL_SERVICE,
    SUMMARY_SERVICE,
    TASK_SERVICE,
)
from handlers.labour.schemas import (
    BulkReviewIn,
    BulkReviewOut,
    CheckInIn,
    CheckInOut,
    CheckInPage,
    ClassIn,
    ClassOut,
    ClassPage,
    ConsentTextOut,
    JoinIn,
    LabourSummaryOut,
    ProgressQuery,
    ReportQuery,
    ReviewIn,
    SchoolIn,
    SchoolOut,
    SchoolPage,
    StudentPage,
    StudentSummaryPage,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    TaskProgressOut,
    TeacherCheckInQuery,
    TeacherIn,
    TeacherOut,
    WithdrawnOut,
)
from server.access import current_principal
from server.api import ApiRoutes
from server.audit import user_actor
from server.authorisation import Access, Whose
from server.idempotent import respond_idempotently
from server.ids import path_object_id
from server.keys import AUDIT, IDEMPOTENCY, SETTINGS
from server.middleware import client_ip
from server.paging import PageQuery
from server.principal import Role
from server.rest import read_body, read_query, respond
from server.spreadsheet import XLSX_CONTENT_TYPE, xlsx_response

routes = ApiRoutes(tag="labour")

ADMINS = Access.roles(Role.admin)
TEACHERS = Access.roles(Role.teacher)
# Students are signed-in users: the enrolment in MongoDB decides, not the token's roles.
SIGNED_IN = Access.signed_in()


# -- schools and teachers (admins) ----------------------------------------------------------


@routes.post(
    "/admin/schools", "Create a school", access=ADMINS, body=SchoolIn, response=SchoolOut,
    status=201,
)  # fmt: skip
async def create_school(request: web.Request) -> web.Response:
    body = await read_body(request, SchoolIn)
    school = await request.app[SCHOOL_SERVICE].create_school(
        current_principal(request), body.name, body.district
    )
    return respond(school, status=201)


@routes.get("/admin/schools", "Schools, newest first", access=ADMINS, query=PageQuery,
            response=SchoolPage)  # fmt: skip
async def list_schools(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[SCHOOL_SERVICE].schools_page(query))


@routes.post(
    "/admin/schools/{school_id}/teachers",
    "Attach a teacher account to the school (it creates classes there only)",
    access=ADMINS.on("school_id", "school"), body=TeacherIn, response=TeacherOut,
    errors=("not_a_teacher",),
)  # fmt: skip
async def attach_teacher(request: web.Request) -> web.Response:
    body = await read_body(request, TeacherIn)
    school_id = await request.app[SCHOOL_SERVICE].attach_teacher(
        current_principal(request), path_object_id(request, "school_id"), body.user_id
    )
    return respond(TeacherOut(user_id=body.user_id, school_id=school_id))


# -- classes ---------------------------------------------------------------------------------


@routes.post(
    "/classes", "Create a class in the teacher's own school (with a join code)",
    access=TEACHERS, body=ClassIn, response=ClassOut, status=201,
)  # fmt: skip
async def create_class(request: web.Request) -> web.Response:
    body = await read_body(request, ClassIn)
    created = await request.app[SCHOOL_SERVICE].create_class(
        current_principal(request), body.school_id, body.name, body.grade
    )
    return respond(created, status=201)


@routes.get("/classes", "The classes I teach", access=TEACHERS, query=PageQuery,
            response=ClassPage)  # fmt: skip
async def list_classes(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[SCHOOL_SERVICE].classes_of(current_principal(request), query))


@routes.get(
    "/classes/{class_id}", "A class (its teacher, an admin, or a student in it; the join "
    "code for its teacher only)", access=SIGNED_IN.on("class_id", "class", Whose.owner_or_admin),
    response=ClassOut,
)  # fmt: skip
async def get_class(request: web.Request) -> web.Response:
    service = request.app[SCHOOL_SERVICE]
    principal = current_principal(request)
    doc = await service.visible_class(principal, path_object_id(request, "class_id"))
    return respond((await service.class_outs([doc], principal))[0])


@routes.post(
    "/classes/{class_id}/join-code", "A new join code (the old one stops working)",
    access=TEACHERS.on("class_id", "class", Whose.owner_or_admin), response=ClassOut,
)  # fmt: skip
async def rotate_join_code(request: web.Request) -> web.Response:
    return respond(
        await request.app[SCHOOL_SERVICE].rotate_join_code(
            current_principal(request), path_object_id(request, "class_id")
        )
    )


@routes.get(
    "/classes/{class_id}/students", "The class's students with their real names (its "
    "teacher)", access=TEACHERS.on("class_id", "class", Whose.owner_or_admin), query=PageQuery,
    response=StudentPage,
)  # fmt: skip
async def list_students(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(
        await request.app[SCHOOL_SERVICE].students_page(
            current_principal(request), path_object_id(request, "class_id"), query
        )
    )


@routes.delete(
    "/classes/{class_id}/students/{student_id}", "Take a student out of the class (their "
    "history stays)", access=TEACHERS.on("class_id", "class", Whose.owner_or_admin), status=204,
)  # fmt: skip
async def remove_student(request: web.Request) -> web.Response:
    await request.app[SCHOOL_SERVICE].remove_student(
        current_principal(request),
        path_object_id(request, "class_id"),
        path_object_id(request, "student_id"),
    )
    return respond(None, status=204)


@routes.post(
    "/classes/join",
    "Join (or move to) a class with a guardian's consent; attempts are rate-limited",
    access=SIGNED_IN, body=JoinIn, response=UserOut,
    errors=("guardian_consent_required", "join_code_invalid", "rate_limited"),
)  # fmt: skip
async def join_class(request: web.Request) -> web.Response:
    body = await read_body(request, JoinIn)
    address = client_ip(request, request.app[SETTINGS].trusted_proxy_networks)
    user = await request.app[SCHOOL_SERVICE].join(
        current_principal(request), address, body.join_code, body.student_name,
        body.guardian_consent,
    )  # fmt: skip
    return respond(await user_out(request, user))


@routes.get(
    "/consent/guardian", "The current guardian-consent text and its version",
    access=Access.public(),
    response=ConsentTextOut,
)  # fmt: skip
async def guardian_consent_text(request: web.Request) -> web.Response:
    text = consent.current()
    return respond(
        ConsentTextOut(version=text.version, title=text.title, text=text.text, sha256=text.sha256)
    )


@routes.post(
    "/me/guardian-consent/withdraw",
    "A guardian withdraws consent: check-ins stop at once, labour data and check-in photos "
    "are erased; the account stays a resident's",
    access=SIGNED_IN, response=WithdrawnOut,
)  # fmt: skip
async def withdraw_consent(request: web.Request) -> web.Response:
    principal = current_principal(request)
    erased = await request.app[TASK_SERVICE].withdraw_consent(principal)
    await request.app[AUDIT].record(
        user_actor(principal.user_id), "guardian_consent_withdrawn", principal.user_id,
        {"erased_checkins": erased},
    )  # fmt: skip
    return respond(WithdrawnOut(erased_checkins=erased))


# -- tasks and check-ins ---------------------------------------------------------------------


@routes.post(
    "/tasks", "Set a task for classes I teach", access=TEACHERS, body=TaskIn, response=TaskOut,
    status=201,
)  # fmt: skip
async def create_task(request: web.Request) -> web.Response:
    body = await read_body(request, TaskIn)
    task = await request.app[TASK_SERVICE].create_task(current_principal(request), body)
    return respond(task, status=201)


@routes.get(
    "/tasks", "A student's: my class's open tasks with my_status for the current period; "
    "a teacher's: the tasks I set", access=SIGNED_IN, query=PageQuery, response=TaskPage,
)  # fmt: skip
async def list_tasks(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[TASK_SERVICE].tasks_page(current_principal(request), query))


@routes.get("/tasks/{task_id}", "A task (its teacher, or a student it is set for)",
            access=SIGNED_IN.on("task_id", "task", Whose.owner_or_admin),
            response=TaskOut)  # fmt: skip
async def get_task(request: web.Request) -> web.Response:
    return respond(
        await request.app[TASK_SERVICE].visible_task(
            current_principal(request), path_object_id(request, "task_id")
        )
    )


@routes.patch(
    "/tasks/{task_id}", "Edit my open task (only the fields sent); check-ins already made "
    "keep their hours, approved ones their credited hours",
    access=TEACHERS.on("task_id", "task", Whose.owner_or_admin), body=TaskPatch,
    response=TaskOut, errors=("task_closed",),
)  # fmt: skip
async def update_task(request: web.Request) -> web.Response:
    body = await read_body(request, TaskPatch)
    return respond(
        await request.app[TASK_SERVICE].update_task(
            current_principal(request),
            path_object_id(request, "task_id"),
            body.model_dump(include=body.model_fields_set),
        )
    )


@routes.post(
    "/tasks/{task_id}/close", "Close my task: no new check-ins (422 task_closed); what was "
    "checked in stays and may still be reviewed",
    access=TEACHERS.on("task_id", "task", Whose.owner_or_admin), response=TaskOut,
)  # fmt: skip
async def close_task(request: web.Request) -> web.Response:
    return respond(
        await request.app[TASK_SERVICE].close_task(
            current_principal(request), path_object_id(request, "task_id")
        )
    )


@routes.post(
    "/tasks/{task_id}/checkins",
    "Check in for the current period (or, with date, make up an earlier one: late); "
    "Idempotency-Key honoured",
    access=SIGNED_IN.on("task_id", "assigned_task", Whose.owner), body=CheckInIn,
    response=CheckInOut, status=201,
    errors=(
        "already_checked_in", "task_not_open", "task_closed", "photo_required",
        "media_not_found",
        "content_rejected", "idempotency_key_reused",
    ),
)  # fmt: skip
async def check_in(request: web.Request) -> web.Response:
    principal = current_principal(request)
    task_id = path_object_id(request, "task_id")
    body = await read_body(request, CheckInIn)
    fingerprint = hashlib.sha256(
        orjson.dumps([task_id, body.model_dump(mode="json")], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()

    async def produce() -> tuple[int, CheckInOut]:
        checkin = await request.app[TASK_SERVICE].check_in(
            principal, task_id, body.note, body.media_ids, body.date
        )
        return 201, checkin

    return await respond_idempotently(
        request, request.app[IDEMPOTENCY], principal.user_id, fingerprint, produce
    )


@routes.get(
    "/checkins/{checkin_id}", "A check-in (its student, their teacher, an admin)",
    access=SIGNED_IN.on("checkin_id", "checkin", Whose.owner_or_admin), response=CheckInOut,
)  # fmt: skip
async def get_checkin(request: web.Request) -> web.Response:
    return respond(
        await request.app[TASK_SERVICE].visible_checkin(
            current_principal(request), path_object_id(request, "checkin_id")
        )
    )


@routes.get("/me/checkins", "My check-ins, newest first", access=SIGNED_IN, query=PageQuery,
            response=CheckInPage)  # fmt: skip
async def my_checkins(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(await request.app[TASK_SERVICE].my_checkins(current_principal(request), query))


# -- review (teachers) -------------------------------------------------------------------


@routes.get(
    "/teacher/checkins", "Check-ins of my classes (status=, class_id=), newest first, with "
    "real names", access=TEACHERS, query=TeacherCheckInQuery, response=CheckInPage,
)  # fmt: skip
async def teacher_checkins(request: web.Request) -> web.Response:
    query = read_query(request, TeacherCheckInQuery)
    return respond(await request.app[REVIEW_SERVICE].page(current_principal(request), query))


@routes.post(
    "/checkins/review", "Decide many check-ins at once (each checked on its own; a result "
    "per id)", access=TEACHERS, body=BulkReviewIn, response=BulkReviewOut,
)  # fmt: skip
async def review_checkins(request: web.Request) -> web.Response:
    body = await read_body(request, BulkReviewIn)
    return respond(
        await request.app[REVIEW_SERVICE].review_many(
            current_principal(request), body.ids, body.decision, body.comment
        )
    )


@routes.post(
    "/checkins/{checkin_id}/review", "Approve (credits the hours, once) or reject (the "
    "student may redo it) a check-in of my class",
    access=TEACHERS.on("checkin_id", "checkin", Whose.owner_or_admin), body=ReviewIn,
    response=CheckInOut, errors=("already_reviewed",),
)  # fmt: skip
async def review_checkin(request: web.Request) -> web.Response:
    body = await read_body(request, ReviewIn)
    return respond(
        await request.app[REVIEW_SERVICE].review(
            current_principal(request),
            path_object_id(request, "checkin_id"),
            body.decision,
            body.comment,
        )
    )


# -- summaries, progress and reports -------------------------------------------------------


@routes.get(
    "/me/labour-summary", "My hours and counts by category, streaks and badges (each with "
    "the day it was earned), computed from my approved check-ins",
    access=SIGNED_IN, response=LabourSummaryOut,
)  # fmt: skip
async def my_labour_summary(request: web.Request) -> web.Response:
    return respond(await request.app[SUMMARY_SERVICE].mine(current_principal(request)))


@routes.get(
    "/classes/{class_id}/labour-summary", "The class's students (a page of them, by user "
    "id) with the summary of what each checked in in this class; one query per page",
    access=TEACHERS.on("class_id", "class", Whose.owner_or_admin), query=PageQuery,
    response=StudentSummaryPage,
)  # fmt: skip
async def class_labour_summary(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    return respond(
        await request.app[SUMMARY_SERVICE].of_class(
            current_principal(request), path_object_id(request, "class_id"), query
        )
    )


@routes.get(
    "/tasks/{task_id}/progress", "Who has done what in each period of my task (a page of "
    "its students, by user id; totals per period over all of them)",
    access=TEACHERS.on("task_id", "task", Whose.owner_or_admin), query=ProgressQuery,
    response=TaskProgressOut,
)  # fmt: skip
async def task_progress(request: web.Request) -> web.Response:
    query = read_query(request, ProgressQuery)
    return respond(
        await request.app[REPORT_SERVICE].progress(
            current_principal(request), path_object_id(request, "task_id"), query
        )
    )


@routes.get(
    "/classes/{class_id}/report.xlsx", "My class's report (Excel): its students × the three "
    "categories, approved hours and counts for the days asked, with totals; the export is "
    "in the audit log", access=TEACHERS.on("class_id", "class", Whose.owner_or_admin),
    query=ReportQuery, content_type=XLSX_CONTENT_TYPE,
)  # fmt: skip
async def class_report(request: web.Request) -> web.Response:
    query = read_query(request, ReportQuery)
    body, filename = await request.app[REPORT_SERVICE].class_report(
        current_principal(request), path_object_id(request, "class_id"), query.from_date,
        query.to_date,
    )  # fmt: skip
    return xlsx_response(body, filename)
