"""The sweep runner: complete rows, resume after a partial run or kill -9, independence of chunking
and packing, divergence, refusal of a changed spec, and the progress line.

Results are compared bit for bit, less the code version (other commits may land mid-test)."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lab import engine, experiment, host, store
from lab.progress import Progress
from lab.sweep import member_row, run_sweep
from lab.spec import load_spec

TINY = Path(__file__).parent / "specs" / "tiny.toml"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    """One persistent compilation cache for this session's runs and subprocesses."""
    path = tmp_path_factory.getbasetemp() / "jax-cache"
    os.environ.setdefault("LAB_JAX_CACHE", str(path))
    return os.environ["LAB_JAX_CACHE"]


def variant(tmp_path: Path, name: str, **replace: str) -> Path:
    """tests/specs/tiny.toml with some lines replaced (key -> new 'key = value' line)."""
    lines = TINY.read_text().splitlines()
    for key, line in replace.items():
        hits = [i for i, old in enumerate(lines) if old.split("=")[0].strip() == key]
        assert len(hits) == 1, key
        lines[hits[0]] = line
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def by_id(rows):
    return {r["id"]: r for r in rows}


def without_version(rows):
    """Rows by id, less the code version (other commits may land between two processes' starts) and
    the spec digest (rows of two specs are compared)."""
    return {r["id"]: {k: v for k, v in r.items() if k not in ("version", "spec")} for r in rows}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, jax_cache):
    """An uninterrupted run of the tiny sweep."""
    out = tmp_path_factory.mktemp("reference")
    result = run_sweep(TINY, out, progress=False)
    return result, store.load_rows(out)


def test_uninterrupted_run_writes_one_full_row_per_member(reference):
    result, rows = reference
    spec = result.spec
    assert result.complete and result.trained == 8 and result.skipped == 0
    assert result.plan.n_programs == 1 and result.plan.n_chunks == 4
    assert sorted(r["id"] for r in rows) == sorted(experiment.member_id(m) for m in spec.members())
    for row in rows:
        for field in spec.experiment.fields():
            assert field in row
        assert row["kind"] == "superposition" and row["status"] == "ok"
        assert isinstance(row["success"], bool) and row["version"].startswith("0.1.0")
        assert row["host"] == host.describe()  # the machine that trained it (XLA rounds per machine)
        for metric in ("loss", "success_evals", "frac_ok", "fnr_max", "fpr_max"):
            assert len(row[metric]) == spec.train.evals  # one value per evaluation point
    merged = [json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in merged] == [experiment.member_id(m) for m in spec.members()]  # grid order
    assert by_id(merged) == by_id(rows)
    assert (result.run_dir / "spec.toml").read_text() == TINY.read_text()
    import jax

    assert jax.config.jax_compilation_cache_dir and Path(jax.config.jax_compilation_cache_dir).is_dir()


def test_compiling_ahead_in_a_thread_changes_no_result(tmp_path, reference, monkeypatch):
    """engine.Compiler compiles programs in a background thread (by default, except on a one-core
    CPU) or in line: the rows are the same, bit for bit, and a split into several buckets runs them all."""
    for ahead in ("1", "0"):
        engine.compile_population.cache_clear()  # compiled afresh, in the thread or in line
        monkeypatch.setenv("LAB_COMPILE_AHEAD", ahead)
        result = run_sweep(TINY, tmp_path / f"ahead{ahead}", progress=False)
        assert result.complete and by_id(store.load_rows(tmp_path / f"ahead{ahead}")) == by_id(reference[1])
    two = variant(tmp_path, "two", max_waste="max_waste = 0.0")
    split = run_sweep(two, tmp_path / "two", progress=False)
    assert split.complete and split.plan.n_programs > 1 and len(store.load_rows(tmp_path / "two")) == 8


def test_programs_compile_ahead_unless_one_cpu_core(monkeypatch):
    monkeypatch.delenv("LAB_COMPILE_AHEAD", raising=False)
    monkeypatch.setattr(engine, "usable_cores", lambda: 1)
    with engine.Compiler() as one_core:
        assert one_core.workers == 0
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    with engine.Compiler() as two_cores:
        assert two_cores.workers == 1
    monkeypatch.setenv("LAB_COMPILE_AHEAD", "0")
    with engine.Compiler() as forced:
        assert forced.workers == 0


