"""Outputs others can use: files follow the user's umask, figures are byte-identical when redrawn."""

import os

import pytest

from lab import store


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = tmp_path / "results.jsonl"
    store.atomic_write(path, "{}\n")
    assert path.stat().st_mode & 0o777 == mode
    assert os.umask(mask) == mask  # reading the umask left it as it was


def _draw(out_dir):
    from lab.plots import style

    fig, axes = style.figure()
    axes[0, 0].loglog([1, 2, 4], [1, 3, 9], marker="o", label="m' = 2^k")
    axes[0, 0].set_xlabel("n")
    axes[0, 0].legend()
    return style.save(fig, out_dir, "tiny")


def test_figures_are_byte_identical_when_redrawn(tmp_path):
    first = _draw(tmp_path / "a")
    second = _draw(tmp_path / "b")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    pdf = first[1].read_bytes()
    assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf
    assert b"Software" not in first[0].read_bytes()


def _run_with_rows(tmp_path):
    from pathlib import Path

    from lab.spec import load_spec

    run_dir = tmp_path / "run"
    store.open_run(run_dir, load_spec(Path(__file__).parent / "specs" / "tiny.toml"))
    rows = [{"id": i, "kind": "superposition", "status": "ok", "success": i != "c", "n": n, "loss": [0.5, 0.25]}
            for i, n in (("a", 3), ("b", 3), ("c", 6))]
    store.write_rows(run_dir, rows, "p0-b0-x")
    return run_dir


def test_rows_load_into_pandas_in_one_call(tmp_path):
    pytest.importorskip("pandas")
    import lab

    frame = lab.load_frame(_run_with_rows(tmp_path))
    assert list(frame["n"]) == [3, 3, 6] and frame["success"].sum() == 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_frame(tmp_path, suffix):
    pd = pytest.importorskip("pandas")
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = store.export_frame(_run_with_rows(tmp_path), tmp_path / f"rows{suffix}")
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    assert list(back["id"]) == ["a", "b", "c"] and list(back["n"]) == [3, 3, 6]
    if suffix == ".parquet":
        assert list(back.loc[0, "loss"]) == [0.5, 0.25]  # list columns survive as lists


def test_a_legend_or_a_note_when_nothing_is_labelled(tmp_path):
    from lab.plots import style

    fig, axes = style.figure(ncols=2)
    labelled, empty = axes[0]
    labelled.plot([1, 2], [1, 2], label="measured")
    style.legend(labelled, loc="upper left")
    style.legend(empty, "no measured capacity")
    assert labelled.get_legend() is not None and not labelled.texts
    assert empty.get_legend() is None and [t.get_text() for t in empty.texts] == ["no measured capacity"]
    style.save(fig, tmp_path, "legend")
