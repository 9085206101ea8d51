"""Work for the image pool's tests: importable by a spawned worker (pickled by name)."""

from __future__ import annotations

import signal
import time


def ignore_alarm_and_sleep(seconds: float) -> None:
    """Like one long C call: deaf to the worker's alarm, so only a kill stops it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
