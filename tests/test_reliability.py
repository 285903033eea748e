"""Issue 17: a run directory validates itself, and every bad input is refused before anything is
allocated, with one line naming the file, the key and the limit. No test here trains a network;
the cases that need training (damaged rows retrained, plan changes, Ctrl-C) are in test_sweep."""

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab import cli, interrupt, store
from lab.plan import make_plan
from lab.spec import SpecError, load_spec

ROOT = Path(__file__).parent.parent
TINY = Path(__file__).parent / "specs" / "tiny.toml"
GIB = 1 << 30

from test_spec import BASE  # noqa: E402  (the same small valid spec the spec tests start from)


def with_lines(section: str, *lines: str) -> str:
    """BASE with ``lines`` at the top of ``[section]`` (top level for ""), replacing lines setting the same keys."""
    keys = {line.split("=")[0].strip() for line in lines}
    base = "".join(line for line in BASE.splitlines(keepends=True) if line.split("=")[0].strip() not in keys)
    if not section:
        return "\n".join(lines) + "\n" + base
    if f"[{section}]" not in base:
        return base + f"\n[{section}]\n" + "\n".join(lines) + "\n"
    return base.replace(f"[{section}]\n", f"[{section}]\n" + "\n".join(lines) + "\n", 1)


BERNOULLI = BASE.replace("\ns = 2\n", "\ns = \"none\"\np = 0.2\n")  # sampled (not enumerated) evaluation

# case -> (what the spec file holds: TOML lines for a section, a whole spec, raw bytes or a directory), expected message
LATIN1 = ("# caf\u00e9 au lait\n" + BASE).encode("latin-1")
MALFORMED = {
    # 4. seeds beyond the 32-bit PRNG seed would alias seed mod 2^32
    "seed 2^32": (("", "seeds = [4294967296, 4294967297]"), "seeds: 4294967297 is too large: seeds must be below 2^32"),
    # 7. files that are not a UTF-8 TOML spec; factors over a string axis
    "a directory": ("dir", "is a directory, not a sweep spec"),
    "a binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a UTF-8 text file (byte 0x89 at offset 0)"),
    "NUL bytes": (b"kind = \"superposition\"\x00\n", "a binary file (it holds NUL bytes)"),
    "latin-1": (LATIN1, "not a UTF-8 text file (byte 0xe9 at offset 5)"),
    "factors over a string axis": (("sweep", "op = [\"and\", \"or\"]", "m_out = {per = \"op\", factors = [1, 2]}"),
                                   "[sweep] m_out.per = 'op': op is not a numeric axis (it holds 'and')"),
    # 8. absurd sizes: refused before allocating, with the estimate and the limit (16 GiB here)
    "n = 1e9": (("sweep", "n = [1000000000]"), "n=1000000000"),
    "m_out = 1e7": (("fixed", "m = 5000", "m_out = 10000000"), "m_out=10000000"),
    "batch = 1e9": (("train", "batch = 1000000000"), "batch 1000000000"),
    "m = 1e9": (("fixed", "m = 1000000000"), "m=1000000000"),
    "samples = 1e9": (BERNOULLI.replace("[train]", "[success]\nsamples = 1000000000\n[train]"), "samples 1000000000"),
    "d_out = 1e9": (("fixed", "d_out = 1000000000"), "d_out=1000000000"),
    "steps = 1e12": (("train", "steps = 1000000000000"), "[train] steps = 1000000000000 is out of range: integers must be within +-2147483647"),
    "int32 width": (("sweep", "n = [4, 3000000000]"), "[sweep] n = 3000000000 is out of range"),
    # 9. grids too large to expand: refused before expanding
    "seeds = 1e7": (("", "seeds = 10000000"), "seeds = 10000000: a sweep holds at most 200000 members"),
    "geom num = 1e9": (("sweep", "n = {geom = [8, 16], num = 1000000000}"), "[sweep] n.num = 1000000000: an axis holds at most 10000 values"),
    "range to 1e9": (("sweep", "n = {range = [1, 1000000000, 1]}"), "[sweep] n.range = [1, 1000000000, 1] has 1000000000 values"),
    "grid product": (("sweep", "n = {range = [1, 1000, 1]}", "lr = {geom = [0.001, 0.1], num = 1000}"),
                     "the grid has 2000000 members (1000 n x 1000 lr x 2 seeds); a sweep holds at most 200000"),
    # 10. non-finite learning rates (TOML reads 1e400 as inf)
    "lr = inf": (("fixed", "lr = inf"), "[fixed] lr = inf is not a finite number"),
    "lr = 1e400": (("fixed", "lr = 1e400"), "[fixed] lr = inf is not a finite number (TOML reads 1e400 as inf)"),
    "swept lr = inf": (("sweep", "lr = [0.1, inf]"), "[sweep] lr = inf is not a finite number"),
    "epsilon = nan": (("success", "epsilon = nan"), "[success] epsilon = nan is not a finite number"),
}


