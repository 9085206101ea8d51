"""CPU work (Pillow) in worker processes, so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from server.errors import Unavailable

log = logging.getLogger("jiangxin.workers")

T = TypeVar("T")


class WorkerPool:
    """A process pool that replaces itself if a worker dies (e.g. killed for memory)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # Workers start on first use, so apps that never decode an image pay nothing.
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker process; it must be picklable (a module-level function
        or a ``functools.partial`` of one)."""
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, work)
        except BrokenProcessPool:
            log.error("an image worker died; starting a new pool")
            if self._executor is executor:
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            raise Unavailable("图片处理暂时不可用，请重试") from None

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
