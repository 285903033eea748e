"""Memorisation figures: capacity N* against heads and context (with the published linear trend and
the free power law), the raw memorisation curves, and the h exponent against the training budget.

capacity.png: N* (the largest data set memorised) with 95% intervals over seeds, against h (one
colour per context size n) and against n (one colour per h); open markers with arrows: censored
series (bounds only). Dashed: c·h, the trend Mahdavi et al. (arXiv 2306.02010) report, fitted to
these capacities; solid: c·h^α·n^β.
accuracy.png: per (contexts, n), final training accuracy (top) and examples memorised beyond the
majority count (bottom) against N, per h: mean over seeds with the seeds' range; dotted: the best
constant predictor.
budget.png: the trend against training time. Left: the fitted exponent α of h (95% interval) at each
evaluation point, with all h and without h = 1; the published trend is α = 1. Right: N* against h at
each evaluation point (largest n swept).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab import experiment, laws
from lab.capacity import final
from lab.plots import style
from lab.thresholds import fit_thresholds, group_series, series_fields

MARKERS = {"shared": "o", "random": "s"}


def figures(rows: list[dict], fit: dict, out_dir: Path, overlay: dict | None = None) -> list[Path]:
    return capacity_figure(fit, out_dir) + accuracy_figure(rows, out_dir) + budget_figure(rows, out_dir)


def _law(group: dict, name: str) -> dict | None:
    return next((f for f in group.get("laws", []) if f["name"] == name and f.get("converged")), None)


def _value(law: dict, p: str) -> float:
    return float(law["params"][p]["value"])


def _interval(law: dict, p: str) -> str:
    q = law["params"][p]
    return f"{q['value']:.2f} [{q['lo']:.2f}, {q['hi']:.2f}]"


def _draw_series(ax, series: list[dict], x_field: str, color, marker: str, label: str) -> None:
    series = sorted(series, key=lambda s: float(s["key"][x_field]))
    meas = [s for s in series if s["censored"] is None]
    if meas:
        x = np.array([float(s["key"][x_field]) for s in meas])
        t = np.array([s["threshold"] for s in meas])
        err = np.maximum(np.array([t - [s["lo"] for s in meas], [s["hi"] for s in meas] - t]), 0.0)
        ax.errorbar(x, t, yerr=err, color=color, marker=marker, ms=4.5, lw=1.0, capsize=2.5, label=label)
    for s in series:
        if s["censored"] is not None:
            style.censored_marker(ax, float(s["key"][x_field]), s["bound"], s["censored"], color)


def capacity_figure(fit: dict, out_dir: Path) -> list[Path]:
    groups = fit.get("groups") or [fit]
    fig, axes = style.figure(ncols=2, width=5.0, height=4.2)
    ax_h, ax_n = axes[0]
    kinds = {str(g.get("group", {}).get("contexts", "shared")) for g in groups}
    for g in groups:
        kind = str(g.get("group", {}).get("contexts", "shared"))
        marker, tag = MARKERS.get(kind, "o"), f" ({kind})" if len(kinds) > 1 else ""
        ns = sorted({int(s["key"]["context"]) for s in g["series"]})
        hs = sorted({int(s["key"]["h"]) for s in g["series"]})
        c_n, c_h = dict(zip(ns, style.colors(len(ns)))), dict(zip(hs, style.colors(len(hs))))
        for n in ns:
            _draw_series(ax_h, [s for s in g["series"] if int(s["key"]["context"]) == n], "h", c_n[n], marker, f"n = {n}{tag}")
        for h in hs:
            _draw_series(ax_n, [s for s in g["series"] if int(s["key"]["h"]) == h], "context", c_h[h], marker, f"h = {h}{tag}")
        grid_h, grid_n = np.linspace(min(hs), max(hs), 60), np.linspace(min(ns), max(ns), 60)
        if (lin := _law(g, "mem_h")) is not None:
            ax_h.plot(grid_h, _value(lin, "c") * grid_h, "--", color="0.3", lw=1.0,
                      label=f"c·h (published trend), c = {_value(lin, 'c'):.3g}")
        if (power := _law(g, "mem_power")) is not None:
            p = {k: _value(power, k) for k in power["params"]}
            for n in ns:
                ax_h.plot(grid_h, p["c"] * grid_h ** p["alpha"] * n ** p["beta"], "-", color=c_n[n], lw=0.8, alpha=0.7)
            for h in hs:
                ax_n.plot(grid_n, p["c"] * h ** p["alpha"] * grid_n ** p["beta"], "-", color=c_h[h], lw=0.8, alpha=0.7)
            ax_h.plot([], [], "-", color="0.5", lw=0.8,
                      label=f"c·h^α·n^β: α = {_interval(power, 'alpha')},\n β = {_interval(power, 'beta')}")
        elif (ph := _law(g, "mem_power_h")) is not None:
            ax_h.plot(grid_h, _value(ph, "c") * grid_h ** _value(ph, "alpha"), "-", color="0.5", lw=0.8,
                      label=f"c·h^α: α = {_interval(ph, 'alpha')}")
    for ax, xlabel, title in ((ax_h, "heads h", "N* against heads"), (ax_n, "context tokens n", "N* against context")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("N*: largest data set memorised")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", frameon=False)
    return style.save(fig, out_dir, "capacity")


def accuracy_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    panels = sorted({(str(r["contexts"]), int(r["context"])) for r in ok})
    if not panels:
        return []
    fig, axes = style.figure(ncols=len(panels), nrows=2, width=3.8, height=3.2)
    heads = sorted({int(r["h"]) for r in ok})
    color = dict(zip(heads, style.colors(len(heads))))
    for col, (kind, n) in enumerate(panels):
        ax_acc, ax_count = axes[0][col], axes[1][col]
        mine = [r for r in ok if str(r["contexts"]) == kind and int(r["context"]) == n]
        for h in heads:
            curve = []
            for key, members in group_series([r for r in mine if int(r["h"]) == h], ("examples",)):
                acc = np.array([final(r["accuracy"]) for r in members])
                excess = np.array([final(r["excess"]) for r in members])
                curve.append((key["examples"], acc.mean(), acc.min(), acc.max(), excess.mean(), excess.min(), excess.max()))
            if not curve:
                continue
            x, m, lo, hi, e, e_lo, e_hi = (np.array(v, dtype=float) for v in zip(*sorted(curve)))
            ax_acc.plot(x, m, marker="o", ms=3, color=color[h], label=f"h = {h}")
            ax_acc.fill_between(x, lo, hi, color=color[h], alpha=0.15, lw=0)
            ax_count.plot(x, e, marker="o", ms=3, color=color[h])
            ax_count.fill_between(x, e_lo, e_hi, color=color[h], alpha=0.15, lw=0)
        base = sorted({(int(r["examples"]), final(r["majority"]) / int(r["examples"])) for r in mine})
        if base:
            xs = sorted({b[0] for b in base})
            ax_acc.plot(xs, [np.mean([v for e, v in base if e == x]) for x in xs], ":", color="0.4", label="majority label")
            ax_count.plot(xs, xs, ":", color="0.4", lw=0.8, label="all N")
        for ax in (ax_acc, ax_count):
            ax.set_xscale("log")
            ax.set_xlabel("examples N")
        ax_acc.set_ylim(0, 1.02)
        ax_acc.set_ylabel("training accuracy")
        ax_acc.set_title(f"{kind} context, n = {n}")
        ax_count.set_yscale("log")
        ax_count.set_ylabel("memorised beyond the majority count")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    axes[1][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return style.save(fig, out_dir, "accuracy")


def _exponent(series, covariates) -> tuple[float, float, float] | None:
    """α of c·h^α·n^β (c·h^α with one n) fitted to ``series``; None when it does not converge."""
    name = "mem_power" if len({s.key.get("context") for s in series}) > 1 else "mem_power_h"
    try:
        return laws.fit_law(name, laws.points_from_thresholds(series, covariates), n_boot=100, heldout=False).params["alpha"]
    except (laws.FitError, ValueError):
        return None


def budget_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    """The h exponent at each evaluation point: how the trend depends on the training budget."""
    ok = [r for r in rows if r.get("status", "ok") == "ok" and r.get("success_evals")]
    evals = min((len(r["success_evals"]) for r in ok), default=0)
    if evals < 2 or len({r["h"] for r in ok}) < 3:
        return []
    exp = experiment.get("memorization")
    analysis = exp.analysis
    fields = series_fields(ok, analysis, exp.fields())
    kinds = sorted({str(r["contexts"]) for r in ok})
    fig, axes = style.figure(ncols=2, width=4.6, height=3.8)
    ax_a, ax_t = axes[0]
    frac = [(k + 1) / evals for k in range(evals)]
    colors = style.colors(evals)
    for kind in kinds:
        mine = [r for r in ok if str(r["contexts"]) == kind]
        n_top = max(int(r["context"]) for r in mine)
        marker = MARKERS.get(kind, "o")
        for k in range(evals):
            th = fit_thresholds(mine, analysis, n_boot=100, fields=fields, outcome=lambda r, k=k: bool(r["success_evals"][k]))
            for j, no_one in enumerate((False, True)):
                a = _exponent([s for s in th if not no_one or float(s.key["h"]) >= 2], analysis.covariates)
                if a is not None:
                    dodge = (j - 0.5) * 0.04 / evals  # the two variants side by side
                    ax_a.errorbar([frac[k] + dodge], [a[0]], yerr=[[max(a[0] - a[1], 0)], [max(a[2] - a[0], 0)]],
                                  fmt=marker, color="#1f4e79", mfc="none" if no_one else None, ms=5, capsize=2, lw=1.0)
            top = sorted((s for s in th if int(s.key["context"]) == n_top and s.threshold is not None),
                         key=lambda s: float(s.key["h"]))
            if top:
                h = np.array([float(s.key["h"]) for s in top])
                t = np.array([s.threshold for s in top])
                err = np.maximum(np.array([t - [s.lo for s in top], [s.hi for s in top] - t]), 0.0)
                ax_t.errorbar(h, t, yerr=err, marker=marker, color=colors[k], ms=4, capsize=2, lw=1.0,
                              label=f"{frac[k]:.0%} of training" + (f" ({kind})" if len(kinds) > 1 else ""))
        ax_t.set_title(f"N* against h at n = {n_top}")
    ax_a.axhline(1.0, color="0.3", ls=":", lw=1.0)
    ax_a.plot([], [], "o", color="#1f4e79", label="all h")
    ax_a.plot([], [], "o", color="#1f4e79", mfc="none", label="h >= 2")
    ax_a.plot([], [], ":", color="0.3", label="published: linear in h (α = 1)")
    ax_a.set_xlabel("fraction of training steps")
    ax_a.set_ylabel("exponent α of h in N*")
    ax_a.set_title("the h exponent against the training budget")
    ax_a.legend(frameon=False, loc="upper right")
    ax_t.set_xlabel("heads h")
    ax_t.set_ylabel("N*")
    ax_t.set_ylim(bottom=0)
    ax_t.legend(frameon=False, loc="upper left")
    return style.save(fig, out_dir, "budget")
