"""Planted laws: synthetic runs whose thresholds follow a known law, to test the fitters.

Each series' threshold is t = law(covariates); each member at resource r succeeds with probability
sigmoid(sign · (log r − log t) / w) (the model lab.thresholds fits), independently per seed.
Rows have the real row format (member fields, id, kind, status, success, per-eval metrics,
version), so the whole pipeline (lab.fit.fit_rows, figures) runs on them unchanged. Any registered kind can be
planted: its member defaults and Analysis come from the kind itself. The habit
comes from kyo-takano/chinchilla and psignifit: test the fitter on planted laws before trusting it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import special

from lab import experiment
from lab.laws import get as get_law
from lab.thresholds import SIGN

def analysis_for(kind: str) -> experiment.Analysis:
    """The kind's own Analysis (lab.experiment)."""
    return experiment.get(kind).analysis


def member_defaults(kind: str) -> dict[str, Any]:
    """The kind's member fields with their defaults (the seed aside)."""
    fields = dataclasses.fields(experiment.get(kind).member)
    return {f.name: f.default for f in fields if f.name != "seed" and f.default is not dataclasses.MISSING}


def simulate(
    kind: str,
    law: str,
    params: Mapping[str, float],
    grid: Mapping[str, Sequence[float]],
    resources: Sequence[float] | Callable[[dict], Sequence[float]],
    *,
    seeds: int = 4,
    width: float = 0.15,
    diverged: float = 0.0,
    rng: np.random.Generator | int = 0,
    fixed: Mapping[str, Any] | None = None,
) -> list[dict]:
    """Rows of a planted run.

    grid: covariate name -> values (their product gives the series); resources: the swept
    resource values, or a function of the series' covariates returning them; width: logistic
    width in log(resource); diverged: fraction of members marked diverged (they fail).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    analysis = analysis_for(kind)
    sign = SIGN[analysis.direction]
    base = {**member_defaults(kind), **(fixed or {})}
    names = list(grid)
    rows = []
    for combo in itertools.product(*(grid[k] for k in names)):
        cov = dict(zip(names, combo))
        t = float(get_law(law).predict(params, {k: [v] for k, v in cov.items()})[0])
        values = resources(cov) if callable(resources) else resources
        for r in values:
            p = float(special.expit(sign * (math.log(r) - math.log(t)) / width))
            for seed in range(seeds):
                ok = bool(rng.random() < p)
                div = bool(rng.random() < diverged)
                row = {**base, **cov, analysis.resource: r, "seed": seed}
                ident = ",".join(f"{k}={row[k]!r}" for k in sorted(row))
                row.update(
                    id=f"{experiment.stable_hash(ident):08x}{experiment.stable_hash(ident[::-1]):08x}",
                    kind=kind,
                    status="diverged" if div else "ok",
                    success=ok and not div,
                    loss=[float("nan")] if div else [1.0, 0.5],
                    # a failing member computes about half the planted capacity (count views)
                    frac_ok=[0.0, 1.0 if ok else min(0.5, 0.5 * t / r)],
                    n_ok=[0.0, float(r) if ok else min(0.5 * r, 0.5 * t)],
                    version="planted",
                )
                rows.append(row)
    return rows


def geometric(lo: float, hi: float, num: int, integer: bool = True) -> list[float]:
    """num values from lo to hi, evenly spaced in log (rounded and deduplicated if integer)."""
    g = np.geomspace(lo, hi, num)
    return sorted({int(round(v)) for v in g}) if integer else [float(v) for v in g]
