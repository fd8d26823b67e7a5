"""A time budget per inbound message: parsing that runs over it is stopped and the message is
quarantined with the reason, so one mail cannot stall the inbox worker.

The patterns over outside text are linear (bot/mail_in/extract/), so the budget is the backstop
for what no one has found yet. It interrupts with SIGALRM, which Python's regular-expression
engine and parsers honour between steps; a signal reaches only the main thread, which is where
the inbox worker processes and `leadbot inbox process` run. In a thread (LEADBOT_INBOX_WORKERS=0)
the time is measured instead and a message over its budget is quarantined once parsed.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class OverBudget(Exception):
    """Parsing one message took longer than its budget."""


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise OverBudget from the block once it has run `seconds` (0 = no budget)."""
    if seconds <= 0:
        yield
        return
    started = time.monotonic()
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous = None
    if alarm:

        def over(_signum: int, _frame: FrameType | None) -> None:
            raise OverBudget(f"parsing took over its budget of {seconds:g} s")

        previous = signal.signal(signal.SIGALRM, over)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started
    if elapsed > seconds:
        raise OverBudget(f"parsing took {elapsed:.1f} s, over its budget of {seconds:g} s")
