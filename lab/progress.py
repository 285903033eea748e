"""A small progress line for long sweeps: members done, rate, ETA.

On a terminal the line is redrawn in place after every chunk; on a pipe or log file a new line is
written at most every ``min_interval`` seconds, plus the final one.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, desc: str = "", stream=None, min_interval: float = 10.0):
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.start = self.last = time.perf_counter()
        self.min_interval = min_interval

    def update(self, n: int, note: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if self.tty or now - self.last >= self.min_interval or self.done >= self.total:
            self.last = now
            self.stream.write(("\r" if self.tty else "") + self.line(now, note) + ("" if self.tty else "\n"))
            self.stream.flush()

    def line(self, now: float, note: str = "") -> str:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        eta_s = f"{eta:5.0f}s" if eta == eta else "    ?"
        return f"{self.desc} [{bar}] {self.done}/{self.total} members  {rate:6.1f}/s  elapsed {elapsed:5.0f}s  eta {eta_s} {note}"

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
