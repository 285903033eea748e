"""Residuals of every fitted law, log(measured threshold / law), against the first covariate.

Used by every kind (lab.plots.make_figures adds it): a law that fits leaves residuals scattered
around 0 within their intervals; a trend across the covariate is the signature of a wrong law.
Censored series are drawn as open markers at log(bound / law) with an arrow to where they lie.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lab import labels
from lab.laws import get
from lab.plots import style


def figures(rows: list[dict], fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    laws = [law for law in fit.get("laws", []) if law.get("converged")]
    if not laws:
        return []
    laws.sort(key=lambda law: law["aic"])
    covs = list(fit["covariates"])
    x_name, hue = covs[0], (covs[1] if len(covs) > 1 else None)
    series = fit["series"]
    hues = sorted({s["key"][hue] for s in series}) if hue else [None]
    cols = dict(zip(hues, style.colors(len(hues)) if hue else ["#1f4e79"]))
    ncols = min(len(laws), 3)
    nrows = math.ceil(len(laws) / ncols)
    fig, axes = style.figure(ncols=ncols, nrows=nrows, width=3.6, height=2.9, sharey=True)
    for i, law in enumerate(laws):
        ax = axes[i // ncols, i % ncols]
        params = {k: v["value"] for k, v in law["params"].items()}
        for j, h in enumerate(hues):
            ss = [s for s in series if hue is None or s["key"][hue] == h]
            cov = {c: np.array([float(s["key"][c]) for s in ss]) for c in covs}
            pred = get(law["name"]).predict(params, cov)
            # dodge the hues sideways (log axis) so that their error bars do not overlap
            x = cov[x_name] * 2.0 ** (0.08 * (j - (len(hues) - 1) / 2))
            label = (f"{hue}={labels.value_text(h)}" if hue else "measured") if i == 0 else None
            for s, xv, pv in zip(ss, x, pred):
                if s["censored"] is None:
                    r = math.log(s["threshold"] / pv)
                    err = [[r - math.log(s["lo"] / pv)], [math.log(s["hi"] / pv) - r]]
                    ax.errorbar([xv], [r], yerr=err, fmt="o", color=cols[h], ms=4, capsize=2, lw=1, label=label)
                    label = None
                else:
                    r = math.log(s["bound"] / pv)
                    ax.plot([xv], [r], "o", mfc="none", mec=cols[h], ms=5)
                    dy = 0.35 if s["censored"] == "above" else -0.35
                    ax.annotate("", xy=(xv, r + dy), xytext=(xv, r),
                                arrowprops=dict(arrowstyle="-|>", color=cols[h], lw=0.9, shrinkA=2, shrinkB=0))
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xscale("log", base=2)
        heldout = f", LOO {law['heldout']:.2f}" if law.get("heldout") is not None else ""
        ax.set_title(f"{law['formula']}  (AIC {law['aic']:.1f}{heldout})", fontsize=8.5)
        ax.set_xlabel(x_name)
        if i % ncols == 0:
            ax.set_ylabel("log(threshold / law)")
        if i == 0:
            ax.legend(frameon=False, fontsize=7)
    for k in range(len(laws), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    return style.save(fig, out_dir, "residuals")