def test_resumed_run_trains_only_missing_members_and_equals_uninterrupted(tmp_path, reference):
    out = tmp_path / "run"
    first = run_sweep(TINY, out, progress=False, max_members=3)
    assert not first.complete and first.trained == 4  # whole chunks of 2 land
    assert len(store.load_rows(out)) == 4
    assert not (out / "results.jsonl").exists()  # only a complete run has one
    second = run_sweep(TINY, out, progress=False)
    assert second.complete and (second.trained, second.skipped) == (4, 4)
    third = run_sweep(TINY, out, progress=False)
    assert (third.trained, third.skipped) == (0, 8)
    assert by_id(store.load_rows(out)) == by_id(reference[1])  # bit for bit
    assert {r["spec"] for r in store.load_rows(out)} == {load_spec(TINY).digest()}  # rows carry their spec


def test_a_damaged_chunk_is_moved_aside_and_retrained(tmp_path, reference):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference[0].run_dir, out)
    victim = sorted((out / "rows").glob("*.jsonl"))[1]
    victim.write_bytes(victim.read_bytes()[:-40])  # truncated mid-line, as a full disk might leave it
    again = run_sweep(TINY, out, progress=False)
    assert again.complete and (again.trained, again.skipped) == (2, 6)
    assert (out / "damaged" / victim.name).exists()  # kept for inspection, never deleted
    assert by_id(store.load_rows(out)) == by_id(reference[1])


def test_resuming_under_another_execution_plan_is_refused(tmp_path, reference):
    out = tmp_path / "run"
    run_sweep(TINY, out, progress=False, max_members=1)
    bigger = variant(tmp_path, "tiny", chunk="chunk = 4")
    with pytest.raises(store.RunDirMismatch, match=r"another execution plan \(chunks: .*\); chunk sizes and device counts"):
        run_sweep(bigger, out, progress=False)
    assert len(store.load_rows(out)) == 2  # nothing mixed in


def test_results_do_not_depend_on_the_other_members_of_a_call(tmp_path, reference):
    # the same bucket shape and call width (chunks of 2), other partners: 3 seeds shift every pair
    spec = variant(tmp_path, "partners", seeds="seeds = 3")
    result = run_sweep(spec, tmp_path / "partners", progress=False)
    assert [b.shape for b in result.plan.buckets] == [b.shape for b in reference[0].plan.buckets]
    rows = without_version(store.load_rows(tmp_path / "partners"))
    ref = without_version(reference[1])
    assert set(ref) < set(rows)
    assert {i: rows[i] for i in ref} == ref  # bit for bit


def test_other_chunk_sizes_and_packing_agree_to_float_rounding(tmp_path, reference):
    # n=3, m'=2 alone: a bucket of exactly that shape and chunks of 3, where the reference trained
    # them padded to n<=6, m'<=4 in chunks of 2 beside other members. The width of a call may change
    # the last bits (lab.sweep), so this is equality up to rounding, not bit for bit.
    spec = variant(tmp_path, "alone", n="n = [3]", m_out="m_out = [2]", chunk="chunk = 3", seeds="seeds = 3")
    result = run_sweep(spec, tmp_path / "alone", progress=False)
    (bucket,) = result.plan.buckets
    assert (bucket.shape_dict["n"], bucket.shape_dict["m_out"], bucket.chunk) == (3, 2, 3)
    rows = without_version(store.load_rows(tmp_path / "alone"))
    ref = without_version(reference[1])
    common = set(rows) & set(ref)
    assert len(common) == 2
    for i in common:
        assert rows[i]["success"] == ref[i]["success"] and rows[i]["status"] == ref[i]["status"]
        np.testing.assert_allclose(rows[i]["loss"], ref[i]["loss"], rtol=1e-5)
        np.testing.assert_allclose(rows[i]["frac_ok"], ref[i]["frac_ok"], rtol=1e-5)


def test_diverging_member_is_marked_and_leaves_the_other_untouched(tmp_path, reference):
    spec = variant(tmp_path, "diverge", n="n = [6]", m_out="m_out = [4]", lr="lr = [0.05, 1e38]", seeds="seeds = 1")
    spec.write_text(spec.read_text().replace("lr = [0.05, 1e38]", "").replace("[sweep]", "[sweep]\nlr = [0.05, 1e38]"))
    result = run_sweep(spec, tmp_path / "diverge", progress=False)
    assert result.plan.n_chunks == 1  # both in one program call
    rows = {r["lr"]: r for r in store.load_rows(tmp_path / "diverge")}
    assert rows[1e38]["status"] == "diverged" and rows[1e38]["success"] is False
    assert not np.isfinite(rows[1e38]["loss"]).all()
    assert rows[0.05]["status"] == "ok"
    alone = next(r for r in reference[1] if (r["n"], r["m_out"], r["seed"]) == (6, 4, 0))
    assert without_version([rows[0.05]]) == without_version([alone])  # its NaN neighbour changed nothing


