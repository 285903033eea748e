"""Construction overlays: measured at the run's own task and criterion, cached per run."""

import dataclasses

from lab import experiment, overlays, store
from lab.spec import parse_spec


def with_kind(monkeypatch, **changes):
    """The superposition kind with some of its parts replaced, for one test."""
    exp = experiment.get("superposition")
    monkeypatch.setitem(experiment._REGISTRY, "superposition", dataclasses.replace(exp, **changes))


def test_spread_keeps_ends_and_at_most_k():
    assert overlays.spread(list(range(20)), 8) == [0, 3, 5, 8, 11, 14, 16, 19]
    assert overlays.spread([4, 9], 8) == [4, 9]


def test_superposition_overlay_measured_once_and_cached(tmp_path, monkeypatch):
    spec = parse_spec({"kind": "superposition", "fixed": {"m": 8, "s": 2, "n": 4}, "sweep": {"m_out": [2, 4]},
                       "success": {"samples": 32}}, source="t.toml")
    run_dir = store.open_run(tmp_path / "run", spec)
    rows = [{"id": str(i), "status": "ok", "success": True, "m": 8, "s": 2, "p": None, "op": "and", "d": None, "m_out": k}
            for i, k in enumerate((2, 4))]
    store.write_rows(run_dir, rows, "p0")
    extra = overlays.for_run(run_dir)
    points = extra["construction"]
    assert points["m_out"] == [2, 4] and all(n <= m for n, m in zip(points["n"], points["m_out"]))
    assert [r["m_out"] for r in extra["construction_rows"]] == [2, 4]
    assert (run_dir / "construction.json").exists()

    def boom(rows, criterion):
        raise AssertionError("measured again")

    with_kind(monkeypatch, overlay=boom)
    assert overlays.for_run(run_dir) == extra


def test_kind_without_construction_has_no_overlay(tmp_path, monkeypatch):
    spec = parse_spec({"kind": "superposition", "fixed": {"m": 8, "n": 2, "m_out": 2}}, source="t.toml")
    run_dir = store.open_run(tmp_path / "run", spec)
    with_kind(monkeypatch, overlay=None)
    assert overlays.for_run(run_dir) is None
