"""Sign-in, tokens and the caller's own account (API.md, "Auth and accounts")."""

from __future__ import annotations

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.auth.repo import UserRecord
from handlers.auth.schemas import (
    ErasedOut,
    ExportOut,
    MePatchIn,
    PasswordLoginIn,
    RefreshIn,
    TokensOut,
    UserOut,
    WechatLoginIn,
)
from handlers.auth.service import IssuedTokens
from handlers.media.keys import MEDIA_SERVICE
from server.access import current_principal
from server.api import ApiRoutes
from server.audit import user_actor
from server.authorisation import Access
from server.keys import AUDIT, CLOCK, PRIVACY, SETTINGS
from server.middleware import client_ip
from server.rest import read_body, respond

routes = ApiRoutes(tag="auth")


async def user_out(request: web.Request, user: UserRecord) -> UserOut:
    """The caller's own account: they see their avatar before WeChat's verdict too."""
    return UserOut(
        id=user.id,
        nickname=user.nickname,
        avatar=await request.app[MEDIA_SERVICE].get_out(user.avatar_media_id, viewer_id=user.id),
        roles=user.roles,
        school_id=user.school_id,
        class_id=user.class_id,
        created_at=user.created_at,
    )


async def tokens_out(request: web.Request, tokens: IssuedTokens) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        user=await user_out(request, tokens.user),
    )


@routes.post(
    "/auth/wechat",
    "Sign in with a wx.login code",
    access=Access.public(),
    body=WechatLoginIn,
    response=TokensOut,
    errors=("wechat_code_invalid", "wechat_user_risky", "rate_limited", "unavailable"),
)
async def login_wechat(request: web.Request) -> web.Response:
    body = await read_body(request, WechatLoginIn)
    tokens = await request.app[AUTH_SERVICE].login_wechat(body.code)
    return respond(await tokens_out(request, tokens))


@routes.post(
    "/auth/login",
    "Staff sign-in with username and password",
    access=Access.public(),
    body=PasswordLoginIn,
    response=TokensOut,
    errors=("invalid_credentials", "account_disabled", "rate_limited"),
)
async def login_password(request: web.Request) -> web.Response:
    body = await read_body(request, PasswordLoginIn)
    ip = client_ip(request, request.app[SETTINGS].trusted_proxy_networks)
    tokens = await request.app[AUTH_SERVICE].login_password(body.username, body.password, ip)
    return respond(await tokens_out(request, tokens))


@routes.post(
    "/auth/refresh",
    "Rotate the refresh token; reusing one revokes its whole session",
    access=Access.public(),
    body=RefreshIn,
    response=TokensOut,
    errors=("refresh_token_invalid", "refresh_token_reused"),
)
async def refresh_tokens(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshIn)
    tokens = await request.app[AUTH_SERVICE].refresh(body.refresh_token)
    return respond(await tokens_out(request, tokens))


@routes.post(
    "/auth/logout",
    "End this session; its access token stops working at once",
    access=Access.signed_in(),
    status=204,
    errors=("unavailable",),
)
async def logout(request: web.Request) -> web.Response:
    await request.app[AUTH_SERVICE].logout(current_principal(request))
    return respond(None, status=204)


@routes.get("/me", "The caller's account", access=Access.signed_in(), response=UserOut)
async def get_me(request: web.Request) -> web.Response:
    user = await request.app[AUTH_SERVICE].get_user(current_principal(request).user_id)
    return respond(await user_out(request, user))


@routes.patch(
    "/me",
    "Update nickname, avatar, real name or phone; a nickname goes through WeChat content "
    "security first (422 content_rejected)",
    access=Access.signed_in().uses("avatar_media_id", kind="photo", code="media_not_found"),
    body=MePatchIn,
    response=UserOut,
    errors=("media_not_found", "content_rejected", "unavailable"),
)
async def update_me(request: web.Request) -> web.Response:
    body = await read_body(request, MePatchIn)
    changes = body.model_dump(include=body.model_fields_set)
    user = await request.app[AUTH_SERVICE].update_profile(
        current_principal(request).user_id, changes
    )
    return respond(await user_out(request, user))


@routes.get(
    "/me/export",
    "All personal data held about the caller",
    access=Access.signed_in(),
    response=ExportOut,
)
async def export_me(request: web.Request) -> web.Response:
    user_id = current_principal(request).user_id
    sections = await request.app[PRIVACY].export(user_id)
    return respond(
        ExportOut(user_id=user_id, exported_at=request.app[CLOCK].now(), sections=sections)
    )


@routes.delete(
    "/me",
    "Erase the caller's personal data and photos; ends every session",
    access=Access.signed_in(),
    status=202,
    response=ErasedOut,
)
async def erase_me(request: web.Request) -> web.Response:
    user_id = current_principal(request).user_id
    await request.app[PRIVACY].erase(user_id)
    # The proof that it was done (kept: server/audit.py); by the person themself.
    await request.app[AUDIT].record(user_actor(user_id), "account_erased", user_id)
    return respond(ErasedOut(), status=202)
