"""Attention figures (Adler, arXiv 2509.22840): the D_K threshold, the m' log m' / d_model law, the
collapse of all configurations onto one curve, and the heads comparison.

threshold.png: final recovery against D_K for each m' (one panel per model / d_model / h group);
    the vertical lines are the fitted thresholds D_K*.
law.png: D_K*·d_model against m' log m' with 95% intervals (censored series: open markers with an
    arrow), the fitted law c·m' log m'/d_model (a line through 0 here), its intercept variant and the
    no-log alternative c·m'/d_model, and a table of AIC / BIC / held-out error per law; optional
    construction points extra["construction"] = {"m_edges", "d_model", "dk"}; extra["epsilon"] (default
    0.05) draws the success level 1 - ε.
collapse.png: recovery of every member against D_K·d_model/(m' log m').
heads.png: at fixed D_K, recovery against the number of heads, compressed (m > d_model) and
    uncompressed (m = d_model), per model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lab.plots import style

GROUP_FIELDS = ("model", "d_model", "m", "h", "graph", "context")


def figures(rows: list[dict], fit: dict | None, out_dir: Path, extra: dict | None = None) -> list[Path]:
    if fit is None:
        from lab.fit import fit_rows

        fit = fit_rows("attention", rows).to_dict()
    rows = [r for r in rows if r.get("kind", "attention") == "attention"]
    eps = float((extra or {}).get("epsilon", 0.05))
    return threshold_figure(rows, fit, out_dir, eps) + law_figure(fit, out_dir, extra) + collapse_figure(rows, out_dir, eps) + heads_figure(rows, out_dir)


def final(row: dict, metric: str = "recovery") -> float:
    v = row.get(metric)
    return float(v[-1]) if isinstance(v, list) else float("nan") if v is None else float(v)


def _varying(dicts: list[dict], fields) -> list[str]:
    return [f for f in fields if len({repr(d.get(f)) for d in dicts}) > 1]


def _label(d: dict, fields) -> str:
    return ", ".join(f"{f}={d.get(f)}" for f in fields)


def _groups(rows: list[dict], fields) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(f) for f in fields), []).append(r)
    return dict(sorted(out.items(), key=lambda kv: tuple(repr(v) for v in kv[0])))


def mlogm(m_edges) -> np.ndarray:
    m = np.asarray(m_edges, dtype=float)
    return m * np.log(np.maximum(m, 2.0))


def threshold_figure(rows: list[dict], fit: dict, out_dir: Path, eps: float = 0.05) -> list[Path]:
    fields = _varying(rows, GROUP_FIELDS) or ["model"]
    panels = _groups(rows, fields)
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = style.figure(ncols=ncols, nrows=nrows, width=3.4, height=2.9)
    thresholds = {}
    for s in fit.get("series", []):
        if s.get("censored") is None and s.get("threshold") is not None:
            thresholds[(tuple(s["key"].get(f) for f in fields), s["key"].get("m_edges"))] = s["threshold"]
    for ax, (gkey, grows) in zip(axes.flat, panels.items()):
        edges = sorted({r["m_edges"] for r in grows})
        for m_e, color in zip(edges, style.colors(len(edges))):
            sub = [r for r in grows if r["m_edges"] == m_e]
            dks = sorted({r["dk"] for r in sub})
            mean = [np.mean([final(r) for r in sub if r["dk"] == k]) for k in dks]
            ax.plot(dks, mean, "o-", color=color, ms=3.5, lw=1.1, label=f"m'={m_e}")
            t = thresholds.get((gkey, m_e))
            if t is not None:
                ax.axvline(t, color=color, lw=0.7, ls=":")
        ax.axhline(1 - eps, color="0.6", lw=0.6, ls="--")  # success: recovery >= 1 - epsilon
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(_label(dict(zip(fields, gkey)), fields), fontsize=8)
        ax.set_xlabel("total key dimension D_K")
        ax.set_ylabel("recovery (held-out contexts)")
        ax.legend(frameon=False, loc="lower right", fontsize=6.5)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Recovery against D_K: a sharp threshold that moves with m'", fontsize=10)
    return style.save(fig, out_dir, "threshold")


def _law_entry(fit: dict, name: str) -> dict | None:
    return next((l for l in fit.get("laws", []) if l["name"] == name and l.get("converged")), None)


def _predict(name: str, law: dict, m_edges: np.ndarray, d_model: np.ndarray) -> np.ndarray:
    params = {k: v["value"] for k, v in law["params"].items()}
    try:
        from lab.laws import LAWS

        return LAWS[name].predict(params, {"m_edges": m_edges, "d_model": d_model})
    except (ImportError, KeyError):  # the fit dict alone: the formulas of the registered names
        x = np.asarray(m_edges, float)
        base = x * np.log(x) if "mlogm" in name else x
        if name == "power2":
            return params["c"] * x ** params["alpha"] / np.asarray(d_model, float) ** params["beta"]
        return params["c"] * base / np.asarray(d_model, float) + params.get("b", 0.0)


def law_figure(fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    fig, axes = style.figure(ncols=2, width=4.6, height=3.9, gridspec_kw={"width_ratios": [1.45, 1.0]})
    ax, ax_t = axes[0]
    series = fit.get("series", [])
    gfields = _varying([s["key"] for s in series], [f for f in GROUP_FIELDS if f != "m"]) if series else []
    groups: dict[tuple, list[dict]] = {}
    for s in series:
        groups.setdefault(tuple(s["key"].get(f) for f in gfields), []).append(s)
    markers = "osD^v<>p"
    xs_all, d_all = [], []
    for (gkey, ss), color, mk in zip(sorted(groups.items(), key=lambda kv: repr(kv[0])), style.colors(len(groups)), markers * 4):
        label = _label(dict(zip(gfields, gkey)), gfields) or "measured D_K*"
        ok = [s for s in ss if s["censored"] is None]
        if ok:
            x = mlogm([s["key"]["m_edges"] for s in ok])
            d = np.array([float(s["key"]["d_model"]) for s in ok])
            t = np.array([s["threshold"] for s in ok])
            err = np.array([[s["threshold"] - s["lo"] for s in ok], [s["hi"] - s["threshold"] for s in ok]]) * d
            ax.errorbar(x, t * d, yerr=np.maximum(err, 0), fmt=mk, color=color, ms=4.5, capsize=2.5, lw=1.0, label=label)
        for s in ss:
            if s["censored"] is not None and s.get("bound") is not None:
                style.censored_marker(ax, float(mlogm(s["key"]["m_edges"])), s["bound"] * s["key"]["d_model"], s["censored"], color)
        xs_all += [s["key"]["m_edges"] for s in ss]
        d_all += [s["key"]["d_model"] for s in ss]

    cons = (extra or {}).get("construction") or {}
    if len(cons.get("m_edges", [])):
        ax.plot(mlogm(cons["m_edges"]), np.asarray(cons["dk"], float) * np.asarray(cons["d_model"], float), "*",
                color="#8e44ad", ms=9, label="explicit construction (smallest D_K)")
        xs_all += list(cons["m_edges"])
        d_all += list(cons["d_model"])

    if xs_all:
        m_grid = np.geomspace(max(min(xs_all) / 1.3, 2.0), max(xs_all) * 1.3, 100)
        x_grid = mlogm(m_grid)
        d_ref = float(np.median(d_all))
        styles = {"mlogm_over_d": ("-", "#c0392b"), "mlogm_over_d_icpt": ("-.", "#e67e22"), "m_over_d": ("--", "0.3"), "power2": (":", "#2471a3")}
        for name, (ls, color) in styles.items():
            law = _law_entry(fit, name)
            if law is None:
                continue
            # D_K·d_model is free of d_model for the three 1/d laws; power2 is drawn at the median d_model
            y = _predict(name, law, m_grid, np.full_like(m_grid, d_ref)) * d_ref
            best = " (best)" if fit.get("best") == name else ""
            ax.plot(x_grid, y, ls, color=color, lw=1.4, label=f"{law['formula']}{best}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("m' log m'")
    ax.set_ylabel("D_K* · d_model")
    ax.set_title("Capacity law: D_K*·d_model against m' log m'")
    ax_t.axis("off")
    handles, labels = ax.get_legend_handles_labels()
    ax_t.legend(handles, labels, frameon=False, loc="lower center", fontsize=6.5)
    laws = fit.get("laws", [])
    if laws:
        cells = [[l.get("formula", l["name"]), _fmt(l.get("aic")), _fmt(l.get("bic")), _fmt(l.get("heldout")), "yes" if l.get("converged") else "no"] for l in laws]
        table = ax_t.table(cellText=cells, colLabels=["law", "AIC", "BIC", "held-out", "conv."], loc="upper center", cellLoc="center",
                           colWidths=[0.46, 0.13, 0.13, 0.15, 0.11])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1.0, 1.3)
        ax_t.set_title(f"Fit quality (lower is better); best: {fit.get('best')}", fontsize=8.5)
    else:
        ax_t.text(0.5, 0.5, "no law fitted", ha="center", va="center")
    return style.save(fig, out_dir, "law")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def collapse_figure(rows: list[dict], out_dir: Path, eps: float = 0.05) -> list[Path]:
    fig, axes = style.figure(width=5.6, height=3.8)
    ax = axes[0, 0]
    fields = _varying(rows, GROUP_FIELDS) or ["model"]
    groups = _groups(rows, fields)
    for (gkey, grows), color, mk in zip(groups.items(), style.colors(len(groups)), "osD^v<>p" * 4):
        x = np.array([r["dk"] * r["d_model"] / mlogm(r["m_edges"]) for r in grows])
        y = np.array([final(r) for r in grows])
        ax.plot(x, y, mk, color=color, ms=3.5, alpha=0.75, mfc="none", label=_label(dict(zip(fields, gkey)), fields))
    ax.axhline(1 - eps, color="0.6", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("D_K · d_model / (m' log m')")
    ax.set_ylabel("recovery (held-out contexts)")
    ax.set_title("Collapse: every configuration against the law's scale")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6.5)
    return style.save(fig, out_dir, "collapse")


def heads_figure(rows: list[dict], out_dir: Path) -> list[Path]:
    if len({r["h"] for r in rows}) < 2:
        return []
    regimes = {"compressed (m > d_model)": [r for r in rows if r["m"] > r["d_model"]],
               "uncompressed (m = d_model)": [r for r in rows if r["m"] == r["d_model"]]}
    regimes = {k: v for k, v in regimes.items() if v}
    fig, axes = style.figure(ncols=len(regimes), width=4.2, height=3.4)
    for ax, (title, rr) in zip(axes[0], regimes.items()):
        # D_K values every head count was trained at
        per_h = [{r["dk"] for r in rr if r["h"] == h} for h in sorted({r["h"] for r in rr})]
        dks = sorted(set.intersection(*per_h))
        models = sorted({r["model"] for r in rr})
        cols = style.colors(len(dks))
        for model, ls in zip(models, ("-", "--", ":")):
            for dk, color in zip(dks, cols):
                sub = [r for r in rr if r["dk"] == dk and r["model"] == model]
                hs = sorted({r["h"] for r in sub})
                y = [np.mean([final(r) for r in sub if r["h"] == h]) for h in hs]
                ax.plot(hs, y, "o" + ls, color=color, ms=3.5, lw=1.1, label=f"{model}, D_K={dk}")
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("heads h (D_K fixed, d_k = D_K / h)")
        ax.set_ylabel("recovery, mean over m' and seeds")
        ax.set_title(title)
        ax.legend(frameon=False, fontsize=6, loc="lower right", ncol=2)
    fig.suptitle("Heads at fixed D_K: per-head normalisation is where heads can help", fontsize=10)
    return style.save(fig, out_dir, "heads")
