"""FPE figures: the paper's point beside the reported numbers, accuracy and gain against clauses
per neuron, and the clause capacity K* of every arm.

paper.png: at the reported setting (8 clauses, 8 neurons, alpha = 2; arXiv 2510.04500), each arm's
final held-out accuracy, mean over seeds with a 95% Student-t interval (small dots: seeds), next to
the reported accuracy (crosses), with the numbers as a table; right, accuracy over training (the
dashed line is the split).
accuracy.png: per width n, final accuracy of every arm against clauses per neuron K/n (left) and
the gain of each split arm over the dense network of the same seed (right), means with 95% t
intervals over seeds: the paper's claim is that the gain grows with this load.
capacity.png: the clause capacity K* per arm against n (the [success] view's thresholds with their
intervals; open markers with arrows: censored bounds) and the law c·n·g_split when it converged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from lab import labels
from lab.capacity import final
from lab.experiments.fpe import paper
from lab.experiments.fpe.member import SPLITS
from lab.plots import style

ARM_STYLE = {"dense": ("o", "0.25"), "random": ("s", "#2e86c1"), "clause": ("D", "#c0392b"), "gram": ("^", "#27ae60")}
SETTING = ("k", "extra", "form", "negate", "active", "train_size", "split_at", "lr")  # fields that make one task setting


def figures(rows: list[dict], fit: dict, out_dir: Path, overlay: dict | None = None) -> list[Path]:
    """paper (when the run holds the reported setting), accuracy and capacity (PNG+PDF)."""
    return paper_figure(rows, out_dir) + accuracy_figure(rows, out_dir) + capacity_figure(fit, out_dir)


def arm_of(row: dict) -> str:
    return SPLITS[int(row["split"])]


def t_interval(values, level: float = 0.95, bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float, float]:
    """(mean, lo, hi): Student-t interval of the mean over seeds, clipped to ``bounds`` (an accuracy
    lies in [0, 1]); the mean alone when there is one value."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])


