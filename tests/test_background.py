"""The small concurrency tools: one load per key at a time, and loops that always stop.

The work in these tests waits on events the test sets, never on the time passing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from server.background import Periodic
from server.singleflight import SingleFlight


async def test_concurrent_callers_share_one_run() -> None:
    flight: SingleFlight[str] = SingleFlight()
    runs = 0
    started, finish = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        nonlocal runs
        runs += 1
        started.set()
        await finish.wait()
        return "page"

    callers = [asyncio.create_task(flight.run("k", load)) for _ in range(300)]
    await started.wait()  # every caller has asked by now: the load starts after them
    finish.set()
    results = await asyncio.gather(*callers)
    assert results == ["page"] * 300
    assert runs == 1
    assert await flight.run("k", load) == "page"  # finished work is not kept
    assert runs == 2


async def test_work_that_just_finished_is_not_handed_out_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    first = asyncio.ensure_future(flight.run("k", load))
    await asyncio.sleep(0)  # first has started the load
    # This caller runs right after the load's last step, before its clean-up callback:
    # it must get a load of its own, not the finished one (a rate limiter waiting for a
    # fresh lease would spin on that forever).
    second = asyncio.ensure_future(flight.run("k", load))
    assert await first == 1
    assert await second == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    started, finish = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        started.set()
        await finish.wait()
        return "page"

    impatient = asyncio.create_task(flight.run("k", load))
    patient = asyncio.create_task(flight.run("k", load))
    await started.wait()  # both wait for the one load
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    finish.set()
    assert await patient == "page"


async def test_every_waiter_sees_the_failure() -> None:
    flight: SingleFlight[str] = SingleFlight()
    started, fail = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        started.set()
        await fail.wait()
        raise LookupError("no such story")

    waiters = [asyncio.create_task(flight.run("k", load)) for _ in range(5)]
    await started.wait()  # all five wait for the one load
    fail.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)


async def test_a_periodic_loop_stops_even_if_its_tick_swallows_the_cancellation() -> None:
    ticks = 0
    inside = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        inside.set()
        # What redis-py can do: a cancellation inside a command becomes an error that
        # a caller degrading on Redis errors handles.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()  # a command that never answers

    loop = Periodic("stubborn", 0.01, tick, stop_timeout_s=0.1)
    loop.start()
    await inside.wait()  # inside the first tick now
    await asyncio.wait_for(loop.stop(), timeout=10)
    assert ticks == 1


async def test_stopping_lets_the_tick_under_way_finish() -> None:
    flushed: list[str] = []
    inside, finish = asyncio.Event(), asyncio.Event()

    async def flush() -> None:
        inside.set()
        await finish.wait()
        flushed.append("all of it")

    loop = Periodic("flusher", 0.01, flush)
    loop.start()
    await inside.wait()  # the first flush is under way
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)  # let stop() begin: it must wait for the flush, not cut it
    assert not stopping.done()
    finish.set()
    await stopping
    assert flushed == ["all of it"]


async def test_a_failing_tick_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = 0
    third = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            third.set()
        if ticks == 1:
            raise KeyError("a bug")

    loop = Periodic("follower", 0.01, tick)
    loop.start()
    await asyncio.wait_for(third.wait(), timeout=10)  # two ticks after the failure
    await loop.stop()
    assert ticks > 2
    assert any("follower: tick failed" in r.getMessage() for r in caplog.records)
