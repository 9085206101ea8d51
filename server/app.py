"""The application factory. Nothing connects at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from config.settings import Settings
from server.access_log import AccessLog
from server.clock import Clock
from server.contexts import (
    loop_monitor_ctx,
    mongo_ctx,
    process_pool_ctx,
    redis_ctx,
    rooms_ctx,
    wechat_ctx,
)
from server.degrade import Degrade
from server.keys import ACCESS_LOG, CLOCK, DEGRADE, METRICS, PRIVACY, ROOMS, SETTINGS, SIGNER
from server.metrics import Metrics
from server.middleware import api_middleware
from server.privacy import PrivacyRegistry
from server.room import Room
from server.rooms import ROOMS as ALL_ROOMS
from server.signing import Signer


async def flush_access_log(app: web.Application) -> None:
    app[ACCESS_LOG].flush()


async def report_shutdown(app: web.Application) -> None:
    # After every cleanup context (aiohttp runs them all before the later on_cleanup
    # hooks), so that the line covers all of them.
    app[DEGRADE].report_shutdown()


def create_app(
    settings: Settings, *, clock: Clock | None = None, rooms: Sequence[Room] | None = None
) -> web.Application:
    """A fully wired application; resources open on startup, in ``cleanup_ctx`` order.

    ``clock`` is the real one unless a test passes its own; ``rooms`` are
    ``server.rooms.ROOMS`` unless a test assembles fewer.
    """
    app = web.Application(
        middlewares=[api_middleware],
        client_max_size=settings.max_json_body_bytes,
    )
    app[SETTINGS] = settings
    app[ROOMS] = tuple(ALL_ROOMS if rooms is None else rooms)
    app[CLOCK] = clock or Clock()
    app[SIGNER] = Signer(settings.jwt_secret.get_secret_value())
    app[METRICS] = Metrics()
    app[DEGRADE] = Degrade(app[METRICS], app[CLOCK])
    app[ACCESS_LOG] = AccessLog(enabled=settings.access_log)
    app[PRIVACY] = PrivacyRegistry()
    app.cleanup_ctx.extend([mongo_ctx, redis_ctx, process_pool_ctx, wechat_ctx, rooms_ctx])
    app.cleanup_ctx.append(loop_monitor_ctx)
    for room in app[ROOMS]:
        for table in room.routes:
            app.router.add_routes(table.table)
    app.on_cleanup.append(report_shutdown)
    app.on_cleanup.append(flush_access_log)
    return app


@contextlib.asynccontextmanager
async def app_resources(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[web.Application]:
    """The app's resources and services, started as for serving but without a socket
    (commands and the job worker)."""
    runner = web.AppRunner(create_app(settings, clock=clock))
    await runner.setup()
    try:
        yield runner.app
    finally:
        await runner.cleanup()
