"""Superposition figures: capacity against width n, and features computed against m' per width.

capacity.png: left, the headline capacity view (the first of the kind's Analysis.views: the m' at
which 90% of the features are computed) with 95% intervals over seeds (censored series as open markers with arrows at
their bound), the laws fitted to it (c·n^α, and the theory's n²/log n against n², n·log n and n,
drawn over the measured widths only), and the naive baseline of one neuron per feature in the same
superposition (lab.experiments.superposition.baseline.dedicated_network); right, every capacity view of the same
networks side by side (features computed, 90% of m' computed, all m' computed), with their fitted
exponents (Adler & Shavit, arXiv 2409.15318).
success.png: per width, the fraction and the number of the m' features computed against m'.
construction.png: the explicit construction's size against m' (lab.experiments.superposition.construction_figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab import labels
from lab.capacity import final
from lab.plots import style
from lab.thresholds import group_series


def figures(rows: list[dict], fit: dict, out_dir: Path, overlay: dict | None = None) -> list[Path]:
    """capacity, success and, when the overlay measured the construction, construction (PNG+PDF)."""
    from lab.experiments.superposition import construction_figure

    return (capacity_figure(fit, out_dir, overlay) + success_figure(rows, fit, out_dir)
            + construction_figure.figures(rows, fit, out_dir, overlay))


VIEW_STYLE = {"computed": ("o", "#1f4e79"), "frac90": ("s", "#2e8b57"), "all": ("^", "#c0392b"), "success": ("D", "#6c3483")}
VIEW_NAME = {"computed": "features computed", "frac90": "m'* with >= 90% computed", "all": "m'* with all computed",
             "success": "m'* under [success]"}
LAW_STYLE = {"power": ("-", "#c0392b"), "n2_over_log": ("--", "0.2"), "n2": (":", "0.35"), "n_log_n": ("-.", "#7f8c8d"),
             "linear": ((0, (1, 3)), "#95a5a6")}


def _fit_groups(fit: dict) -> list[dict]:
    return fit.get("groups") or [fit]


def _measured(series: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = [s for s in series if s["censored"] is None]
    n = np.array([float(s["key"]["n"]) for s in m])
    t = np.array([s["threshold"] for s in m])
    err = np.maximum(np.array([[s["threshold"] - s["lo"] for s in m], [s["hi"] - s["threshold"] for s in m]]).reshape(2, -1), 0.0)
    return n, t, err


def capacity_figure(fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    """Left: the headline view's capacities, the competing laws (over the measured widths only),
    the naive baseline and any construction. Right: every capacity view side by side."""
    from lab.laws import get

    fig, axes = style.figure(ncols=2, width=5.0, height=4.2)
    ax, ax_v = axes[0]
    groups = _fit_groups(fit)
    head = [g for g in groups if g.get("view") == groups[0].get("view")]
    view_text = groups[0].get("view_text", "capacity")
    cols = style.colors(len(head)) if len(head) > 1 else ["#1f4e79"]
    all_n = sorted({float(s["key"]["n"]) for g in groups for s in g["series"]})
    for g, color in zip(head, cols):
        label = labels.series_label(g.get("group", {}), labels.varying((h.get("group", {}) for h in head), g.get("group", {})))
        n, t, err = _measured(g["series"])
        if len(n):
            ax.errorbar(n, t, yerr=err, fmt="o", color=color, ms=5, capsize=3, lw=1.2,
                        label=f"trained{' ' + label if label else ''} (95% CI over seeds)")
        for i, s in enumerate(s for s in g["series"] if s["censored"] is not None):
            style.censored_marker(ax, float(s["key"]["n"]), s["bound"], s["censored"], color,
                                  label="censored: bound" if i == 0 and g is head[0] else None)
        if len(n) >= 2:
            grid = np.geomspace(n.min(), n.max(), 60)
            for law in g.get("laws", []):
                if not law.get("converged") or law["name"] not in LAW_STYLE:
                    continue
                if len(head) > 1 and law["name"] != g.get("best"):
                    continue  # several groups: only each group's best law, in its colour
                ls, lc = LAW_STYLE[law["name"]] if len(head) == 1 else ("-", color)
                vals = {k: v["value"] for k, v in law["params"].items()}
                if law["name"] == "power":
                    a = law["params"]["alpha"]
                    text = f"c·n^α, α = {a['value']:.2f} [{a['lo']:.2f}, {a['hi']:.2f}]"
                else:
                    text = law["formula"]
                best = " (best by QAIC)" if law["name"] == g.get("best") else ""
                text = text if len(head) == 1 else f"{label}: {text}"
                ax.plot(grid, get(law["name"]).predict(vals, {"n": grid}), linestyle=ls, color=lc, lw=1.3, label=text + best)
    base = (extra or {}).get("baseline") or {}
    if base.get("n"):
        bn, bv = np.array(base["n"], float), np.array(base["n_ok"], float)
        yerr = np.maximum([bv - np.array(base["n_ok_min"]), np.array(base["n_ok_max"]) - bv], 0.0)
        keep = bv > 0
        ax.errorbar(bn[keep], bv[keep], yerr=yerr[:, keep], fmt="s", mfc="white", color="#8e44ad", ms=6, capsize=2,
                    lw=1.0, label="naive baseline: one neuron per feature (m' = n), same superposition")
    cons = (extra or {}).get("construction") or {}
    if len(cons.get("n", [])):
        ax.plot(cons["n"], cons["m_out"], "*", color="#8e44ad", ms=9, label="explicit construction")
    ax.set_title(f"Capacity of trained networks\n({view_text})", fontsize=9)
    ax.set_ylabel("capacity (features)")
    for g in groups:
        n, t, err = _measured(g["series"])
        if not len(n):
            continue
        marker, color = VIEW_STYLE.get(g.get("view"), ("o", "0.3"))
        power = next((l for l in g.get("laws", []) if l["name"] == "power" and l.get("converged")), None)
        alpha = f", α = {power['params']['alpha']['value']:.2f}" if power else ""
        glabel = labels.series_label(g.get("group", {}), labels.varying((h.get("group", {}) for h in groups), g.get("group", {})))
        ax_v.errorbar(n, t, yerr=err, fmt=marker + "-", color=color, ms=5, capsize=2, lw=0.9,
                      label=f"{VIEW_NAME.get(g.get('view'), g.get('view'))}{' ' + glabel if glabel else ''}{alpha}")
    ax_v.set_title("The same networks under each capacity view", fontsize=9)
    ax_v.set_ylabel("capacity: features (counts) or m'* (thresholds)")
    for a in (ax, ax_v):
        a.set_xscale("log", base=2)
        a.set_yscale("log", base=2)
        a.set_xlabel("hidden neurons n")
        if all_n:
            a.set_xlim(min(all_n) / 1.4, max(all_n) * 1.4)
        style.legend(a, "no measured capacity", loc="upper left", fontsize=6.5, frameon=False)
    return style.save(fig, out_dir, "capacity")


def success_figure(rows: list[dict], fit: dict, out_dir: Path) -> list[Path]:
    """Per width: the fraction of features computed and the number computed, against m' (mean over
    seeds, bars: min and max), with the line m' (every feature computed)."""
    fig, axes = style.figure(ncols=2, width=4.4, height=3.6)
    ax_f, ax_n = axes[0]
    fields = [f for f in (fit["series"][0]["key"] if fit.get("series") else {"n": 0}) if f not in ("d", "d_out")]
    groups = group_series(rows, fields)
    groups.sort(key=lambda g: tuple(repr(g[0].get(f)) if f != "n" else "" for f in fields) + (g[0].get("n", 0),))
    cols = style.colors(len(groups))
    top = 1.0
    others = [f for f in labels.varying((g[0] for g in groups), fields) if f != "n"]
    for (key, members), color in zip(groups, cols):
        r = np.array(sorted({float(m["m_out"]) for m in members}))
        label = labels.series_label(key, ["n", *others])
        for ax, name in ((ax_f, "frac_ok"), (ax_n, "n_ok")):
            vals = [[final(m.get(name)) for m in members if float(m["m_out"]) == v] for v in r]
            mean = np.array([np.nanmean(v) for v in vals])
            lo, hi = np.array([np.nanmin(v) for v in vals]), np.array([np.nanmax(v) for v in vals])
            ax.errorbar(r, mean, yerr=np.maximum([mean - lo, hi - mean], 0.0), fmt="o-", color=color, ms=3.5, lw=1.0, capsize=2, label=label)
        top = max(top, r.max())
    grid = np.geomspace(1, top * 1.2, 10)
    ax_n.plot(grid, grid, ":", color="0.5", lw=1.0, label="every feature computed")
    for ax in (ax_f, ax_n):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("output features m'")
    ax_f.set_ylim(-0.05, 1.05)
    ax_f.set_ylabel("fraction of the m' features computed")
    ax_f.set_title("Fraction computed (mean; bars: seeds' range)", fontsize=9)
    ax_n.set_yscale("symlog", base=2, linthresh=1)
    ax_n.set_ylim(bottom=0)
    ax_n.set_ylabel("features computed")
    ax_n.set_title("Features computed; its max over m' is the capacity", fontsize=9)
    ax_f.legend(frameon=False, loc="center left", fontsize=7)
    return style.save(fig, out_dir, "success")

