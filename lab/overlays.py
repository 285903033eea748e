"""Explicit constructions measured at a run's own task settings, for the run's figures.

For each kind that has a construction, ``for_run(run_dir)`` measures the smallest working
construction at the resource values the run swept (same task, same success criterion) and returns
the figures' ``extra`` dict, so trained capacity, construction and theory are drawn side by side.
The measurement is cached in RUN_DIR/construction.json (re-running reproduce does not redo it).
A kind without a construction simply has no entry in OVERLAYS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from lab import store
from lab.criterion import Criterion


MAX_POINTS = 8  # resource values measured per construction curve (each is a search over sizes)


def spread(values: list, k: int) -> list:
    """At most ``k`` of the sorted ``values``, evenly spaced in rank (the ends always kept)."""
    if len(values) <= k:
        return list(values)
    idx = sorted({round(i * (len(values) - 1) / (k - 1)) for i in range(k)})
    return [values[i] for i in idx]


def superposition_overlay(rows: list[dict], criterion: Criterion) -> dict:
    """Smallest n of the 2-AND / permutation construction at each m' of the run (lab.construction)."""
    from lab import construction

    groups: dict[tuple, set] = {}
    for r in rows:
        if r["op"] in ("and", "perm") and r.get("d") is None and r.get("d_out") is None:  # its regime: raw in and out
            groups.setdefault((r["m"], r["s"], r["p"], r["op"]), set()).add(int(r["m_out"]))
    measured = []
    for (m, s, p, op), m_outs in sorted(groups.items(), key=repr):
        measured += construction.measure(m, s, spread(sorted(m_outs), MAX_POINTS), op, seeds=(0, 1, 2), criterion=criterion, p=p)
    out = {"construction": construction.overlay(measured), "construction_rows": measured} if measured else {}
    baseline = dedicated_baselines(rows, criterion)
    if baseline["n"]:
        out["baseline"] = baseline
    return out


def dedicated_baselines(rows: list[dict], criterion: Criterion) -> dict:
    """The naive one-neuron-per-feature network (lab.superposition.dedicated_network) at m' = n in
    each setting and width of the run, on each seed's task instance: features it computes."""
    import dataclasses

    from lab.superposition import SuperpositionMember, dedicated_baseline

    names = {f.name for f in dataclasses.fields(SuperpositionMember)}
    settings: dict[tuple, dict] = {}
    for r in rows:
        if "n" not in r or (r.get("d") is None and r.get("d_out") is None):
            continue  # with raw inputs and outputs the baseline is exact by construction: nothing to draw
        fields = {k: r[k] for k in names if k in r}
        fields.update(m_out=int(r["n"]), lr=1e-2, oversample=0.0)
        settings.setdefault(repr(sorted(fields.items())), fields)
    by_n: dict[int, list[float]] = {}
    for fields in settings.values():
        if fields.get("seed", 0) > 3:
            continue
        try:
            member = SuperpositionMember(**fields)
        except ValueError:  # m' = n is not a valid task here (e.g. more than the distinct outputs)
            continue
        by_n.setdefault(int(fields["n"]), []).append(dedicated_baseline(member, criterion)["n_ok"])
    ns = sorted(by_n)
    return {"n": ns, "n_ok": [float(np.mean(by_n[n])) for n in ns], "n_ok_min": [float(np.min(by_n[n])) for n in ns],
            "n_ok_max": [float(np.max(by_n[n])) for n in ns], "seeds": [len(by_n[n]) for n in ns]}


def attention_overlay(rows: list[dict], criterion: Criterion) -> dict:
    """The construction each (m, d_model, graph, m') of the run is to be compared with.

    m = d_model: the smallest exact construction (lab.attention_construction; recovery 1 in every
    context, tested): D_K = 2 for out-degree <= 1 (circle construction), else D_K = d_model
    (W_Q = Eᵀ A E, W_K = I), extra["exact"]. m > d_model:
    the smallest D_K at which the compressed construction succeeds, extra["construction"]; it needs
    several times the trained models' D_K, so sizes are searched on a geometric grid up to 4·d_model.
    """
    import numpy as np

    from lab import attention_construction

    keys = ("m", "m_edges", "d_model", "dk")
    exact = {k: [] for k in keys}
    uncompressed = {(r["m"], r["d_model"], r["m_edges"], r["graph"] == "perm" or r.get("degree") == 1) for r in rows if r["m"] == r["d_model"]}
    for m, d_model, m_edges, function_graph in sorted(uncompressed):
        for k, v in zip(keys, (m, m_edges, d_model, 2 if function_graph else d_model)):
            exact[k].append(int(v))
    points = {k: [] for k in keys}
    searched = []  # compressed settings (m, d_model) searched, whether or not the construction succeeded
    for context in sorted({r["context"] for r in rows}):
        sub = [r for r in rows if r["context"] == context and r["m"] > r["d_model"]]
        if not sub:
            continue
        configs = sorted({(r["m"], r["d_model"], r["graph"], r["m_edges"]) for r in sub})
        top = 4 * max(r["d_model"] for r in sub)
        grid = sorted({int(r["dk"]) for r in sub} | set(np.unique(np.round(np.geomspace(1, top, 14)).astype(int)).tolist()))
        found = attention_construction.construction_points(configs, dks=grid, context=context)
        for key in points:
            points[key] += found[key]
        searched += sorted({(int(r["m"]), int(r["d_model"]), 4 * int(r["d_model"])) for r in sub})
    out = {name: pts for name, pts in (("exact", exact), ("construction", points)) if pts["dk"]}
    if searched:
        out["construction_searched"] = {k: [s[i] for s in searched] for i, k in enumerate(("m", "d_model", "max_dk"))}
    return out


OVERLAYS: dict[str, Callable[[list[dict], Criterion], dict]] = {
    "superposition": superposition_overlay,
    "attention": attention_overlay,
}


def for_run(run_dir: str | Path) -> dict | None:
    """The figures' ``extra`` for a run (cached in RUN_DIR/construction.json); None if its kind has none."""
    run_dir = Path(run_dir)
    meta = store.read_meta(run_dir)
    make = OVERLAYS.get(meta["kind"])
    if make is None:
        return None
    cache = run_dir / "construction.json"
    if cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("digest") == meta["digest"]:
            return cached["extra"]
    criterion = Criterion(**meta["identity"]["success"])
    extra = make(store.load_rows(run_dir), criterion)
    store.atomic_write(cache, json.dumps({"digest": meta["digest"], "extra": extra}, indent=1))
    return extra
