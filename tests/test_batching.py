"""Group commit (server/batching.py): concurrent items share a flush, each caller gets its
own result, and an item submitted during a flush waits for the next one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

import pytest

from server.batching import Batcher


async def test_concurrent_items_share_one_flush_and_each_gets_its_own_result() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> Sequence[int | BaseException]:
        flushes.append(items)
        await asyncio.sleep(0)
        return [ValueError(item) if item == 3 else item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert flushes == [[0, 1, 2, 3, 4]]
    assert results[:3] == [0, 10, 20] and results[4] == 40
    assert isinstance(results[3], ValueError)


async def test_an_item_submitted_during_a_flush_goes_into_the_next() -> None:
    flushes: list[list[str]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def flush(items: list[str]) -> Sequence[str | BaseException]:
        flushes.append(items)
        if len(flushes) == 1:
            started.set()
            await release.wait()
        return items

    batcher: Batcher[str, str] = Batcher(flush)
    first = asyncio.ensure_future(batcher.submit("a"))
    await started.wait()
    later = [asyncio.ensure_future(batcher.submit(x)) for x in ("b", "c")]
    await asyncio.sleep(0)
    release.set()
    assert await first == "a"
    assert [await task for task in later] == ["b", "c"]
    assert flushes == [["a"], ["b", "c"]]


async def test_a_failed_flush_fails_every_caller_of_its_batch_only() -> None:
    calls = 0

    async def flush(items: list[int]) -> Sequence[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    batcher: Batcher[int, int] = Batcher(flush)
    with pytest.raises(ConnectionError):
        await asyncio.gather(batcher.submit(1), batcher.submit(2))
    assert await batcher.submit(3) == 3


async def test_a_caller_cancelled_while_it_waits_leaves_the_flush_to_the_others() -> None:
    flushes: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def flush(items: list[int]) -> Sequence[int | BaseException]:
        flushes.append(items)
        started.set()
        await release.wait()
        return [ValueError(item) for item in items]

    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        batcher: Batcher[int, int] = Batcher(flush)
        gone, staying = (asyncio.ensure_future(batcher.submit(i)) for i in (1, 2))
        await started.wait()
        gone.cancel()
        release.set()
        with pytest.raises(ValueError, match="2"):
            await staying
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert flushes == [[1, 2]]
        del gone, staying
        gc.collect()
        # The cancelled caller's error is nobody's: it must not surface as an exception
        # "never retrieved" (asyncio's complaint about a future that held one).
        assert unhandled == []
    finally:
        loop.set_exception_handler(None)
