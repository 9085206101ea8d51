"""Teachers' pages: their classes with join codes (and a printable QR of the code),
tasks, the review queue with photo thumbnails and bulk approve, flagged duplicate
photos side by side, a task's progress and the class report in Excel.

Every page calls the labour room's services with the signed-in teacher's ``Principal``
(``SchoolService``, ``TaskService``, ``ReviewService``, ``ReportService``) and validates
forms with the API's own models (``ClassIn``, ``TaskIn``, ``TaskPatch``, ``ReviewIn``,
``BulkReviewIn``, ``ProgressQuery``, ``ReportQuery``), so the console can do nothing the
API would refuse: another teacher's class, task or check-in is 404, a bulk decision is
checked per check-in by the service, a check-in is decided once.

Privacy: real names only for students of the teacher's own classes (the services
decide), check-in photos only through the signed URLs the services hand out, and a
duplicate's other check-in only as far as this teacher may see it (``duplicates``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
import segno
from aiohttp import web
from markupsafe import Markup
from multidict import MultiDictProxy
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yarl import URL

from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import safe_next, see_other, set_back
from handlers.labour.keys import (
    REPORT_SERVICE,
    REVIEW_SERVICE,
    SCHOOL_SERVICE,
    TASK_SERVICE,
)
from handlers.labour.schemas import (
    BulkReviewIn,
    CheckInOut,
    ClassIn,
    ClassOut,
    ProgressQuery,
    ReportQuery,
    ReviewIn,
    TaskIn,
    TaskOut,
    TaskPatch,
    TeacherCheckInQuery,
)
from handlers.labour.summary import CATEGORY_NAMES
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Access, Whose
from server.clock import SHANGHAI
from server.errors import AppError, InvalidRequest
from server.idempotent import Replay, validate_key
from server.ids import path_object_id
from server.keys import CLOCK, IDEMPOTENCY
from server.paging import MAX_LIMIT, PageQuery
from server.principal import Role
from server.rest import read_query
from server.spreadsheet import XLSX_CONTENT_TYPE, xlsx_response

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

TEACHERS = Access.roles(Role.teacher)
CLASSES = CONSOLE_PREFIX + "/classes"
TASKS = CONSOLE_PREFIX + "/tasks"
CHECKINS = CONSOLE_PREFIX + "/checkins"
DUPLICATES = CHECKINS + "/duplicates"
DUPLICATE_FLAG = "duplicate_photo"

FREQUENCIES = {"daily": "每天", "weekly": "每周", "once": "一次"}
CHECKIN_STATUSES = {"submitted": "待审核", "approved": "已通过", "rejected": "已退回"}
CELL_STATUSES = {"todo": "未交", "submitted": "待审", "approved": "通过", "rejected": "退回"}
FLAGS = {
    DUPLICATE_FLAG: "疑似重复照片",
    "note_review": "备注待人工核对",
    "note_unchecked": "备注未经内容安全检查",
}
GRADES = {
    **{n: f"{'一二三四五六'[n - 1]}年级" for n in range(1, 7)},
    **{n: f"初{'一二三'[n - 7]}" for n in range(7, 10)},
    **{n: f"高{'一二三'[n - 10]}" for n in range(10, 13)},
}
FIELD_LABELS = {
    "name": "班级名称",
    "grade": "年级",
    "title": "标题",
    "description": "说明",
    "category": "类别",
    "class_ids": "班级",
    "start_date": "开始日期",
    "end_date": "结束日期",
    "frequency": "频次",
    "hours": "每次时长",
    "photo_required": "需要照片",
    "makeup_days": "补卡天数",
    "decision": "审核结果",
    "comment": "评语",
    "ids": "所选打卡",
    "from_date": "开始日期",
    "to_date": "结束日期",
}
# The services' reasons (English, for API clients) as the console says them.
_REASONS = {
    "end_date is before start_date": "结束日期不能早于开始日期",
    "a task lasts at most a year": "任务最长一年",
    "before from_date": "结束日期不能早于开始日期",
}
_LIST_LIMIT = MAX_LIMIT  # the largest page the services give: one page per list
_ID_LIST = re.compile(r"[0-9a-f]{24}")
_BULK_RESULT_MAX = 100  # BulkReviewIn.ids' limit
FORM_KEY = "form_key"
FORM_SENT = "这张表单已经提交过了。请重新打开页面再填写。"
ONCE_ERRORS = ("idempotency_key_reused", "idempotency_in_progress")


# -- small helpers ---------------------------------------------------------------------


def local_time(when: datetime | None) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if when else ""


def period_label(period: str) -> str:
    """``2026-12-02`` as it is, ``2026-W49`` as 2026 年第 49 周, ``once`` as 一次。"""
    if period == "once":
        return "一次"
    if len(period) == 8 and period[4:6] == "-W":
        return f"{period[:4]} 年第 {int(period[6:])} 周"
    return period


def hours_text(hours: float | None) -> str:
    return "" if hours is None else f"{hours:g}"


def _labels() -> dict[str, Any]:
    return {
        "categories": CATEGORY_NAMES,
        "frequencies": FREQUENCIES,
        "checkin_statuses": CHECKIN_STATUSES,
        "cell_statuses": CELL_STATUSES,
        "flags": FLAGS,
        "grades": GRADES,
        "when": local_time,
        "period_label": period_label,
        "hours_text": hours_text,
    }


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    return request.app[CONSOLE_PAGES].render(
        request, template, {**_labels(), **context}, status=status
    )


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _reason(error: ErrorDetails) -> str:
    """A pydantic error in Chinese (the common kinds; the rest as pydantic says them)."""
    kind = error["type"]
    ctx = {key: _number(value) for key, value in (error.get("ctx") or {}).items()}
    if kind == "missing":
        return "必填"
    if kind == "string_too_short":
        return "不能为空" if ctx.get("min_length") == "1" else f"至少 {ctx.get('min_length')} 个字"
    if kind == "string_too_long":
        return f"最多 {ctx.get('max_length')} 个字"
    if kind == "too_short":
        return f"至少选择 {ctx.get('min_length')} 项"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind == "greater_than":
        return f"须大于 {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"不能小于 {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"不能大于 {ctx.get('le')}"
    if kind in ("float_parsing", "float_type"):
        return "请填写数字"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "请填写整数"
    if kind.startswith("date"):
        return "请填写日期（年-月-日）"
    if kind in ("literal_error", "enum"):
        return "请从选项中选择"
    if kind == "value_error":
        text = str(error["msg"]).removeprefix("Value error, ")
        return _REASONS.get(text, text)
    return str(error["msg"])


def field_errors(exc: ValidationError, whole_form: str) -> dict[str, str]:
    """Each field's first problem, labelled in Chinese; a problem of the whole model
    (a validator over several fields) under ``whole_form``."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else whole_form
        errors.setdefault(name, f"{FIELD_LABELS.get(name, name)}：{_reason(error)}")
    return errors


