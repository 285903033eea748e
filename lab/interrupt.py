"""Ctrl-C that always stops a run.

Python raises KeyboardInterrupt wherever the interpreter happens to be when SIGINT arrives; inside a
garbage-collection callback (JAX registers one) the exception is printed as "Exception ignored"
and dropped, and the run would go on. After ``install()`` (the `lab` command calls it first) a
Ctrl-C is recorded as well as raised, and long loops call ``check()`` at safe points, so an
interrupt that something dropped still stops the run there.
"""

from __future__ import annotations

import signal
import threading

_pending = threading.Event()


def _handler(signum, frame):
    _pending.set()
    raise KeyboardInterrupt


def install() -> None:
    """Make Ctrl-C raise and be recorded from now on in this process (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        _pending.clear()
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # e.g. a background job of a shell
            signal.signal(signal.SIGINT, _handler)


def pending() -> bool:
    """Whether a Ctrl-C arrived (and was not yet raised by ``check``)."""
    return _pending.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C arrived, even one that was raised and dropped elsewhere."""
    if _pending.is_set():
        _pending.clear()
        raise KeyboardInterrupt

