"""Capacity views: the ways a run's rows become one capacity number per series.

A *threshold* view marks each member as a success or a failure and fits where success stops
along the resource (lab.thresholds). A *count* view reads a number of features computed from each
member and takes, per series and seed, the largest over the swept resource; the series' capacity
is the mean over seeds, with a percentile interval from resampling seeds (Efron's bootstrap); where
a network computes every feature at its best m', its own capacity is only known to lie below the
next swept m', and the interval's upper end takes that in.

Views of the superposition lab (arXiv 2409.15318), all on the same trained networks:

- ``all``: every one of the m' features is computed (the strictest; one bad feature fails it);
- ``frac90``: at least 90% of the m' features are computed;
- ``computed``: the number of features computed, max over m' of frac_ok·m' (never collapses
  under many features: a network that computes 300 of 512 counts 300).

``success`` is the spec's own [success] criterion (its ``fraction``). Adding a view = one entry
in ``VIEWS``. This module is numpy only (``lab fit`` does not import jax).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from lab.thresholds import Threshold, group_series, member_success


def final(v) -> float:
    """A metric's value at the end of training (rows hold one value per evaluation point); NaN if absent."""
    if isinstance(v, list):
        return float(v[-1]) if v else float("nan")
    return float("nan") if v is None else float(v)


def _ok(row: dict) -> bool:
    return row.get("status", "ok") != "diverged"


@dataclass(frozen=True)
class View:
    name: str
    text: str  # what a capacity under this view means, for the report
    outcome: Callable[[dict], bool] | None = None  # threshold view: success of one member
    count: Callable[[dict], float] | None = None  # count view: features computed by one member


VIEWS: dict[str, View] = {
    "success": View("success", "the spec's [success] criterion", outcome=member_success),
    "all": View("all", "every one of the m' features computed",
                outcome=lambda r: _ok(r) and final(r.get("frac_ok", 0.0)) >= 1.0 - 1e-9),
    "frac90": View("frac90", "at least 90% of the m' features computed",
                   outcome=lambda r: _ok(r) and final(r.get("frac_ok", 0.0)) >= 0.9 - 1e-9),
    "computed": View("computed", "features computed: the most, over m', that one network computes",
                     count=lambda r: final(r.get("n_ok", 0.0)) if _ok(r) else 0.0),
}


def get(name: str) -> View:
    if name not in VIEWS:
        raise KeyError(f"unknown capacity view {name!r}; known: {sorted(VIEWS)}")
    return VIEWS[name]


def count_capacities(rows: Sequence[dict], fields: Sequence[str], view: View, resource: str, *,
                     n_boot: int = 1000, level: float = 0.95, rng: np.random.Generator | None = None) -> list[Threshold]:
    """One Threshold per series under a count view (see the module docstring).

    Censored "above" (bound = the count) when a seed's best is at the largest swept resource with
    every feature computed there: the capacity may be larger than the sweep shows. "below" when no
    member computes any feature.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    out = []
    for key, members in group_series(rows, fields):
        seeds = sorted({m.get("seed", 0) for m in members})
        r_max = max(float(m[resource]) for m in members)
        grid = sorted({float(m[resource]) for m in members})
        best_S, upper_S, at_top = [], [], False
        for s in seeds:
            mine = [m for m in members if m.get("seed", 0) == s]
            counts = [view.count(m) for m in mine]
            i = int(np.argmax(counts))
            r_best = float(mine[i][resource])
            best_S.append(counts[i])
            # all features computed at r_best: the most this network can compute lies somewhere up
            # to the next swept value, which the grid does not resolve
            nxt = [g for g in grid if g > r_best]
            upper_S.append(nxt[0] if counts[i] >= r_best - 1e-9 and nxt else counts[i])
            at_top |= r_best == r_max and counts[i] >= r_max - 1e-9
        best_S, upper_S = np.array(best_S), np.array(upper_S)
        base = dict(key=dict(key), seeds=len(seeds), members=len(members), width=None)
        mean = float(best_S.mean())
        if mean <= 0:
            r_min = min(float(m[resource]) for m in members)
            out.append(Threshold(threshold=None, lo=None, hi=None, censored="below", bound=1.0,
                                 note=f"no feature computed at {resource} >= {r_min:g}", **base))
            continue
        if at_top:
            out.append(Threshold(threshold=None, lo=None, hi=None, censored="above", bound=mean,
                                 note="every feature computed at the largest swept value", **base))
            continue
        q = (1 - level) / 2
        if len(seeds) > 1:
            idx = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
            lo = float(np.quantile(best_S[idx].mean(axis=1), q))
            hi = float(np.quantile(upper_S[idx].mean(axis=1), 1 - q))
        else:
            lo, hi = mean, float(upper_S.mean())
        out.append(Threshold(threshold=mean, lo=max(lo, 1e-9), hi=hi, censored=None, bound=None,
                             note=f"mean over seeds of the best count ({', '.join(f'{v:g}' for v in best_S)})", **base))
    return out


def distinct_resamples(seeds: int) -> int:
    """How many distinct multisets a seed bootstrap can draw: C(2s - 1, s)."""
    return math.comb(2 * seeds - 1, seeds) if seeds > 0 else 0
