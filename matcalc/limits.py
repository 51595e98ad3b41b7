"""Limits on what a derivation may cost: program size (see ``parser``) and time.

``time_limit(seconds)`` interrupts the work with a ``LimitError`` after ``seconds`` of wall
time.  It uses SIGALRM, so it applies in the main thread of a POSIX process (the CLI); elsewhere
it does nothing.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from .errors import LimitError

DEFAULT_TIMEOUT = 60.0   # seconds, for the CLI's --timeout


@contextmanager
def time_limit(seconds: float | None, what: str = "the derivation"):
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise LimitError(f"{what} took longer than the time limit of {seconds:g} s "
                         "(--timeout; a smaller program or a larger limit may help)")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
