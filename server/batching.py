"""Group commit: concurrent callers' items written by one command instead of one each.

``Batcher(flush)``: ``await batcher.submit(item)`` queues the item and waits for its own
result. While no flush is running, one starts on the loop's next turn with every item
queued by then; while one runs, new items wait for the next, which takes all of them
(at most ``max_batch``). So an idle server adds one loop turn, and under load a
command carries as many items as arrived during the previous one: the round trips per
item fall as the load grows, with no timer.

``flush(items)`` returns one result per item, in order; a result that is an exception
is raised to that item's caller only. If ``flush`` itself raises, every caller of that
batch gets the exception. Every item's flush starts after its ``submit``: what a caller
did before submitting is seen by the command that carries its item.

A caller that is cancelled while it waits does not cancel the flush (the others wait
for it too); its item may still be written, as an item whose caller's process dies
after sending it would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, max_batch: int = 100) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain())
        # The future is this caller's own: cancelling the caller cancels it, and the
        # flush (another task) goes on for the rest, skipping it. (A shield here cost a
        # second future per item and left a cancelled caller's error unretrieved.)
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # the items queued in this loop turn come along
            while self._queued:
                batch = self._queued[: self._max_batch]
                del self._queued[: self._max_batch]
                try:
                    results = await self._flush([item for item, _ in batch])
                except Exception as exc:
                    results = [exc] * len(batch)
                except BaseException:  # cancelled (the loop is closing): nobody waits on
                    for _, future in batch:
                        future.cancel()
                    raise
                if len(results) != len(batch):
                    results = [RuntimeError("flush answered the wrong number")] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._draining = None
            leftover, self._queued = self._queued, []
            for _, future in leftover:
                future.cancel()
