"""Admins' pages: staff accounts (账号), schools and their teachers (学校), and the audit
log (审计日志).

Accounts go through the auth room's ``StaffAccountService`` (the password policy of
``create-user``, no self lock-out, sessions ended, every change audited), schools and
teachers through the labour room's ``SchoolService`` as the API's routes do, and the
audit log is read through ``server.audit``. Forms are validated by the rooms' own
models (``StaffAccountIn``, ``StaffRolesIn``, ``PasswordResetIn``, ``SchoolIn``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import Field, ValidationError, model_validator

from handlers.auth.keys import AUTH_SERVICE, STAFF_ACCOUNT_SERVICE
from handlers.auth.passwords import MIN_LENGTH, WeakPassword
from handlers.auth.repo import UsernameTaken, UserRecord
from handlers.auth.schemas import (
    STAFF_ROLES,
    PasswordResetIn,
    StaffAccountIn,
    StaffAccountOut,
    StaffRolesIn,
)
from handlers.auth.service import ERASED_NAME
from handlers.auth.staff import SelfLockout
from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import ROLE_NAMES, see_other, set_back
from handlers.events.keys import EVENT_SERVICE
from handlers.labour.keys import SCHOOL_SERVICE
from handlers.labour.schemas import SchoolIn
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.audit import CLI_ACTOR_PREFIX, USER_ACTOR_PREFIX, AuditEntry, AuditFilter, actor_user_id
from server.authorisation import Access
from server.clock import SHANGHAI, day_bounds
from server.errors import AppError, InvalidRequest, NotFound
from server.ids import canonical_object_id, path_object_id
from server.keys import AUDIT
from server.paging import MAX_LIMIT, PageQuery
from server.principal import Role

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

ADMINS = Access.roles(Role.admin)
ACCOUNTS = CONSOLE_PREFIX + "/accounts"
SCHOOLS = CONSOLE_PREFIX + "/schools"
AUDIT_LOG = CONSOLE_PREFIX + "/audit"

STAFF_ROLE_NAMES = {role.value: ROLE_NAMES[role] for role in STAFF_ROLES}
ACTIONS = {
    "staff_account_created": "新建员工账号",
    "staff_roles_changed": "修改身份",
    "staff_password_reset": "重设密码",
    "staff_account_disabled": "停用账号",
    "staff_account_enabled": "启用账号",
    "teacher_attached": "教师加入学校",
    "teacher_detached": "教师移出学校",
    "student_removed": "学生移出班级",
    "labour_report_exported": "导出劳动教育统计",
    "event_signups_exported": "导出活动报名名单",
    "guardian_consent_withdrawn": "撤回监护人同意",
    "account_erased": "注销账号",
}
DETAIL_LABELS = {
    "roles": "身份",
    "school_id": "学校",
    "class_id": "班级",
    "event_id": "活动",
    "rows": "行数",
    "from": "起",
    "to": "止",
    "erased_checkins": "删除的打卡",
}
FIELD_LABELS = {
    "username": "用户名",
    "name": "姓名",
    "roles": "身份",
    "password": "密码",
    "password_confirm": "确认密码",
    "district": "区县",
    "actor": "操作人",
    "action": "操作",
    "subject": "涉及的人",
    "from_date": "开始日期",
    "to_date": "结束日期",
    "cursor": "分页",
    "limit": "每页条数",
    "account": "账号",
    "user_id": "教师",
}
PATTERN_REASONS = {
    "username": "只能包含字母、数字和 _ . @ -",
    "password": "首尾不能有空格",
    "action": "不是一种操作",
}
WEAK_PASSWORD_REASONS = {
    "too_short": f"至少 {MIN_LENGTH} 个字符",
    "too_long": "太长了",
    "too_common": "太常见，是攻击者最先尝试的密码之一",
    "contains_username": "不能包含用户名",
}
DONE = {
    "created": "账号已创建。",
    "roles": "身份已修改。",
    "password": "密码已重设，该账号的所有登录都已结束。",
    "disabled": "账号已停用，它的所有登录都已结束。",
    "enabled": "账号已启用。",
    "school": "学校已创建。",
    "attached": "教师已加入本校。",
    "detached": "教师已移出本校。",
}


class ConsolePageQuery(PageQuery):
    """A console list: as many rows as the API's lists allow."""

    limit: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT)


