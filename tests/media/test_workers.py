"""The image pool: a bounded queue (503 + Retry-After past it) and a time limit per task
that never leaves a worker stuck."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator

import pytest

from server.workers import PoolBusy, WorkerPool, WorkTimedOut
from tests.media.stuck_work import ignore_alarm_and_sleep


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(1, queue_max=1, timeout_s=60, hard_grace_s=1.0)
    yield pool
    await asyncio.to_thread(pool.shutdown)


async def test_a_full_queue_refuses_at_once_with_retry_after(pool: WorkerPool) -> None:
    await pool.run(os.getpid)  # started, so the first task below is quick to begin
    running = asyncio.ensure_future(pool.run(functools.partial(time.sleep, 0.5)))
    waiting = asyncio.ensure_future(pool.run(os.getpid))
    await asyncio.sleep(0)  # both admitted: one in the worker, one waiting
    assert pool.full
    with pytest.raises(PoolBusy) as refused:
        await pool.run(os.getpid)
    assert refused.value.status == 503
    assert refused.value.code == "unavailable"
    assert int(refused.value.headers["Retry-After"]) >= 1
    await running
    assert isinstance(await waiting, int)  # the waiting task ran once the worker was free
    assert not pool.full


async def test_a_slow_task_is_stopped_and_the_warm_worker_stays(pool: WorkerPool) -> None:
    worker = await pool.run(os.getpid)
    with pytest.raises(WorkTimedOut):
        await pool.run(functools.partial(time.sleep, 30), timeout_s=0.2)
    assert await pool.run(os.getpid) == worker


async def test_a_task_deaf_to_its_alarm_is_killed_and_the_pool_goes_on(pool: WorkerPool) -> None:
    worker = await pool.run(os.getpid)
    with pytest.raises(WorkTimedOut):
        await pool.run(functools.partial(ignore_alarm_and_sleep, 600), timeout_s=0.2)
    # One worker: had the stuck one stayed, this would queue behind it for ten minutes.
    replacement = await asyncio.wait_for(pool.run(os.getpid), timeout=60)
    assert replacement != worker
