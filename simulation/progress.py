"""Progress for long commands: a live bar on a terminal, a plain line every few seconds otherwise.

Shows done out of total, failed count and the estimated time left, e.g.
``runs  7/20 [#######.............] 35%  failed 0  ETA 0:41``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call ``update(done, failed)`` as work completes and ``close()`` at the end."""

    def __init__(self, total: int, unit: str = "runs", stream: TextIO | None = None, every_seconds: float = 5.0,
                 enabled: bool = True) -> None:
        self.total, self.unit = max(total, 1), unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every_seconds
        self.enabled = enabled
        self.start = time.monotonic()
        self._last = -1e9
        self.done = self.failed = 0
        self.note = ""

    def update(self, done: int, failed: int = 0, note: str = "") -> None:
        """Show ``done`` of the total (``failed`` of them failed), with an optional note such as the best loss."""
        self.done, self.failed, self.note = done, failed, note
        now = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif now - self._last >= self.every or done >= self.total:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last = now

    def line(self) -> str:
        frac = self.done / self.total
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta_text = "--:--" if eta != eta else f"{int(eta // 60)}:{int(eta % 60):02d}"
        note = f"  {self.note}" if self.note else ""
        return f"{self.unit} {self.done:>{len(str(self.total))}}/{self.total} [{bar}] {100 * frac:3.0f}%  " \
               f"failed {self.failed}{note}  ETA {eta_text}"

    def count(self, ok: bool) -> None:
        """Record one finished unit of work (an executor outcome callback)."""
        self.update(self.done + 1, self.failed + (not ok))

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
