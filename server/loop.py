"""The event loop every long-running process runs on: uvloop where it exists.

``EVENT_LOOP=auto`` (the default) takes uvloop when it imports (Linux, macOS) and
asyncio's own loop otherwise; ``uvloop`` insists on it, ``asyncio`` turns it off. Only
``serve`` and ``worker`` use this: one-shot commands gain nothing from a faster loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib.metadata import version
from typing import Any, TypeVar

from config.settings import EventLoopChoice

T = TypeVar("T")


def loop_factory(choice: EventLoopChoice) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop's name (for the start-up log) and what makes one."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise RuntimeError(
                    "EVENT_LOOP=uvloop but uvloop is not installed (pip install uvloop, "
                    "or EVENT_LOOP=auto)"
                ) from None
        else:
            return f"uvloop {version('uvloop')}", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice) -> T:
    """``asyncio.run`` on the chosen loop."""
    _, factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
