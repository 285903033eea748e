"""Superposition figures: capacity m'*(n) against width n, and success against m' per width.

capacity.png: measured thresholds with 95% intervals (censored series as open markers with arrows
at their bound), the fitted power law c·n^α, and slope guides for the theory of Adler & Shavit
(arXiv 2409.15318): the O(n²/log n) capacity upper bound, and the Ω(√(m' log m')) neuron lower
bound read the other way (the m' at which √(m' log m') = n). Guides are scaled through the data:
only their slopes are theory. Optional construction points: extra["construction"] = {"n", "m_out"}.
success.png: fraction of seeds that succeed against m' per width with the fitted logistic, and the
mean fraction of features computed (frac_ok).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import optimize

from lab.plots import style
from lab.thresholds import group_series, success_probability, success_table


def figures(rows: list[dict], fit: dict | None, out_dir: Path, extra: dict | None = None) -> list[Path]:
    if fit is None:
        from lab.fit import fit_rows

        fit = fit_rows("superposition", rows).to_dict()
    return capacity_figure(fit, out_dir, extra) + success_figure(rows, fit, out_dir)


def _groups(series: list[dict]) -> dict[str, list[dict]]:
    """Series grouped by every key field except n (e.g. op, s), labelled for the legend."""
    keys = sorted({k for s in series for k in s["key"]} - {"n"})
    varying = [k for k in keys if len({repr(s["key"].get(k)) for s in series}) > 1]
    groups: dict[str, list[dict]] = {}
    for s in series:
        label = ", ".join(f"{k}={s['key'].get(k)}" for k in varying) or "measured m'*"
        groups.setdefault(label, []).append(s)
    return groups


def inverse_mlogm(n: np.ndarray) -> np.ndarray:
    """The m' at which √(m' log m') = n, i.e. m' log m' = n² (natural log), for each n."""
    return np.array([optimize.brentq(lambda m: m * math.log(m) - v * v, 1.0 + 1e-9, max(4.0, v * v)) for v in n])


def capacity_figure(fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    fig, axes = style.figure(width=8.6, height=4.4)
    ax = axes[0, 0]
    series = fit.get("series", [])
    groups = _groups(series)
    cols = style.colors(len(groups)) if len(groups) > 1 else ["#1f4e79"]
    meas_n, meas_t = [], []
    for (label, ss), color in zip(groups.items(), cols):
        m = [s for s in ss if s["censored"] is None]
        if m:
            n = np.array([float(s["key"]["n"]) for s in m])
            t = np.array([s["threshold"] for s in m])
            err = np.array([[s["threshold"] - s["lo"] for s in m], [s["hi"] - s["threshold"] for s in m]])
            ax.errorbar(n, t, yerr=err, fmt="o", color=color, ms=5, capsize=3, lw=1.2, label=f"{label} (95% CI)")
            meas_n += list(n)
            meas_t += list(t)
        for i, s in enumerate(s for s in ss if s["censored"] is not None):
            lab_c = f"censored: m'* {'>' if s['censored'] == 'above' else '<'} bound" if i == 0 and label == next(iter(groups)) else None
            style.censored_marker(ax, float(s["key"]["n"]), s["bound"], s["censored"], color, label=lab_c)

    cons = (extra or {}).get("construction") or {}
    all_n = np.array(sorted({float(s["key"]["n"]) for s in series} | {float(v) for v in cons.get("n", [])}) or [8.0, 64.0])
    grid = np.geomspace(all_n.min() / 1.3, all_n.max() * 1.3, 100)
    power = next((l for l in fit.get("laws", []) if l["name"] == "power" and l.get("converged")), None)
    if power is not None:
        p = power["params"]
        c, a = p["c"]["value"], p["alpha"]["value"]
        ax.plot(grid, c * grid**a, "-", color="#c0392b", lw=1.6,
                label=f"fit c·n^α, α = {a:.2f} [{p['alpha']['lo']:.2f}, {p['alpha']['hi']:.2f}]")
    best = fit.get("best")
    if best and best != "power":
        from lab.laws import get

        law = next(l for l in fit["laws"] if l["name"] == best)
        vals = {k: v["value"] for k, v in law["params"].items()}
        ax.plot(grid, get(best).predict(vals, {"n": grid}), "-", color="#e67e22", lw=1.2, alpha=0.9,
                label=f"best by AIC: {law['formula']}")
    if meas_n:
        mn, mt = np.array(meas_n), np.array(meas_t)
        upper = grid**2 / np.log(grid)
        # the upper bound's guide touches the highest measured point from above: an envelope
        k_up = np.max(mt / (mn**2 / np.log(mn)))
        ax.plot(grid, k_up * upper, "--", color="0.25", lw=1.1, label="n²/log n: theory's upper bound (slope; scaled)")
        inv = inverse_mlogm(grid)
        k_inv = math.exp(np.mean(np.log(mt) - np.log(inverse_mlogm(mn))))
        ax.plot(grid, k_inv * inv, ":", color="0.45", lw=1.3, label="√(m' log m') = n: neuron lower bound inverted (slope; scaled)")
    if len(cons.get("n", [])):
        ax.plot(cons["n"], cons["m_out"], "*", color="#8e44ad", ms=9, label="explicit construction")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("hidden neurons n")
    ax.set_ylabel("capacity m'* (largest m' that succeeds)")
    ax.set_title("Superposition capacity of trained networks")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return style.save(fig, out_dir, "capacity")


def success_figure(rows: list[dict], fit: dict, out_dir: Path) -> list[Path]:
    fig, axes = style.figure(ncols=2, width=4.4, height=3.5)
    ax_s, ax_f = axes[0]
    by_key = {tuple(sorted((k, repr(v)) for k, v in s["key"].items())): s for s in fit.get("series", [])}
    fields = list(fit["series"][0]["key"]) if fit.get("series") else ["n"]
    groups = group_series(rows, fields)
    groups.sort(key=lambda g: tuple(repr(g[0].get(f)) if f != "n" else "" for f in fields) + (g[0].get("n", 0),))
    cols = style.colors(len(groups))
    for (key, members), color in zip(groups, cols):
        r, k, n = success_table(members, "m_out")
        label = f"n={key.get('n')}" + "".join(f", {f}={key[f]}" for f in fields if f != "n" and len({repr(g[0].get(f)) for g in groups}) > 1)
        ax_s.plot(r, k / n, "o", color=color, ms=4, label=label)
        s = by_key.get(tuple(sorted((f, repr(v)) for f, v in key.items())))
        if s is not None and s["censored"] is None:
            grid = np.geomspace(r.min() / 1.5, r.max() * 1.5, 200)
            ax_s.plot(grid, success_probability(grid, s["threshold"], s["width"], "decreasing"), "-", color=color, lw=1.1)
            ax_s.axvline(s["threshold"], color=color, lw=0.6, ls=":")
        frac = np.array([np.mean([m["frac_ok"][-1] if isinstance(m.get("frac_ok"), list) else np.nan for m in members if m["m_out"] == v]) for v in r])
        ax_f.plot(r, frac, "o-", color=color, ms=3.5, lw=1.0, label=label)
    for ax in (ax_s, ax_f):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("output features m'")
    ax_s.set_ylim(-0.05, 1.05)
    ax_s.set_ylabel("fraction of seeds that succeed")
    ax_s.set_title("Success vs m' (curves: fitted logistic)")
    ax_f.set_ylabel("mean fraction of features computed")
    ax_f.set_title("Features computed at the end of training")
    ax_f.set_ylim(-0.05, 1.05)
    ax_s.legend(frameon=False, loc="lower left")
    return style.save(fig, out_dir, "success")
