"""What an FPE fit says (arXiv 2510.04500): the clause capacity K* of every arm at every width,
whether the split arms beat the dense network beyond the seeds' spread, the gains of the fitted
law, and what is not a test of anything (FPE has no capacity theorem)."""

from __future__ import annotations

from lab.experiments.fpe.member import SPLITS
from lab.fit import FitReport, common, compare_laws, interval_text, law_fit
from lab.labels import number


def _arm(key: dict) -> str:
    split = key.get("split")
    return SPLITS[int(split)] if split is not None else str(key.get("arm"))


def _order(v):
    """Numbers in numeric order, then everything else by its text."""
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v))


def _text(s) -> str:
    if s.censored == "above":
        return f"> {number(s.bound)}"
    if s.censored == "below":
        return f"< {number(s.bound)}"
    return f"{number(s.threshold)} [{number(s.lo)}, {number(s.hi)}]"


def _interval(s) -> tuple[float, float]:
    """The range a series' K* may take: its interval, or from its censored bound outwards."""
    if s.censored == "above":
        return s.bound, float("inf")
    if s.censored == "below":
        return 0.0, s.bound
    return s.lo, s.hi


def arm_comparison(report: FitReport) -> list[str]:
    """Per width n: K* of every arm, and each split arm against the dense network."""
    out = []
    widths = sorted({float(s.key["n"]) for s in report.series})
    for n in widths:
        at = {_arm(s.key): s for s in report.series if float(s.key["n"]) == n}
        arms = [a for a in SPLITS if a in at]
        out.append(f"n = {number(n)}: K* " + ", ".join(f"{a} {_text(at[a])}" for a in arms))
        if "dense" not in at:
            continue
        d_lo, d_hi = _interval(at["dense"])
        better, same, worse = [], [], []
        for a in arms[1:]:
            lo, hi = _interval(at[a])
            (better if lo > d_hi else worse if hi < d_lo else same).append(a)
        parts = []
        if better:
            parts.append(f"{' and '.join(better)} above the dense network beyond the intervals")
        if worse:
            parts.append(f"{' and '.join(worse)} below it")
        if same:
            parts.append(f"the data cannot separate {' and '.join(same)} from the dense network (intervals overlap)")
        out.append(f"n = {number(n)}: " + "; ".join(parts))
    return out


def verdicts(report: FitReport) -> list[str]:
    keys = [s.key for s in report.series]
    arms = [a for a in SPLITS if any(_arm(k) == a for k in keys)]
    vals = lambda f: sorted({k.get(f) for k in keys if k.get(f) is not None}, key=_order)  # noqa: E731
    out = [f"setting: one-hidden-layer ReLU networks on a balanced Boolean {'/'.join(str(v).upper() for v in vals('form'))} "
           f"with clauses of k = {', '.join(str(v) for v in vals('k'))} literals; arms {', '.join(arms)}; "
           f"alpha = {', '.join(str(v) for v in vals('alpha'))}; n = {', '.join(str(v) for v in vals('n'))}. K* is the "
           "largest number of clauses at which an arm still reaches the [success] accuracy: what training reaches, "
           "not a bound (FPE has no capacity theorem)" if keys else "setting: no series"]
    out += common(report)
    out += arm_comparison(report)
    arms_fit = law_fit(report, "fpe_arms")
    if arms_fit is not None:
        gains = [f"{g[2:]} {interval_text(arms_fit, g)}" for g in arms_fit.params if g.startswith("g_") and g[2:] in arms]
        out.append("fitted gain in clauses per neuron over the dense network (K* = c·n·g): " + ", ".join(gains)
                   + f"; dense c = {interval_text(arms_fit, 'c')} clauses per neuron")
    ranking = compare_laws(report, ("fpe_arms", "fpe_shared"))
    if ranking:
        out.append("split gains vs no gain: " + ranking)
    power = law_fit(report, "fpe_arms_power")
    if power is not None:
        out.append(f"K* ∝ n^β with β = {interval_text(power, 'beta')} (1: a fixed number of clauses per neuron)")
    return out
