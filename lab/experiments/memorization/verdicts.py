"""What a memorisation fit says against Mahdavi, Liao & Thrampoulidis (arXiv 2306.02010): the
constant of the theorem's h·n scale, the ranking of h·n, h and the parameter count, and the free
exponents of h and n set against their reported trend (linear in h, increasing in n)."""

from __future__ import annotations

import itertools

from lab import laws
from lab.fit import FitReport, common, compare_laws, interval_text, law_fit

PUBLISHED = ("published (arXiv 2306.02010, Fig. 2; d = 64, shared context, 100 classes, about 50k Adam steps per "
             "point): memorisation grows linearly in h (h = 1-60 at n = 32) and monotonically in n (n = 1-60 at h = 20)")


def _vals(keys, f):
    values = {k.get(f) for k in keys if k.get(f) is not None}
    return sorted(values, key=lambda v: (isinstance(v, str), v if isinstance(v, str) else float(v)))


def _span(values) -> str:
    return f"{values[0]}-{values[-1]}" if len(values) > 1 else f"{values[0]}" if values else "?"


def trend(report: FitReport) -> list[str]:
    """Per context size, the measured capacities in order of h (the raw trend, before any law)."""
    out = []
    for n in _vals([s.key for s in report.series], "context"):
        pts = sorted(((int(s.key["h"]), s.threshold) for s in report.series
                      if s.key.get("context") == n and s.threshold is not None), key=lambda p: p[0])
        if len(pts) > 1:
            rising = all(b[1] > a[1] for a, b in itertools.pairwise(pts))
            out.append(f"n = {n}: " + ", ".join(f"h = {h}: {t:.0f}" for h, t in pts)
                       + (" (rising with h)" if rising else " (not monotone in h)"))
    return out


def _shape(p: laws.LawFit) -> str:
    _, lo, hi = p.params["alpha"]
    return "consistent with linear growth in h" if lo <= 1.0 <= hi else "sub-linear in h" if hi < 1.0 else "super-linear in h"


def exponent_text(report: FitReport) -> str | None:
    """The fitted exponents of h (and n) against the published trend."""
    p = law_fit(report, "mem_power") or law_fit(report, "mem_power_h")
    if p is None:
        return None
    text = f"free exponents: capacity ∝ h^α with α = {interval_text(p, 'alpha')}, {_shape(p)}"
    if "beta" in p.params:
        _, blo, bhi = p.params["beta"]
        grows = ("increasing in n" if blo > 0 else "decreasing in n" if bhi < 0 else "no resolved dependence on n")
        text += f"; n^β with β = {interval_text(p, 'beta')}, {grows}"
    else:
        text += " (one context size: the n exponent is not identified)"
    return text


def without_one_head(report: FitReport) -> str | None:
    """The h exponent refitted without h = 1, where the decoder sees a one-dimensional feature (d_v = 1):
    whether the trend above comes from that degenerate end alone (threshold bootstrap only)."""
    rest = [s for s in report.series if float(s.key.get("h", 0)) >= 2]
    if len({s.key.get("h") for s in rest if s.censored is None}) < 2 or len(rest) == len(report.series):
        return None
    name = "mem_power" if len({s.key.get("context") for s in rest}) > 1 else "mem_power_h"
    try:
        p = laws.fit_law(name, laws.points_from_thresholds(rest, report.covariates), n_boot=200, heldout=False)
    except laws.FitError:
        return None
    return f"without h = 1 (a one-dimensional feature per example): α = {interval_text(p, 'alpha')}, {_shape(p)}"


def verdicts(report: FitReport) -> list[str]:
    keys = [s.key for s in report.series]
    if not keys:
        return ["setting: no series"]
    contexts = "/".join(str(c) for c in _vals(keys, "contexts")) if _vals(keys, "contexts") else "?"
    setting = (f"setting: {contexts} contexts, d_model = {', '.join(str(d) for d in _vals(keys, 'd_model'))}, "
               f"{', '.join(str(c) for c in _vals(keys, 'classes'))} classes, h = {_span(_vals(keys, 'h'))}, "
               f"n = {', '.join(str(n) for n in _vals(keys, 'context'))}")
    out = [setting]
    out += common(report)
    out += trend(report)
    hn = law_fit(report, "mem_hn")
    if hn is not None:
        out.append(f"capacity/(h·min(n, d_h)) = c = {interval_text(hn, 'c')} (the theorem guarantees Ω(h·min(n, d_h)) "
                   "under its assumptions; c is what training reaches)")
    ranking = compare_laws(report, ("mem_hn", "mem_h", "mem_params"))
    if ranking:
        out.append("h·n vs h vs parameters: " + ranking)
    for text in (exponent_text(report), without_one_head(report)):
        if text:
            out.append(text)
    out.append(PUBLISHED)
    return out
