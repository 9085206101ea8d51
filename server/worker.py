"""``python -m server worker``: background work on arq, a Redis-backed job queue.

Jobs run against the same services as the API (the app's resources, without a socket):

- ``publish_due_story``: queued for a scheduled story's ``publish_at``; publishes it
  and invalidates the feed cache, on time.
- every minute, ``publish_due_stories``: the same for any scheduled story whose job was
  lost (Redis restarted empty, or down when it was scheduled);
- every 10 s, ``store_story_views``: view counts from Redis into MongoDB;
- hourly, the sweeps: unused photos, expired idempotency records, expired sessions.

Any number of workers may run: a queued job is taken by one of them, and each periodic
job runs once per tick whichever workers are up (arq's unique cron job ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from arq import Worker, cron

from config.settings import Settings
from server.app import app_resources
from server.jobqueue import arq_redis, dump_job, load_job, queue_name
from server.keys import AUTH_SERVICE, IDEMPOTENCY, MEDIA_SERVICE, SETTINGS, STORY_SERVICE
from server.redis_state import REDIS_ERRORS, connect_redis

log = logging.getLogger("jiangxin.worker")

Context = dict[str, Any]
HEALTH_CHECK_INTERVAL_S = 60


def health_check_key(redis_prefix: str) -> str:
    return f"{redis_prefix}jobs:health-check"


def _app(ctx: Context) -> web.Application:
    app: web.Application = ctx["app"]
    return app


async def publish_due_story(ctx: Context, story_id: str) -> bool:
    return await _app(ctx)[STORY_SERVICE].publish_due(story_id)


async def publish_due_stories(ctx: Context) -> int:
    return await _app(ctx)[STORY_SERVICE].publish_due_stories()


async def store_story_views(ctx: Context) -> int:
    return await _app(ctx)[STORY_SERVICE].store_views()


async def sweep_media(ctx: Context) -> dict[str, int]:
    return await _app(ctx)[MEDIA_SERVICE].sweep()


async def sweep_idempotency_keys(ctx: Context) -> int:
    return await _app(ctx)[IDEMPOTENCY].sweep()


async def sweep_sessions(ctx: Context) -> int:
    return await _app(ctx)[AUTH_SERVICE].sweep_sessions()


def create_worker(
    app: web.Application, *, poll_delay_s: float = 0.5, handle_signals: bool = True
) -> Worker:
    """An arq worker whose jobs use ``app``'s services (started by the caller)."""
    settings = app[SETTINGS]
    prefix = settings.redis_prefix

    def periodic(job: Any, **when: Any) -> Any:
        # The prefix keeps the job ids of deployments sharing one Redis apart.
        return cron(job, name=f"{prefix}{job.__name__}", **when)

    return Worker(
        functions=[publish_due_story],
        cron_jobs=[
            periodic(publish_due_stories, second=30),
            periodic(store_story_views, second=set(range(5, 60, 10))),
            periodic(sweep_media, minute=17, second=0),
            periodic(sweep_idempotency_keys, minute=27, second=0),
            periodic(sweep_sessions, minute=37, second=0),
        ],
        redis_pool=arq_redis(connect_redis(settings.redis_url, settings.redis_timeout_s), prefix),
        queue_name=queue_name(prefix),
        health_check_key=health_check_key(prefix),
        job_serializer=dump_job,
        job_deserializer=load_job,
        ctx={"app": app},
        handle_signals=handle_signals,
        poll_delay=poll_delay_s,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        max_tries=5,
        keep_result=3600,
    )


async def close_worker(worker: Worker) -> None:
    """Wait for running jobs, then close the worker's Redis connections."""
    with warnings.catch_warnings():
        # arq 0.28 closes its client with redis-py's deprecated alias of aclose().
        warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
        await worker.close()


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT (arq stops polling, cancels running jobs, which are
    retried by the next worker). If Redis goes away the worker exits with an error, for
    its supervisor (systemd, Docker, Kubernetes) to restart it."""
    async with app_resources(settings) as app:
        worker = create_worker(app)
        try:
            await worker.async_run()
        except asyncio.CancelledError:  # arq's signal handler cancels its main task
            log.info("worker stopping")
        finally:
            await close_worker(worker)


async def jobs_in_process_ctx(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx`` running the job worker inside a serving process (``serve
    --with-jobs``, what ``make run`` does); production runs ``server worker`` apart."""
    worker = create_worker(app, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        await close_worker(worker)
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def worker_is_healthy(settings: Settings) -> bool:
    """A worker reported in within the last health-check interval (``worker --check``)."""
    client = connect_redis(settings.redis_url, settings.redis_timeout_s)
    try:
        return bool(await client.exists(health_check_key(settings.redis_prefix)))
    except REDIS_ERRORS:
        return False
    finally:
        await client.aclose()