def test_member_row_marks_non_finite_loss_diverged():
    exp = experiment.get("superposition")
    member = load_spec(TINY).members()[0]
    metrics = {"loss": np.array([0.5, np.inf]), "success": np.array([True, True]), "frac_ok": np.array([1.0, 1.0]),
               "fnr": np.zeros((2, 4)), "fpr": np.zeros((2, 4)), "precision": np.ones((2, 4))}
    assert member_row(exp, member, metrics)["status"] == "diverged"
    assert member_row(exp, member, metrics)["success"] is False
    metrics["loss"] = np.array([0.5, 0.4])
    assert member_row(exp, member, metrics)["status"] == "ok" and member_row(exp, member, metrics)["success"] is True


def test_changed_spec_is_refused_and_execution_options_are_not(tmp_path, reference):
    run_dir = reference[0].run_dir
    changed = variant(tmp_path, "tiny", steps="steps = 800")
    with pytest.raises(store.RunDirMismatch, match=r"different spec \(changed: train\)"):
        run_sweep(changed, run_dir, progress=False)
    faster = variant(tmp_path, "tiny", chunk="chunk = 4")  # execution only: same results, allowed
    assert run_sweep(faster, run_dir, progress=False).trained == 0
    assert by_id(store.load_rows(run_dir)) == by_id(reference[1])


def test_kill_9_mid_sweep_then_rerun_equals_uninterrupted(tmp_path, reference, jax_cache):
    from lab.cli import main

    # the tiny sweep's chunks take a good fraction of a second each: kill -9 as soon as one landed
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "run", str(TINY), "--out", str(killed), "--no-analysis"],
                            cwd=ROOT, env={**os.environ, "LAB_JAX_CACHE": jax_cache},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list((killed / "rows").glob("*.jsonl")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    landed = len(store.load_rows(killed))
    assert landed in (2, 4, 6), landed  # whole chunks of 2, never all 8
    assert main(["run", str(TINY), "--out", str(killed), "--no-analysis", "--quiet"]) == 0
    resumed = store.load_rows(killed)
    assert len(resumed) == 8 and len({r["id"] for r in resumed}) == 8
    assert without_version(resumed) == without_version(reference[1])  # bit for bit
    merged = [json.loads(line) for line in (killed / "results.jsonl").read_text().splitlines()]
    assert without_version(merged) == without_version(reference[1])


def test_ctrl_c_stops_a_run_at_any_moment(tmp_path, jax_cache):
    # Ctrl-C at two moments: during start-up (imports, compilation) and once rows land. Whenever it
    # lands the command stops: exit 130 once lab.cli runs (before that, Python's own KeyboardInterrupt).
    for wait_for_rows in (False, True):
        out = tmp_path / f"run{int(wait_for_rows)}"
        # Ctrl-C as at a terminal, even when the suite runs as a background job (SIGINT ignored)
        proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "run", str(TINY), "--out", str(out), "--no-analysis"],
                                cwd=ROOT, env={**os.environ, "LAB_JAX_CACHE": jax_cache},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 240
        if wait_for_rows:
            while not list((out / "rows").glob("*.jsonl")) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=240)
        assert proc.returncode != 0 and (proc.returncode == 130 or not wait_for_rows), err.decode()[-2000:]
        assert not (out / "results.jsonl").exists()


class FakeStream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_line_shows_done_rate_and_eta():
    bar = Progress(4, desc="tiny", stream=FakeStream(False))
    bar.start, bar.done = 0.0, 2
    line = bar.line(10.0, note="bucket 1/2")
    assert line.startswith("tiny [############............] 2/4 members")
    assert "0.2/s" in line and "elapsed    10s" in line and "eta    10s" in line and line.endswith("bucket 1/2")
    bar.done = 0
    assert "eta     ?" in bar.line(5.0)


def test_progress_throttles_on_pipes_and_redraws_on_terminals():
    pipe = FakeStream(False)
    bar = Progress(3, stream=pipe, min_interval=1e9)
    bar.update(1)
    bar.update(1)
    assert pipe.getvalue() == ""  # throttled
    bar.update(1)
    bar.close()
    assert pipe.getvalue().count("\n") == 1 and "3/3 members" in pipe.getvalue()  # the final line always
    term = FakeStream(True)
    bar = Progress(2, stream=term, min_interval=1e9)
    bar.update(1)
    bar.update(1)
    bar.close()
    out = term.getvalue()
    assert out.count("\r") == 2 and "1/2 members" in out and out.endswith("\n")