class AuditLogQuery(ConsolePageQuery):
    """The audit log's filters as the page's form sends them (empty fields left out)."""

    actor: str | None = Field(None, max_length=80)
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z_]+$")
    subject: str | None = Field(None, max_length=80)
    from_date: date | None = None
    to_date: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> AuditLogQuery:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("开始日期晚于结束日期")
        return self


# -- helpers -----------------------------------------------------------------------------


def _when(instant: datetime | None) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if instant else ""


def _reason(error: Mapping[str, Any], name: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "必填"
    if kind == "string_too_short":
        return f"至少 {ctx['min_length']} 个字符"
    if kind == "string_too_long":
        return f"最多 {ctx['max_length']} 个字符"
    if kind == "too_short":
        return "至少选择一项"
    if kind == "string_pattern_mismatch":
        return PATTERN_REASONS.get(name, "格式不对")
    if kind in ("literal_error", "enum"):
        return "不是可选的值"
    if kind.startswith("date"):
        return "请填写日期，如 2026-05-01"
    if kind == "value_error":
        return str(ctx.get("error", "填写有误"))
    return "填写有误"


def field_errors(exc: ValidationError, labels: Mapping[str, str] = FIELD_LABELS) -> dict[str, str]:
    """A form's errors in Chinese, one per field: ``{field: "标签：原因"}``."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "form"
        label = labels.get(name, "")
        reason = _reason(error, name)
        errors.setdefault(name, f"{label}：{reason}" if label else reason)
    return errors


def _one_error(name: str, reason: str) -> dict[str, str]:
    return {name: f"{FIELD_LABELS[name]}：{reason}"}


def _fields_of(exc: AppError) -> dict[str, str]:
    """A room's 422 (``details.fields``) as the page's field errors."""
    fields = exc.details.get("fields") or {"form": exc.message}
    return {name: f"{FIELD_LABELS.get(name, name)}：{exc.message}" for name in fields}


def _form_query(request: web.Request) -> dict[str, str]:
    """A GET form's fields, empty ones left out (a form sends every field); a field
    given twice is refused as the API's queries refuse it."""
    params: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise InvalidRequest.for_fields({key: "given more than once"})
        if values[0].strip():
            params[key] = values[0].strip()
    return params


def _page_query(request: web.Request) -> ConsolePageQuery:
    return ConsolePageQuery.model_validate(_form_query(request))


def _done(request: web.Request) -> str:
    """The notice of the form that led here (known ones only: nothing is echoed)."""
    return DONE.get(request.query.get("done", ""), "")


def _display(user: UserRecord | None) -> dict[str, str]:
    """A person as the pages show them: the name, and the username of a staff account."""
    if user is None:
        return {"name": ERASED_NAME, "username": ""}
    return {"name": user.nickname or user.username or user.id, "username": user.username or ""}


async def _people(request: web.Request, user_ids: list[str]) -> dict[str, dict[str, str]]:
    """``_display`` of each of ``user_ids`` (one query)."""
    found = await request.app[AUTH_SERVICE].real_users(user_ids) if user_ids else {}
    return {user_id: _display(found.get(user_id)) for user_id in user_ids}


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    labels = {"role_names": STAFF_ROLE_NAMES, "when": _when, "min_length": MIN_LENGTH}
    return request.app[CONSOLE_PAGES].render(
        request, template, {**labels, **context}, status=status
    )


# -- staff accounts ----------------------------------------------------------------------


@routes.get("/accounts", "Staff accounts by username: roles, disabled, last sign-in",
            access=ADMINS)  # fmt: skip
async def account_list(request: web.Request) -> web.Response:
    page = await request.app[STAFF_ACCOUNT_SERVICE].page(_page_query(request))
    next_url = f"{ACCOUNTS}?{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else ""
    return _render(request, "admins/accounts.html", {"page": page, "next_url": next_url})


def _new_account_page(
    request: web.Request,
    fields: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    blank = {"username": "", "name": "", "roles": []}
    context = {"fields": fields or blank, "errors": errors or {}}
    return _render(request, "admins/account_new.html", context, status)


@routes.get("/accounts/new", "The form for a new staff account", access=ADMINS)
async def new_account_page(request: web.Request) -> web.Response:
    return _new_account_page(request)


def _passwords(form: MultiDictProxy[Any]) -> tuple[str, dict[str, str]]:
    """The new password and, when its confirmation differs, that field's error."""
    password = str(form.get("password", ""))
    if password != str(form.get("password_confirm", "")):
        return password, _one_error("password_confirm", "两次输入的密码不一致")
    return password, {}


def _weak(exc: WeakPassword) -> dict[str, str]:
    return _one_error("password", WEAK_PASSWORD_REASONS.get(exc.reason, str(exc)))


@routes.post(
    "/accounts/new",
    "Create a staff account (the password policy of create-user; a username taken or a "
    "weak password is a field error)",
    access=ADMINS,
    status=303,
    errors=("csrf_invalid",),
)
async def create_account(request: web.Request) -> web.Response:
    set_back(request, ACCOUNTS + "/new")
    form = await request.post()
    fields = {
        "username": str(form.get("username", "")),
        "name": str(form.get("name", "")),
        "roles": [str(role) for role in form.getall("roles", [])],
    }
    password, errors = _passwords(form)
    try:
        body = StaffAccountIn.model_validate({**fields, "password": password})
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
        return _new_account_page(request, fields, errors, 422)
    if errors:
        return _new_account_page(request, fields, errors, 422)
    try:
        account = await request.app[STAFF_ACCOUNT_SERVICE].create(current_principal(request), body)
    except UsernameTaken:
        errors = _one_error("username", "已被使用，请换一个")
        return _new_account_page(request, fields, errors, 422)
    except WeakPassword as exc:
        return _new_account_page(request, fields, _weak(exc), 422)
    return see_other(f"{ACCOUNTS}/{account.id}?done=created")


def _account_page(
    request: web.Request,
    account: StaffAccountOut,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "account": account,
        "own": account.id == current_principal(request).user_id,
        "errors": errors or {},
        "done": _done(request) if status == 200 else "",
    }
    return _render(request, "admins/account.html", context, status)


@routes.get("/accounts/{user_id}", "A staff account: its roles, a new password, disable or "
            "enable it", access=ADMINS.on("user_id", "staff_account"))  # fmt: skip
async def account_page(request: web.Request) -> web.Response:
    user_id = path_object_id(request, "user_id")
    return _account_page(request, await request.app[STAFF_ACCOUNT_SERVICE].get(user_id))


@routes.post(
    "/accounts/{user_id}/roles",
    "Give the account exactly these staff roles (a role taken away ends its sessions; "
    "not one's own admin role)",
    access=ADMINS.on("user_id", "staff_account"),
    status=303,
    errors=("csrf_invalid", "self_lockout"),
)
async def change_roles(request: web.Request) -> web.Response:
    user_id = path_object_id(request, "user_id")
    set_back(request, f"{ACCOUNTS}/{user_id}")
    staff = request.app[STAFF_ACCOUNT_SERVICE]
    account = await staff.get(user_id)
    form = await request.post()
    try:
        body = StaffRolesIn.model_validate({"roles": form.getall("roles", [])})
        await staff.set_roles(current_principal(request), user_id, list(body.roles))
    except ValidationError as exc:
        return _account_page(request, account, errors=field_errors(exc), status=422)
    except SelfLockout:
        errors = _one_error("roles", "不能取消您自己的管理员身份")
        return _account_page(request, account, errors=errors, status=422)
    return see_other(f"{ACCOUNTS}/{user_id}?done=roles")


@routes.post("/accounts/{user_id}/password", "Set a new password (the policy of create-user); "
             "every session of the account ends", access=ADMINS.on("user_id", "staff_account"),
             status=303, errors=("csrf_invalid",))  # fmt: skip
async def reset_password(request: web.Request) -> web.Response:
    user_id = path_object_id(request, "user_id")
    set_back(request, f"{ACCOUNTS}/{user_id}")
    staff = request.app[STAFF_ACCOUNT_SERVICE]
    account = await staff.get(user_id)
    form = await request.post()
    password, errors = _passwords(form)
    try:
        body = PasswordResetIn.model_validate({"password": password})
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
    if errors:
        return _account_page(request, account, errors=errors, status=422)
    try:
        await staff.reset_password(current_principal(request), user_id, body.password)
    except WeakPassword as exc:
        return _account_page(request, account, errors=_weak(exc), status=422)
    return see_other(f"{ACCOUNTS}/{user_id}?done=password")


async def _set_disabled(request: web.Request, *, disabled: bool) -> web.Response:
    user_id = path_object_id(request, "user_id")
    set_back(request, f"{ACCOUNTS}/{user_id}")
    staff = request.app[STAFF_ACCOUNT_SERVICE]
    try:
        await staff.set_disabled(current_principal(request), user_id, disabled=disabled)
    except SelfLockout:
        errors = _one_error("account", "不能停用您自己的账号")
        return _account_page(request, await staff.get(user_id), errors=errors, status=422)
    return see_other(f"{ACCOUNTS}/{user_id}?done={'disabled' if disabled else 'enabled'}")


@routes.post("/accounts/{user_id}/disable", "Disable the account: every session ends at "
             "once and it signs in nowhere (not one's own)",
             access=ADMINS.on("user_id", "staff_account"), status=303,
             errors=("csrf_invalid", "self_lockout"))  # fmt: skip
async def disable_account(request: web.Request) -> web.Response:
    return await _set_disabled(request, disabled=True)


@routes.post("/accounts/{user_id}/enable", "Enable a disabled account (it signs in again)",
             access=ADMINS.on("user_id", "staff_account"), status=303,
             errors=("csrf_invalid",))  # fmt: skip
async def enable_account(request: web.Request) -> web.Response:
    return await _set_disabled(request, disabled=False)


# -- schools and their teachers ------------------------------------------------------------


async def _school_list(
    request: web.Request,
    fields: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    schools = request.app[SCHOOL_SERVICE]
    query = _page_query(request) if request.method == "GET" else ConsolePageQuery()
    page = await schools.schools_page(query)
    teachers = await schools.teachers_of([school.id for school in page.items])
    people = await _people(request, [uid for ids in teachers.values() for uid in ids])
    next_url = f"{SCHOOLS}?{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else ""
    context = {
        "page": page,
        "teachers": teachers,
        "people": people,
        "next_url": next_url,
        "fields": fields or {"name": "", "district": ""},
        "errors": errors or {},
    }
    return _render(request, "admins/schools.html", context, status)


@routes.get("/schools", "Schools, newest first, with their teachers; the form for a new one",
            access=ADMINS)  # fmt: skip
async def school_list(request: web.Request) -> web.Response:
    return await _school_list(request)


@routes.post("/schools", "Create a school", access=ADMINS, status=303,
             errors=("csrf_invalid",))  # fmt: skip
async def create_school(request: web.Request) -> web.Response:
    set_back(request, SCHOOLS)
    form = await request.post()
    fields = {"name": str(form.get("name", "")), "district": str(form.get("district", ""))}
    try:
        body = SchoolIn.model_validate(fields)
    except ValidationError as exc:
        errors = field_errors(exc, {**FIELD_LABELS, "name": "学校名称"})
        return await _school_list(request, fields, errors, 422)
    school = await request.app[SCHOOL_SERVICE].create_school(
        current_principal(request), body.name, body.district
    )
    return see_other(f"{SCHOOLS}/{school.id}?done=school")


async def _school_page(
    request: web.Request,
    school_id: str,
    *,
    username: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    schools = request.app[SCHOOL_SERVICE]
    school = await schools.get_school(school_id)
    teacher_ids = (await schools.teachers_of([school_id]))[school_id]
    context = {
        "school": school,
        "teacher_ids": teacher_ids,
        "people": await _people(request, teacher_ids),
        "username": username,
        "errors": errors or {},
        "done": _done(request) if status == 200 else "",
    }
    return _render(request, "admins/school.html", context, status)


@routes.get("/schools/{school_id}", "A school's teachers: attach and detach them",
            access=ADMINS.on("school_id", "school"))  # fmt: skip
async def school_page(request: web.Request) -> web.Response:
    return await _school_page(request, path_object_id(request, "school_id"))


@routes.post(
    "/schools/{school_id}/teachers",
    "Attach a teacher account, named by its username, to the school (as the API's "
    "POST /api/v1/admin/schools/{id}/teachers; it moves from any other school)",
    access=ADMINS.on("school_id", "school"),
    status=303,
    errors=("csrf_invalid",),
)
async def attach_teacher(request: web.Request) -> web.Response:
    school_id = path_object_id(request, "school_id")
    set_back(request, f"{SCHOOLS}/{school_id}")
    schools = request.app[SCHOOL_SERVICE]
    await schools.get_school(school_id)  # 404 before anything else
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    try:
        if not username:
            raise InvalidRequest.for_fields({"username": "required"}, "必填")
        try:
            user = await request.app[AUTH_SERVICE].get_staff_user(username)
        except NotFound:
            raise InvalidRequest.for_fields(
                {"username": "unknown"}, "没有这个用户名的账号"
            ) from None
        await schools.attach_teacher(current_principal(request), school_id, user.id)
    except InvalidRequest as exc:  # not_a_teacher is one too
        message = "该账号不是教师账号" if exc.code == "not_a_teacher" else exc.message
        errors = _one_error("username", message)
        return await _school_page(request, school_id, username=username, errors=errors,
                                  status=422)  # fmt: skip
    return see_other(f"{SCHOOLS}/{school_id}?done=attached")


@routes.post(
    "/schools/{school_id}/detach",
    "Detach a teacher from the school (their classes stay)",
    access=ADMINS.on("school_id", "school"),
    status=303,
    errors=("csrf_invalid",),
)
async def detach_teacher(request: web.Request) -> web.Response:
    school_id = path_object_id(request, "school_id")
    set_back(request, f"{SCHOOLS}/{school_id}")
    form = await request.post()
    user_id = canonical_object_id(form.get("user_id"))
    try:
        if user_id is None:
            raise InvalidRequest.for_fields({"user_id": "not an id"})
        await request.app[SCHOOL_SERVICE].detach_teacher(
            current_principal(request), school_id, user_id
        )
    except InvalidRequest:
        errors = _one_error("user_id", "不是本校的教师")
        return await _school_page(request, school_id, errors=errors, status=422)
    return see_other(f"{SCHOOLS}/{school_id}?done=detached")


# -- the audit log -------------------------------------------------------------------------


async def _actor_of(request: web.Request, text: str) -> str:
    """The actor a filter names: an account by its username or id, or an operator's
    ``cli:<login>`` (an unknown username is a field error)."""
    if text.startswith((CLI_ACTOR_PREFIX, USER_ACTOR_PREFIX)):
        return text
    return USER_ACTOR_PREFIX + await _account_id_of(request, "actor", text)


async def _account_id_of(request: web.Request, field: str, text: str) -> str:
    user_id = canonical_object_id(text)
    if user_id is not None:
        return user_id
    try:
        return (await request.app[AUTH_SERVICE].get_staff_user(text)).id
    except NotFound:
        raise InvalidRequest.for_fields({field: "unknown"}, "没有这个用户名的账号") from None


async def _audit_filter(request: web.Request, query: AuditLogQuery) -> AuditFilter:
    """The filter the form's fields name (422 with the field when one names no one)."""
    since = day_bounds(query.from_date)[0] if query.from_date else None
    until = day_bounds(query.to_date)[1] if query.to_date else None
    actor = await _actor_of(request, query.actor) if query.actor else None
    subject = await _account_id_of(request, "subject", query.subject) if query.subject else None
    return AuditFilter(actor, query.action, subject, since, until)


async def _names_in(request: web.Request, entries: list[AuditEntry]) -> dict[str, Any]:
    """Names for every id the entries carry: people, schools, classes and events (one
    query each, whatever the number of entries)."""
    user_ids = [uid for entry in entries if (uid := actor_user_id(entry.actor))]
    user_ids += [entry.subject_user_id for entry in entries if entry.subject_user_id]

    def ids(key: str) -> list[str]:
        return [str(entry.details[key]) for entry in entries if entry.details.get(key)]

    schools = request.app[SCHOOL_SERVICE]
    school_ids, class_ids, event_ids = ids("school_id"), ids("class_id"), ids("event_id")
    found_schools = await schools.schools_by_id(school_ids) if school_ids else {}
    found_classes = await schools.classes_by_id(class_ids) if class_ids else {}
    found_events = await request.app[EVENT_SERVICE].by_id(event_ids) if event_ids else {}
    return {
        "people": await _people(request, list(dict.fromkeys(user_ids))),
        "school_id": {key: school.name for key, school in found_schools.items()},
        "class_id": {key: doc["name"] for key, doc in found_classes.items()},
        "event_id": {key: doc["title"] for key, doc in found_events.items()},
    }


def _details(entry: AuditEntry, names: dict[str, Any]) -> list[tuple[str, str]]:
    """An entry's details as label and text, ids named."""
    shown: list[tuple[str, str]] = []
    details = dict(entry.details)
    if "roles_before" in details or "roles_after" in details:
        before = details.pop("roles_before", [])
        after = details.pop("roles_after", [])
        shown.append(("身份", f"{_roles_text(before)} → {_roles_text(after)}"))
    for key, value in details.items():
        if key == "roles":
            text = _roles_text(value)
        elif key in ("school_id", "class_id", "event_id"):
            text = names[key].get(str(value), str(value))
        else:
            text = str(value)
        shown.append((DETAIL_LABELS.get(key, key), text))
    return shown


def _roles_text(roles: Any) -> str:
    held = [STAFF_ROLE_NAMES.get(str(role), str(role)) for role in roles or []]
    return "、".join(held) or "无"


def _actor(entry: AuditEntry, people: dict[str, dict[str, str]]) -> dict[str, str]:
    user_id = actor_user_id(entry.actor)
    if user_id is None:  # an operator at the command line
        return {"name": f"命令行（{entry.actor.removeprefix(CLI_ACTOR_PREFIX)}）", "username": ""}
    return people[user_id]


@routes.get("/audit", "The audit log, newest first: who did what to whose data, filtered by "
            "actor, action, subject and Shanghai dates", access=ADMINS)  # fmt: skip
async def audit_log(request: web.Request) -> web.Response:
    params = _form_query(request)
    form = {key: params.get(key, "") for key in ("actor", "action", "subject", "from_date",
                                                 "to_date")}  # fmt: skip
    context: dict[str, Any] = {"form": form, "actions": ACTIONS, "rows": [], "next_url": ""}
    try:
        query = AuditLogQuery.model_validate(params)
        which = await _audit_filter(request, query)
    except ValidationError as exc:
        return _render(request, "admins/audit.html", {**context, "errors": field_errors(exc)}, 422)
    except InvalidRequest as exc:
        return _render(request, "admins/audit.html", {**context, "errors": _fields_of(exc)}, 422)
    entries, next_cursor = await request.app[AUDIT].page(which, query)
    names = await _names_in(request, entries)
    people = names["people"]
    context["errors"] = {}
    context["rows"] = [
        {
            "entry": entry,
            "action": ACTIONS.get(entry.action, entry.action),
            "actor": _actor(entry, people),
            "actor_id": actor_user_id(entry.actor) or entry.actor,
            "subject": people[entry.subject_user_id] if entry.subject_user_id else None,
            "details": _details(entry, names),
        }
        for entry in entries
    ]
    if next_cursor:
        kept = {key: value for key, value in form.items() if value}
        context["next_url"] = f"{AUDIT_LOG}?{urlencode({**kept, 'cursor': next_cursor})}"
    return _render(request, "admins/audit.html", context)
