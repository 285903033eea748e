"""A run's overlay: constructions and baselines measured at the run's own settings, for its figures.

A kind that has them sets ``Experiment.overlay(rows, success) -> dict``; ``for_run(run_dir)``
calls it once per run (cached in RUN_DIR/construction.json, so re-running reproduce does not redo
it) and the kind's figures receive the dict, so trained capacity, construction and theory are
drawn side by side. The dict is the kind's own contract between its overlay and its figures.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab import experiment, store

MAX_POINTS = 8  # resource values measured per construction curve (each is a search over sizes)


def spread(values: list, k: int) -> list:
    """At most ``k`` of the sorted ``values``, evenly spaced in rank (the ends always kept)."""
    if len(values) <= k:
        return list(values)
    idx = sorted({round(i * (len(values) - 1) / (k - 1)) for i in range(k)})
    return [values[i] for i in idx]


def for_run(run_dir: str | Path, rows: list[dict] | None = None, meta: dict | None = None) -> dict | None:
    """The figures' overlay for a run (Experiment.overlay, cached in RUN_DIR/construction.json);
    None if its kind has none. ``rows`` and ``meta``: the run's, when the caller has them already."""
    run_dir = Path(run_dir)
    meta = meta or store.read_meta(run_dir)
    exp = experiment.get(meta["kind"])
    if exp.overlay is None:
        return None
    cache = run_dir / "construction.json"
    if cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("digest") == meta["digest"]:
            return cached["extra"]
    success = exp.success(**meta["identity"]["success"])
    extra = exp.overlay(store.load_rows(run_dir) if rows is None else rows, success)
    store.atomic_write(cache, json.dumps({"digest": meta["digest"], "extra": extra}, indent=1))
    return extra
