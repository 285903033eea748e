"""Figures of `lab interpret` for the superposition kind (lab.experiments.superposition.interpret).

channel_sizes.png: per width, how many neurons each feature's channel holds, trained (computed or
not) against the explicit construction at the same n and m'.
channel_load.png: left, per network, neurons per feature against features per neuron (their
product relation: mean size · m' = mean load · n, so networks of one m'/n lie on one line); right,
per feature of the trained networks, channel size against the mean load of its neurons.
channel_network.png: a small trained network and its construction drawn with every channel in
its own colour.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from lab.experiments.superposition import channels as ch
from lab.plots import style

CAPTIONS = {
    "channel_sizes": "Neurons in each feature's channel (the neurons on which both of its inputs carry a + weight and "
                     "which its output reads with a + weight), per width: trained features computed and not computed "
                     "(bars), and the explicit construction at the same n and m' (black steps)",
    "channel_load": "Left: per network, neurons per feature (mean channel size) against features per neuron (mean "
                    "number of channels a neuron belongs to); dotted lines hold the networks of one m'/n. Right: per "
                    "trained feature, its channel size against the mean load of its neurons, computed or not",
    "channel_network": "A small trained network (left) and the explicit construction at the same n, m' and pairs "
                       "(right), read by their sign pattern: inputs (left column), neurons (middle; bias negative: "
                       "black, positive: white, ~0: grey), outputs (right; ✓ computed, ✗ not); each channel in its "
                       "feature's colour, other + input weights in grey",
}


def figures(trained: list, built: list, tol: float, out_dir: Path) -> list[Path]:
    """The three figures (PNG+PDF) of the networks read at tolerance ``tol``."""
    stats_t = [ch.channel_stats(ch.sign_pattern(t.net, tol), t.pairs_Kx2) for t in trained]
    stats_c = [ch.channel_stats(ch.sign_pattern(c.net, tol), c.pairs_Kx2) for c in built]
    return (sizes_figure(trained, stats_t, stats_c, out_dir) + load_figure(trained, stats_t, stats_c, out_dir)
            + network_figure(trained, built, tol, out_dir))


def sizes_figure(trained, stats_t, stats_c, out_dir: Path) -> list[Path]:
    widths = sorted({t.member.n for t in trained})
    ncols = min(len(widths), 4)
    nrows = -(-len(widths) // ncols)
    fig, axes = style.figure(ncols=ncols, nrows=nrows, width=2.9, height=2.5)
    for ax in axes.flat[len(widths):]:
        ax.set_visible(False)
    for ax, n in zip(axes.flat, widths):
        idx = [i for i, t in enumerate(trained) if t.member.n == n]
        size = np.concatenate([stats_t[i]["size"] for i in idx])
        ok = np.concatenate([trained[i].computed_K for i in idx])
        cons = np.concatenate([stats_c[i]["size"] for i in idx])
        bins = np.arange(0, max(size.max(initial=0), cons.max(initial=0)) + 2) - 0.5
        ax.hist([size[ok], size[~ok]], bins=bins, stacked=True, color=["#2e8b57", "#c0392b"], alpha=0.75,
                label=["trained, computed", "trained, not computed"])
        ax.hist(cons, bins=bins, histtype="step", color="k", lw=1.1, label="construction")
        ax.set_title(f"n = {n} (m' = {', '.join(str(trained[i].member.m_out) for i in idx)})", fontsize=8)
        ax.set_xlabel("neurons in the channel")
        ax.set_ylabel("features")
    axes.flat[0].legend(loc="best", fontsize=6.5)
    return style.save(fig, out_dir, "channel_sizes")


def load_figure(trained, stats_t, stats_c, out_dir: Path) -> list[Path]:
    fig, axes = style.figure(ncols=2, width=4.4, height=3.6)
    ax, ax_f = axes[0]
    widths = sorted({t.member.n for t in trained})
    color = dict(zip(widths, style.colors(len(widths))))
    top = 0.0
    for t, st, sc in zip(trained, stats_t, stats_c):
        st_sum, sc_sum = ch.summary(st), ch.summary(sc)
        c = color[t.member.n]
        ax.plot(st_sum["features_per_neuron"], st_sum["neurons_per_feature"], "o", color=c, ms=6,
                mfc=c if t.computed_K.mean() >= 0.5 else "white")
        ax.plot(sc_sum["features_per_neuron"], sc_sum["neurons_per_feature"], "s", color=c, ms=5, mfc="none", alpha=0.8)
        top = max(top, st_sum["features_per_neuron"], sc_sum["features_per_neuron"])
    right = top * 1.05 + 0.1
    high = max(max(ch.summary(s)["neurons_per_feature"] for s in stats_t + stats_c) * 1.15, 1.0)
    for ratio in sorted({t.member.m_out / t.member.n for t in trained}):
        end = min(right, high * ratio)  # the guide stops where it leaves the box
        ax.plot([0, end], [0, end / ratio], ":", color="0.6", lw=0.8)
        ax.annotate(f"m'/n={ratio:g}", (end, end / ratio), fontsize=6, color="0.4", ha="right", va="bottom")
    for n in widths:
        ax.plot([], [], "o", color=color[n], label=f"n = {n}")
    ax.plot([], [], "o", color="0.3", label="trained (filled: most features computed)")
    ax.plot([], [], "s", color="0.3", mfc="none", label="construction")
    ax.set_xlabel("features per neuron (mean channels a neuron is in)")
    ax.set_ylabel("neurons per feature (mean channel size)")
    ax.set_ylim(0, high)
    ax.set_xlim(0, right)
    ax.legend(loc="lower right", fontsize=6.5)
    size = np.concatenate([s["size"] for s in stats_t])
    load = np.concatenate([s["load"] for s in stats_t])
    ok = np.concatenate([t.computed_K for t in trained])
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, size.shape)
    ax_f.scatter(load[~ok], size[~ok] + jitter[~ok], s=6, color="#c0392b", alpha=0.5, label="not computed", lw=0)
    ax_f.scatter(load[ok], size[ok] + jitter[ok], s=6, color="#2e8b57", alpha=0.5, label="computed", lw=0)
    ax_f.set_xlabel("mean load of the channel's neurons (features per neuron)")
    ax_f.set_ylabel("neurons in the channel")
    ax_f.legend(loc="upper left", markerscale=2)
    return style.save(fig, out_dir, "channel_load")


def pick_small(trained: list, max_features: int = 8) -> int:
    """The network to draw: the narrowest, then the most computed, then the most features (<= max_features)."""
    candidates = [i for i, t in enumerate(trained) if t.member.m_out <= max_features] or list(range(len(trained)))
    return min(candidates, key=lambda i: (trained[i].member.n, -trained[i].computed_K.mean(), -trained[i].member.m_out))


def network_figure(trained, built, tol: float, out_dir: Path) -> list[Path]:
    i = pick_small(trained)
    fig, axes = style.figure(ncols=2, width=4.6, height=4.6)
    for ax, net, title in ((axes[0][0], trained[i], "trained"), (axes[0][1], built[i], f"construction ({built[i].scheme})")):
        draw_network(ax, net, tol)
        ax.set_title(f"{title}: n = {net.member.n}, m' = {net.member.m_out}, tol = {tol:g}")
    return style.save(fig, out_dir, "channel_network")


def draw_network(ax, network, tol: float) -> None:
    """Inputs, neurons and outputs of ``network`` in three columns, its channels in colour."""
    pattern = ch.sign_pattern(network.net, tol)
    pairs = network.pairs_Kx2
    c_KxN = ch.channels(pattern, pairs)
    inputs = np.unique(pairs)
    n, k = c_KxN.shape[1], len(pairs)

    def ys(count):
        return np.linspace(1, 0, count) if count > 1 else np.array([0.5])

    y_in, y_hid, y_out = ys(len(inputs)), ys(n), ys(k)
    row = {a: r for r, a in enumerate(inputs)}
    for a in inputs:  # other + weights of the drawn inputs, faint
        for u in np.flatnonzero(pattern.code_MxN[a] > 0):
            ax.plot([0, 1], [y_in[row[a]], y_hid[u]], color="0.85", lw=0.5, zorder=1)
    colors = [matplotlib.colormaps["tab10"](j % 10) for j in range(k)]
    for j, (a, b) in enumerate(pairs):
        for u in np.flatnonzero(c_KxN[j]):
            for src in {a, b}:
                ax.plot([0, 1], [y_in[row[src]], y_hid[u]], color=colors[j], lw=1.4, alpha=0.8, zorder=2)
            ax.plot([1, 2], [y_hid[u], y_out[j]], color=colors[j], lw=1.4, alpha=0.8, zorder=2)
    ax.scatter(np.zeros(len(inputs)), y_in, s=40, color="white", edgecolor="k", zorder=3)
    for r, a in enumerate(inputs):
        ax.annotate(f"x{a}", (0, y_in[r]), xytext=(-6, 0), textcoords="offset points", ha="right", va="center", fontsize=7)
    fill = np.where(pattern.bias_N < 0, "k", np.where(pattern.bias_N > 0, "white", "0.7"))
    ax.scatter(np.ones(n), y_hid, s=40, c=list(fill), edgecolor="k", zorder=3)
    ax.scatter(np.full(k, 2.0), y_out, s=40, c=colors, edgecolor="k", zorder=3)
    for j, (a, b) in enumerate(pairs):
        label = f"x{a}" if a == b else f"x{a}∧x{b}"
        mark = "✓" if network.computed_K[j] else "✗"
        ax.annotate(f"{label} {mark}", (2, y_out[j]), xytext=(6, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_xlim(-0.5, 2.7)
    ax.set_ylim(-0.08, 1.08)
    ax.set_xticks([0, 1, 2], ["inputs", "neurons", "outputs"])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
