"""``python -m server serve | worker | seed | ensure-indexes | fake-wechat``, and the
commands the rooms declare (``create-user``, ``sweep-media``, ``sweep-idempotency-keys``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from server.app import app_resources
from server.contexts import ensure_indexes
from server.logs import configure_logging
from server.loop import loop_factory
from server.loop import run as run_on_loop
from server.room import Command, DemoDataError, DemoSource
from server.rooms import ROOMS as ALL_ROOMS
from server.serving import load_settings, serve
from server.wechat_fake import FakeWeChatState, start_fake_wechat
from server.worker import run_worker, worker_is_healthy

log = logging.getLogger("jiangxin.cli")

ROOT = Path(__file__).resolve().parents[1]  # the repository, or /app in the image
DEFAULT_DEMO = DemoSource(data=ROOT / "demo", art=ROOT / ".data" / "demo-art")


async def run_room_command(command: Command, args: argparse.Namespace) -> None:
    async with app_resources(load_settings()) as app:
        await command.run(app, args)


async def run_ensure_indexes() -> None:
    async with app_resources(load_settings()) as app:
        await ensure_indexes(app)
        print("indexes ensured")


async def seed(source: DemoSource) -> None:
    """Every room's demo content, in room order (development only)."""
    settings = load_settings()
    if settings.app_env == "production":
        sys.exit("seed writes demo accounts and content: refused in production")
    try:  # all of it read and checked before anything is written
        writers = [room.seed(source) for room in ALL_ROOMS if room.seed is not None]
    except DemoDataError as exc:
        sys.exit(str(exc))
    async with app_resources(settings) as app:
        for write in writers:
            print(await write(app))


async def fake_wechat(host: str, port: int) -> None:
    state = FakeWeChatState(dev_users_known=True)
    runner, base_url = await start_fake_wechat(state, host=host, port=port)
    print(f"fake WeChat API on {base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


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

    p_worker = commands.add_parser(
        "worker", help="run the job worker: scheduled publishing, view counts, sweeps"
    )
    p_worker.add_argument(
        "--check", action="store_true", help="exit 0 if a worker reported in (health check)"
    )
    commands.add_parser("ensure-indexes", help="create every collection's indexes")
    p_seed = commands.add_parser("seed", help="demo accounts and content (development only)")
    p_seed.add_argument(
        "--data", type=Path, default=DEFAULT_DEMO.data, help="demo data (default: %(default)s)"
    )
    p_seed.add_argument(
        "--art",
        type=Path,
        default=DEFAULT_DEMO.art,
        help="covers and portraits from `python -m tools.demo_art` (default: %(default)s)",
    )

    p_fake = commands.add_parser("fake-wechat", help="run our fake WeChat API server")
    p_fake.add_argument("--host", default="127.0.0.1")
    p_fake.add_argument("--port", type=int, default=8090)

    room_commands: dict[str, Command] = {}
    for room in ALL_ROOMS:
        for command in room.commands:
            if command.name in room_commands or command.name in commands.choices:
                raise ValueError(f"command {command.name!r} declared twice")
            room_commands[command.name] = command
            sub = commands.add_parser(command.name, help=command.help)
            if command.arguments is not None:
                command.arguments(sub)

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
        logging.getLogger("jiangxin.worker").info(
            "worker on %s", loop_factory(settings.event_loop)[0]
        )
        sys.exit(run_on_loop(run_worker(settings), settings.event_loop))
    configure_logging("WARNING")
    if args.command in room_commands:
        asyncio.run(run_room_command(room_commands[args.command], args))
    elif args.command == "ensure-indexes":
        asyncio.run(run_ensure_indexes())
    elif args.command == "seed":
        asyncio.run(seed(DemoSource(data=args.data, art=args.art)))
    elif args.command == "fake-wechat":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(fake_wechat(args.host, args.port))


if __name__ == "__main__":
    main()
