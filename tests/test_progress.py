"""Progress: plain lines for logs (every phase, the current step, a final line), a rich live display
on terminals, notes reaching the innermost live bar or phase, and an ETA weighted by work."""

import io

import pytest

from lab import progress


@pytest.fixture(autouse=True)
def _reset():
    yield
    progress.configure(plain=None)


def test_plain_phase_says_what_runs_and_when_it_is_done():
    out = io.StringIO()
    with progress.phase("superposition-quick: fit and figures", stream=out, min_interval=1e9):
        progress.note("drawing the superposition figures")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("superposition-quick: fit and figures  elapsed")
    assert lines[1].startswith("superposition-quick: fit and figures: drawing the superposition figures")
    assert lines[-1].startswith("superposition-quick: fit and figures: done in 0:0")
    progress.note("no live phase: ignored")


def test_plain_bar_announces_compilation_and_throttles_chunks():
    out = io.StringIO()
    bar = progress.Progress(4, desc="tiny", stream=out, min_interval=1e9, work=10.0)
    bar.note("bucket 1/2: compiling, then training chunk 1/2", announce=True)
    bar.note("bucket 1/2: training chunk 2/2")  # shown with the next line, not on its own
    bar.update(2, work=2.0)
    bar.update(2, work=8.0)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("bucket 1/2: compiling, then training chunk 1/2") and "0/4 members" in lines[0]
    assert "4/4 members" in lines[1] and lines[1].endswith("chunk 2/2")


def test_eta_follows_work_not_members():
    bar = progress.Progress(4, stream=io.StringIO(), min_interval=1e9, work=10.0)
    bar.start = 0.0
    bar.update(2, work=2.0)  # half the members, a fifth of the work
    assert bar.eta(10.0) == pytest.approx(40.0)
    bar.close()


def test_rich_display_on_a_terminal():
    progress.configure(plain=False)
    out = io.StringIO()
    with progress.Progress(3, desc="tiny", stream=out, work=3.0) as bar:
        progress.note("bucket 1/1: compiling, then training chunk 1/1")
        bar.update(3, work=3.0)
    text = out.getvalue()
    assert "tiny" in text and "3/3" in text and "bucket 1/1" in text
    out = io.StringIO()
    with progress.phase("fitting", stream=out):
        pass
    assert "fitting: done in" in out.getvalue()
