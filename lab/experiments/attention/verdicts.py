"""What an attention fit says against the theory (arXiv 2509.22840): the regime (compressed or
not), the constant of D_K·d_model/(m' log m'), the competing laws and the free exponents."""

from __future__ import annotations

import numpy as np

from lab.fit import FitReport, common, compare_laws, interval_text, law_fit


def verdicts(report: FitReport) -> list[str]:
    keys = [s.key for s in report.series]
    vals = lambda f: sorted({k.get(f) for k in keys if k.get(f) is not None}, key=float)  # noqa: E731
    comp = {float(k.get("compression") or float(k["m"]) / float(k["d_model"])) for k in keys}
    models = sorted({str(k.get("model")) for k in keys})
    where = ("uncompressed (m = d_model, orthonormal embeddings): any score matrix of rank D_K is reachable, "
             "D_K = d_model is exact for every graph and D_K = 2 for out-degree 1 (lab.experiments.attention.construction), so "
             "thresholds measure what training finds, not the counting bound: not a test of the law"
             if comp == {1.0} else
             f"compressed (m/d_model = {', '.join(f'{c:g}' for c in sorted(comp))}: items share directions), the law's regime"
             if 1.0 not in comp else
             f"m/d_model = {', '.join(f'{c:g}' for c in sorted(comp))} fitted together: uncompressed series (not a test of "
             "the law) mixed with compressed ones")
    graphs = sorted({str(k.get("graph")) for k in keys})
    degree = f", out-degree {', '.join(str(d) for d in vals('degree'))}" if vals("degree") else ""
    out = [f"setting: {'/'.join(models)} scorer, h = {', '.join(str(h) for h in vals('h'))}, {where}; {'/'.join(graphs)} graphs"
           f"{degree}, d_model = {', '.join(str(d) for d in vals('d_model'))}, m' = {vals('m_edges')[0]}-{vals('m_edges')[-1]}"
           if keys else "setting: no series"]
    out += common(report)
    if report.series and all(s.censored == "above" for s in report.series):
        out.append("every series needs more than the largest D_K swept: no usable key dimension (D_K <= d_model) "
                   "recovered these graphs in training, a lower bound on D_K* only")
    mlog, info = law_fit(report, "mlogm_over_d"), law_fit(report, "info_over_d")
    if mlog is not None:
        out.append(f"D_K*·d_model/(m' ln m') = c = {interval_text(mlog, 'c')}")
    if info is not None:
        out.append(f"D_K*·d_model/ln C(m², m') = c = {interval_text(info, 'c')} (the information count: nats naming the graph)")
    ranking = compare_laws(report, ("mlogm_over_d", "m_over_d", "info_over_d"))
    if ranking:
        out.append("m' log m' vs m' vs information count: " + ranking)
    p2 = law_fit(report, "power2")
    if p2 is not None:
        ms = sorted({float(s.key["m_edges"]) for s in report.series if s.censored is None})
        # local slope of m' log m' over the measured m': 1 + 1/log m'
        slope = float(np.polyfit(np.log(ms), np.log(np.multiply(ms, np.log(ms))), 1)[0]) if len(ms) > 1 else 1.0
        out.append(
            f"free exponents: D_K ∝ m'^α/d_model^β with α = {interval_text(p2, 'alpha')} (m' log m' has local slope "
            f"{slope:.2f} here, m' has 1), β = {interval_text(p2, 'beta')} (theory: 1)"
        )
    return out
