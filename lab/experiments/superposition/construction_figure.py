"""Construction figure: neurons and parameters of the smallest working explicit network against m'.

construction.png: left, hidden neurons n against output features m' for the explicit construction
of lab.experiments.superposition.construction (n_min measured with the criterion, and its stated width), beside trained
networks when a superposition fit is given (width n against its capacity m'*), with the guides of
Adler & Shavit (arXiv 2409.15318): the O(√m' log m') construction and the Ω(√(m' log m')) lower
bound, scaled through the construction's largest point (only their slopes are theory), the
dedicated network n = m' (exact, unscaled) and the fitted a + b ln m' of the construction. Right,
nonzero parameters against m' with m' log² m' and m' log m' guides (trained networks: dense count).
Rows: ``extra["construction_rows"]`` (lab.experiments.superposition.construction.measure rows), or ``rows`` when they are
such rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lab.experiments.superposition.mlp import param_count
from lab.plots import style


def figures(rows: list[dict], fit: dict | None, out_dir: Path, extra: dict | None = None) -> list[Path]:
    cons = list((extra or {}).get("construction_rows") or [r for r in rows if "n_min" in r])
    if not cons:
        return []
    trained = trained_points(fit, cons)
    fig, axes = style.figure(ncols=2, width=4.6, height=3.8)
    ax_n, ax_p = axes[0]
    groups: dict[tuple, list[dict]] = {}
    for r in cons:
        groups.setdefault((r["op"], r["m"], r["s"], r["p"]), []).append(r)
    cols = style.colors(len(groups)) if len(groups) > 1 else ["#8e44ad"]
    all_m = []
    for (key, rs), color in zip(groups.items(), cols):
        rs = sorted(rs, key=lambda r: r["m_out"])
        op, m, s, p = key
        label = f"{op}, m={m}, " + (f"s={s}" if s is not None else f"p={p}")
        mo = np.array([r["m_out"] for r in rs], float)
        all_m += list(mo)
        ax_n.plot(mo, [r["n_min"] for r in rs], "*-", color=color, ms=8, lw=1.0, label=f"construction n_min ({label})")
        ax_n.plot(mo, [r["n_stated"] for r in rs], "o", mfc="none", mec=color, ms=5, label="stated width (design)")
        ax_p.plot(mo, [r["params"] for r in rs], "*-", color=color, ms=8, lw=1.0, label=f"construction ({label})")
        code = [r for r in rs if r["scheme"] != "dedicated"]
        if len(code) >= 2:  # n_min = a + b ln m' over the code-built points
            b, a = np.polyfit(np.log([r["m_out"] for r in code]), [r["n_min"] for r in code], 1)
            g = np.geomspace(min(r["m_out"] for r in code), max(all_m) * 1.5, 50)
            ax_n.plot(g, a + b * np.log(g), "-", color=color, lw=0.9, alpha=0.7, label=f"fit {a:.0f} + {b:.0f} ln m'")
    if trained:
        t_m, t_n, t_p = zip(*trained)
        ax_n.plot(t_m, t_n, "s", color="#1f4e79", ms=5, label="trained: width n vs capacity m'*")
        ax_p.plot(t_m, t_p, "s", color="#1f4e79", ms=5, label="trained (dense parameter count)")
        all_m += list(t_m)
    grid = np.geomspace(max(min(all_m) / 1.3, 2.0), max(all_m) * 1.5, 100)
    top = max(cons, key=lambda r: (r["m_out"], -r["n_min"]))
    ax_n.plot(grid, grid, "-", color="0.6", lw=0.8, label="n = m' (dedicated neurons, exact)")
    up = np.sqrt(grid) * np.log(grid)
    k_up = top["n_min"] / (math.sqrt(top["m_out"]) * math.log(top["m_out"]))
    ax_n.plot(grid, k_up * up, "--", color="0.25", lw=1.1, label="√m' log m': paper's construction (slope; scaled)")
    low = np.sqrt(grid * np.log(grid))
    k_low = top["n_min"] / math.sqrt(top["m_out"] * math.log(top["m_out"]))
    ax_n.plot(grid, k_low * low, ":", color="0.45", lw=1.3, label="√(m' log m'): paper's lower bound (slope; scaled)")
    for f, ls, name in ((lambda x: x * np.log(x) ** 2, "--", "m' log² m': paper's construction"),
                        (lambda x: x * np.log(x), ":", "m' log m': paper's lower bound")):
        k = top["params"] / f(np.array(float(top["m_out"])))
        ax_p.plot(grid, k * f(grid), ls, color="0.3", lw=1.1, label=f"{name} (slope; scaled)")
    for ax, ylabel, title in ((ax_n, "hidden neurons n", "Neurons: construction vs trained vs theory"),
                              (ax_p, "nonzero parameters", "Parameters of the smallest construction")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("output features m'")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(frameon=False, loc="upper left", fontsize=6.5)
    return style.save(fig, out_dir, "construction")


def trained_points(fit: dict | None, cons: list[dict]) -> list[tuple[float, float, float]]:
    """(capacity m'*, width n, dense params) of every uncensored trained series of a superposition fit."""
    if not fit or fit.get("kind", "superposition") != "superposition":
        return []
    out = []
    for s in fit.get("series", []):
        key = s.get("key", {})
        if s.get("censored") is None and s.get("threshold") and "n" in key:
            m = key.get("d") or key.get("m") or cons[0]["m"]
            t = float(s["threshold"])
            out.append((t, float(key["n"]), float(param_count(int(m), int(key["n"]), max(int(round(t)), 1)))))
    return out
