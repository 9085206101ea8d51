"""``python -m server worker``: background work on arq, a Redis-backed job queue.

Jobs run against the same services as the API (the app's resources, without a socket).
The rooms declare them (``Room.jobs``: queued by name, e.g. the stories room's
``publish_due_story`` for a scheduled story's ``publish_at``; ``Room.crons``: periodic,
e.g. view counts every 10 s, hourly sweeps of photos, idempotency records and sessions).

Any number of workers may run: a queued job is taken by one of them, and each periodic
job runs once per tick whichever workers are up (arq's unique cron job ids).

arq logs every job's start and end at INFO: with view counts every 10 s that is a line
every few seconds for nothing. Those lines are DEBUG here (``QuietJobLog``); a job that
fails is still logged by arq at WARNING/ERROR with its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from arq import Worker, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Retry, func

from config.settings import Settings
from server.app import app_resources
from server.errors import REDIS_UNAVAILABLE
from server.jobqueue import arq_redis, dump_job, load_job, queue_name
from server.keys import DEGRADE, ROOMS, SETTINGS
from server.redis_state import connect_redis
from server.room import Job
from server.workers import PoolBusy

log = logging.getLogger("jiangxin.worker")

Context = dict[str, Any]
HEALTH_CHECK_INTERVAL_S = 60

# arq's INFO lines (the format strings of arq 0.28's arq.worker) that come with every
# job that runs as it should: its start, its result, and the health line, which changes
# with every job done.
_ROUTINE_JOB_LINES = frozenset({"%6.2fs → %s(%s)%s", "%6.2fs ← %s ● %s", "recording health: %s"})


class QuietJobLog(logging.Filter):
    """Turns arq's routine per-job INFO lines into DEBUG ones (dropped unless the
    ``arq.worker`` logger is enabled for DEBUG). A logger's filter runs after its level
    check, so the record is re-levelled here and dropped here too. Failures, retries
    past the limit and start/shutdown lines keep arq's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not (
            isinstance(record.msg, str) and record.msg in _ROUTINE_JOB_LINES
        ):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_QUIET_JOB_LOG = QuietJobLog()


def health_check_key(redis_prefix: str) -> str:
    return f"{redis_prefix}jobs:health-check"


def _arq_function(job: Job) -> WorkerCoroutine:
    """arq calls ``f(ctx, *args)``; a room's job is ``job(app, *args)``. A job the image
    pool refuses (its queue is full: the seed's or a class's photos at once) runs again
    after the pool's ``Retry-After``, as a client would, rather than failing."""

    @functools.wraps(job)
    async def run(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            return await job(ctx["app"], *args, **kwargs)
        except PoolBusy as busy:
            raise Retry(defer=int(busy.headers["Retry-After"])) from None

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
    logging.getLogger("arq.worker").addFilter(_QUIET_JOB_LOG)  # once: a filter is a set
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


async def _cancel_jobs(running: list[asyncio.Task[Any]]) -> None:
    """Cancel a worker's running jobs (arq runs them again) and wait for each, whatever
    it ended with."""
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running)
        for task in running:  # retrieved, so that none is "never retrieved" at exit
            if not task.cancelled():
                task.exception()


async def close_worker(worker: Worker) -> None:
    """Stop the worker: cancel its loop and its running jobs (arq runs them again on the
    next worker), wait for them, remove its health-check key, close its connections.

    arq's ``Worker.close()`` does the same, but a job whose cancellation lands in arq's
    own bookkeeping after the job makes close re-raise that cancellation (leaving the
    connections open), and with Redis gone close fails at the health-check key. Here
    every job is waited for whatever it ended with, and Redis being gone is noted for
    the shutdown report: the key expires by itself."""
    running = [task for task in worker.tasks.values() if not task.done()]
    log.info(
        "job worker stopping: %d jobs done, %d failed, %d running (cancelled, run again "
        "by the next worker)",
        worker.jobs_complete,
        worker.jobs_failed,
        len(running),
    )
    if worker.main_task is not None:
        worker.main_task.cancel()
    await _cancel_jobs(running)
    try:
        await worker.pool.delete(worker.health_check_key)
    except REDIS_UNAVAILABLE as exc:
        worker.ctx["app"][DEGRADE].lost_at_shutdown(
            "redis", "the job worker's health-check key not removed (it expires by itself)", exc
        )
    finally:
        await worker.pool.aclose(close_connection_pool=True)


async def run_worker(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT (arq stops polling, cancels running jobs, which are
    retried by the next worker); the exit status. If Redis goes away the worker stops
    with one line and status 1, for its supervisor (systemd, Docker, Kubernetes) to
    restart it."""
    async with app_resources(settings) as app:
        worker = create_worker(app)
        try:
            await worker.async_run()
        except asyncio.CancelledError:  # arq's signal handler cancels its main task
            log.info("worker stopping")
        except REDIS_UNAVAILABLE as exc:
            log.error("worker stopping: Redis unavailable (%s)", type(exc).__name__)
            return 1
        finally:
            await close_worker(worker)
    return 0


RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""How long the in-process worker waits before starting again, after each failure in a row."""
STEADY_S = 60.0
"""A worker that ran this long before it stopped starts again at the first delay."""


async def _discard(worker: Worker) -> None:
    """A worker whose loop ended with Redis gone: its running jobs cancelled (run again
    later) and waited for, its connections closed (the health-check key expires)."""
    await _cancel_jobs([task for task in worker.tasks.values() if not task.done()])
    with contextlib.suppress(*REDIS_UNAVAILABLE):
        await worker.pool.aclose(close_connection_pool=True)


async def jobs_in_process_ctx(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx`` running the job worker inside a serving process (``serve
    --with-jobs``, what ``make run`` does); production runs ``server worker`` apart.

    arq's loop ends when Redis goes away: that is said in one line when it happens, and a
    new worker starts after ``RESTART_DELAYS_S`` (again and again, backing off, until
    Redis answers), so jobs resume by themselves once Redis is back."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    current: list[Worker] = [create_worker(app, handle_signals=False)]

    async def supervise() -> None:
        failures = 0
        while True:
            worker = current[0]
            started = loop.time()
            try:
                await worker.async_run()
                return
            except REDIS_UNAVAILABLE as exc:
                if stopping.is_set():
                    return  # at shutdown redis-py may turn the cancellation into an error
                failures = 1 if loop.time() - started >= STEADY_S else failures + 1
                delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S)) - 1]
                log.error(
                    "job worker stopped: Redis unavailable (%s); starting again in %g s",
                    type(exc).__name__,
                    delay,
                )
            await _discard(worker)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
                return
            current[0] = create_worker(app, handle_signals=False)

    def said_when_it_ends(task: asyncio.Task[None]) -> None:
        if task.cancelled() or (exc := task.exception()) is None or stopping.is_set():
            return
        log.error("job worker stopped", exc_info=exc)

    task = asyncio.create_task(supervise(), name="job worker")
    task.add_done_callback(said_when_it_ends)
    try:
        yield
    finally:
        stopping.set()
        await close_worker(current[0])
        # What it ended with was said above (or is the shutdown's own doing).
        with contextlib.suppress(asyncio.CancelledError, *REDIS_UNAVAILABLE):
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
