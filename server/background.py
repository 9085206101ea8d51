"""Small background loops of a process (following a version, flushing counters)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("jiangxin.app")


class Periodic:
    """Awaits ``tick()`` every ``interval_s`` in a task of its own, until ``stop()``.

    A tick that fails is logged and the loop goes on: a loop that died quietly would, say,
    stop following the cache version. ``stop()`` lets a tick under way finish (a flush is
    not cut in half) for up to ``stop_timeout_s``, then cancels it; the loop also ends by
    a flag, because redis-py may turn a cancellation inside a command into a connection
    error, which a tick that degrades on Redis errors would swallow.
    """

    def __init__(
        self,
        name: str,
        interval_s: float,
        tick: Callable[[], Awaitable[None]],
        *,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.stop_timeout_s = stop_timeout_s
        self._tick = tick
        self._stopped = False
        self._ticking = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopped = True
        task = self._task
        if task is None or task.done():
            return
        if not self._ticking:
            task.cancel()  # it is only sleeping
        done, _ = await asyncio.wait({task}, timeout=self.stop_timeout_s)
        if not done:
            log.warning(
                "%s: tick still running after %ss, cancelled", self.name, self.stop_timeout_s
            )
            task.cancel()
            await asyncio.wait({task})

    async def _run(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self.interval_s)
            if self._stopped:
                return
            self._ticking = True
            try:
                await self._tick()
            except Exception:
                log.exception("%s: tick failed", self.name)
            finally:
                self._ticking = False
