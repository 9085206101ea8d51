"""The application factory. Nothing connects at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from config.settings import Settings
from handlers.auth.routes import routes as auth_routes
from handlers.media.routes import routes as media_routes
from handlers.media.routes import serving as media_serving
from handlers.ops.routes import build_openapi_doc
from handlers.ops.routes import routes as ops_routes
from handlers.stories.routes import routes as story_routes
from server.access_log import AccessLog
from server.contexts import (
    loop_monitor_ctx,
    mongo_ctx,
    process_pool_ctx,
    redis_ctx,
    services_ctx,
)
from server.keys import ACCESS_LOG, METRICS, PRIVACY, SETTINGS
from server.metrics import Metrics
from server.middleware import api_middleware
from server.privacy import PrivacyRegistry

ROOM_ROUTES = (ops_routes, auth_routes, media_routes, media_serving, story_routes)


async def flush_access_log(app: web.Application) -> None:
    app[ACCESS_LOG].flush()


def create_app(settings: Settings) -> web.Application:
    """A fully wired application; resources open on startup, in ``cleanup_ctx`` order."""
    app = web.Application(
        middlewares=[api_middleware],
        client_max_size=settings.max_json_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[ACCESS_LOG] = AccessLog(enabled=settings.access_log)
    app[PRIVACY] = PrivacyRegistry()
    app.cleanup_ctx.extend([mongo_ctx, redis_ctx, process_pool_ctx, services_ctx, loop_monitor_ctx])
    for room in ROOM_ROUTES:
        app.router.add_routes(room.table)
    app.on_startup.append(build_openapi_doc)
    app.on_cleanup.append(flush_access_log)
    return app


@contextlib.asynccontextmanager
async def app_resources(settings: Settings) -> AsyncIterator[web.Application]:
    """The app's resources and services, started as for serving but without a socket
    (commands and the job worker)."""
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        yield runner.app
    finally:
        await runner.cleanup()
