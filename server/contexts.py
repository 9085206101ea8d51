"""One cleanup_ctx per resource, in order: Mongo -> Redis -> process pool -> services.

Clients are created inside their context because they bind to the running loop, and
closed on the way out. Nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings
from handlers.auth.repo import SessionRepo, UserRepo
from handlers.auth.service import AuthService
from server.keys import (
    AUTH_SERVICE,
    AUTHENTICATOR,
    METRICS,
    MONGO_DB,
    PRIVACY,
    PROCESS_POOL,
    RATE_LIMITER,
    REDIS,
    SETTINGS,
    WECHAT,
)
from server.redis_state import RateLimiter, RedisState, connect_redis
from server.wechat import WeChatClient
from server.wechat_fake import start_fake_wechat

log = logging.getLogger("jiangxin.app")

# Failures that mean "a backing service is down": answered 503 + Retry-After, not 500.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionFailure,
    RedisConnectionError,
    RedisTimeoutError,
    RedisReadOnlyError,  # a replica during failover
)


async def _ensure_indexes_until_done(db: AsyncDatabase[dict[str, Any]]) -> None:
    """MongoDB was not there at startup: keep trying in the background.

    Meanwhile the app serves (/readyz says the database is down; writes answer 503),
    and no unique index is missing for long once the database is back.
    """
    while True:
        log.error("MongoDB unavailable: indexes not ensured yet, retrying in 5 s")
        await asyncio.sleep(5)
        try:
            await ensure_indexes(db)
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


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Every room's indexes; idempotent, run at startup and by ``ensure-indexes``."""
    await UserRepo(db).ensure_indexes()
    await SessionRepo(db).ensure_indexes()


async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    client = mongo_client(app[SETTINGS])
    app[MONGO_DB] = client[app[SETTINGS].mongodb_db]
    try:
        yield
    finally:
        await client.close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = connect_redis(settings.redis_url, settings.redis_timeout_s)
    app[REDIS] = RedisState(client, settings.redis_prefix)
    app[RATE_LIMITER] = RateLimiter(app[REDIS], app[METRICS])
    try:
        yield
    finally:
        await client.aclose()


async def process_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    # Workers start on first use, so apps that never decode an image pay nothing.
    pool = ProcessPoolExecutor(
        max_workers=app[SETTINGS].image_workers,
        mp_context=multiprocessing.get_context("spawn"),
    )
    app[PROCESS_POOL] = pool
    try:
        yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    fake_wechat = None
    wechat_base = settings.wechat_api_base
    if settings.dev_login_enabled:
        # Development mode: our fake WeChat answers dev:<name> codes, in this process.
        fake_wechat, wechat_base = await start_fake_wechat()
        log.info("development login enabled: WeChat is our fake at %s", wechat_base)
    wechat = WeChatClient(
        app_id=settings.wechat_app_id or "wx-development",
        app_secret=settings.wechat_app_secret.get_secret_value() or "development",
        base_url=wechat_base,
        timeout_s=settings.wechat_timeout_s,
    )
    await wechat.start()
    app[WECHAT] = wechat
    db = app[MONGO_DB]
    auth = AuthService(
        settings=settings,
        users=UserRepo(db),
        sessions=SessionRepo(db),
        redis=app[REDIS],
        rate_limiter=app[RATE_LIMITER],
        wechat=wechat,
        metrics=app[METRICS],
    )
    app[AUTH_SERVICE] = auth
    app[AUTHENTICATOR] = auth
    app[PRIVACY].register(auth)
    retry_indexes: asyncio.Task[None] | None = None
    try:
        await ensure_indexes(db)
    except ConnectionFailure:
        retry_indexes = asyncio.create_task(_ensure_indexes_until_done(db))
    try:
        yield
    finally:
        if retry_indexes is not None:
            retry_indexes.cancel()
        await wechat.close()
        if fake_wechat is not None:
            await fake_wechat.cleanup()
