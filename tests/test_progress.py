"""Progress output: a redrawn bar on a terminal, plain lines every few seconds otherwise."""

from __future__ import annotations

import io

from simulation.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_redrawn_line_with_done_failed_and_eta():
    """On a terminal every update redraws the same line (carriage return) with counts, failures and an ETA."""
    out = FakeTTY()
    bar = Progress(4, stream=out)
    for i in range(1, 5):
        bar.update(i, failed=1 if i > 2 else 0)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "runs 4/4" in text and "failed 1" in text and "ETA 0:00" in text and "100%" in text


def test_plain_output_prints_at_most_every_few_seconds_and_always_at_the_end():
    """Without a terminal, updates closer than the interval are skipped, but the final count is always printed."""
    out = io.StringIO()
    bar = Progress(100, unit="weeks", stream=out, every_seconds=3600)
    for i in range(1, 101):
        bar.update(i)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first update, then the last (an hour never passed in between)
    assert lines[0].startswith("weeks   1/100") and lines[-1].startswith("weeks 100/100")
    assert "\r" not in out.getvalue()
