"""What the superposition figures draw beside the trained networks, measured at a run's own settings:
the smallest width of the explicit 2-AND / permutation construction at each m' (raw inputs and
outputs, where the construction applies) and the naive one-neuron-per-feature baseline in the same
superposition (lab.experiments.superposition.baseline)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lab.experiments.superposition import search
from lab.experiments.superposition.baseline import dedicated_baseline
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.member import SuperpositionMember
from lab.overlays import MAX_POINTS, spread


def overlay(rows: list[dict], criterion: Criterion) -> dict:
    """Smallest n of the 2-AND / permutation construction at each m' of the run (lab.experiments.superposition.construction)."""
    groups: dict[tuple, set] = {}
    for r in rows:
        if r["op"] in ("and", "perm") and r.get("d") is None and r.get("d_out") is None:  # its regime: raw in and out
            groups.setdefault((r["m"], r["s"], r["p"], r["op"]), set()).add(int(r["m_out"]))
    measured = []
    for (m, s, p, op), m_outs in sorted(groups.items(), key=repr):
        measured += search.measure(m, s, spread(sorted(m_outs), MAX_POINTS), op, seeds=(0, 1, 2), criterion=criterion, p=p)
    out = {"construction": search.overlay(measured), "construction_rows": measured} if measured else {}
    baseline = dedicated_baselines(rows, criterion)
    if baseline["n"]:
        out["baseline"] = baseline
    return out


def dedicated_baselines(rows: list[dict], criterion: Criterion) -> dict:
    """The naive one-neuron-per-feature network (lab.experiments.superposition.train.dedicated_network) at m' = n in
    each setting and width of the run, on each seed's task instance: features it computes."""
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
