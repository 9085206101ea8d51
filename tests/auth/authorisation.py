"""The auth room in the authorisation matrix: sign-in routes are public (their bodies
carry the credentials), the caller's own account needs a token, and an avatar must be
one of the caller's own photos."""

from __future__ import annotations

import uuid

from tests.fixtures.authorisation import Call, Case, builds, plain
from tests.fixtures.sessions import sign_in_wechat

plain(("GET", "/api/v1/me"), ("GET", "/api/v1/me/export"))
plain(("POST", "/api/v1/auth/logout"), caller="fresh_session")  # it ends that session
plain(("DELETE", "/api/v1/me"), caller="fresh_user")  # it erases that account


@builds("POST", "/api/v1/auth/wechat")
async def wechat_sign_in(case: Case) -> Call:
    return Call(json={"code": f"dev:mx-{uuid.uuid4().hex[:8]}"})


@builds("POST", "/api/v1/auth/login")
async def password_sign_in(case: Case) -> Call:
    staff = case.world.publisher
    return Call(json={"username": staff.username, "password": staff.password})


@builds("POST", "/api/v1/auth/refresh")
async def refresh(case: Case) -> Call:
    session = await sign_in_wechat(case.world.client, f"mx-{uuid.uuid4().hex[:8]}")
    return Call(json={"refresh_token": session.refresh_token})


@builds("PATCH", "/api/v1/me")
async def update_me(case: Case) -> Call:
    return Call(json={"avatar_media_id": case.id("avatar_media_id")})
