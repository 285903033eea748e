"""Signs of life for long commands: a progress bar for training, a status for every other phase.

On a terminal, ``rich`` draws a live bar (members done, what runs now: "bucket 3/8: compiling",
elapsed, an ETA weighted by each bucket's cost) or a spinner with the phase and its elapsed time;
both keep ticking while a program compiles or a chunk trains. On a pipe or log file (or with
``configure(plain=True)``, `lab ... --plain`) a plain line is written at every change of phase and
at least every ``min_interval`` seconds while one lasts, so logs show the run is alive too.

    bar = Progress(total_members, desc="sweep", work=total_cost)
    bar.note("bucket 1/8: compiling")        # what runs now
    bar.update(32, work=cost_of_the_chunk)   # members done; work drives the ETA
    with phase("superposition-quick: fitting"):   # any other long step
        note("drawing figure 2/5")           # reaches the innermost live bar or phase
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

_SETTINGS = {"plain": None}  # None: rich on a terminal, plain lines elsewhere
_ACTIVE: list = []  # the live bars and phases, innermost last (note() goes to it)


def configure(*, plain: bool | None = None) -> None:
    """Force plain lines (True), rich (False), or choose by the stream (None)."""
    _SETTINGS["plain"] = plain


def _use_rich(stream) -> bool:
    if _SETTINGS["plain"] is not None:
        return not _SETTINGS["plain"]
    return stream is sys.stderr and getattr(stream, "isatty", lambda: False)()


def note(text: str, *, announce: bool = False) -> None:
    """Say what runs now in the innermost live bar or phase (nothing when none is live)."""
    if _ACTIVE:
        _ACTIVE[-1].note(text, announce=announce)


class _Heartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, interval: float, beat):
        self.interval, self.beat = interval, beat
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped.wait(self.interval):
            self.beat()

    def stop(self):
        self.stopped.set()


class Progress:
    """Members trained out of ``total``; ``work`` (e.g. Σ cost of the chunks) makes the ETA fair."""

    def __init__(self, total: int, desc: str = "", stream=None, min_interval: float = 5.0, work: float | None = None):
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.start = self.last = time.perf_counter()
        self.min_interval = min_interval
        self.work_total, self.work_done = work, 0.0
        self.current = ""
        self.lock = threading.Lock()
        self.rich = self._start_rich() if _use_rich(self.stream) else None
        self.heartbeat = None if self.rich or self.tty else _Heartbeat(min(min_interval, 1.0), self._beat)
        _ACTIVE.append(self)

    def _start_rich(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn

        bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("members"), TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"),
                           TextColumn("{task.fields[now]}"), console=Console(file=self.stream), transient=False)
        bar.start()
        self.task = bar.add_task(self.desc, total=self.total, eta="?", now="")
        return bar

    def note(self, text: str, *, announce: bool = False) -> None:
        """What runs now, e.g. "bucket 3/8: compiling"; plain lines show it at the next line, or at
        once with ``announce`` (a new phase, not every chunk: logs stay short)."""
        with self.lock:
            changed, self.current = text != self.current, text
        if self.rich:
            self.rich.update(self.task, now=text)
        elif changed and announce and not self.tty:
            self._write(time.perf_counter())

    def update(self, n: int, note: str = "", work: float | None = None) -> None:
        self.done += n
        self.work_done += work if work is not None else n
        if note:
            self.current = note
        now = time.perf_counter()
        if self.rich:
            self.rich.update(self.task, completed=self.done, eta=self._eta_text(now), now=self.current)
        elif self.tty or now - self.last >= self.min_interval or self.done >= self.total:
            self._write(now)

    def _beat(self) -> None:
        now = time.perf_counter()
        if now - self.last >= self.min_interval:  # silent for a whole interval: say it is still running
            self._write(now)

    def _write(self, now: float) -> None:
        with self.lock:
            self.last = now
            self.stream.write(("\r" if self.tty else "") + self.line(now, self.current) + ("" if self.tty else "\n"))
            self.stream.flush()

    def eta(self, now: float) -> float:
        """Seconds left: elapsed time scaled by the work still to do (nan before any is done)."""
        elapsed = now - self.start
        total = self.work_total if self.work_total is not None else self.total
        done = self.work_done if self.work_total is not None else self.done
        return elapsed * (total - done) / done if done > 0 else float("nan")

    def _eta_text(self, now: float) -> str:
        eta = self.eta(now)
        return "?" if eta != eta else _clock(eta)

    def line(self, now: float, note: str = "") -> str:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = self.eta(now)
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        eta_s = f"{eta:5.0f}s" if eta == eta else "    ?"
        return f"{self.desc} [{bar}] {self.done}/{self.total} members  {rate:6.1f}/s  elapsed {elapsed:5.0f}s  eta {eta_s} {note}"

    def close(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.heartbeat:
            self.heartbeat.stop()
        if self.rich:
            self.rich.stop()
        elif self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Phase:
    def __init__(self, text: str, stream, min_interval: float):
        self.text, self.stream, self.min_interval = text, stream, min_interval
        self.current, self.start = "", time.perf_counter()
        self.last = self.start
        self.status = self.heartbeat = None
        if _use_rich(stream):
            from rich.console import Console

            self.console = Console(file=stream)
            self.status = self.console.status(text)
            self.status.start()
        else:
            self._write("")
            self.heartbeat = _Heartbeat(min(min_interval, 1.0), self._beat)

    def _beat(self) -> None:
        if time.perf_counter() - self.last >= self.min_interval:
            self._write(" (still running)")

    def note(self, text: str, *, announce: bool = True) -> None:
        """A new step of the phase (few per phase: always written, ``announce`` is ignored)."""
        if text == self.current:
            return
        self.current = text
        if self.status:
            self.status.update(f"{self.text}: {text}")
        else:
            self._write("")

    def _write(self, suffix: str) -> None:
        self.last = time.perf_counter()
        elapsed = self.last - self.start
        now = f": {self.current}" if self.current else ""
        self.stream.write(f"{self.text}{now}  elapsed {elapsed:.0f}s{suffix}\n")
        self.stream.flush()

    def close(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.heartbeat:
            self.heartbeat.stop()
        if self.status:
            self.status.stop()
            self.console.print(f"{self.text}: done in {_clock(elapsed)}")
        else:
            self.stream.write(f"{self.text}: done in {_clock(elapsed)}\n")
            self.stream.flush()


@contextlib.contextmanager
def phase(text: str, *, enabled: bool = True, stream=None, min_interval: float = 5.0):
    """A live status for a step without a member count (fitting, drawing, writing the report)."""
    if not enabled:
        yield None
        return
    p = _Phase(text, stream or sys.stderr, min_interval)
    _ACTIVE.append(p)
    try:
        yield p
    finally:
        _ACTIVE.remove(p)
        p.close()


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


__all__ = ["Progress", "phase", "note", "configure"]
