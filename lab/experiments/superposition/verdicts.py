"""What a superposition fit says against the theory (arXiv 2409.15318): the setting and whether the
O(n²/log n) bound applies to it, the laws ranked by QAIC and the measured exponent."""

from __future__ import annotations

import numpy as np

from lab.fit import FitReport, common, compare_laws, law_fit


def setting(report: FitReport) -> tuple[str, bool]:
    """The superposition setting of a group's series, and whether the O(n²/log n) bound applies to it."""
    d_out = {s.key.get("d_out") for s in report.series}
    d_in = {s.key.get("d") for s in report.series}
    raw_out = None in d_out
    if raw_out:
        return ("outputs are m' separate units, so the readout alone holds n·m' weights and the "
                "n²/log n counting bound does not bind: not a test of the bound", False)
    tied = all(s.key.get("d_out") is not None and float(s.key["d_out"]) <= float(s.key["n"]) * 1.0001 for s in report.series)
    where = "inputs and outputs" if None not in d_in else "outputs"
    if tied:
        return (f"{where} in superposition with d_out <= n: the network has O(n²) weights, the regime "
                "of the O(n²/log n) bound (arXiv 2409.15318)", True)
    return (f"{where} in superposition, but d_out grows faster than n here: the O(n²) weight count "
            "behind the bound does not hold; not a test of the bound", False)


def verdicts(report: FitReport) -> list[str]:
    text, applies = setting(report)
    out = [f"setting: {text}"] + common(report)
    ranking = compare_laws(report, ("n2_over_log", "n2", "n_log_n", "linear"))
    if ranking:
        out.append(ranking)
    power = law_fit(report, "power")
    if power is None:
        return out
    a, lo, hi = power.params["alpha"]
    ns = sorted({float(s.key["n"]) for s in report.series if s.censored is None})
    # local slope of n²/log n over the measured widths: d log(n²/log n)/d log n = 2 − 1/log n
    slope = float(np.polyfit(np.log(ns), np.log(np.square(ns) / np.log(ns)), 1)[0]) if len(ns) > 1 else 2.0
    out.append(f"exponent α = {a:.3g} [{lo:.3g}, {hi:.3g}] (power law c·n^α, interval width {hi - lo:.2f}); "
               f"n²/log n has local slope {slope:.2f} over the measured widths, n² 2, n log n about 1.3")
    if not applies:
        out.append("the exponent describes what training reaches in this setting; it is not evidence for or against the bound")
    elif lo > 2:
        out.append("α above 2: capacity grows faster than the O(n²/log n) upper bound allows asymptotically: the bound is contradicted at these sizes")
    elif hi < slope:
        out.append("α below the bound's slope: trained networks stay within the O(n²/log n) bound and fall increasingly short of it")
    else:
        out.append("α is consistent with the bound's slope: trained networks reach capacity growing like the O(n²/log n) bound")
    return out
