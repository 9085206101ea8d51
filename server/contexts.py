"""One cleanup_ctx per resource, in order: Mongo -> Redis -> process pool -> services
(and a watcher of the event loop's lag).

Clients are created inside their context because they bind to the running loop, and
closed on the way out. Nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
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
from handlers.idempotency.repo import IdempotencyRepo
from handlers.idempotency.service import IdempotencyService
from handlers.media.repo import MediaRepo
from handlers.media.service import MediaService
from handlers.stories.cache import FeedCache
from handlers.stories.comments import CommentService
from handlers.stories.repo import CommentRepo, EngagementRepo, PeopleRepo, StoryRepo
from handlers.stories.service import PeopleService, StoryService
from handlers.stories.views import ViewCounter
from media.store import BlobStore
from server.jobqueue import JobQueue
from server.keys import (
    AUTH_SERVICE,
    AUTHENTICATOR,
    COMMENT_SERVICE,
    IDEMPOTENCY,
    JOBS,
    MEDIA_SERVICE,
    METRICS,
    MONGO_DB,
    PEOPLE_SERVICE,
    PRIVACY,
    PROCESS_POOL,
    RATE_LIMITER,
    REDIS,
    SETTINGS,
    STORY_SERVICE,
    WECHAT,
)
from server.metrics import Metrics
from server.redis_state import RateLimiter, RedisState, connect_redis
from server.wechat import WeChatClient
from server.wechat_fake import start_fake_wechat
from server.workers import WorkerPool

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
    await IdempotencyRepo(db).ensure_indexes()
    await MediaRepo(db).ensure_indexes()
    await BlobStore(db).ensure_indexes()
    await PeopleRepo(db).ensure_indexes()
    await StoryRepo(db).ensure_indexes()
    await EngagementRepo(db).ensure_indexes()
    await CommentRepo(db).ensure_indexes()


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
    app[JOBS] = JobQueue(client, settings.redis_prefix)
    try:
        yield
    finally:
        await client.aclose()


async def process_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = WorkerPool(app[SETTINGS].image_workers)
    app[PROCESS_POOL] = pool
    try:
        yield
    finally:
        await asyncio.to_thread(pool.shutdown)


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
    media = MediaService(settings, MediaRepo(db), BlobStore(db), app[PROCESS_POOL])
    app[MEDIA_SERVICE] = media
    app[IDEMPOTENCY] = IdempotencyService(IdempotencyRepo(db))
    auth = AuthService(
        settings=settings,
        users=UserRepo(db),
        sessions=SessionRepo(db),
        redis=app[REDIS],
        rate_limiter=app[RATE_LIMITER],
        wechat=wechat,
        metrics=app[METRICS],
        media=media,
    )
    app[AUTH_SERVICE] = auth
    app[AUTHENTICATOR] = auth
    app[PRIVACY].register(auth)  # registered first: erased last
    app[PRIVACY].register(media)
    feed_cache = FeedCache(app[REDIS], app[METRICS], settings.feed_cache_ttl_s)
    views = ViewCounter(app[REDIS], app[METRICS])
    people = PeopleService(PeopleRepo(db), media, feed_cache)
    stories = StoryService(
        settings, StoryRepo(db), EngagementRepo(db), people, media, feed_cache, views, app[JOBS]
    )
    app[PEOPLE_SERVICE] = people
    app[STORY_SERVICE] = stories
    app[PRIVACY].register(stories)
    comments = CommentService(CommentRepo(db), stories, auth, wechat, app[RATE_LIMITER])
    app[COMMENT_SERVICE] = comments
    app[PRIVACY].register(comments)
    retry_indexes: asyncio.Task[None] | None = None
    try:
        await ensure_indexes(db)
    except ConnectionFailure:
        retry_indexes = asyncio.create_task(_ensure_indexes_until_done(db))
    await feed_cache.start()
    views.start()
    try:
        yield
    finally:
        if retry_indexes is not None:
            retry_indexes.cancel()
        await views.stop()
        await feed_cache.stop()
        await wechat.close()
        if fake_wechat is not None:
            await fake_wechat.cleanup()
