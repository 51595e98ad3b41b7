"""Limits on what a derivation may cost: program size (see ``parser``) and time.

``time_limit(seconds)`` interrupts the work with a ``LimitError`` after ``seconds`` of wall
time.  It uses SIGALRM, so it applies in the main thread of a POSIX process (the CLI); elsewhere
it does nothing.
"""
from __future__ import annotations

import numbers
import signal
import threading
from contextlib import contextmanager

from .errors import LimitError, MatcalcError

DEFAULT_TIMEOUT = 60.0   # seconds, for the CLI's --timeout
MAX_TIMEOUT = 1e6        # seconds (about 11.6 days); larger values overflow the system timer


@contextmanager
def time_limit(seconds: float | None, what: str = "the derivation"):
    check_timeout(seconds)
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise LimitError(f"{what} took longer than the time limit of {seconds:g} s "
                         "(--timeout; a smaller program or a larger limit may help)")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_timeout(seconds, what: str = "timeout") -> None:
    """Refuse a time limit that is not a number of seconds in [0, MAX_TIMEOUT] (0 or None: none)."""
    if seconds is None:
        return
    ok = isinstance(seconds, numbers.Real) and not isinstance(seconds, bool) and \
        0 <= seconds <= MAX_TIMEOUT   # False for nan
    if not ok:
        raise MatcalcError(f"bad {what} {seconds!r}: give seconds between 0 (no limit) and {MAX_TIMEOUT:g}")
