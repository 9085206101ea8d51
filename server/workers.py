"""CPU work (Pillow) in worker processes, so the event loop never waits on it.

Each worker is a one-process executor that is handed one task at a time; tasks wait
here, in a bounded queue (``PoolBusy``, a 503 with ``Retry-After``, past it), never
inside an executor, so a flood of uploads cannot pile their bytes up in memory.

Every task has a time limit, enforced twice: inside the worker by an alarm (the task
raises ``WorkTimedOut`` and the worker stays, warm, for the next one), and from here
for work that does not return to the interpreter (one long C call): past the limit
plus a grace the worker process is killed and replaced. A ``ProcessPoolExecutor``
cannot cancel a running task, so without the kill a stuck worker would stay busy,
maybe for ever, and every later task would queue behind it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import TypeVar

from server.errors import Unavailable

log = logging.getLogger("jiangxin.workers")

T = TypeVar("T")

# Past the limit, how long a worker may take to notice its alarm (and, for a fresh
# worker, to start: spawning and importing Pillow) before it is killed.
HARD_GRACE_S = 10.0


class PoolBusy(Unavailable):
    """Every worker busy and the queue full: try again in ``Retry-After`` seconds."""

    message = "图片处理繁忙，请稍后重试"


class WorkTimedOut(Exception):
    """The task ran past its time limit (it was stopped, or its worker killed)."""


class _Expired(BaseException):
    # A BaseException, so that no ``except Exception`` in the work can swallow it.
    pass


def _expire(signum: int, frame: FrameType | None) -> None:
    raise _Expired()


def _run_limited(work: Callable[[], T], limit_s: float) -> T:
    """In the worker: ``work()``, stopped by SIGALRM after ``limit_s`` seconds."""
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        return work()
    except _Expired:
        raise WorkTimedOut(f"stopped after {limit_s} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class WorkerPool:
    """``workers`` processes, at most ``queue_max`` tasks waiting, ``timeout_s`` each."""

    def __init__(
        self,
        workers: int,
        queue_max: int = 8,
        timeout_s: float = 30.0,
        hard_grace_s: float = HARD_GRACE_S,
    ) -> None:
        self.workers = workers
        self.queue_max = queue_max
        self.timeout_s = timeout_s
        self.hard_grace_s = hard_grace_s
        self._idle = [self._new_executor() for _ in range(workers)]
        self._free = asyncio.Semaphore(workers)
        self._waiting = 0
        self._closed = False

    @staticmethod
    def _new_executor() -> ProcessPoolExecutor:
        # The process starts on first use, so apps that never decode an image pay nothing.
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    @property
    def full(self) -> bool:
        """No worker free and no room to wait: a new task would be refused."""
        return not self._idle and self._waiting >= self.queue_max

    def refuse_if_full(self) -> None:
        """``PoolBusy`` now if a task would be refused (before reading its input)."""
        if self.full:
            # About a second per image: the tasks ahead, shared by the workers.
            ahead = self.workers + self._waiting
            raise PoolBusy(retry_after_s=max(1, math.ceil(ahead / self.workers)))

    async def run(self, work: Callable[[], T], timeout_s: float | None = None) -> T:
        """``work()`` in a worker process; it must be picklable (a module-level function
        or a ``functools.partial`` of one). ``PoolBusy`` if the queue is full,
        ``WorkTimedOut`` past ``timeout_s`` (default: the pool's)."""
        if self._closed:
            raise Unavailable("图片处理暂时不可用，请重试")
        self.refuse_if_full()
        self._waiting += 1
        try:
            await self._free.acquire()
        finally:
            self._waiting -= 1
        limit_s = timeout_s or self.timeout_s
        executor = self._idle.pop()
        future: asyncio.Future[T] | None = None
        replace = True  # unless the worker is known to be idle and alive again
        try:
            future = asyncio.wrap_future(
                executor.submit(functools.partial(_run_limited, work, limit_s))
            )
            done, _ = await asyncio.wait({future}, timeout=limit_s + self.hard_grace_s)
            if not done:
                log.error("an image worker ran past %.1f s: killed", limit_s)
                raise WorkTimedOut(f"killed after {limit_s} s")
            replace = isinstance(future.exception(), BrokenProcessPool)
            if replace:
                raise BrokenProcessPool()
            return future.result()
        except BrokenProcessPool:
            log.error("an image worker died; starting a new one")
            raise Unavailable("图片处理暂时不可用，请重试") from None
        finally:
            if replace:  # timed out, died, or our caller was cancelled while it ran
                if future is not None:
                    future.cancel()
                executor = self._replace(executor)
            self._idle.append(executor)
            self._free.release()

    def _replace(self, executor: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """Kill ``executor``'s process (busy or dead) and return a fresh executor."""
        # concurrent.futures has no way to stop a busy worker before Python 3.14's
        # kill_workers(); its process table is the only handle on the process.
        processes: dict[int, multiprocessing.process.BaseProcess] = (
            getattr(executor, "_processes", None) or {}
        )
        for process in list(processes.values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        return self._new_executor()

    def shutdown(self) -> None:
        self._closed = True
        for executor in self._idle:
            executor.shutdown(wait=True, cancel_futures=True)
