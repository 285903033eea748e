"""Figures of a run: ``make_figures(kind, rows, fit, out_dir)`` draws the kind's own figures
(``Experiment.figures``) and the lab's generic ones: the residuals of every converged law
(lab.plots.residuals). A kind without figures of its own still gets the generic ones."""

from __future__ import annotations

from pathlib import Path

from lab import experiment
from lab.progress import note


def make_figures(kind: str, rows: list[dict], fit: dict | None, out_dir: str | Path, overlay: dict | None = None) -> list[Path]:
    """Draw every figure of ``kind`` into ``out_dir`` (PNG+PDF pairs); returns the written paths.

    ``fit`` is the fit.json content (lab.fit.FitReport.to_dict()); None fits the rows first.
    ``overlay``: the run's constructions and baselines (Experiment.overlay), for the kind's figures.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fit is None:
        from lab.fit import fit_rows

        note("fitting thresholds and laws")
        fit = fit_rows(kind, rows).to_dict()
    exp = experiment.get(kind)
    paths: list[Path] = []
    if exp.figures is not None:
        note(f"drawing the {kind} figures")
        paths += list(exp.figures(rows, fit, out_dir, overlay))
    if not any(p.stem == "residuals" for p in paths) and any(law.get("converged") for law in fit.get("laws", [])):
        from lab.plots import residuals

        note("drawing the residuals figure")
        paths += residuals.figures(rows, fit, out_dir)
    return paths