def settings(rows: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Rows grouped by task setting (SETTING fields), in order of appearance."""
    groups: dict[tuple, tuple[dict, list]] = {}
    for r in rows:
        key = tuple(repr(r.get(f)) for f in SETTING)
        groups.setdefault(key, ({f: r.get(f) for f in SETTING}, []))[1].append(r)
    return list(groups.values())


def setting_label(setting: dict, varying: list[str]) -> str:
    return ", ".join(f"{f}={labels.value_text(setting[f])}" for f in varying)


def paper_point_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if all(r.get(f) == v for f, v in paper.POINT.items())]


def accuracy_table(rows: list[dict]) -> list[dict]:
    """Per arm at one setting: final accuracy mean and 95% t interval over seeds, and the paper's value."""
    out = []
    for arm in SPLITS:
        mine = [r for r in rows if arm_of(r) == arm]
        if not mine:
            continue
        accs = [final(r["acc"]) for r in sorted(mine, key=lambda r: r["seed"])]
        mean, lo, hi = t_interval(accs, bounds=(0.0, 1.0))
        out.append({"arm": arm, "mean": mean, "lo": lo, "hi": hi, "seeds": len(accs), "values": accs,
                    "paper": paper.ACCURACY.get(arm)})
    return out


def paper_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    at = paper_point_rows(rows)
    if not at:
        return []
    groups = settings(at)[:3]
    varying = labels.varying([g for g, _ in groups], SETTING)
    fig, axes = style.figure(ncols=3, nrows=len(groups), width=3.9, height=3.3)
    for row_axes, (setting, mine) in zip(axes, groups):
        ax, ax_tab, ax_t = row_axes
        table = accuracy_table(mine)
        for i, t in enumerate(table):
            marker, color = ARM_STYLE[t["arm"]]
            ax.plot(np.full(len(t["values"]), i - 0.12) + np.linspace(-0.08, 0.08, len(t["values"])), t["values"], ".",
                    color=color, alpha=0.4, ms=4)
            ax.errorbar([i], [t["mean"]], yerr=[[t["mean"] - t["lo"]], [t["hi"] - t["mean"]]], fmt=marker, color=color,
                        capsize=3, label="measured: mean, 95% t interval" if i == 0 else None)
            if t["paper"] is not None:
                ax.plot([i + 0.22], [t["paper"]], "x", color="#c0392b", ms=8, mew=2, label="paper" if t["arm"] == "dense" else None)
        ax.set_xticks(range(len(table)), [t["arm"] for t in table])
        ax.set_xlim(-0.6, len(table) - 0.4)
        ax.set_ylim(0.5, 1.01)
        ax.set_ylabel("final held-out accuracy")
        title = f"K = {paper.POINT['clauses']}, n = {paper.POINT['n']}, α = {paper.POINT['alpha']}"
        ax.set_title(title + (f" ({setting_label(setting, varying)})" if varying else ""))
        ax.legend(loc="lower left")
        ax_tab.axis("off")
        cells = [[t["arm"], f"{t['mean']:.3f}", f"[{t['lo']:.3f}, {t['hi']:.3f}]", "-" if t["paper"] is None else f"{t['paper']:.3f}"]
                 for t in table]
        tab = ax_tab.table(cellText=cells, colLabels=["arm", "measured", "95% t interval", "paper"], loc="center",
                           cellLoc="center", colWidths=[0.2, 0.22, 0.38, 0.2])
        tab.auto_set_font_size(False)
        tab.set_fontsize(8)
        tab.scale(1.0, 1.5)
        ax_tab.set_title(f"final accuracy, {len(table[0]['values'])} seeds" if table else "")
        for arm in SPLITS:
            mine_arm = [r for r in mine if arm_of(r) == arm]
            if not mine_arm:
                continue
            curves = np.array([[float(a) for a in r["acc"]] for r in mine_arm])
            marker, color = ARM_STYLE[arm]
            x = np.arange(1, curves.shape[1] + 1) / curves.shape[1]
            ax_t.plot(x, curves.mean(0), marker=marker, color=color, ms=4, label=arm)
        split_at = float(setting.get("split_at") or 0.5)
        evals = len(mine[0]["acc"])
        e1 = min(max(round(evals * split_at), 1), evals - 1)
        ax_t.axvline(e1 / evals, ls="--", color="0.5", lw=0.8)
        ax_t.set_ylim(0.5, 1.01)
        ax_t.set_xlabel("fraction of training (dashed: the split)")
        ax_t.set_ylabel("held-out accuracy (mean over seeds)")
        ax_t.legend(loc="lower left")
    return style.save(fig, out_dir, "paper")


def paired_gain(rows: list[dict], arm: str) -> list[float]:
    """Final accuracy of ``arm`` minus the dense network's, seed by seed (members present in both)."""
    dense = {r["seed"]: final(r["acc"]) for r in rows if arm_of(r) == "dense"}
    return [final(r["acc"]) - dense[r["seed"]] for r in rows if arm_of(r) == arm and r["seed"] in dense]


def accuracy_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    panels = []
    for setting, mine in settings(rows):
        for n in sorted({r["n"] for r in mine}):
            for alpha in sorted({r["alpha"] for r in mine}):
                sub = [r for r in mine if r["n"] == n and r["alpha"] == alpha]
                if sub:
                    panels.append((setting, n, alpha, sub))
    if not panels:
        return []
    panels = panels[:6]
    varying = labels.varying([p[0] for p in panels], SETTING)
    fig, axes = style.figure(ncols=2, nrows=len(panels), width=4.4, height=3.0)
    for (ax, ax_g), (setting, n, alpha, sub) in zip(axes, panels):
        loads = sorted({r["clauses"] / r["n"] for r in sub})
        for arm in SPLITS:
            if not any(arm_of(r) == arm for r in sub):
                continue
            marker, color = ARM_STYLE[arm]
            pts = [t_interval([final(r["acc"]) for r in sub if arm_of(r) == arm and r["clauses"] / r["n"] == x], bounds=(0.0, 1.0))
                   for x in loads]
            ok = [i for i, p in enumerate(pts) if np.isfinite(p[0])]
            xs = np.array([loads[i] for i in ok])
            mean = np.array([pts[i][0] for i in ok])
            err = np.array([[pts[i][0] - pts[i][1] for i in ok], [pts[i][2] - pts[i][0] for i in ok]])
            ax.errorbar(xs, mean, yerr=err, marker=marker, color=color, capsize=2, ms=4, label=arm)
            if arm != "dense":
                gains = [[g for g in paired_gain([r for r in sub if r["clauses"] / r["n"] == x], arm)] for x in loads]
                gp = [(x, *t_interval(g)) for x, g in zip(loads, gains) if g]
                if gp:
                    g = np.array(gp)
                    ax_g.errorbar(g[:, 0], g[:, 1], yerr=[g[:, 1] - g[:, 2], g[:, 3] - g[:, 1]], marker=marker, color=color,
                                  capsize=2, ms=4, label=arm)
        if n == paper.POINT["n"] and alpha == paper.POINT["alpha"]:
            x0 = paper.POINT["clauses"] / paper.POINT["n"]
            for arm, acc in paper.ACCURACY.items():
                ax.plot([x0], [acc], "x", color=ARM_STYLE[arm][1], ms=8, mew=2)
                if arm != "dense":
                    ax_g.plot([x0], [acc - paper.ACCURACY["dense"]], "x", color=ARM_STYLE[arm][1], ms=8, mew=2)
        label = f"n = {n}, α = {alpha}" + (f", {setting_label(setting, varying)}" if varying else "")
        ax.set_title(label)
        ax.set_xscale("log", base=2)
        plain_log_axis(ax.xaxis, loads)
        ax.set_ylim(0.5, 1.01)
        ax.set_xlabel("clauses per neuron K/n")
        ax.set_ylabel("final held-out accuracy")
        ax.legend(loc="lower left")
        ax_g.axhline(0.0, color="0.5", lw=0.8)
        ax_g.set_xscale("log", base=2)
        plain_log_axis(ax_g.xaxis, loads)
        ax_g.set_xlabel("clauses per neuron K/n")
        ax_g.set_ylabel("accuracy gain over dense (same seed)")
        ax_g.set_title(label + " (crosses: paper)")
        if ax_g.get_legend_handles_labels()[0]:  # no split arm beside a dense one: no gains
            ax_g.legend(loc="upper left")
    return style.save(fig, out_dir, "accuracy")


def plain_log_axis(axis, ticks) -> None:
    """A base-2 log axis labelled with the values themselves (0.5, 1, 1.5, ...)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(lambda v, _: labels.value_text(float(v)))


def capacity_figure(fit: dict, out_dir: Path) -> list[Path]:
    """One panel per fitted group (the headline view's groups: task setting, alpha, split point)."""
    groups = [g for g in (fit.get("groups") or [fit]) if g.get("view") == fit.get("view") and g.get("series")]
    if not groups:
        return []
    varying = labels.varying([g.get("group", {}) for g in groups])
    fig, axes = style.figure(ncols=min(len(groups), 3), nrows=-(-len(groups) // 3), width=4.6, height=3.6)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    for ax, g in zip(axes.ravel(), groups):
        _capacity_panel(ax, g)
        label = ", ".join(f"{k}={labels.value_text(g['group'][k])}" for k in varying)
        ax.set_title("most clauses at the [success] accuracy" + (f"\n{label}" if label else ""))
    return style.save(fig, out_dir, "capacity")


def _capacity_panel(ax, g: dict) -> None:
    from lab.experiments.fpe.laws import gain

    series = g["series"]
    widths = sorted({float(s["key"]["n"]) for s in series})
    arms = [a for a in SPLITS if any(SPLITS[int(s["key"]["split"])] == a for s in series)]
    single = len(widths) == 1
    law = next((lw for lw in g.get("laws", []) if lw["name"] == "fpe_arms" and lw.get("converged")), None)
    for i, arm in enumerate(arms):
        marker, color = ARM_STYLE[arm]
        shown = False
        for s in (s for s in series if SPLITS[int(s["key"]["split"])] == arm):
            x = i if single else float(s["key"]["n"]) * (1 + 0.03 * (i - (len(arms) - 1) / 2))
            if s["censored"]:
                style.censored_marker(ax, x, s["bound"], s["censored"], color)
                continue
            ax.errorbar([x], [s["threshold"]], yerr=[[s["threshold"] - s["lo"]], [s["hi"] - s["threshold"]]], fmt=marker,
                        color=color, capsize=3, label=None if shown else arm)
            shown = True
        if law is not None and not single:
            p = {k: v["value"] for k, v in law["params"].items()}
            ns = np.geomspace(widths[0], widths[-1], 32)
            ax.plot(ns, p["c"] * ns * gain(np.full_like(ns, SPLITS.index(arm)), p), "-", color=color, lw=0.9, alpha=0.7)
    ax.set_yscale("log", base=2)
    if single:
        ax.set_xticks(range(len(arms)), arms)
        ax.set_xlim(-0.5, len(arms) - 0.5)
        ax.set_xlabel(f"arm (n = {labels.value_text(widths[0])} neurons)")
    else:
        ax.set_xscale("log", base=2)
        plain_log_axis(ax.xaxis, widths)
        ax.set_xlabel("neurons n of the dense network" + ("; lines: c·n·g_split" if law is not None else ""))
        ax.legend(loc="upper left")
    ax.yaxis.set_major_formatter(lambda v, _: labels.value_text(float(v)))
    ax.set_ylabel("clause capacity K* (95% interval)")
