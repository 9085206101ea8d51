"""Accounts and sessions: WeChat and staff sign-in, tokens, revocation, export, erasure;
staff accounts as admins manage them (``staff.py``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE, STAFF_ACCOUNT_SERVICE
from handlers.auth.passwords import MIN_LENGTH, WeakPassword
from handlers.auth.repo import SessionRepo, UsernameTaken, UserRepo
from handlers.auth.routes import routes
from handlers.auth.service import (
    REVOCATION_SYNC_S,
    AccountDisabled,
    AuthService,
    InvalidCredentials,
    RefreshTokenInvalid,
    RefreshTokenReused,
)
from handlers.auth.staff import SelfLockout, StaffAccountService
from handlers.auth.throttle import LoginBudgets, LoginThrottle
from handlers.auth.tokens import TokenInvalid
from handlers.media.keys import MEDIA_SERVICE
from server.audit import cli_actor
from server.background import Periodic
from server.errors import MONGODB_UNAVAILABLE
from server.keys import (
    AUDIT,
    AUTHENTICATOR,
    CLOCK,
    DEGRADE,
    METRICS,
    MONGO_DB,
    OPENIDS,
    RECENT_WRITES,
    REDIS,
    SETTINGS,
    SIGNER,
    WECHAT,
)
from server.principal import Role
from server.privacy import PersonalDataProvider
from server.room import Command, Cron, Database, DemoSource, Room, SeedWriter
from server.signing import ACCESS_TOKEN
from server.wechat import ContentRejected, WeChatCodeInvalid, WeChatUserRisky

# Development only: `python -m server seed` refuses to run in production.
DEMO_PASSWORD = "jiangxin-demo"  # noqa: S105
DEMO_STAFF = {
    "admin": [Role.admin],
    "editor": [Role.editor],
    "reviewer": [Role.reviewer],
    "organizer": [Role.organizer],
    "teacher": [Role.teacher],
}


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    db = app[MONGO_DB]
    settings = app[SETTINGS]
    users, sessions = UserRepo(db), SessionRepo(db)
    auth = AuthService(
        settings=settings,
        users=users,
        sessions=sessions,
        redis=app[REDIS],
        recent_writes=app[RECENT_WRITES],
        throttle=LoginThrottle(
            app[REDIS],
            LoginBudgets(
                pair=settings.login_failures_max,
                account=settings.login_account_failures_max,
                address=settings.login_address_failures_max,
                window_s=settings.login_failures_window_s,
            ),
            app[DEGRADE],
            app[METRICS],
            app[CLOCK],
            enabled=settings.rate_limits,
        ),
        wechat=app[WECHAT],
        degrade=app[DEGRADE],
        media=app[MEDIA_SERVICE],
        clock=app[CLOCK],
        token_key=app[SIGNER].key(ACCESS_TOKEN),
    )
    app[AUTH_SERVICE] = auth
    app[STAFF_ACCOUNT_SERVICE] = StaffAccountService(users, sessions, auth, app[AUDIT], app[CLOCK])
    app[AUTHENTICATOR] = auth
    sync = Periodic("revocation sync", REVOCATION_SYNC_S, auth.sync_revocations)
    app[OPENIDS] = auth
    # Once before serving, so that Redis is trusted from the first request (not a second
    # later, which would change whose answers may be held mid-stream); a Redis that does
    # not answer is degraded inside, a MongoDB that does not is left to the loop.
    try:
        await auth.sync_revocations()
    except MONGODB_UNAVAILABLE as exc:
        app[DEGRADE]("mongodb", "revocation_sync", exc)
    sync.start()
    try:
        yield
    finally:
        await sync.stop()


async def ensure_indexes(db: Database) -> None:
    await UserRepo(db).ensure_indexes()
    await SessionRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[AUTH_SERVICE],)


async def sweep_sessions(app: web.Application) -> int:
    """Sessions expired longer than any of their access tokens can live (hourly)."""
    return await app[AUTH_SERVICE].sweep_sessions()


def seed_demo_staff(source: DemoSource) -> SeedWriter:
    """The demo staff accounts (nothing to read from ``source``)."""

    async def write(app: web.Application) -> str:
        for username, roles in DEMO_STAFF.items():
            await app[AUTH_SERVICE].create_staff_user(username, DEMO_PASSWORD, roles, update=True)
        return (
            f"demo staff accounts: {', '.join(DEMO_STAFF)} (password {DEMO_PASSWORD!r}); "
            'residents sign in with POST /api/v1/auth/wechat {"code": "dev:<name>"}'
        )

    return write


def _create_user_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", required=True)
    parser.add_argument(
        "--password",
        required=True,
        help=f"at least {MIN_LENGTH} characters, not a common one; '-' reads it from stdin",
    )
    parser.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], dest="roles"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="reset an existing account (password, roles) and end all its sessions",
    )


async def _create_user(app: web.Application, args: argparse.Namespace) -> None:
    from_stdin = args.password == "-"  # noqa: S105 (the "-" convention, not a password)
    password = sys.stdin.readline().rstrip("\n") if from_stdin else args.password
    auth = app[AUTH_SERVICE]
    existed = await auth.users.find_by_username(args.username) is not None
    try:
        user = await auth.create_staff_user(
            args.username, password, [Role(r) for r in args.roles], update=args.update
        )
    except UsernameTaken:
        sys.exit(f"user {args.username!r} exists (use --update to reset password and roles)")
    except WeakPassword as exc:
        sys.exit(f"refused: {exc}")
    await app[AUDIT].record(
        cli_actor(),
        "staff_password_reset" if existed else "staff_account_created",
        user.id,
        {"roles": [str(role) for role in user.roles]},
    )
    reset = " (any earlier session of it ended)" if existed else ""
    print(f"user {args.username} ({', '.join(user.roles)}) id={user.id}{reset}")


ROOM = Room(
    name="auth",
    routes=(routes,),
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    crons=(Cron(sweep_sessions, minute=37, second=0),),
    seed=seed_demo_staff,
    commands=(
        Command("create-user", "create a staff account", _create_user, _create_user_arguments),
    ),
    errors=(
        InvalidCredentials,
        AccountDisabled,
        SelfLockout,
        RefreshTokenInvalid,
        RefreshTokenReused,
        TokenInvalid,
        WeChatCodeInvalid,
        WeChatUserRisky,
        ContentRejected,
    ),
)
