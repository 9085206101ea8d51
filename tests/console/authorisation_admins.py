"""Admins' pages in the authorisation matrix. Every account a form changes is made for
its case (``staff_account``), never one of the matrix's callers: disabling one of those
would end the session the other cases use. Schools are the labour room's factory's."""

from __future__ import annotations

import uuid

from handlers.auth.keys import AUTH_SERVICE
from handlers.labour.keys import SCHOOL_SERVICE
from server.principal import Principal, Role
from tests.fixtures.authorisation import Call, Caller, Case, Obj, World, builds, factory, plain

ACCOUNT = "/admin/accounts/{user_id}"
SCHOOL = "/admin/schools/{school_id}"
PASSWORD = "矩阵里的新密码-足够长的一句话"

plain(
    ("GET", "/admin/accounts"),
    ("GET", "/admin/accounts/new"),
    ("GET", ACCOUNT),
    ("GET", "/admin/schools"),
    ("GET", SCHOOL),
    ("GET", "/admin/audit"),
)
plain(("POST", ACCOUNT + "/disable"), ("POST", ACCOUNT + "/enable"))


@factory("staff_account")
async def staff_account(world: World, owner: Caller, state: str | None) -> Obj:
    """A new staff account (anyone's to an admin: the pages are admins' only)."""
    username = f"mx-acct-{uuid.uuid4().hex[:8]}"
    user = await world.app[AUTH_SERVICE].create_staff_user(username, PASSWORD, [Role.editor])
    return Obj(user.id)


@builds("POST", "/admin/accounts/new")
async def create_account(case: Case) -> Call:
    return Call(data={"username": f"mx-new-{uuid.uuid4().hex[:8]}", "name": "矩阵",
                      "roles": "editor", "password": PASSWORD,
                      "password_confirm": PASSWORD})  # fmt: skip


@builds("POST", ACCOUNT + "/roles")
async def change_roles(case: Case) -> Call:
    return Call(data={"roles": "reviewer"})


@builds("POST", ACCOUNT + "/password")
async def reset_password(case: Case) -> Call:
    return Call(data={"password": PASSWORD + "!", "password_confirm": PASSWORD + "!"})


@builds("POST", "/admin/schools")
async def create_school(case: Case) -> Call:
    return Call(data={"name": "矩阵学校", "district": "天元区"})


async def _teacher(world: World) -> tuple[str, str]:
    username = f"mx-teacher-{uuid.uuid4().hex[:8]}"
    user = await world.app[AUTH_SERVICE].create_staff_user(username, PASSWORD, [Role.teacher])
    return username, user.id


@builds("POST", SCHOOL + "/teachers")
async def attach_teacher(case: Case) -> Call:
    username, _ = await _teacher(case.world)
    return Call(data={"username": username})


@builds("POST", SCHOOL + "/detach")
async def detach_teacher(case: Case) -> Call:
    _, user_id = await _teacher(case.world)
    admin = Principal("matrix", "matrix", frozenset({Role.admin}), "matrix")
    await case.world.app[SCHOOL_SERVICE].attach_teacher(admin, case.id("school_id"), user_id)
    return Call(data={"user_id": user_id})
