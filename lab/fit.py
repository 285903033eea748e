"""Fitting a run: rows -> per-series thresholds -> every candidate law -> verdicts against theory.

    report = fit_run("runs/superposition-quick")   # or fit_rows("superposition", rows)
    print(report.table())
    write_fit("runs/superposition-quick")          # RUN_DIR/fit.json (schema in the README)

Thresholds come from lab.thresholds, law fits and comparisons (AIC, BIC, leave-one-out error) from
lab.laws. Verdicts state what the data show relative to the theory: for superposition the
measured exponent against 2 and against the local slope of the O(n²/log n) upper bound
(arXiv 2409.15318); for attention the constant D_K·d_model/(m' log m') and whether m' log m' beats
m' (arXiv 2509.22840).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lab import experiment, laws, store
from lab.thresholds import Threshold, fit_thresholds


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

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "direction": self.direction,
            "covariates": list(self.covariates),
            "series": [s.to_dict() for s in self.series],
            "laws": [f.to_dict() for f in self.laws],
            "best": self.best,
            "verdicts": list(self.verdicts),
        }

    def table(self) -> str:
        """A plain-text summary: thresholds, laws (parameters ± interval, AIC, BIC, LOO), verdicts."""
        out = [f"{self.kind}: threshold of {self.resource} ({self.direction}) per series, vs {', '.join(self.covariates)}"]
        out.append("")
        out.append("series thresholds (95% interval; censored series are bounds)")
        for s in self.series:
            key = " ".join(f"{c}={s.key.get(c)}" for c in self.covariates)
            varying = _varying_keys(self.series, self.covariates)
            key += "".join(f" {k}={s.key.get(k)}" for k in varying)
            if s.censored:
                val = f"{'>' if s.censored == 'above' else '<'} {_num(s.bound)}  ({s.note})"
            else:
                w = f"  width {s.width:.2f}" if s.width is not None else ""
                val = f"{_num(s.threshold)} [{_num(s.lo)}, {_num(s.hi)}]{w}" + (f"  ({s.note})" if s.note else "")
            out.append(f"  {key:<28} {val}   seeds={s.seeds}")
        out.append("")
        ok = [f for f in self.laws if f.converged]
        best_aic = min((f.aic for f in ok), default=math.nan)
        out.append(f"  {'law':<20} {'formula':<26} {'parameters':<44} {'AIC':>8} {'ΔAIC':>7} {'BIC':>8} {'LOO':>7}")
        for f in sorted(self.laws, key=lambda f: (not f.converged, f.aic if f.converged else 0)):
            if not f.converged:
                out.append(f"  {f.name:<20} {f.formula:<26} not fitted: {f.error}")
                continue
            ps = ", ".join(f"{p}={_num(v)} [{_num(lo)}, {_num(hi)}]" for p, (v, lo, hi) in f.params.items())
            loo = f"{f.heldout:.3f}" if f.heldout is not None else "-"
            mark = " *" if f.name == self.best else ""
            out.append(
                f"  {f.name:<20} {f.formula:<26} {ps:<44} {f.aic:8.2f} {f.aic - best_aic:7.2f} {f.bic:8.2f} {loo:>7}{mark}"
            )
        out.append("  (* best by AIC; LOO = leave-one-out RMS error of log threshold)")
        out.append("")
        out.extend(f"- {v}" for v in self.verdicts)
        return "\n".join(out)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def _varying_keys(series: Sequence[Threshold], skip: Sequence[str]) -> list[str]:
    keys = {k for s in series for k in s.key} - set(skip)
    return sorted(k for k in keys if len({repr(s.key.get(k)) for s in series}) > 1)


# ------------------------------------------------------------------------------------------ fit


def fit_rows(
    kind: str,
    rows: Sequence[dict],
    *,
    analysis: experiment.Analysis | None = None,
    n_boot: int = 200,
    law_interval: str = "bootstrap",
    level: float = 0.95,
    seed: int = 0,
) -> FitReport:
    """Fit in-memory rows of ``kind`` (see the module docstring)."""
    member_fields = None
    if analysis is None:
        exp = experiment.get(kind)
        analysis, member_fields = exp.analysis, exp.fields()
    if not rows:
        raise ValueError(f"no rows to fit for kind {kind!r}")
    series = fit_thresholds(rows, analysis, member_fields=member_fields, n_boot=n_boot, level=level, seed=seed)
    points = laws.points_from_thresholds(series, analysis.covariates)
    fits = laws.compare(analysis.laws, points, interval=law_interval, n_boot=n_boot, level=level, seed=seed)
    best = laws.best(fits)
    report = FitReport(
        kind=kind, resource=analysis.resource, direction=analysis.direction, covariates=tuple(analysis.covariates),
        series=series, laws=fits, best=best.name if best else None,
    )
    return dataclasses.replace(report, verdicts=verdicts(report))


def fit_run(run_dir: str | Path, **kwargs) -> FitReport:
    """Fit the rows of a run directory."""
    meta = store.read_meta(run_dir)
    rows = store.load_rows(run_dir)
    if not rows:
        raise ValueError(f"{run_dir} has no rows yet; run `lab run SPEC --out {run_dir}` first")
    return fit_rows(meta["kind"], rows, **kwargs)


def write_fit(run_dir: str | Path, report: FitReport | None = None, **kwargs) -> Path:
    """Write RUN_DIR/fit.json (fitting first unless ``report`` is given)."""
    report = report or fit_run(run_dir, **kwargs)
    path = Path(run_dir) / "fit.json"
    store.atomic_write(path, json.dumps(report.to_dict(), indent=2, default=_json_default) + "\n")
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


# ------------------------------------------------------------------------------------- verdicts


def _law(report: FitReport, name: str) -> laws.LawFit | None:
    return next((f for f in report.laws if f.name == name and f.converged), None)


def _interval(f: laws.LawFit, p: str) -> str:
    v, lo, hi = f.params[p]
    return f"{v:.3g} [{lo:.3g}, {hi:.3g}]"


def _common(report: FitReport) -> list[str]:
    n_meas = sum(s.censored is None for s in report.series)
    n_cens = len(report.series) - n_meas
    out = [f"{len(report.series)} series: {n_meas} thresholds measured, {n_cens} censored (bounds)"]
    split = _varying_keys(report.series, report.covariates)
    if split:
        out.append(f"series also differ in {', '.join(split)}: the laws are fitted across all of them (one threshold per series)")
    if report.best is None:
        needed = min(len(laws.get(n).params) for n in (f.name for f in report.laws)) + 1 if report.laws else 2
        out.append(f"not enough thresholds: {n_meas} measured, the simplest law needs {needed}; widen the sweep of {report.resource}")
        return out
    ranked = sorted((f for f in report.laws if f.converged), key=lambda f: f.aic)
    if len(ranked) > 1:
        out.append(f"best law by AIC: {ranked[0].name} ({ranked[0].formula}), ΔAIC = {ranked[1].aic - ranked[0].aic:.1f} to {ranked[1].name}")
    else:
        out.append(f"only law fitted: {ranked[0].name}")
    chi = ranked[0].chi2_dof
    if chi is not None and chi > 2:
        out.append(f"the best law misses the thresholds by more than their intervals (χ²/dof = {chi:.1f}); parameter intervals are widened by √(χ²/dof)")
    return out


def _superposition(report: FitReport) -> list[str]:
    out = _common(report)
    power = _law(report, "power")
    if power is None:
        return out
    a, lo, hi = power.params["alpha"]
    ns = sorted({float(s.key["n"]) for s in report.series if s.censored is None})
    # local slope of n²/log n over the measured widths: d log(n²/log n)/d log n = 2 − 1/log n
    slope = float(np.polyfit(np.log(ns), np.log(np.square(ns) / np.log(ns)), 1)[0]) if len(ns) > 1 else 2.0
    if lo > 2:
        vs2 = "above 2: capacity grows faster than n², which the O(n²/log n) upper bound rules out asymptotically: rejected"
    elif hi < 2:
        vs2 = "below 2: n²/log n upper bound consistent"
    else:
        vs2 = "consistent with 2: n²/log n upper bound consistent (the interval cannot tell the log factor)"
    out.append(f"exponent α = {a:.3g} [{lo:.3g}, {hi:.3g}] (power law c·n^α): {vs2}")
    if lo > slope:
        out.append(f"α exceeds the local slope {slope:.2f} of n²/log n over n ∈ [{ns[0]:g}, {ns[-1]:g}]: capacity/(n²/log n) grows with n here")
    elif hi < slope:
        out.append(f"α is below the local slope {slope:.2f} of n²/log n over n ∈ [{ns[0]:g}, {ns[-1]:g}]: trained networks fall increasingly short of the bound's scaling")
    else:
        slope_nlogn = float(np.polyfit(np.log(ns), np.log(np.multiply(ns, np.log(ns))), 1)[0]) if len(ns) > 1 else 1.0
        others = [name for name, sl in (("n·log n", slope_nlogn), ("n²", 2.0)) if lo <= sl <= hi]
        wide = f" (and with {' and '.join(others)}: the interval cannot separate them)" if others else ""
        out.append(f"α is consistent with the local slope {slope:.2f} of n²/log n over n ∈ [{ns[0]:g}, {ns[-1]:g}]{wide}")
    return out


def _attention(report: FitReport) -> list[str]:
    out = _common(report)
    mlog, lin = _law(report, "mlogm_over_d"), _law(report, "m_over_d")
    if mlog is not None:
        out.append(f"D_K·d_model/(m' log m') = c = {_interval(mlog, 'c')} (natural log)")
    if mlog is not None and lin is not None:
        d = lin.aic - mlog.aic
        pref = "m' log m' law preferred over m'" if d > 0 else "m' law preferred over m' log m'"
        out.append(f"{pref} (ΔAIC = {abs(d):.1f}{'; weak' if abs(d) < 2 else ''})")
    p2 = _law(report, "power2")
    if p2 is not None:
        ms = sorted({float(s.key["m_edges"]) for s in report.series if s.censored is None})
        # local slope of m' log m' over the measured m': 1 + 1/log m'
        slope = float(np.polyfit(np.log(ms), np.log(np.multiply(ms, np.log(ms))), 1)[0]) if len(ms) > 1 else 1.0
        out.append(
            f"free exponents: D_K ∝ m'^α/d_model^β with α = {_interval(p2, 'alpha')} (m' log m' has local slope "
            f"{slope:.2f} here, m' has 1), β = {_interval(p2, 'beta')} (theory: 1)"
        )
    icpt = _law(report, "mlogm_over_d_icpt")
    if icpt is not None:
        out.append(f"intercept b = {_interval(icpt, 'b')} key dimensions")
    return out


VERDICTS: dict[str, Callable[[FitReport], list[str]]] = {"superposition": _superposition, "attention": _attention}


def verdicts(report: FitReport) -> list[str]:
    """Statements about the data against the kind's theory (generic ones for other kinds)."""
    return VERDICTS.get(report.kind, _common)(report)