def service_field_errors(exc: InvalidRequest) -> dict[str, str] | None:
    """The fields a service's 422 names, in Chinese (None: it names none)."""
    fields = exc.details.get("fields")
    if not isinstance(fields, dict) or not fields:
        return None
    errors = {}
    for name, reason in fields.items():
        text = str(reason)
        errors[str(name)] = f"{FIELD_LABELS.get(str(name), str(name))}：{_REASONS.get(text, text)}"
    return errors


async def _my_classes(request: web.Request) -> list[ClassOut]:
    """The teacher's classes (the most recent page of them: the forms' choices)."""
    schools = request.app[SCHOOL_SERVICE]
    page = await schools.classes_of(current_principal(request), PageQuery(limit=_LIST_LIMIT))
    return page.items


async def _class_names(request: web.Request, class_ids: list[str]) -> dict[str, str]:
    """Names of classes the caller may already see the ids of (one query)."""
    classes = await request.app[SCHOOL_SERVICE].classes_by_id(list(dict.fromkeys(class_ids)))
    return {class_id: doc["name"] for class_id, doc in classes.items()}


def _page_query(request: web.Request) -> PageQuery:
    return PageQuery.model_validate(
        {"limit": _LIST_LIMIT, **({"cursor": c} if (c := request.query.get("cursor")) else {})}
    )


