"""Memorisation figures: capacity against heads (both views, with the published linear trend and
the free power law), and training accuracy against data set size (the raw memorisation curves).

capacity.png: per view (the largest N memorised; examples memorised beyond the majority count),
capacity against h with 95% intervals over seeds, one colour per context size n (open markers with
arrows: censored series, bounds only), dashed: c·h, the trend Mahdavi et al. (arXiv 2306.02010)
report, fitted to these capacities; solid: c·h^α·n^β.
accuracy.png: final training accuracy against N per h, one panel per (contexts, n), mean over seeds
with the seeds' range; dotted: the best constant predictor (majority count / N).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.capacity import final
from lab.plots import style
from lab.thresholds import group_series

VIEW_TITLE = {"success": "largest N memorised (N*)", "memorised": "examples memorised beyond the majority count"}
MARKERS = {"shared": "o", "random": "s"}


def figures(rows: list[dict], fit: dict, out_dir: Path, overlay: dict | None = None) -> list[Path]:
    return capacity_figure(fit, out_dir) + accuracy_figure(rows, out_dir)


def _law(group: dict, name: str) -> dict | None:
    return next((f for f in group.get("laws", []) if f["name"] == name and f.get("converged")), None)


def _value(law: dict, p: str) -> float:
    return float(law["params"][p]["value"])


def _interval(law: dict, p: str) -> str:
    q = law["params"][p]
    return f"{q['value']:.2f} [{q['lo']:.2f}, {q['hi']:.2f}]"


def capacity_figure(fit: dict, out_dir: Path) -> list[Path]:
    groups = fit.get("groups") or [fit]
    views = list(dict.fromkeys(g.get("view", "success") for g in groups))
    fig, axes = style.figure(ncols=len(views), width=5.2, height=4.4)
    contexts_n = sorted({int(s["key"]["context"]) for g in groups for s in g["series"]})
    color = dict(zip(contexts_n, style.colors(len(contexts_n))))
    for ax, view in zip(axes[0], views):
        for g in (g for g in groups if g.get("view", "success") == view):
            kind = str(g.get("group", {}).get("contexts", "shared"))
            marker = MARKERS.get(kind, "o")
            for n in contexts_n:
                series = sorted((s for s in g["series"] if int(s["key"]["context"]) == n), key=lambda s: float(s["key"]["h"]))
                meas = [s for s in series if s["censored"] is None]
                if meas:
                    h = np.array([float(s["key"]["h"]) for s in meas])
                    t = np.array([s["threshold"] for s in meas])
                    err = np.maximum(np.array([t - [s["lo"] for s in meas], [s["hi"] for s in meas] - t]), 0.0)
                    ax.errorbar(h, t, yerr=err, color=color[n], marker=marker, ms=4.5, lw=1.0, capsize=2.5,
                                label=f"n = {n}" + (f" ({kind})" if len({str(x.get('group', {}).get('contexts')) for x in groups}) > 1 else ""))
                for s in series:
                    if s["censored"] is not None:
                        style.censored_marker(ax, float(s["key"]["h"]), s["bound"], s["censored"], color[n])
            hs = sorted({float(s["key"]["h"]) for s in g["series"]})
            if not hs:
                continue
            grid = np.linspace(min(hs), max(hs), 60)
            lin = _law(g, "mem_h")
            if lin is not None:
                ax.plot(grid, _value(lin, "c") * grid, "--", color="0.3", lw=1.0,
                        label=f"c·h (published trend), c = {_value(lin, 'c'):.3g}")
            power = _law(g, "mem_power")
            if power is not None:
                p = {k: _value(power, k) for k in power["params"]}
                for n in contexts_n:
                    ax.plot(grid, p["c"] * grid ** p["alpha"] * n ** p["beta"], "-", color=color[n], lw=0.8, alpha=0.7)
                ax.plot([], [], "-", color="0.5", lw=0.8,
                        label=f"c·h^α·n^β: α = {_interval(power, 'alpha')},\n β = {_interval(power, 'beta')}")
            elif (ph := _law(g, "mem_power_h")) is not None:
                ax.plot(grid, _value(ph, "c") * grid ** _value(ph, "alpha"), "-", color="0.5", lw=0.8,
                        label=f"c·h^α: α = {_interval(ph, 'alpha')}")
        ax.set_xlabel("heads h")
        ax.set_ylabel("examples")
        ax.set_title(VIEW_TITLE.get(view, view))
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", frameon=False)
    return style.save(fig, out_dir, "capacity")


def accuracy_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    panels = sorted({(str(r["contexts"]), int(r["context"])) for r in ok})
    if not panels:
        return []
    fig, axes = style.figure(ncols=len(panels), width=3.8, height=3.4)
    heads = sorted({int(r["h"]) for r in ok})
    color = dict(zip(heads, style.colors(len(heads))))
    for ax, (kind, n) in zip(axes[0], panels):
        mine = [r for r in ok if str(r["contexts"]) == kind and int(r["context"]) == n]
        for h in heads:
            curve = []
            for key, members in group_series([r for r in mine if int(r["h"]) == h], ("examples",)):
                acc = np.array([final(r["accuracy"]) for r in members])
                curve.append((key["examples"], acc.mean(), acc.min(), acc.max()))
            if not curve:
                continue
            x, m, lo, hi = (np.array(v, dtype=float) for v in zip(*sorted(curve)))
            ax.plot(x, m, marker="o", ms=3, color=color[h], label=f"h = {h}")
            ax.fill_between(x, lo, hi, color=color[h], alpha=0.15, lw=0)
        base = sorted({(int(r["examples"]), final(r["majority"]) / int(r["examples"])) for r in mine})
        if base:
            xs = sorted({b[0] for b in base})
            ax.plot(xs, [np.mean([v for e, v in base if e == x]) for x in xs], ":", color="0.4", label="majority label")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("examples N")
        ax.set_ylabel("training accuracy")
        ax.set_title(f"{kind} context, n = {n}")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return style.save(fig, out_dir, "accuracy")
