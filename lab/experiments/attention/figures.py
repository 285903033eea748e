"""Attention figures (Adler, arXiv 2509.22840): the D_K threshold, the m' log m' / d_model law, the
collapse of all configurations onto one curve, and the heads comparison.

threshold.png: final recovery against D_K for each m' (one panel per model / d_model / h group);
    the vertical lines are the fitted thresholds D_K*.
law.png: one panel per fitted group (model, heads, compression; lab.fit): D_K*·d_model against
    m' log m' with 95% intervals (censored series: open markers with an arrow), colour = d_model,
    marker = out-degree; the fitted laws c·m' log m'/d_model and c·m'/d_model (lines: D_K·d_model is
    free of d_model) and the information count c·ln C(m², m')/d_model (one curve per degree, m =
    m'/degree); under each panel a table of c and ΔQAIC (overdispersion-corrected) per law. Optional
    construction points from lab.overlays: extra["exact"] (m = d_model: the smallest exact
    construction, D_K = 2 for out-degree <= 1, else d_model) and extra["construction"] (m > d_model: the compressed construction's smallest
    D_K), each {"m", "m_edges", "d_model", "dk"}, and extra["construction_searched"] (the compressed
    settings searched: a panel without construction points says the construction never succeeded);
    the run's ε (fit["success"]) draws 1 - ε.
collapse.png: recovery of every member against D_K·d_model/(m' log m').
heads.png: at fixed D_K, recovery against the number of heads, compressed (m > d_model) and
    uncompressed (m = d_model), per model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from lab import labels
from lab.experiments.attention.success import AttentionSuccess
from lab.plots import style

GROUP_FIELDS = ("model", "d_model", "m", "h", "graph", "context")


def figures(rows: list[dict], fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    """threshold, law, residuals, collapse and heads (PNG+PDF); 1 - ε from the run's [success] (fit["success"])."""
    rows = [r for r in rows if r.get("kind", "attention") == "attention"]
    eps = float((fit.get("success") or {}).get("epsilon", AttentionSuccess().epsilon))
    return (threshold_figure(rows, fit, out_dir, eps) + law_figure(fit, out_dir, extra) + residuals_figure(fit, out_dir)
            + collapse_figure(rows, out_dir, eps) + heads_figure(rows, out_dir))


def final(row: dict, metric: str = "recovery") -> float:
    v = row.get(metric)
    return float(v[-1]) if isinstance(v, list) else float("nan") if v is None else float(v)


def _label(d: dict, fields) -> str:
    return ", ".join(f"{f}={d.get(f)}" for f in fields)


def _groups(rows: list[dict], fields) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(f) for f in fields), []).append(r)
    return dict(sorted(out.items(), key=lambda kv: tuple(_order(v) for v in kv[0])))


def _order(v) -> tuple:
    """Sort key: numbers by value (16 before 128), anything else by its text, after the numbers."""
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, repr(v))


def mlogm(m_edges) -> np.ndarray:
    m = np.asarray(m_edges, dtype=float)
    return m * np.log(np.maximum(m, 2.0))


def threshold_figure(rows: list[dict], fit: dict, out_dir: Path, eps: float = 0.05) -> list[Path]:
    fields = labels.varying(rows, GROUP_FIELDS) or ["model"]
    panels = _groups(rows, fields)
    ncols = min(4, math.ceil(math.sqrt(len(panels))))
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


def _predict(name: str, law: dict, covariates: dict) -> np.ndarray:
    from lab.laws import LAWS

    return LAWS[name].predict({k: v["value"] for k, v in law["params"].items()}, covariates)


def _law_groups(fit: dict) -> list[dict]:
    """The fits of the headline view, one per fitted group (lab.fit fits laws per Analysis.fit_by)."""
    groups = fit.get("groups") or [fit]
    view = groups[0].get("view")
    ours = [g for g in groups if g.get("view") == view]
    return sorted(ours, key=lambda g: tuple(_order(v) for v in (g.get("group") or {}).values()))


def _compression(key: dict) -> float:
    c = key.get("compression")
    return float(c) if c is not None else float(key["m"]) / float(key["d_model"])


LAW_STYLES = {"mlogm_over_d": ("-", "#c0392b"), "info_over_d": ("-.", "#16a085"), "m_over_d": ("--", "0.3")}


