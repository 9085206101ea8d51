"""``python -m server serve | worker | create-user | seed | ensure-indexes | sweep-media |
sweep-idempotency-keys | fake-wechat``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from handlers.auth.repo import UsernameTaken
from handlers.stories.demo import (
    DEFAULT_ART_DIR,
    DEFAULT_DATA_DIR,
    DemoDataError,
    load_demo_art,
    load_demo_content,
)
from handlers.stories.seed import seed_demo_content
from server.app import app_resources
from server.contexts import ensure_indexes
from server.keys import (
    AUTH_SERVICE,
    IDEMPOTENCY,
    MEDIA_SERVICE,
    MONGO_DB,
    PEOPLE_SERVICE,
    STORY_SERVICE,
)
from server.logs import configure_logging
from server.principal import Principal, Role
from server.serving import load_settings, serve
from server.wechat_fake import start_fake_wechat
from server.worker import run_worker, worker_is_healthy

log = logging.getLogger("jiangxin.cli")

# Development only: `seed` refuses to run in production.
DEMO_PASSWORD = "jiangxin-demo"  # noqa: S105
DEMO_STAFF = {
    "admin": [Role.admin],
    "editor": [Role.editor],
    "reviewer": [Role.reviewer],
    "organizer": [Role.organizer],
    "teacher": [Role.teacher],
}


# -- admin commands -----------------------------------------------------------------------


async def create_user(username: str, password: str, roles: list[Role], update: bool) -> None:
    async with app_resources(load_settings()) as app:
        try:
            user = await app[AUTH_SERVICE].create_staff_user(
                username, password, roles, update=update
            )
        except UsernameTaken:
            sys.exit(f"user {username!r} exists (use --update to reset password and roles)")
        print(f"user {username} ({', '.join(user.roles)}) id={user.id}")


async def run_ensure_indexes() -> None:
    async with app_resources(load_settings()) as app:
        await ensure_indexes(app[MONGO_DB])
        print("indexes ensured")


async def sweep_media() -> None:
    async with app_resources(load_settings()) as app:
        print(orjson.dumps(await app[MEDIA_SERVICE].sweep()).decode())


async def sweep_idempotency_keys() -> None:
    async with app_resources(load_settings()) as app:
        print(orjson.dumps({"expired_keys": await app[IDEMPOTENCY].sweep()}).decode())


async def seed(data_dir: Path, art_dir: Path) -> None:
    settings = load_settings()
    if settings.app_env == "production":
        sys.exit("seed writes demo accounts and content: refused in production")
    try:  # all of it read and checked before anything is written
        content = load_demo_content(data_dir)
        art = load_demo_art(content, art_dir, data_dir)
    except DemoDataError as exc:
        sys.exit(str(exc))
    async with app_resources(settings) as app:
        accounts = {}
        for username, roles in DEMO_STAFF.items():
            user = await app[AUTH_SERVICE].create_staff_user(
                username, DEMO_PASSWORD, roles, update=True
            )
            accounts[username] = Principal(user.id, "seed", frozenset(user.roles), "seed")
        result = await seed_demo_content(
            app[PEOPLE_SERVICE],
            app[STORY_SERVICE],
            app[MEDIA_SERVICE],
            editor=accounts["editor"],
            reviewer=accounts["reviewer"],
            content=content,
            art=art,
        )
        print(f"demo content: {result.people} people and {result.stories} stories created")
        print(
            f"demo staff accounts: {', '.join(DEMO_STAFF)} (password {DEMO_PASSWORD!r}); "
            'residents sign in with POST /api/v1/auth/wechat {"code": "dev:<name>"}'
        )


async def fake_wechat(host: str, port: int) -> None:
    runner, base_url = await start_fake_wechat(host=host, port=port)
    print(f"fake WeChat API on {base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _password(value: str) -> str:
    return sys.stdin.readline().rstrip("\n") if value == "-" else value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p_serve = commands.add_parser("serve", help="serve the API")
    p_serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p_serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    p_serve.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    p_serve.add_argument(
        "--with-jobs",
        action="store_true",
        help="also run the job worker in each process (development; production runs `worker`)",
    )

    p_user = commands.add_parser("create-user", help="create a staff account")
    p_user.add_argument("--username", required=True)
    p_user.add_argument("--password", required=True, help="'-' reads it from standard input")
    p_user.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], dest="roles"
    )
    p_user.add_argument("--update", action="store_true", help="reset an existing account")

    p_worker = commands.add_parser(
        "worker", help="run the job worker: scheduled publishing, view counts, sweeps"
    )
    p_worker.add_argument(
        "--check", action="store_true", help="exit 0 if a worker reported in (health check)"
    )
    commands.add_parser("ensure-indexes", help="create every collection's indexes")
    commands.add_parser(
        "sweep-media", help="delete media unreferenced for 24 h, orphan files, stray chunks"
    )
    commands.add_parser("sweep-idempotency-keys", help="delete idempotency records past 24 h")
    p_seed = commands.add_parser("seed", help="demo accounts and content (development only)")
    p_seed.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="demo data (default: %(default)s)"
    )
    p_seed.add_argument(
        "--art",
        type=Path,
        default=DEFAULT_ART_DIR,
        help="covers and portraits from `python -m tools.demo_art` (default: %(default)s)",
    )

    p_fake = commands.add_parser("fake-wechat", help="run our fake WeChat API server")
    p_fake.add_argument("--host", default="127.0.0.1")
    p_fake.add_argument("--port", type=int, default=8090)

    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        serve(args.host, args.port, args.workers, with_jobs=args.with_jobs)
        return
    if args.command == "worker":
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.check:
            sys.exit(0 if asyncio.run(worker_is_healthy(settings)) else 1)
        asyncio.run(run_worker(settings))
        return
    configure_logging("WARNING")
    if args.command == "create-user":
        roles = [Role(r) for r in args.roles]
        asyncio.run(create_user(args.username, _password(args.password), roles, args.update))
    elif args.command == "ensure-indexes":
        asyncio.run(run_ensure_indexes())
    elif args.command == "sweep-media":
        asyncio.run(sweep_media())
    elif args.command == "sweep-idempotency-keys":
        asyncio.run(sweep_idempotency_keys())
    elif args.command == "seed":
        asyncio.run(seed(args.data, args.art))
    elif args.command == "fake-wechat":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(fake_wechat(args.host, args.port))


if __name__ == "__main__":
    main()
