"""``python -m server worker``: background work on arq, a Redis-backed job queue.

Jobs run against the same services as the API (the app's resources, without a socket).
The rooms declare them (``Room.jobs``: queued by name, e.g. the stories room's
``publish_due_story`` for a scheduled story's ``publish_at``; ``Room.crons``: periodic,
e.g. view counts every 10 s, hourly sweeps of photos, idempotency records and sessions).

Any number of workers may run: a queued job is taken by one of them, and each periodic
job runs once per tick whichever workers are up (arq's unique cron job ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import warnings
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from arq import Worker, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, func

from config.settings import Settings
from server.app import app_resources
from server.errors import REDIS_UNAVAILABLE
from server.jobqueue import arq_redis, dump_job, load_job, queue_name
from server.keys import ROOMS, SETTINGS
from server.redis_state import connect_redis
from server.room import Job

log = logging.getLogger("jiangxin.worker")

Context = dict[str, Any]
HEALTH_CHECK_INTERVAL_S = 60


def health_check_key(redis_prefix: str) -> str:
    return f"{redis_prefix}jobs:health-check"


def _arq_function(job: Job) -> WorkerCoroutine:
    """arq calls ``f(ctx, *args)``; a room's job is ``job(app, *args)``."""

    @functools.wraps(job)
    async def run(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        return await job(ctx["app"], *args, **kwargs)

    return run


def _unique_names(jobs: list[Job]) -> list[Job]:
    names = [job.__name__ for job in jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"two rooms declare jobs of the same name: {duplicates}")
    return jobs


def create_worker(
    app: web.Application, *, poll_delay_s: float = 0.5, handle_signals: bool = True
) -> Worker:
    """An arq worker whose jobs use ``app``'s services (started by the caller)."""
    settings = app[SETTINGS]
    prefix = settings.redis_prefix
    rooms = app[ROOMS]
    queued = _unique_names([job for room in rooms for job in room.jobs])
    periodic = [entry for room in rooms for entry in room.crons]
    _unique_names([entry.job for entry in periodic])
    functions: list[Function] = [func(_arq_function(job), name=job.__name__) for job in queued]
    return Worker(
        functions=functions,
        cron_jobs=[
            # The prefix keeps the job ids of deployments sharing one Redis apart.
            cron(
                _arq_function(entry.job),
                name=f"{prefix}{entry.job.__name__}",
                second=entry.second,
                minute=entry.minute,
                hour=entry.hour,
            )
            for entry in periodic
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
    except REDIS_UNAVAILABLE:
        return False
    finally:
        await client.aclose()