SIZES = {"n = 1e9", "m_out = 1e7", "batch = 1e9", "m = 1e9", "samples = 1e9", "d_out = 1e9"}


def write_case(tmp_path: Path, content) -> Path:
    path = tmp_path / "bad.toml"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):  # a whole spec
        path.write_text(content)
    else:
        path.write_text(with_lines(content[0], *content[1:]))
    return path


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_one_clear_line(tmp_path, case):
    content, expected = MALFORMED[case]
    path = write_case(tmp_path, content)
    start = time.monotonic()
    with pytest.raises(SpecError) as err:
        make_plan(load_spec(path), memory_bytes=16 * GIB)
    message = str(err.value)
    assert expected in message and message.startswith(str(path)) and "\n" not in message
    if case in SIZES:
        assert "GiB" in message and "more than the 16 GiB of one device" in message
    assert time.monotonic() - start < 30  # refused before expanding anything large (a hang fails here)


def test_absurd_sizes_name_the_estimate_and_the_limit(tmp_path, capsys, monkeypatch):
    from lab import engine

    path = write_case(tmp_path, ("train", "batch = 1000000000"))
    with pytest.raises(SpecError, match=r"need about [\d.e+]+ GiB .* more than the 16 GiB of one device"):
        make_plan(load_spec(path), memory_bytes=16 * GIB)
    monkeypatch.setattr(engine, "train_population", lambda *a, **k: pytest.fail("allocated"))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2  # this machine's memory
    assert "GiB of one device: make them smaller" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_lab_plan_reports_malformed_input_without_a_traceback(tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert cli.main(["plan", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "is a directory, not a sweep spec" in err
    latin = tmp_path / "latin.toml"
    latin.write_bytes(LATIN1)
    assert cli.main(["plan", str(latin)]) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["plan", "--devices", "-3"], ["run", "--max-members", "-1"]])
def test_negative_counts_are_refused(tmp_path, option, capsys):
    argv = [option[0], str(TINY), *option[1:]]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and "expected a non-negative integer" in capsys.readouterr().err


def test_seeds_below_2_32_are_distinct_keys():
    from lab import engine

    spec = load_spec(TINY)
    member = spec.members()[0]
    top = type(member)(**{**member.__dict__, "seed": 2**32 - 1})
    import jax

    keys = {tuple(jax.random.key_data(engine.member_key(spec.experiment, m)).tolist()) for m in (member, top)}
    assert len(keys) == 2  # the largest allowed seed does not alias seed 0


# --- the run directory: rows carry their spec (1), completeness (2), damage (5), writability (6),
# --- strict JSON (12), the lock (13)

def spec_file(tmp_path: Path, name: str, old: str = "", new: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.read_text().replace(old, new))
    return path


def fake_rows(spec, members=None, **extra):
    """Rows as run_sweep lands them (metrics made up), carrying the spec's digest."""
    from lab import experiment

    members = spec.members() if members is None else members
    return [{**m.__dict__, "id": experiment.member_id(m), "status": "ok", "success": True, "loss": [0.5, 0.25],
             "spec": spec.digest(), **extra} for m in members]


def test_rows_of_another_spec_are_never_adopted_without_run_json(tmp_path):
    run_dir = tmp_path / "run"
    old = load_spec(TINY)
    store.open_run(run_dir, old)
    store.write_rows(run_dir, fake_rows(old), "p0-b0")
    (run_dir / "run.json").unlink()
    shorter = load_spec(spec_file(tmp_path, "tiny", "steps = 5000", "steps = 2000"))
    with pytest.raises(store.RunDirMismatch, match=r"holds 8 rows but no run.json, and 8 of them were not made by this spec"):
        store.open_run(run_dir, shorter)
    smaller = load_spec(spec_file(tmp_path, "tiny", "n = [3, 6]", "n = [3]"))
    with pytest.raises(store.RunDirMismatch, match="not made by this spec"):
        store.open_run(run_dir, smaller)
    assert not (run_dir / "run.json").exists()
    store.open_run(run_dir, old)  # the spec that made every row: run.json is restored
    assert store.read_meta(run_dir)["digest"] == old.digest() and store.completeness(run_dir) == (8, 8)


def test_rows_without_a_spec_digest_and_no_run_json_are_refused(tmp_path):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    legacy = [{k: v for k, v in r.items() if k != "spec"} for r in fake_rows(spec)]
    store.write_rows(run_dir, legacy, "p0-b0")
    assert len(store.load_rows(run_dir)) == 8  # with run.json (which checked the spec) they load
    (run_dir / "run.json").unlink()
    with pytest.raises(store.RunDirMismatch, match="their spec digest is missing"):
        store.open_run(run_dir, spec)


def test_a_rows_file_of_another_spec_is_named(tmp_path):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    other = load_spec(spec_file(tmp_path, "other", "epsilon = 0.3", "epsilon = 0.1"))
    path = store.write_rows(run_dir, fake_rows(other)[:2], "p0-b0")
    with pytest.raises(store.RunDirMismatch) as err:
        store.load_rows(run_dir)
    assert str(path) in str(err.value) and "rows of another spec" in str(err.value)


def test_results_jsonl_holds_only_the_grid(tmp_path):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    store.write_rows(run_dir, fake_rows(spec), "p0-b0")
    from lab import experiment

    ids = [experiment.member_id(m) for m in spec.members()[:5]]
    merged = store.merge(run_dir, order=ids).read_text().splitlines()
    assert [json.loads(line)["id"] for line in merged] == ids


def test_fit_and_report_of_an_incomplete_run_need_partial(tmp_path, capsys):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    store.write_rows(run_dir, fake_rows(spec)[:6], "p0-b0")
    assert cli.main(["fit", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "is incomplete: 6 of 8 members have rows" in err and "--partial" in err
    (run_dir / "fit.json").write_text(json.dumps({"kind": "superposition", "series": [], "laws": []}))
    assert cli.main(["report", str(run_dir)]) == 2
    assert "is incomplete: 6 of 8" in capsys.readouterr().err
    assert cli.main(["report", str(run_dir), "--partial"]) == 0
    assert "Warning: partial run" in (run_dir / "report.md").read_text()


def test_a_partial_fit_is_not_reported_as_complete(tmp_path, capsys):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    store.write_rows(run_dir, fake_rows(spec), "p0-b0")
    (run_dir / "fit.json").write_text(json.dumps({"kind": "superposition", "series": [], "laws": [],
                                                  "partial": {"members": 6, "of": 8, "warning": "partial"}}))
    assert cli.main(["report", str(run_dir)]) == 2
    assert "was fitted on a partial run (6 of 8 members)" in capsys.readouterr().err


DAMAGE = {
    "truncated mid-line": (lambda text: text[: len(text) // 2 + 7].encode(), "truncated: the last line is incomplete"),
    "garbage": (lambda text: b"\x00\xff\xfegarbage\n", "not UTF-8 text at byte 1"),
    "not JSON": (lambda text: (text + "{not json\n").encode(), "line 3 is not valid JSON"),
    "a line lost": (lambda text: text.splitlines(keepends=True)[0].encode(), "does not hold the members its name records"),
    "not a row": (lambda text: b'{"loss": [1.0]}\n', "line 1 is not a row"),
    "empty": (lambda text: b"", "empty"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_rows_file_is_named_then_moved_aside(tmp_path, case, capsys):
    damage, reason = DAMAGE[case]
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    rows = fake_rows(spec)
    good = store.write_rows(run_dir, rows[:2], "p0-b0")
    bad = store.write_rows(run_dir, rows[2:4], "p0-b1")
    bad.write_bytes(damage(bad.read_text()))
    with pytest.raises(store.DamagedRows) as err:
        store.load_rows(run_dir)
    message = str(err.value)
    assert message.startswith(f"{bad}: damaged rows file") and reason in message and "moves it aside" in message
    assert cli.main(["fit", str(run_dir), "--partial"]) == 2 and str(bad) in capsys.readouterr().err
    assert [r["id"] for r in store.load_rows(run_dir, repair=True)] == [r["id"] for r in rows[:2]]
    assert not bad.exists() and (run_dir / "damaged" / bad.name).exists() and good.exists()  # moved, never deleted
    assert str(bad) in capsys.readouterr().err


def test_strict_json_nan_is_null_and_reads_back_as_nan(tmp_path):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    row = fake_rows(spec)[0]
    row.update(loss=[0.5, float("nan"), float("inf"), float("-inf")], status="diverged", d=None)
    path = store.write_rows(run_dir, [row], "p0-b0")

    def strict(token):
        raise ValueError(f"not strict JSON: {token}")

    text = path.read_text()
    loaded = json.loads(text, parse_constant=strict)  # no bare NaN / Infinity
    assert loaded["loss"] == [0.5, None, "Infinity", "-Infinity"] and loaded["d"] is None
    (back,) = store.load_rows(run_dir)
    assert back["loss"][0] == 0.5 and math.isnan(back["loss"][1]) and back["loss"][2:] == [math.inf, -math.inf]
    assert back["d"] is None  # a member field that is None stays None
    store.merge(run_dir)
    json.loads((run_dir / "results.jsonl").read_text(), parse_constant=strict)
    (run_dir / "rows" / "p0-b1-legacy.jsonl").write_text(text.replace("null", "NaN", 1))  # files of older versions
    assert any(math.isnan(r["loss"][1]) for r in store.load_rows(run_dir))


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from lab import engine

    monkeypatch.setattr(engine, "train_population", lambda *a, **k: pytest.fail("trained"))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert cli.main(["run", str(TINY), "--out", str(not_a_dir), "--quiet"]) == 2
    assert f"run directory {not_a_dir} is a file, not a directory" in capsys.readouterr().err
    assert cli.main(["run", str(TINY), "--out", str(not_a_dir / "run"), "--quiet"]) == 2
    assert "a part of the path is a file" in capsys.readouterr().err


def test_read_only_out_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from lab import engine

    monkeypatch.setattr(engine, "train_population", lambda *a, **k: pytest.fail("trained"))
    real = store.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if str(dir).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(store.tempfile, "mkstemp", read_only)
    assert cli.main(["run", str(TINY), "--out", str(tmp_path / "ro"), "--quiet"]) == 2
    assert f"cannot write the run directory {tmp_path / 'ro'}: read-only file system" in capsys.readouterr().err


def test_report_out_under_a_file_is_one_clear_error(tmp_path, capsys):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec)
    store.write_rows(run_dir, fake_rows(spec), "p0-b0")
    (run_dir / "fit.json").write_text(json.dumps({"kind": "superposition", "series": [], "laws": []}))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["report", str(run_dir), "--out", str(blocker / "report.md")]) == 2
    assert f"report directory {blocker} is a file, not a directory" in capsys.readouterr().err


def test_a_run_dir_is_locked_while_training(tmp_path):
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    with store.lock_run(run_dir):
        with pytest.raises(store.RunDirLocked, match=rf"{run_dir} is in use: another `lab run` \(process {os.getpid()} on "):
            with store.lock_run(run_dir):
                pass
        with store.lock_run(run_dir, process_index=1):  # another process of a distributed run: its own lock
            pass
    with store.lock_run(run_dir):  # released
        pass


def test_a_killed_runs_lock_is_not_stale(tmp_path):
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from lab import store
            with store.lock_run({str(run_dir)!r}):
                print("locked", flush=True)
                time.sleep(600)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(store.RunDirLocked, match=f"process {holder.pid} on"):
            with store.lock_run(run_dir):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with store.lock_run(run_dir):  # kill -9 left the file but not the lock
        assert (run_dir / ".lock-p0").read_text().startswith(f"{os.getpid()} ")


def test_pid_fallback_takes_over_a_dead_holder(tmp_path, monkeypatch):
    import fcntl

    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    monkeypatch.setattr(fcntl, "flock", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOLCK, "No locks available")))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run_dir / ".lock-p0").write_text(f"{dead.stdout.strip()} {store.socket.gethostname()}")
    with store.lock_run(run_dir):  # its holder is gone: taken over
        pass
    assert (run_dir / ".lock-p0").read_text() == ""  # released on exit
    (run_dir / ".lock-p0").write_text(f"{os.getppid()} {store.socket.gethostname()}")  # a live process
    with pytest.raises(store.RunDirLocked):
        with store.lock_run(run_dir):
            pass
    (run_dir / ".lock-p0").write_text("4242 another-host")  # cannot be checked from here
    with pytest.raises(store.RunDirLocked, match=r"process 4242 on another-host.*if that run is gone, delete .*\.lock-p0"):
        with store.lock_run(run_dir):
            pass


def test_a_swallowed_ctrl_c_still_stops_the_run(tmp_path, monkeypatch):
    from lab import engine
    from lab.sweep import run_sweep

    monkeypatch.setattr(engine, "train_population", lambda *a, **k: pytest.fail("trained after Ctrl-C"))
    previous = signal.getsignal(signal.SIGINT)
    try:
        # a test suite started as a background job inherits an ignored SIGINT, which install() keeps
        signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupt.install()
        try:  # what happens when Ctrl-C lands in a garbage-collection callback: raised, then dropped
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):
            run_sweep(TINY, tmp_path / "run", progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    interrupt.check()  # raised once, then clear


def test_an_interrupt_that_surfaces_as_another_error_exits_130(monkeypatch, capsys):
    def interrupted_import(args):  # jaxlib turns a KeyboardInterrupt during its import into ImportError
        interrupt._pending.set()
        raise ImportError("Encountered error while importing")

    monkeypatch.setattr(cli, "_cmd_plan", interrupted_import)
    previous = signal.getsignal(signal.SIGINT)
    try:
        assert cli.main(["plan", str(TINY)]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "interrupted" in capsys.readouterr().err
    monkeypatch.setattr(cli, "_cmd_plan", lambda args: (_ for _ in ()).throw(ImportError("a real one")))
    try:
        with pytest.raises(ImportError, match="a real one"):  # without a Ctrl-C, errors are not hidden
            cli.main(["plan", str(TINY)])
    finally:
        signal.signal(signal.SIGINT, previous)
