"""The job worker's log and its shutdown, on real Redis: a job that runs as it should
leaves no INFO line (arq logs one per job: with view counts every 10 s, ``make run``
printed a line every few seconds), a failed one is still logged with its name; and a
serving process with the in-process worker (``serve --with-jobs``) whose Redis is gone
stops without a traceback, saying in one line what it could not flush or close; and its
worker starts again by itself once Redis is back. A job the busy image pool refuses
runs again instead of failing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from arq.jobs import Job, JobResult
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from config.settings import Settings
from handlers.stories.keys import ENGAGEMENT_SERVICE
from server.app import create_app
from server.jobqueue import load_job, queue_name
from server.keys import JOBS
from server.room import Room
from server.rooms import ROOMS
from server.worker import (
    close_worker,
    create_worker,
    health_check_key,
    jobs_in_process_ctx,
    run_worker,
)
from server.workers import PoolBusy
from tests.fixtures.redis_process import RedisProcess
from tests.fixtures.waiting import eventually


async def job_that_works(app: web.Application) -> str:
    return "done"


async def job_that_fails(app: web.Application) -> None:
    raise LookupError("the story went away")


POOL_TRIES: list[str] = []


async def job_the_pool_refuses_once(app: web.Application, key: str) -> int:
    POOL_TRIES.append(key)
    if POOL_TRIES.count(key) == 1:
        raise PoolBusy(retry_after_s=0)  # 0: again at once, so that the test waits for nothing
    return POOL_TRIES.count(key)


TEST_JOBS = Room(name="test_jobs", jobs=(job_that_works, job_that_fails, job_the_pool_refuses_once))


async def run_job(
    app: web.Application, function: str, when: datetime | None = None, *args: Any
) -> JobResult:
    """Queue ``function(*args)`` for ``when`` (now) and wait (with a deadline) for the
    worker's result."""
    jobs = app[JOBS]
    job_id = f"{function}:{uuid.uuid4().hex}"
    assert await jobs.run_at(function, when or datetime.now(UTC), job_id, *args)
    job = Job(jobs.job_id(job_id), jobs.arq, _queue_name=queue_name(jobs.prefix),
              _deserializer=load_job)  # fmt: skip
    return await eventually(job.result_info, what=f"the result of {function}")


@contextlib.asynccontextmanager
async def started(app: web.Application) -> AsyncIterator[web.Application]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield app
    finally:
        await runner.cleanup()


async def answering(redis: RedisProcess) -> None:
    """Until the test's own redis-server (just started) takes connections."""
    client = Redis.from_url(redis.url)

    async def pong() -> bool:
        try:
            return bool(await client.ping())
        except RedisConnectionError:
            return False

    try:
        await eventually(pong, what="redis-server to take connections")
    finally:
        await client.aclose()


async def serving_with_jobs(settings: Settings, redis: RedisProcess) -> web.Application:
    """An app on the test's own redis-server (once it answers) with the in-process worker
    (what `serve --with-jobs` does), not started yet."""
    await answering(redis)
    app = create_app(
        settings.model_copy(update={"redis_url": redis.url}), rooms=(*ROOMS, TEST_JOBS)
    )
    app.cleanup_ctx.append(jobs_in_process_ctx)
    return app


def about(records: list[logging.LogRecord], job: JobResult) -> list[logging.LogRecord]:
    """The lines about that job (arq names it by its id)."""
    assert job.job_id
    return [r for r in records if job.job_id in r.getMessage()]


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_a_job_that_works_is_logged_at_debug_only_and_a_failure_is_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    caplog.set_level(level)  # INFO is LOG_LEVEL's default
    async with started(create_app(settings, rooms=(TEST_JOBS,))) as app:
        worker = create_worker(app, poll_delay_s=0.05, handle_signals=False)
        running = asyncio.create_task(worker.async_run())
        try:
            works = await run_job(app, "job_that_works")
            fails = await run_job(app, "job_that_fails")
            assert works.success
            assert not fails.success
            # A time long gone (an event published after its reminder's day): at once.
            late = await run_job(app, "job_that_works", datetime.now(UTC) - timedelta(days=3))
            assert late.success
            # The image pool's queue full (the seed's photos at once): tried again, not failed.
            key = uuid.uuid4().hex
            refused = await run_job(app, "job_the_pool_refuses_once", None, key)
            assert (refused.success, refused.result, refused.job_try) == (True, 2, 2)
        finally:
            await close_worker(worker)
            with contextlib.suppress(asyncio.CancelledError):
                await running
    lines = about(caplog.records, works)
    if level == logging.INFO:
        assert lines == []  # nothing, not even a line re-levelled to DEBUG
    else:
        assert len(lines) == 2  # its start and its result, still there for debugging
        assert {r.levelno for r in lines} == {logging.DEBUG}
    failed = [r for r in about(caplog.records, fails) if r.levelno >= logging.WARNING]
    assert failed, "a failed job must be logged, with its name"
    assert "job_that_fails failed, LookupError" in failed[0].getMessage()
    assert [r for r in about(caplog.records, refused) if r.levelno >= logging.WARNING] == []


async def test_shutdown_with_redis_gone_is_clean_and_says_what_it_lost(
    settings: Settings, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = await serving_with_jobs(settings, own_redis)
    runner = web.AppRunner(app)
    await runner.setup()
    assert (await run_job(app, "job_that_works")).success  # the worker is running
    own_redis.stop()
    views = app[ENGAGEMENT_SERVICE].views
    for _ in range(3):
        views.record("6b0f0000000000000000a541")  # counted, never flushed
    await runner.cleanup()  # raises nothing

    shutdown = [r for r in caplog.records if r.getMessage().startswith("shutdown:")]
    assert len(shutdown) == 1, [r.getMessage() for r in caplog.records]
    line = shutdown[0]
    assert line.levelno == logging.WARNING
    message: Any = line.getMessage()
    assert "redis unavailable (ConnectionError)" in message
    assert "3 story views not flushed" in message
    assert "job worker" in message
    assert not [r for r in caplog.records if r.exc_info], "no traceback at shutdown"


async def test_the_worker_process_exits_1_with_one_line_when_redis_goes_away(
    settings: Settings, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ours = settings.model_copy(update={"redis_url": own_redis.url})
    await answering(own_redis)
    worker = asyncio.create_task(run_worker(ours))  # `python -m server worker`
    client = Redis.from_url(own_redis.url)
    try:
        key = health_check_key(ours.redis_prefix)
        await eventually(lambda: client.exists(key), what="the worker's first health check")
    finally:
        await client.aclose()
    own_redis.stop()
    assert await asyncio.wait_for(worker, timeout=30) == 1  # noticed at its next poll
    messages = [r.getMessage() for r in caplog.records]
    assert "worker stopping: Redis unavailable (ConnectionError)" in messages
    assert len([m for m in messages if m.startswith("shutdown:")]) == 1
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


async def test_the_in_process_worker_starts_again_once_redis_is_back(
    settings: Settings, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = await serving_with_jobs(settings, own_redis)
    async with started(app):
        assert (await run_job(app, "job_that_works")).success
        own_redis.stop()

        async def said_it_stopped() -> bool:
            return any(
                r.getMessage().startswith("job worker stopped: Redis unavailable")
                for r in caplog.records
            )

        await eventually(said_it_stopped, what="the worker to notice Redis gone")
        own_redis.start()
        await answering(own_redis)
        # Queued after Redis came back (empty): run by the worker started again.
        assert (await run_job(app, "job_that_works")).success
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