def form_key() -> str:
    """A new key for a creating form, sent back with it (``once_per_form``)."""
    return secrets.token_urlsafe(16)


async def once_per_form(
    request: web.Request,
    form: MultiDictProxy[Any],
    fields: dict[str, Any],
    make: Callable[[], Awaitable[str]],
) -> web.Response:
    """Run ``make`` (it creates something and returns the page to go on to) once per
    form shown: the same form sent again (a double click, the answer reloaded) goes to
    the page the first one went to, and creates nothing more. The API's idempotency
    records keep it (``app[IDEMPOTENCY]``, keyed by the account and the form's key)."""
    key = validate_key(str(form.get(FORM_KEY) or "") or None)
    if key is None:  # a form without its key: nothing to recognise it by
        return see_other(await make())
    fingerprint = hashlib.sha256(
        orjson.dumps([request.path, fields], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    store = request.app[IDEMPOTENCY]
    try:
        outcome = await store.begin(current_principal(request).user_id, f"console:{key}",
                                    fingerprint)  # fmt: skip
    except AppError as exc:
        if exc.code != "idempotency_key_reused":
            raise
        raise AppError(status=422, code=exc.code, message=FORM_SENT) from None
    if isinstance(outcome, Replay):
        return see_other(outcome.body.decode())
    try:
        location = await make()
    except BaseException:
        await store.release(outcome)
        raise
    await store.complete(outcome, 303, location.encode(), "text/plain")
    return see_other(location)


def _notice(request: web.Request, notices: dict[str, str]) -> str:
    """The message of the first ``?key=`` a form's answer led here with."""
    return next((text for key, text in notices.items() if request.query.get(key)), "")


# -- classes ---------------------------------------------------------------------------


@routes.get("/classes", "My classes, with their student counts and join codes",
            access=TEACHERS)  # fmt: skip
async def class_list(request: web.Request) -> web.Response:
    return await _class_list(request)


async def _class_list(
    request: web.Request,
    *,
    fields: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    principal = current_principal(request)
    schools = request.app[SCHOOL_SERVICE]
    page = await schools.classes_of(principal, _page_query(request))
    context = {
        "page": page,
        "now": request.app[CLOCK].now(),
        "has_school": await schools.school_of_teacher(principal.user_id) is not None,
        "fields": fields or {"name": "", "grade": "3"},
        "errors": errors or {},
        "notice": _notice(request, {"created": "班级已创建，把班级码发给学生即可加入。"}),
        "form_key": form_key(),
    }
    return _render(request, "teachers/classes.html", context, status)


@routes.post("/classes", "Create a class in my school (with a join code); once per form",
             access=TEACHERS, status=303, errors=("csrf_invalid", *ONCE_ERRORS))  # fmt: skip
async def create_class(request: web.Request) -> web.Response:
    set_back(request, CLASSES)
    form = await request.post()
    fields = {"name": str(form.get("name", "")), "grade": str(form.get("grade", ""))}
    principal = current_principal(request)
    schools = request.app[SCHOOL_SERVICE]
    school_id = await schools.school_of_teacher(principal.user_id)
    if school_id is None:
        errors = {"form": "你还没有被关联到学校，请联系管理员。"}
        return await _class_list(request, fields=fields, errors=errors, status=422)
    try:
        body = ClassIn.model_validate({**fields, "school_id": school_id})
    except ValidationError as exc:
        errors = field_errors(exc, "name")
        return await _class_list(request, fields=fields, errors=errors, status=422)

    async def make() -> str:
        created = await schools.create_class(principal, body.school_id, body.name, body.grade)
        return f"{CLASSES}/{created.id}?created=1"

    return await once_per_form(request, form, fields, make)


MY_CLASS = TEACHERS.on("class_id", "class", Whose.owner_or_admin)


def semester_start(today: date) -> date:
    """The first day of the school term ``today`` is in (autumn from 1 September, spring
    from 1 February): the report form's default."""
    if today.month >= 9:
        return date(today.year, 9, 1)
    if today.month == 1:
        return date(today.year - 1, 9, 1)
    return date(today.year, 2, 1)


async def _my_class(request: web.Request, class_id: str) -> tuple[ClassOut, bool]:
    """The caller's class (else 404) with its join code, and whether the code expired."""
    principal = current_principal(request)
    schools = request.app[SCHOOL_SERVICE]
    doc = await schools.own_class(principal, class_id)
    klass = (await schools.class_outs([doc], principal))[0]
    expires = klass.join_code_expires_at
    return klass, expires is not None and expires <= request.app[CLOCK].now()


@routes.get("/classes/{class_id}", "A class of mine: its students with their real names, "
            "the join code, its tasks and the report", access=MY_CLASS)  # fmt: skip
async def class_page(request: web.Request) -> web.Response:
    class_id = path_object_id(request, "class_id")
    set_back(request, CLASSES)
    principal = current_principal(request)
    schools = request.app[SCHOOL_SERVICE]
    # The students first: the service answers 404 unless the class is the caller's.
    students = await schools.students_page(principal, class_id, _page_query(request))
    klass, expired = await _my_class(request, class_id)
    tasks = await request.app[TASK_SERVICE].tasks_page(principal, PageQuery(limit=_LIST_LIMIT))
    today = request.app[CLOCK].today()
    context = {
        "klass": klass,
        "students": students,
        "tasks": [task for task in tasks.items if class_id in task.class_ids],
        "expired": expired,
        "report_from": semester_start(today).isoformat(),
        "report_to": today.isoformat(),
        "notice": _notice(
            request,
            {
                "created": "班级已创建，把班级码发给学生即可加入。",
                "rotated": "已换新班级码，旧码不再有效。",
                "removed": "已将学生移出本班（其打卡记录保留）。",
            },
        ),
    }
    return _render(request, "teachers/class.html", context)


@routes.post("/classes/{class_id}/join-code", "A new join code (the old one stops working)",
             access=MY_CLASS, status=303, errors=("csrf_invalid",))  # fmt: skip
async def rotate_join_code(request: web.Request) -> web.Response:
    class_id = path_object_id(request, "class_id")
    set_back(request, f"{CLASSES}/{class_id}")
    await request.app[SCHOOL_SERVICE].rotate_join_code(current_principal(request), class_id)
    form = await request.post()
    if form.get("from") == "print":
        return see_other(f"{CLASSES}/{class_id}/join-code")
    return see_other(f"{CLASSES}/{class_id}?rotated=1")


def join_code_svg(code: str, label: str) -> Markup:
    """The join code as a QR code, an inline SVG drawn here (segno, error correction M,
    the 4-module quiet zone) that scales with its box (a ``viewBox``, no fixed size)."""
    qr = segno.make(code, error="m", micro=False)
    svg = qr.svg_inline(scale=1, border=4, omitsize=True, title=label, svgclass="qr",
                        lineclass=None, light="#fff")  # fmt: skip
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 (segno's own markup)


@routes.get("/classes/{class_id}/join-code", "The join code to print: large, with its QR "
            "code", access=MY_CLASS)  # fmt: skip
async def join_code_page(request: web.Request) -> web.Response:
    set_back(request, CLASSES)
    klass, expired = await _my_class(request, path_object_id(request, "class_id"))
    code = klass.join_code or ""  # the class's teacher (or an admin) is shown its code
    context = {
        "klass": klass,
        "expired": expired,
        "qr": None if expired else join_code_svg(code, f"班级码 {code}"),
    }
    return _render(request, "teachers/join_code.html", context)


@routes.post(
    "/classes/{class_id}/students/{student_id}/remove",
    "Take a student out of my class (their check-ins stay)",
    access=MY_CLASS,
    status=303,
    errors=("csrf_invalid",),
)
async def remove_student(request: web.Request) -> web.Response:
    class_id = path_object_id(request, "class_id")
    set_back(request, f"{CLASSES}/{class_id}")
    await request.app[SCHOOL_SERVICE].remove_student(
        current_principal(request), class_id, path_object_id(request, "student_id")
    )
    return see_other(f"{CLASSES}/{class_id}?removed=1")


@routes.get(
    "/classes/{class_id}/report.xlsx",
    "My class's report (Excel) for the days asked; the export is in the audit log",
    access=MY_CLASS,
    content_type=XLSX_CONTENT_TYPE,
)
async def class_report(request: web.Request) -> web.Response:
    class_id = path_object_id(request, "class_id")
    set_back(request, f"{CLASSES}/{class_id}")
    query = read_query(request, ReportQuery)
    body, filename = await request.app[REPORT_SERVICE].class_report(
        current_principal(request), class_id, query.from_date, query.to_date
    )
    return xlsx_response(body, filename)


# -- tasks -----------------------------------------------------------------------------


@routes.get("/tasks", "The tasks I set", access=TEACHERS)
async def task_list(request: web.Request) -> web.Response:
    page = await request.app[TASK_SERVICE].tasks_page(
        current_principal(request), _page_query(request)
    )
    context = {
        "page": page,
        "class_names": await _class_names(request, [c for t in page.items for c in t.class_ids]),
        "notice": _notice(
            request,
            {"created": "任务已发布。", "saved": "任务已保存。", "closed": "任务已结束。"},
        ),
    }
    return _render(request, "teachers/tasks.html", context)


def _task_fields(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The task form as the API's body would carry it (a checkbox is sent only ticked)."""
    return {
        "title": str(form.get("title", "")),
        "description": str(form.get("description", "")).replace("\r\n", "\n"),
        "category": str(form.get("category", "")),
        "class_ids": [str(value) for value in form.getall("class_ids", [])],
        "start_date": str(form.get("start_date", "")),
        "end_date": str(form.get("end_date", "")),
        "frequency": str(form.get("frequency", "")),
        "hours": str(form.get("hours", "")),
        "photo_required": form.get("photo_required") == "on",
        "makeup_days": str(form.get("makeup_days", "")),
    }


def _fields_of(task: TaskOut) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "category": task.category,
        "class_ids": task.class_ids,
        "start_date": task.start_date.isoformat(),
        "end_date": task.end_date.isoformat(),
        "frequency": task.frequency,
        "hours": hours_text(task.hours),
        "photo_required": task.photo_required,
        "makeup_days": str(task.makeup_days),
    }


async def _task_form(
    request: web.Request,
    *,
    task: TaskOut | None,
    fields: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "task": task,
        "fields": fields,
        "errors": errors or {},
        "classes": await _my_classes(request),
        "form_key": form_key(),
    }
    return _render(request, "teachers/task_form.html", context, status)


@routes.get("/tasks/new", "The form for a new task", access=TEACHERS)
async def new_task_page(request: web.Request) -> web.Response:
    today = request.app[CLOCK].today()
    fields = {
        "title": "", "description": "", "category": "daily_life", "class_ids": [],
        "start_date": today.isoformat(), "end_date": (today + timedelta(days=30)).isoformat(),
        "frequency": "daily", "hours": "0.5", "photo_required": True, "makeup_days": "2",
    }  # fmt: skip
    return await _task_form(request, task=None, fields=fields)


@routes.post("/tasks/new", "Set a task for classes I teach; once per form", access=TEACHERS,
             status=303, errors=("csrf_invalid", *ONCE_ERRORS))  # fmt: skip
async def create_task(request: web.Request) -> web.Response:
    set_back(request, TASKS + "/new")
    form = await request.post()
    fields = _task_fields(form)

    async def create(body: TaskIn) -> str:
        await request.app[TASK_SERVICE].create_task(current_principal(request), body)
        return f"{TASKS}?created=1"

    async def save() -> web.Response:
        body = TaskIn.model_validate(fields)
        return await once_per_form(request, form, fields, lambda: create(body))

    return await _saved_or_form(request, None, fields, save)


async def _saved_or_form(
    request: web.Request,
    task: TaskOut | None,
    fields: dict[str, Any],
    save: Callable[[], Awaitable[web.Response]],
) -> web.Response:
    """``save``'s answer, or the form again with the reasons by field (422): the API's
    model refused the form, or the service named the fields it refused."""
    try:
        return await save()
    except ValidationError as exc:
        errors = field_errors(exc, "end_date")
    except InvalidRequest as exc:
        named = service_field_errors(exc)
        if named is None:
            raise
        errors = named
    return await _task_form(request, task=task, fields=fields, errors=errors, status=422)


MY_TASK = TEACHERS.on("task_id", "task", Whose.owner_or_admin)


async def _own_task(request: web.Request, task_id: str) -> TaskOut:
    tasks = request.app[TASK_SERVICE]
    return tasks.task_out(await tasks.own_task(current_principal(request), task_id))


@routes.get("/tasks/{task_id}/edit", "The form of my task", access=MY_TASK)
async def edit_task_page(request: web.Request) -> web.Response:
    task = await _own_task(request, path_object_id(request, "task_id"))
    return await _task_form(request, task=task, fields=_fields_of(task))


def _differs(sent: TaskPatch, before: TaskPatch, name: str) -> bool:
    if name == "class_ids":  # the same classes in another order are no change
        return set(sent.class_ids) != set(before.class_ids)
    return bool(getattr(sent, name) != getattr(before, name))


@routes.post(
    "/tasks/{task_id}/edit",
    "Save my open task (what changed only; the frequency is fixed once set)",
    access=MY_TASK,
    status=303,
    errors=("csrf_invalid", "task_closed"),
)
async def update_task(request: web.Request) -> web.Response:
    task_id = path_object_id(request, "task_id")
    set_back(request, f"{TASKS}/{task_id}/edit")
    task = await _own_task(request, task_id)
    fields = {**_task_fields(await request.post()), "frequency": task.frequency}
    before = _fields_of(task)
    sent = {name: value for name, value in fields.items() if name != "frequency"}

    async def save() -> web.Response:
        body = TaskPatch.model_validate(sent)
        current = TaskPatch.model_validate({k: v for k, v in before.items() if k in sent})
        changed = {name for name in body.model_fields_set if _differs(body, current, name)}
        await request.app[TASK_SERVICE].update_task(
            current_principal(request), task_id, body.model_dump(include=changed)
        )
        return see_other(f"{TASKS}?saved=1")

    return await _saved_or_form(request, task, fields, save)


@routes.post("/tasks/{task_id}/close", "Close my task: no new check-ins; what was checked "
             "in may still be reviewed", access=MY_TASK, status=303,
             errors=("csrf_invalid",))  # fmt: skip
async def close_task(request: web.Request) -> web.Response:
    task_id = path_object_id(request, "task_id")
    set_back(request, TASKS)
    await request.app[TASK_SERVICE].close_task(current_principal(request), task_id)
    return see_other(f"{TASKS}?closed=1")


@routes.get("/tasks/{task_id}/progress", "Who has done what in each period of my task "
            "(class_id=, from_date=, to_date=)", access=MY_TASK)  # fmt: skip
async def task_progress(request: web.Request) -> web.Response:
    task_id = path_object_id(request, "task_id")
    set_back(request, TASKS)
    params = {key: value for key, value in request.query.items() if value}
    query = ProgressQuery.model_validate({"limit": _LIST_LIMIT, **params})
    progress = await request.app[REPORT_SERVICE].progress(
        current_principal(request), task_id, query
    )
    context = {
        "progress": progress,
        "query": query,
        "class_names": await _class_names(request, progress.task.class_ids),
        "next_query": urlencode(
            {**params, "cursor": progress.next_cursor} if progress.next_cursor else {}
        ),
    }
    return _render(request, "teachers/progress.html", context)


# -- review ------------------------------------------------------------------------------

TAB_STATUSES = {"submitted": "待审核", "approved": "已通过", "rejected": "已退回", "all": "全部"}


def _checkin_query(request: web.Request, limit: int) -> tuple[str, TeacherCheckInQuery]:
    """The tab (a status or ``all``) and the service's query of a review list."""
    tab = request.query.get("status", "submitted")
    if tab not in TAB_STATUSES:
        raise InvalidRequest.for_fields({"status": "unknown"}, "没有这个分类")
    params: dict[str, Any] = {"limit": limit, "status": None if tab == "all" else tab}
    for name in ("class_id", "cursor"):
        if request.query.get(name):
            params[name] = request.query[name]
    return tab, TeacherCheckInQuery.model_validate(params)


@dataclass(frozen=True, slots=True)
class Shown:
    """A check-in as a review page shows it: with its task and class named."""

    checkin: CheckInOut
    task: TaskOut | None
    class_name: str


async def _shown(request: web.Request, outs: list[CheckInOut]) -> list[Shown]:
    """Each check-in (the caller may see them all) with its task and its task's classes
    named (one query each, whatever their number)."""
    tasks = await request.app[TASK_SERVICE].tasks_by_id([out.task_id for out in outs])
    names = await _class_names(request, [c for task in tasks.values() for c in task.class_ids])
    shown = []
    for out in outs:
        task = tasks.get(out.task_id)
        classes = [names[c] for c in task.class_ids if c in names] if task else []
        shown.append(Shown(out, task, "、".join(classes)))
    return shown


def _back_here(request: web.Request) -> str:
    """This page, for its forms to come back to (without the last answer's notice)."""
    query = {key: value for key, value in request.query.items() if key != "decided"}
    return str(request.rel_url.with_query(query))


def _decided_notice(request: web.Request) -> str:
    return {"approved": "已通过这条打卡。", "rejected": "已退回这条打卡，学生可以重新提交。"}.get(
        request.query.get("decided") or "", ""
    )


@routes.get("/checkins", "The review queue: check-ins of my classes by status (status=, "
            "class_id=), with thumbnails, to approve one by one or many at once",
            access=TEACHERS)  # fmt: skip
async def review_queue(request: web.Request) -> web.Response:
    tab, query = _checkin_query(request, _LIST_LIMIT)
    principal = current_principal(request)
    page = await request.app[REVIEW_SERVICE].page(principal, query)
    context = {
        "tab": tab,
        "tabs": TAB_STATUSES,
        "class_id": query.class_id or "",
        "classes": await _my_classes(request),
        "items": await _shown(request, page.items),
        "next_cursor": page.next_cursor,
        "back": _back_here(request),
        "notice": _decided_notice(request),
    }
    return _render(request, "teachers/review_queue.html", context)


async def _decide_one(request: web.Request) -> tuple[str, str]:
    checkin_id = path_object_id(request, "checkin_id")
    form = await request.post()
    back = safe_next(form.get("back") or CHECKINS)
    set_back(request, back)
    body = ReviewIn.model_validate(
        {"decision": str(form.get("decision", "")), "comment": str(form.get("comment", ""))}
    )
    await request.app[REVIEW_SERVICE].review(
        current_principal(request), checkin_id, body.decision, body.comment
    )
    return back, body.decision


@routes.post("/checkins/{checkin_id}/review", "Approve (credits the hours, once) or reject "
             "a check-in of my class, with a comment", access=TEACHERS.on(
                 "checkin_id", "checkin", Whose.owner_or_admin), status=303,
             errors=("csrf_invalid", "already_reviewed"))  # fmt: skip
async def review_checkin(request: web.Request) -> web.Response:
    back, decision = await _decide_one(request)
    return see_other(str(URL(back).update_query(decided=decision)))


@routes.post("/checkins/review", "Approve the check-ins ticked (each checked on its own by "
             "the service); on to what became of each", access=TEACHERS, status=303,
             errors=("csrf_invalid",))  # fmt: skip
async def bulk_approve(request: web.Request) -> web.Response:
    form = await request.post()
    set_back(request, safe_next(form.get("back") or CHECKINS))
    ids = [str(value) for value in form.getall("ids", [])]
    if not ids:
        raise InvalidRequest.for_fields({"ids": "none ticked"}, "请先勾选要通过的打卡")
    body = BulkReviewIn.model_validate(
        {"ids": ids, "decision": "approved", "comment": str(form.get("comment", ""))}
    )
    answer = await request.app[REVIEW_SERVICE].review_many(
        current_principal(request), body.ids, body.decision, body.comment
    )
    outcome: dict[str, list[str]] = {"approved": [], "not_found": [], "already_reviewed": []}
    for result in answer.results:
        outcome[result.error or "approved"].append(result.id)
    query = {key: ",".join(ids) for key, ids in outcome.items() if ids}
    return see_other(f"{CHECKINS}/reviewed?{urlencode(query)}")


def _ids_param(request: web.Request, name: str) -> list[str]:
    """A comma-separated list of ids in the query (what is no id is dropped)."""
    values = request.query.get(name, "").split(",")[:_BULK_RESULT_MAX]
    return [v for v in values if _ID_LIST.fullmatch(v)]


@routes.get("/checkins/reviewed", "What a bulk approval did: how many were approved, which "
            "were refused and why", access=TEACHERS)  # fmt: skip
async def bulk_result(request: web.Request) -> web.Response:
    approved = _ids_param(request, "approved")
    already = _ids_param(request, "already_reviewed")
    not_found = _ids_param(request, "not_found")
    # Told again by the service, not taken from the link: a check-in shown is one this
    # teacher may see, in the state it is in now.
    outs = await request.app[REVIEW_SERVICE].reviewable(
        current_principal(request), approved + already
    )
    shown = {item.checkin.id: item for item in await _shown(request, list(outs.values()))}
    done = [shown[i] for i in approved if i in shown and shown[i].checkin.status == "approved"]
    refused_before = [shown[i] for i in already if i in shown]
    unknown = not_found + [i for i in already if i not in shown]
    context = {"done": done, "refused_before": refused_before, "unknown": unknown}
    return _render(request, "teachers/bulk_result.html", context)


# -- duplicate photos ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """A flagged check-in and, beside it, the one its photo resembles, as far as this
    teacher may see it: ``other`` is None when it is another teacher's class's (its
    photo and student stay hidden) or when it is gone (``gone``)."""

    mine: Shown
    photo: Any  # the flagged check-in's photo that matched (MediaOut), if still there
    other: Shown | None
    other_photo: Any
    distance: int | None
    gone: bool


def _photo(out: CheckInOut, media_id: str | None) -> Any:
    return next((p for p in out.photos if p.id == media_id), out.photos[0] if out.photos else None)


@routes.get("/checkins/duplicates", "Check-ins of my classes flagged duplicate_photo, each "
            "beside the check-in it resembles (as far as I may see that one)",
            access=TEACHERS)  # fmt: skip
async def duplicates(request: web.Request) -> web.Response:
    tab, query = _checkin_query(request, 20)
    principal = current_principal(request)
    review = request.app[REVIEW_SERVICE]
    page = await review.page(principal, query, flag=DUPLICATE_FLAG)
    # The other check-ins through the same rule as GET /checkins/{id}: the teacher of
    # their class (or an admin) sees them; another teacher's class's are left out.
    named = [out.duplicate_of.checkin_id for out in page.items if out.duplicate_of]
    others = await review.reviewable(principal, named)
    shown = await _shown(request, [*page.items, *others.values()])
    by_id = {item.checkin.id: item for item in shown}
    pairs = []
    for out in page.items:
        match = out.duplicate_of
        other = by_id.get(match.checkin_id) if match else None
        pairs.append(
            DuplicatePair(
                mine=by_id[out.id],
                photo=_photo(out, match.media_id if match else None),
                other=other,
                other_photo=_photo(other.checkin, match.other_media_id)
                if other and match
                else None,
                distance=match.distance if match else None,
                gone=match is None,
            )
        )
    context = {
        "tab": tab,
        "tabs": TAB_STATUSES,
        "class_id": query.class_id or "",
        "classes": await _my_classes(request),
        "pairs": pairs,
        "next_cursor": page.next_cursor,
        "back": _back_here(request),
        "notice": _decided_notice(request),
    }
    return _render(request, "teachers/duplicates.html", context)
