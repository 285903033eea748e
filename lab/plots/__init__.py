"""Figures of a run: ``make_figures(kind, rows, fit, out_dir)`` dispatches to lab/plots/<kind>.py.

Each kind module defines ``figures(rows, fit, out_dir, extra=None) -> list[Path]`` writing PNG+PDF
pairs (matplotlib Agg backend); the residuals figure (lab.plots.residuals) is added for any kind
whose fit has converged laws. A new kind's figures = one new module, no registry edit.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from lab.progress import note


def make_figures(kind: str, rows: list[dict], fit: dict | None, out_dir: str | Path, extra: dict | None = None) -> list[Path]:
    """Draw every figure of ``kind`` into ``out_dir``; returns the written paths.

    ``fit`` is the fit.json content (lab.fit.FitReport.to_dict()); None fits the rows first.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fit is None:
        from lab.fit import fit_rows

        note("fitting thresholds and laws")
        fit = fit_rows(kind, rows).to_dict()
    try:
        module = importlib.import_module(f"lab.plots.{kind}")
    except ModuleNotFoundError as e:
        if e.name != f"lab.plots.{kind}":
            raise
        raise ValueError(f"no figures for kind {kind!r}: add lab/plots/{kind}.py defining figures(rows, fit, out_dir, extra)") from None
    note(f"drawing the {kind} figures")
    paths = list(module.figures(rows, fit, out_dir, extra))
    if not any(p.stem == "residuals" for p in paths) and any(law.get("converged") for law in fit.get("laws", [])):
        from lab.plots import residuals

        note("drawing the residuals figure")
        paths += residuals.figures(rows, fit, out_dir, extra)
    return paths
