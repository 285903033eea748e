"""Shared plotting helpers: the Agg backend, one look, PNG+PDF saving, legends, censored markers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is ever needed
import matplotlib.pyplot as plt  # noqa: E402

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
}


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.4, **kw):
    """A figure with a grid of axes (always a 2-D array of axes)."""
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)
    return fig, axes


# No creation date and no software version in the files: drawing the same figure twice gives the
# same bytes, so a reproduction that changes nothing leaves the repository clean.
METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def save(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Write out_dir/stem.png and .pdf (deterministic bytes, see METADATA); close the figure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    with plt.rc_context(RC):
        fig.tight_layout()
        for p in paths:
            fig.savefig(p, bbox_inches="tight", metadata=METADATA[p.suffix])
    plt.close(fig)
    return paths


def legend(ax, empty: str = "nothing measured", **kw) -> None:
    """The axes' legend, or, when nothing on them carries a label (a run with no measured point),
    ``empty`` written in the middle instead of an empty legend box."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.4")


def colors(n: int) -> list:
    cmap = plt.get_cmap("viridis")
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def censored_marker(ax, x, bound, side: str, color, size: float = 7, label: str | None = None) -> None:
    """An open marker at a censored bound with an arrow pointing where the threshold lies."""
    ax.plot([x], [bound], marker="o", mfc="none", mec=color, ms=size * 0.8, ls="none", label=label)
    ax.annotate(
        "", xy=(x, bound * (1.6 if side == "above" else 1 / 1.6)), xytext=(x, bound),
        arrowprops=dict(arrowstyle="-|>", color=color, lw=1.0, shrinkA=3, shrinkB=0),
    )
