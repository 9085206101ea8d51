"""One task per key at a time: concurrent callers for the same key share its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """The first caller for a key starts the work; callers arriving while it runs await
    the same task. A caller that is cancelled (its client hung up) does not cancel the
    work the others wait for."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[T]] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        # A task that finished is forgotten only by its done callback, which runs in a
        # later loop iteration: until then it must not be handed out again (awaiting it
        # would not yield, and a caller looping until it gets fresh work would spin).
        if task is None or task.done():
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(partial(self._finished, key))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter went away
