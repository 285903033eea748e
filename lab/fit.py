"""Fitting a run: rows -> capacity per series (each view) -> every candidate law (each group) -> verdicts.

    report = fit_run("runs/superposition-quick")   # or fit_rows("superposition", rows)
    print(report.table())
    lab.analysis.fit_and_write("runs/superposition-quick")   # RUN_DIR/fit.json, thresholds.csv

Capacities come from lab.thresholds (threshold views) and lab.capacity (count views); law fits and
comparisons from lab.laws. Laws are fitted separately in each group of the kind's
``Analysis.fit_by`` fields (e.g. per model and number of heads), never across settings that the
theory does not tie together. Statistics that a referee asks for:

- law comparison by QAIC (AIC corrected for overdispersion: differences divided by ĉ = χ²/dof of the
  most general law), with "the data cannot separate these laws" when ΔQAIC < 2;
- intervals on law parameters that resample seeds through the whole pipeline: each replicate
  draws the seeds with replacement, recomputes every series' capacity from those seeds' members
  and refits the law; the reported interval is the hull of this and of the threshold-noise
  bootstrap (lab.laws.fit_law), and the number of distinct seed multisets is reported with it.

Verdicts state what the data show relative to the theory: ``common`` for every kind, then the
kind's own (``Experiment.verdicts``, e.g. lab.experiments.superposition.verdicts).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lab import capacity, experiment, labels, laws, store
from lab.thresholds import Threshold, fit_thresholds, series_fields

SEPARATE = 2.0  # ΔQAIC below which two laws are not told apart


@dataclass(frozen=True)
class FitReport:
    kind: str
    resource: str
    direction: str
    covariates: tuple[str, ...]
    series: list[Threshold]
    laws: list[laws.LawFit]
    best: str | None
    verdicts: list[str] = field(default_factory=list)
    view: str = "success"  # the capacity view of series/laws (lab.capacity)
    group: dict = field(default_factory=dict)  # the fit_by values of this group ({} = all series)
    groups: list["FitReport"] = field(default_factory=list)  # every (view, group) fit; empty in a group
    seeds: int = 0

    def to_dict(self) -> dict:
        out = {
            "kind": self.kind,
            "resource": self.resource,
            "direction": self.direction,
            "covariates": list(self.covariates),
            "view": self.view,
            "view_text": capacity.get(self.view).text,
            "group": dict(self.group),
            "seeds": self.seeds,
            "series": [s.to_dict() for s in self.series],
            "laws": [f.to_dict() for f in self.laws],
            "best": self.best,
            "verdicts": list(self.verdicts),
        }
        if self.groups:
            out["groups"] = [g.to_dict() for g in self.groups]
        return out

    def table(self) -> str:
        """A plain-text summary: per view and group, thresholds, laws (QAIC, AIC, LOO), verdicts."""
        parts = []
        for g in self.groups or [self]:
            parts.append(g._group_table())
        return "\n\n".join(parts)

    def _group_table(self) -> str:
        label = group_label(self.group)
        out = [f"{self.kind} [{self.view}: {capacity.get(self.view).text}]{' ' + label if label else ''}: "
               f"capacity in {self.resource} per series, vs {', '.join(self.covariates)}"]
        out.append("series (95% interval; censored series are bounds)")
        varying = _varying_keys(self.series, self.covariates)
        for s in self.series:
            key = " ".join(f"{c}={s.key.get(c)}" for c in self.covariates)
            key += "".join(f" {k}={s.key.get(k)}" for k in varying)
            val = labels.threshold_text(s.to_dict())
            if s.censored:
                val += f"  ({s.note})"
            elif s.width is not None:
                val += f"  width {s.width:.2f}"
            out.append(f"  {key:<28} {val}   seeds={s.seeds}")
        ok = [f for f in self.laws if f.converged]
        best_q = min((_score(f) for f in ok), default=math.nan)
        out.append(f"  {'law':<20} {'formula':<26} {'parameters':<44} {'ΔQAIC':>7} {'ΔAIC':>7} {'χ²/dof':>7} {'LOO':>7}")
        best_aic = min((f.aic for f in ok), default=math.nan)
        for f in sorted(self.laws, key=lambda f: (not f.converged, _score(f) if f.converged else 0)):
            if not f.converged:
                out.append(f"  {f.name:<20} {f.formula:<26} not fitted: {f.error}")
                continue
            ps = ", ".join(f"{p}={_num(v)} [{_num(lo)}, {_num(hi)}]" for p, (v, lo, hi) in f.params.items())
            loo = f"{f.heldout:.3f}" if f.heldout is not None else "-"
            chi = f"{f.chi2_dof:.2f}" if f.chi2_dof is not None else "-"
            mark = " *" if f.name == self.best else ""
            out.append(f"  {f.name:<20} {f.formula:<26} {ps:<44} {_score(f) - best_q:7.2f} {f.aic - best_aic:7.2f} {chi:>7} {loo:>7}{mark}")
        out.append("  (* best by QAIC; LOO = leave-one-out RMS error of log capacity)")
        out.extend(f"- {v}" for v in self.verdicts)
        return "\n".join(out)


def _score(f: laws.LawFit) -> float:
    return f.qaic if f.qaic is not None else f.aic


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def _varying_keys(series: Sequence[Threshold], skip: Sequence[str]) -> list[str]:
    return [k for k in labels.varying(s.key for s in series) if k not in skip]


def group_label(group: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


# ------------------------------------------------------------------------------------------ fit


def fit_rows(
    kind: str,
    rows: Sequence[dict],
    *,
    analysis: experiment.Analysis | None = None,
    n_boot: int = 200,
    pipeline_boot: int = 100,
    law_interval: str = "bootstrap",
    level: float = 0.95,
    seed: int = 0,
) -> FitReport:
    """Fit in-memory rows of ``kind`` (see the module docstring).

    ``pipeline_boot``: seed-resampling replicates through the whole pipeline (0 = off).
    """
    member_fields = None
    if analysis is None:
        exp = experiment.get(kind)
        analysis, member_fields = exp.analysis, exp.fields()
    if not rows:
        raise ValueError(f"no rows to fit for kind {kind!r}")
    fields = series_fields(rows, analysis, member_fields)
    n_seeds = len({r.get("seed", 0) for r in rows})
    groups = []
    for view_name in analysis.views:
        view = capacity.get(view_name)
        series = view_capacities(rows, analysis, fields, view, n_boot=n_boot, level=level, seed=seed)
        fit_by = [f for f in analysis.fit_by if f in fields]
        for gkey, gseries in _split(series, fit_by):
            points = laws.points_from_thresholds(gseries, analysis.covariates)
            fits = laws.compare(analysis.laws, points, interval=law_interval, n_boot=n_boot, level=level, seed=seed)
            if pipeline_boot and n_seeds > 1:
                grows = [r for r in rows if all(_same(r.get(k), v) for k, v in gkey.items())]
                fits = seed_pipeline(grows, analysis, fields, view, fits, n_boot=pipeline_boot, level=level, seed=seed)
            best = laws.best(fits)
            g = FitReport(kind=kind, resource=analysis.resource, direction=analysis.direction,
                          covariates=tuple(analysis.covariates), series=gseries, laws=fits,
                          best=best.name if best else None, view=view_name, group=gkey, seeds=n_seeds)
            groups.append(dataclasses.replace(g, verdicts=verdicts(g)))
    head = groups[0]
    headline_series = [s for g in groups if g.view == head.view for s in g.series]
    labelled = []
    varying = labels.varying((g.group for g in groups), groups[0].group if groups else ())
    for g in groups:
        label = group_label({k: g.group[k] for k in varying})
        tag = f"[{g.view}{'; ' + label if label else ''}] " if len(groups) > 1 else ""
        labelled += [tag + v for v in g.verdicts]
    return dataclasses.replace(head, series=headline_series, verdicts=labelled, groups=groups if len(groups) > 1 else [])


def view_capacities(rows, analysis, fields, view: capacity.View, *, n_boot=200, level=0.95, seed=0) -> list[Threshold]:
    """One capacity per series under ``view``."""
    if view.count is not None:
        return capacity.count_capacities(rows, fields, view, analysis.resource, n_boot=max(n_boot, 200), level=level,
                                         rng=np.random.default_rng(seed))
    return fit_thresholds(rows, analysis, n_boot=n_boot, level=level, seed=seed, outcome=view.outcome, fields=fields)


def _same(a, b) -> bool:
    return repr(a) == repr(b)


def _split(series: list[Threshold], fit_by: Sequence[str]) -> list[tuple[dict, list[Threshold]]]:
    if not fit_by:
        return [({}, list(series))]
    out: dict[tuple, tuple[dict, list]] = {}
    for s in series:
        k = tuple(repr(s.key.get(f)) for f in fit_by)
        out.setdefault(k, ({f: s.key.get(f) for f in fit_by}, []))[1].append(s)
    return list(out.values())


def seed_pipeline(rows: Sequence[dict], analysis, fields, view: capacity.View, fits: list[laws.LawFit], *,
                  n_boot: int = 100, level: float = 0.95, seed: int = 0) -> list[laws.LawFit]:
    """Widen each converged law's parameter intervals by a bootstrap over seeds through the whole
    pipeline: draw seeds with replacement, recompute every capacity from those seeds' members
    (relabelled so a seed drawn twice counts twice), refit the law from its fitted parameters."""
    seeds = sorted({r.get("seed", 0) for r in rows})
    by_seed = {s: [r for r in rows if r.get("seed", 0) == s] for s in seeds}
    rng = np.random.default_rng(seed + 1)
    ok = [f for f in fits if f.converged]
    draws: dict[str, list[dict]] = {f.name: [] for f in ok}
    for _ in range(n_boot):
        pick = rng.integers(0, len(seeds), size=len(seeds))
        rep = [{**r, "seed": j} for j, i in enumerate(pick) for r in by_seed[seeds[i]]]
        series = view_capacities(rep, analysis, fields, view, n_boot=0 if view.count is None else 50, level=level, seed=seed)
        points = laws.points_from_thresholds(series, analysis.covariates)
        for f in ok:
            p = laws.refit(f.name, points, {k: v for k, (v, _, _) in f.params.items()})
            if p is not None:
                draws[f.name].append(p)
    a = (1 - level) / 2
    out = []
    for f in fits:
        d = draws.get(f.name) or []
        if not f.converged or len(d) < 0.5 * n_boot:
            out.append(f)
            continue
        params = {}
        for p, (v, lo, hi) in f.params.items():
            vals = np.array([x[p] for x in d])
            params[p] = (v, min(lo, float(np.quantile(vals, a))), max(hi, float(np.quantile(vals, 1 - a))))
        out.append(dataclasses.replace(f, params=params, seed_resamples=capacity.distinct_resamples(len(seeds))))
    return out


def fit_run(run_dir: str | Path, **kwargs) -> FitReport:
    """Fit the rows of a run directory."""
    meta = store.read_meta(run_dir)
    rows = store.load_rows(run_dir)
    if not rows:
        raise ValueError(f"{run_dir} has no rows yet; run `lab run SPEC --out {run_dir}` first")
    return fit_rows(meta["kind"], rows, **kwargs)


# ------------------------------------------------------------------------------------- verdicts


def law_fit(report: FitReport, name: str) -> laws.LawFit | None:
    return next((f for f in report.laws if f.name == name and f.converged), None)


def interval_text(f: laws.LawFit, p: str) -> str:
    v, lo, hi = f.params[p]
    return f"{v:.3g} [{lo:.3g}, {hi:.3g}]"


def compare_laws(report: FitReport, names: Sequence[str]) -> str:
    """One sentence ranking the named laws by QAIC, saying where the data cannot separate them."""
    fits = sorted((f for f in (law_fit(report, n) for n in names) if f is not None), key=_score)
    if len(fits) < 2:
        return ""
    top, rest = fits[0], fits[1:]
    gaps = [(f, _score(f) - _score(top)) for f in rest]
    close = [f.formula for f, d in gaps if d < SEPARATE]
    text = f"by QAIC (ĉ = {top.c_hat or 1.0:.2f}) {top.formula} ranks first; " + ", ".join(
        f"{f.formula} ΔQAIC {d:.1f}" for f, d in gaps
    )
    if close:
        text += f". The data cannot separate {top.formula} from {' and '.join(close)} (ΔQAIC < {SEPARATE:g})"
    return text


def common(report: FitReport) -> list[str]:
    """What any kind's fit says: series measured and censored, how series differ, the best law by
    QAIC, a poor fit's overdispersion and the seed bootstrap (kinds' verdicts start with these)."""
    n_meas = sum(s.censored is None for s in report.series)
    n_cens = len(report.series) - n_meas
    out = [f"{len(report.series)} series: {n_meas} capacities measured, {n_cens} censored (bounds)"]
    split = _varying_keys(report.series, report.covariates)
    tied = [k for k in split if determined_by(report.series, k, report.covariates)]
    free = [k for k in split if k not in tied]
    if tied:
        out.append(f"{', '.join(tied)} {'is' if len(tied) == 1 else 'are'} tied to {', '.join(report.covariates)} (one value per series)")
    if free:
        out.append(f"series also differ in {', '.join(free)}: the laws are fitted across all of them (one capacity per series)")
    if report.best is None:
        needed = min(len(laws.get(n).params) for n in (f.name for f in report.laws)) + 1 if report.laws else 2
        out.append(f"not enough capacities to fit a law: {n_meas} measured, the simplest law needs {needed}")
        return out
    ranked = sorted((f for f in report.laws if f.converged), key=_score)
    if len(ranked) > 1:
        d = _score(ranked[1]) - _score(ranked[0])
        out.append(f"best law by QAIC: {ranked[0].formula}, ΔQAIC = {d:.1f} to {ranked[1].formula}"
                   + (" (the data cannot separate them)" if d < SEPARATE else ""))
    else:
        out.append(f"only law fitted: {ranked[0].formula}")
    chi = ranked[0].chi2_dof
    if chi is not None and chi > 2:
        out.append(f"the best law misses the capacities by more than their intervals (χ²/dof = {chi:.1f}): "
                   "parameter intervals are widened by √(χ²/dof) and law differences divided by ĉ")
    seeds = next((f.seed_resamples for f in ranked if f.seed_resamples), None)
    if seeds:
        out.append(f"parameter intervals include a bootstrap over seeds through the whole pipeline "
                   f"({report.seeds} seeds: {seeds} distinct resamples)")
    return out


def determined_by(series: Sequence[Threshold], key: str, covariates: Sequence[str]) -> bool:
    """Whether the series' covariate values fix ``key`` (e.g. d_out = n)."""
    seen: dict[tuple, str] = {}
    for s in series:
        cov = tuple(repr(s.key.get(c)) for c in covariates)
        if seen.setdefault(cov, repr(s.key.get(key))) != repr(s.key.get(key)):
            return False
    return True


def verdicts(report: FitReport) -> list[str]:
    """Statements about the data against the kind's theory (Experiment.verdicts; generic ones when
    the kind has none)."""
    own = experiment.get(report.kind).verdicts if report.kind in experiment.kinds() else None
    return (own or common)(report)
