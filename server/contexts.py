"""One cleanup_ctx per resource, in order: Mongo (and the audit log on it) -> Redis ->
process pool -> WeChat -> rooms (and a watcher of the event loop's lag).

Clients are created inside their context because they bind to the running loop, and
closed on the way out. Nothing here runs at import time. The rooms come last: each
builds its services from the resources above (``Room.setup``), in room order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure

from config.settings import Settings
from server.audit import AuditLog
from server.audit.repo import AuditRepo
from server.jobqueue import JobQueue
from server.keys import (
    AUDIT,
    CLOCK,
    DEGRADE,
    JOBS,
    METRICS,
    MONGO_DB,
    PRIVACY,
    PROCESS_POOL,
    RATE_LIMITER,
    RECENT_WRITES,
    REDIS,
    ROOMS,
    SETTINGS,
    WECHAT,
)
from server.metrics import Metrics
from server.recent_writes import RecentWrites
from server.redis_state import RateLimiter, RedisState, connect_redis
from server.wechat import WeChatClient
from server.wechat_fake import FakeWeChatState, start_fake_wechat
from server.workers import WorkerPool

log = logging.getLogger("jiangxin.app")

INDEX_RETRY_S = 5


async def _ensure_indexes_until_done(app: web.Application) -> None:
    """MongoDB was not there at startup: keep trying in the background.

    Meanwhile the app serves (/readyz says the database is down; writes answer 503),
    and no unique index is missing for long once the database is back.
    """
    while True:
        log.error("MongoDB unavailable: indexes not ensured yet, retrying in %s s", INDEX_RETRY_S)
        await asyncio.sleep(INDEX_RETRY_S)
        try:
            await ensure_indexes(app)
        except ConnectionFailure:
            continue
        log.info("indexes ensured")
        return


def mongo_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        connectTimeoutMS=settings.mongodb_timeout_ms,
        appname="jiangxin",
    )


async def ensure_indexes(app: web.Application) -> None:
    """Every room's indexes (and the audit log's); idempotent, run at startup and by
    ``ensure-indexes``."""
    await app[AUDIT].repo.ensure_indexes()
    for room in app[ROOMS]:
        if room.indexes is not None:
            await room.indexes(app[MONGO_DB])


async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    client = mongo_client(app[SETTINGS])
    app[MONGO_DB] = client[app[SETTINGS].mongodb_db]
    app[AUDIT] = AuditLog(AuditRepo(app[MONGO_DB]), app[CLOCK])
    try:
        yield
    finally:
        await client.close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = connect_redis(settings.redis_url, settings.redis_timeout_s)
    app[REDIS] = RedisState(client, settings.redis_prefix)
    app[RECENT_WRITES] = RecentWrites(app[REDIS], app[DEGRADE])
    app[RATE_LIMITER] = RateLimiter(
        app[REDIS], app[DEGRADE], app[CLOCK], enabled=settings.rate_limits
    )
    app[JOBS] = JobQueue(client, settings.redis_prefix)
    try:
        yield
    finally:
        await client.aclose()


async def process_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = WorkerPool(settings.image_workers, settings.image_queue_max, settings.image_timeout_s)
    app[PROCESS_POOL] = pool
    try:
        yield
    finally:
        await asyncio.to_thread(pool.shutdown)


async def wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    fake_wechat = None
    wechat_base = settings.wechat_api_base
    if settings.dev_login_enabled:
        # Development mode: our fake WeChat answers dev:<name> codes, in this process,
        # and knows every dev-<name> user (the seed's students, told of their reviews).
        fake_wechat, wechat_base = await start_fake_wechat(FakeWeChatState(dev_users_known=True))
        log.info("development login enabled: WeChat is our fake at %s", wechat_base)
    wechat = WeChatClient(
        app_id=settings.wechat_app_id or "wx-development",
        app_secret=settings.wechat_app_secret.get_secret_value() or "development",
        base_url=wechat_base,
        timeout_s=settings.wechat_timeout_s,
        redis=app[REDIS],
        degrade=app[DEGRADE],
        clock=app[CLOCK],
    )
    await wechat.start()
    app[WECHAT] = wechat
    try:
        yield
    finally:
        await wechat.close()
        if fake_wechat is not None:
            await fake_wechat.cleanup()


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    """Each room's services, in room order (left in reverse), then every index."""
    async with contextlib.AsyncExitStack() as rooms:
        for room in app[ROOMS]:
            if room.setup is not None:
                await rooms.enter_async_context(room.setup(app))
            if room.privacy is not None:
                for provider in room.privacy(app):
                    app[PRIVACY].register(provider)
        app[PRIVACY].register(app[AUDIT])  # entries about the person, in their export
        retry_indexes: asyncio.Task[None] | None = None
        try:
            await ensure_indexes(app)
        except ConnectionFailure:
            retry_indexes = asyncio.create_task(_ensure_indexes_until_done(app))
        try:
            yield
        finally:
            if retry_indexes is not None:
                retry_indexes.cancel()


async def _watch_loop_lag(metrics: Metrics, interval_s: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        metrics.loop_lag(loop.time() - started - interval_s)


async def loop_monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """How late the event loop runs: the proof that nothing (Pillow) blocks it."""
    watcher = asyncio.create_task(_watch_loop_lag(app[METRICS]))
    try:
        yield
    finally:
        watcher.cancel()
