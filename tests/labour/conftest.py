"""Helpers of the labour tests: an admin, a school with teachers, classes, students who
joined with a guardian's consent, tasks; all through HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest

from handlers.labour import consent
from server.clock import SHANGHAI, SettableClock
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat

API = "/api/v1"


def guardian(**fields: Any) -> dict[str, Any]:
    return {
        "guardian_name": "王芳",
        "relationship": "mother",
        "version": consent.CURRENT_VERSION,
        **fields,
    }


async def post_ok(
    client: Client, path: str, who: Session, body: Any = None, status: int = 200
) -> dict[str, Any]:
    resp = await client.post(API + path, json=body, headers=who.headers)
    assert resp.status == status, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def get_ok(client: Client, path: str, who: Session) -> dict[str, Any]:
    resp = await client.get(API + path, headers=who.headers)
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


@dataclass
class School:
    id: str
    admin: Session
    teacher: Session


async def make_school(client: Client, admin: Session, name: str, teacher: str) -> School:
    school = await post_ok(
        client, "/admin/schools", admin, {"name": name, "district": "天元区"}, status=201
    )
    session = await sign_in_staff(client, teacher, Role.teacher)
    await post_ok(
        client, f"/admin/schools/{school['id']}/teachers", admin, {"user_id": session.user_id}
    )
    return School(school["id"], admin, session)


async def make_class(
    client: Client, school: School, name: str = "三年级（1）班", teacher: Session | None = None
) -> dict[str, Any]:
    return await post_ok(
        client,
        "/classes",
        teacher or school.teacher,
        {"school_id": school.id, "name": name, "grade": 3},
        status=201,
    )


async def join(client: Client, student: Session, code: str, name: str = "李小明") -> dict[str, Any]:
    return await post_ok(
        client,
        "/classes/join",
        student,
        {"join_code": code, "student_name": name, "guardian_consent": guardian()},
    )


async def make_task(
    client: Client, teacher: Session, class_ids: list[str], **fields: Any
) -> dict[str, Any]:
    body = {
        "title": "整理书桌",
        "category": "daily_life",
        "class_ids": class_ids,
        "start_date": "2026-12-01",
        "end_date": "2026-12-31",
        "frequency": "daily",
        "hours": 0.5,
        "photo_required": False,
        **fields,
    }
    return await post_ok(client, "/tasks", teacher, body, status=201)


@dataclass
class World:
    """Two schools; school A's teacher has class A1, teacher2 class A2; school B's class
    B1. One student in each class."""

    admin: Session
    a: School
    b: School
    teacher2: Session
    a1: dict[str, Any]
    a2: dict[str, Any]
    b1: dict[str, Any]
    s1: Session
    s2: Session
    s3: Session


@pytest.fixture
async def world(client: Client, clock: SettableClock) -> World:
    return await make_world(client, clock)


async def make_world(client: Client, clock: SettableClock) -> World:
    """The ``World``, on 2 December 2026 at noon in Shanghai (the console's tests too)."""
    clock.set(shanghai_noon("2026-12-02"))
    admin = await sign_in_staff(client, "admin1", Role.admin)
    a = await make_school(client, admin, "株洲市第一小学", "teacher_a")
    b = await make_school(client, admin, "株洲市第二小学", "teacher_b")
    teacher2 = await sign_in_staff(client, "teacher_a2", Role.teacher)
    await post_ok(client, f"/admin/schools/{a.id}/teachers", admin, {"user_id": teacher2.user_id})
    a1 = await make_class(client, a)
    a2 = await make_class(client, a, "三年级（2）班", teacher=teacher2)
    b1 = await make_class(client, b, "四年级（1）班")
    s1 = await sign_in_wechat(client, "s1")
    s2 = await sign_in_wechat(client, "s2")
    s3 = await sign_in_wechat(client, "s3")
    await join(client, s1, a1["join_code"], "张一")
    await join(client, s2, a2["join_code"], "张二")
    await join(client, s3, b1["join_code"], "张三")
    return World(admin, a, b, teacher2, a1, a2, b1, s1, s2, s3)


def shanghai_noon(day: str, hour: int = 12) -> datetime:
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, tzinfo=SHANGHAI)


async def refreshed(client: Client, session: Session) -> Session:
    """The session with a new access token (after the test moved the clock by days)."""
    resp = await client.post(API + "/auth/refresh", json={"refresh_token": session.refresh_token})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    session.access_token, session.refresh_token = body["access_token"], body["refresh_token"]
    return session