def law_figure(fit: dict, out_dir: Path, extra: dict | None = None) -> list[Path]:
    """One panel per fitted group (model, heads, compression): D_K*·d_model against m' log m'."""
    groups = _law_groups(fit)
    fig, axes = style.figure(ncols=len(groups), nrows=2, width=4.3, height=3.6, gridspec_kw={"height_ratios": [1.6, 1.0]})
    cons = (extra or {}).get("construction") or {}
    exact = (extra or {}).get("exact") or {}
    for col, g in enumerate(groups):
        ax, ax_t = axes[0, col], axes[1, col]
        series = g.get("series", [])
        d_models = sorted({s["key"]["d_model"] for s in series})
        degrees = sorted({s["key"].get("degree") or 0 for s in series})
        colors = dict(zip(d_models, style.colors(len(d_models))))
        marks = dict(zip(degrees, "osD^v<>p"))
        for s in series:
            k = s["key"]
            x, d, color, mk = float(mlogm(k["m_edges"])), float(k["d_model"]), colors[k["d_model"]], marks[k.get("degree") or 0]
            if s["censored"] is None:
                err = np.array([[s["threshold"] - s["lo"]], [s["hi"] - s["threshold"]]]) * d
                ax.errorbar([x], [s["threshold"] * d], yerr=np.maximum(err, 0), fmt=mk, color=color, ms=4.5, capsize=2.5, lw=1.0)
            elif s.get("bound") is not None:
                style.censored_marker(ax, x, s["bound"] * d, s["censored"], color)
        for dm in d_models:
            ax.plot([], [], "s", color=colors[dm], label=f"d_model={dm}")
        for deg in degrees:
            ax.plot([], [], marks[deg], color="0.4", mfc="none", label=f"degree {deg}" if deg else "edges graph")
        comp = _compression(series[0]["key"]) if series else 1.0
        ours = lambda pts: [i for i in range(len(pts.get("dk", []))) if abs(pts["m"][i] / pts["d_model"][i] - comp) < 1e-6]  # noqa: E731
        for pts, label, color in ((exact, "exact construction (D_K = 2 for degree 1, else d_model)", "#8e44ad"),
                                  (cons, "compressed construction (smallest D_K)", "#d35400")):
            idx = ours(pts) if pts.get("m") else []
            if idx:
                me = np.array([pts["m_edges"][i] for i in idx], float)
                ax.plot(mlogm(me), [pts["dk"][i] * pts["d_model"][i] for i in idx], "*", color=color, ms=9, label=label)
        searched = (extra or {}).get("construction_searched") or {}
        if comp > 1 and searched and not (ours(cons) if cons.get("m") else []):
            ax.text(0.98, 0.03, "compressed construction: no success\nat any D_K <= 4·d_model", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=6.5, color="#d35400")
        m_all = [s["key"]["m_edges"] for s in series]
        if m_all:
            m_grid = np.geomspace(max(min(m_all) / 1.3, 2.0), max(m_all) * 1.3, 100)
            for name, (ls, color) in LAW_STYLES.items():
                law = _law_entry(g, name)
                if law is None:
                    continue
                best = " (best)" if g.get("best") == name else ""
                if name == "info_over_d":  # depends on m too: one curve per degree (m = m'/degree) over its series
                    for deg in degrees:
                        m_deg = [s["key"]["m_edges"] for s in series if (s["key"].get("degree") or 0) == deg]
                        grid = np.geomspace(min(m_deg) / 1.2, max(m_deg) * 1.2, 50)
                        m_items = grid / deg if deg else np.array([float(series[0]["key"]["m"])] * len(grid))
                        y = _predict(name, law, {"m_edges": grid, "d_model": np.ones_like(grid), "m": m_items})
                        ax.plot(mlogm(grid), y, ls, color=color, lw=1.1, label=f"{law['formula']}{best}" if deg == degrees[0] else None)
                    continue
                y = _predict(name, law, {"m_edges": m_grid, "d_model": np.ones_like(m_grid), "m": m_grid})
                ax.plot(mlogm(m_grid), y, ls, color=color, lw=1.3, label=f"{law['formula']}{best}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())  # decade labels only: minor ones collide
        ax.set_xlabel("m' log m'")
        ax.set_ylabel("D_K* · d_model")
        ax.set_title(_group_title(g), fontsize=8.5)
        ax.legend(frameon=True, framealpha=0.85, edgecolor="none", fontsize=5.5, loc="best")
        _law_table(ax_t, g)
    fig.suptitle("Capacity law per setting: D_K*·d_model against m' log m' (lines: fitted laws)", fontsize=10)
    return style.save(fig, out_dir, "law")


def residuals_figure(fit: dict, out_dir: Path) -> list[Path]:
    """log(D_K* / law) against m' for the compared laws, one row per fitted group, colour = d_model."""
    groups = [g for g in _law_groups(fit) if any(_law_entry(g, n) for n in LAW_STYLES)]
    if not groups:
        return []
    names = list(LAW_STYLES)
    fig, axes = style.figure(ncols=len(names), nrows=len(groups), width=3.3, height=2.5, sharey=True)
    for row, g in enumerate(groups):
        series = g.get("series", [])
        d_models = sorted({s["key"]["d_model"] for s in series})
        colors = dict(zip(d_models, style.colors(len(d_models))))
        for col, name in enumerate(names):
            ax, law = axes[row, col], _law_entry(g, name)
            ax.axhline(0.0, color="0.3", lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{_group_title(g)}\n{law['formula'] if law else name + ': not fitted'}", fontsize=7.5)
            if law is None:
                continue
            for j, s in enumerate(series):
                k = s["key"]
                cov = {"m_edges": np.array([float(k["m_edges"])]), "d_model": np.array([float(k["d_model"])]), "m": np.array([float(k["m"])])}
                pred = float(_predict(name, law, cov)[0])
                # dodge d_model values sideways so that their bars do not overlap
                x = float(k["m_edges"]) * 2.0 ** (0.1 * (d_models.index(k["d_model"]) - (len(d_models) - 1) / 2))
                color = colors[k["d_model"]]
                if s["censored"] is None:
                    r = math.log(s["threshold"] / pred)
                    err = [[r - math.log(s["lo"] / pred)], [math.log(s["hi"] / pred) - r]]
                    ax.errorbar([x], [r], yerr=np.maximum(err, 0), fmt="o", color=color, ms=3.5, capsize=2, lw=0.9)
                elif s.get("bound") is not None:
                    r = math.log(s["bound"] / pred)
                    ax.plot([x], [r], "o", mfc="none", mec=color, ms=4.5)
                    dy = 0.3 if s["censored"] == "above" else -0.3
                    ax.annotate("", xy=(x, r + dy), xytext=(x, r), arrowprops=dict(arrowstyle="-|>", color=color, lw=0.8, shrinkA=2, shrinkB=0))
            if row == len(groups) - 1:
                ax.set_xlabel("m'")
            if col == 0:
                ax.set_ylabel("log(D_K* / law)")
        for dm in d_models:
            axes[row, 0].plot([], [], "o", color=colors[dm], label=f"d_model={dm}")
        axes[row, 0].legend(frameon=False, fontsize=6)
    fig.suptitle("Residuals per setting: a trend in m' is the signature of a wrong law", fontsize=10)
    return style.save(fig, out_dir, "residuals")


def _group_title(g: dict) -> str:
    group = g.get("group") or {}
    if "compression" in group:
        c = float(group["compression"])
        where = "uncompressed, m = d_model" if c == 1 else f"compressed, m = {c:g}·d_model"
        rest = ", ".join(f"{k}={v}" for k, v in group.items() if k != "compression")
        return f"{rest}: {where}" if rest else where
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "all series"


def _law_table(ax, g: dict) -> None:
    ax.axis("off")
    laws = [l for l in g.get("laws", []) if l.get("converged")]
    if not laws:
        ax.text(0.5, 0.6, "no law fitted: too few measured thresholds", ha="center", va="center", fontsize=8)
        return
    score = lambda l: l["qaic"] if l.get("qaic") is not None else l["aic"]  # noqa: E731
    top = min(score(l) for l in laws)
    cells = []
    for l in sorted(laws, key=score):
        c = l["params"].get("c")
        cells.append([l.get("formula", l["name"]), f"{_fmt(c['value'])} [{_fmt(c['lo'])}, {_fmt(c['hi'])}]" if c else "-",
                      _fmt(score(l) - top), _fmt(l.get("chi2_dof"))])
    table = ax.table(cellText=cells, colLabels=["law", "c [95%]", "ΔQAIC", "χ²/dof"], loc="upper center", cellLoc="center",
                     colWidths=[0.42, 0.3, 0.13, 0.13])
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1.0, 1.25)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def collapse_figure(rows: list[dict], out_dir: Path, eps: float = 0.05) -> list[Path]:
    if not any(np.isfinite(final(r)) for r in rows):
        return []  # rows without recovery (e.g. planted ones): nothing to collapse
    fig, axes = style.figure(width=5.6, height=3.8)
    ax = axes[0, 0]
    fields = labels.varying(rows, GROUP_FIELDS) or ["model"]
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
