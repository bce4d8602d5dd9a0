"""A small progress bar for long commands (a bar on a terminal, plain lines in logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
LOG_EVERY_SECONDS = 2.0  # off a terminal, print at most one line this often


class ProgressBar:
    """Call with (done, total, label); draws ``[#####-----]  50%  label``."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.is_tty = self.stream.isatty()
        self._last_line = 0.0
        self._finished = False

    def __call__(self, done: int, total: int, label: str = "") -> None:
        total = max(total, 1)
        fraction = min(max(done / total, 0.0), 1.0)
        filled = int(BAR_WIDTH * fraction)
        line = f"{self.title} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%}  {label}"
        if self.is_tty:
            self.stream.write("\r\033[K" + line)
            if done >= total:
                self.stream.write("\n")
                self._finished = True
        else:
            now = time.monotonic()
            if done >= total or now - self._last_line >= LOG_EVERY_SECONDS:
                self.stream.write(line + "\n")
                self._last_line = now
        self.stream.flush()
