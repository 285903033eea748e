"""The results store: a run dir is bound to its spec, chunks land whole or not at all, every member
is loaded once, and rows load into pandas in one call."""

import json
import sys
from pathlib import Path

import pytest

from lab import store
from lab.spec import load_spec

TINY = Path(__file__).parent / "specs" / "tiny.toml"


def rows(*ids, **extra):
    return [{"id": i, "kind": "superposition", "status": "ok", "success": True, "loss": [0.5, 0.25], **extra} for i in ids]


def spec_file(tmp_path: Path, name: str, old: str = "", new: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.read_text().replace(old, new) if old else TINY.read_text())
    return path


def test_open_run_binds_the_dir_to_the_spec(tmp_path):
    run_dir = tmp_path / "run"
    spec = load_spec(TINY)
    store.open_run(run_dir, spec, TINY)
    meta = store.read_meta(run_dir)
    assert meta["digest"] == spec.digest() and meta["kind"] == "superposition"
    assert (run_dir / "spec.toml").read_text() == TINY.read_text() and (run_dir / "rows").is_dir()
    store.open_run(run_dir, spec, TINY)  # the same spec again: fine
    faster = load_spec(spec_file(tmp_path, "tiny", "chunk = 2", "chunk = 4"))
    store.open_run(run_dir, faster)  # execution options do not change results: fine
    stricter = load_spec(spec_file(tmp_path, "tiny", "epsilon = 0.3", "epsilon = 0.1"))
    with pytest.raises(store.RunDirMismatch) as err:
        store.open_run(run_dir, stricter)
    message = str(err.value)
    assert str(run_dir) in message and "changed: success" in message and "--out" in message
    assert store.read_meta(run_dir)["digest"] == spec.digest()  # untouched


def test_read_meta_of_a_plain_dir_says_how_to_make_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory.*lab run SPEC --out"):
        store.read_meta(tmp_path)


def test_chunks_land_whole_and_each_member_loads_once(tmp_path):
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    path = store.write_rows(run_dir, rows("a", "b"), "p0-b0")
    assert path.read_text().count("\n") == 2
    store.write_rows(run_dir, rows("b", "c", loss=[9.0]), "p0-b1")  # a retried member: first copy wins
    # what kill -9 in the middle of a write leaves behind: a temporary file, never a partial .jsonl
    (run_dir / "rows" / ".p0-b2-z.jsonl.abc123.tmp").write_text('{"id": "d", "kind": "sup')
    loaded = store.load_rows(run_dir)
    assert [r["id"] for r in loaded] == ["a", "b", "c"]
    assert loaded[1]["loss"] == [0.5, 0.25] and loaded[2]["loss"] == [9.0]
    assert store.done_ids(run_dir) == {"a", "b", "c"}
    names = sorted(p.name for p in (run_dir / "rows").iterdir() if not p.name.startswith("."))
    assert names == [f"p0-b0-{store.ids_tag(['a', 'b'])}.jsonl", f"p0-b1-{store.ids_tag(['b', 'c'])}.jsonl"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.jsonl"
    store.atomic_write(path, "old\n")
    with pytest.raises(TypeError):
        store.atomic_write(path, None)  # fails inside the write
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


def test_merge_writes_every_row_once_in_grid_order(tmp_path):
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    store.write_rows(run_dir, rows("c", "a"), "p1-b0")
    store.write_rows(run_dir, rows("b", "a"), "p0-b0")
    path = store.merge(run_dir, order=["a", "b", "c"])
    merged = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in merged] == ["a", "b", "c"]
    assert store.merge(run_dir, order=["a", "b", "c"]).read_text() == path.read_text()  # idempotent
    # results.jsonl alone (e.g. a copied run without rows/) still loads
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.jsonl").write_text(path.read_text())
    assert store.load_rows(copy) == merged


def test_non_finite_metrics_round_trip(tmp_path):
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    store.write_rows(run_dir, rows("a", loss=[0.5, float("nan"), float("inf")], status="diverged"), "p0-b0")
    (row,) = store.load_rows(run_dir)
    assert row["status"] == "diverged" and row["loss"][0] == 0.5 and row["loss"][1] != row["loss"][1] and row["loss"][2] == float("inf")


def test_load_frame_in_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(TINY))
    store.write_rows(run_dir, rows("a", "b", n=3) + rows("c", n=6), "p0-b0")
    frame = store.load_frame(run_dir)
    assert isinstance(frame, pd.DataFrame) and list(frame["id"]) == ["a", "b", "c"]
    assert list(frame["n"]) == [3, 3, 6] and frame.loc[0, "loss"] == [0.5, 0.25]


def test_load_frame_without_pandas_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="needs pandas"):
        store.load_frame(tmp_path)
