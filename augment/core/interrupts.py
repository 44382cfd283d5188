"""SIGTERM handled like Ctrl-C: the command unwinds, every ``finally`` cleans up, exit 143.

A cluster sends SIGTERM before it kills a job; Python's default is to die on the spot, leaving
temporary files behind. Inside :func:`terminate_as_interrupt`, SIGTERM raises :class:`Terminated`,
a :class:`KeyboardInterrupt`, so whatever cleans up after Ctrl-C (temporary folders, open
writers, a training checkpoint) runs for it too. What a ``kill -9`` leaves behind is removed by
the next run into the same place (:mod:`augment.core.files`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, the shell's code for Ctrl-C


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than SIGINT (SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 143 for SIGTERM, as a shell reports a process it killed


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 128 + the signal number for :class:`Terminated`."""
    return exc.exit_code if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def interrupt_message(exc: KeyboardInterrupt) -> str:
    if isinstance(exc, Terminated):
        return f"augment: terminated by {signal.Signals(exc.signum).name}"
    return "augment: interrupted"


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread (once: a second
    SIGTERM during the cleanup is ignored, so the cleanup finishes). Elsewhere than the main
    thread, signals cannot be handled, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
