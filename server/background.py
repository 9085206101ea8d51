"""Small background loops of a process (following a version, flushing counters)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Periodic:
    """Awaits ``tick()`` every ``interval_s`` in a task of its own, until ``stop()``.

    Stopping sets a flag as well as cancelling: redis-py may turn a cancellation that
    lands inside a command into a connection error, which a tick that degrades on Redis
    errors would swallow, and the loop would never end.
    """

    def __init__(self, interval_s: float, tick: Callable[[], Awaitable[None]]) -> None:
        self.interval_s = interval_s
        self._tick = tick
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self.interval_s)
            if not self._stopped:
                await self._tick()
