"""From a finished run directory to its analysis: fit.json, thresholds.csv, figures and a summary.

This is what `lab run` does once a sweep is complete and what `lab fit` / `lab reproduce` build on:
thresholds and law fits come from lab.fit, figures from lab.plots; this module only strings them
together and writes the files:

    RUN_DIR/fit.json         thresholds per series, law fits, comparison, verdicts (lab.fit schema)
    RUN_DIR/thresholds.csv   one line per series: its fields, threshold [lo, hi] or censored bound
    RUN_DIR/figures/*.png|pdf
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import experiment, labels, store


@dataclass(frozen=True)
class Summary:
    """What the analysis of one run produced."""

    run_dir: Path
    kind: str
    fit: dict  # the fit.json content
    figures: tuple[Path, ...] = field(default_factory=tuple)
    text: str = ""  # the short human summary printed by `lab run`


@dataclass(frozen=True)
class Fitted:
    """What ``fit_and_write`` fitted and wrote."""

    report: Any  # lab.fit.FitReport
    fit: dict  # the fit.json content
    path: Path  # RUN_DIR/fit[-<where>].json; thresholds[-<where>].csv beside it


def fit_and_write(run_dir: str | Path, where: dict[str, str] | None = None, *, partial: bool = False,
                  rows: list[dict] | None = None, meta: dict | None = None, **fit_options):
    """Fit thresholds and laws of a run; write RUN_DIR/fit.json and RUN_DIR/thresholds.csv (the one
    writer of both files).

    ``where`` fits only the rows whose fields equal the given values (compared as text, e.g.
    {"model": "bilinear", "h": "1"}) and writes fit-<field>=<value>,....json / thresholds-....csv
    instead. Returns a ``Fitted``: the lab.fit.FitReport (its ``table()`` is what `lab fit` prints),
    the fit.json content and the path written.

    A run whose members do not all have rows yet is refused (store.IncompleteRun) unless
    ``partial``; a partial fit says so in fit.json ("partial": {"members", "of", "warning"}).
    fit.json also records the run's [success] settings ("success"), which the figures draw.
    ``rows``/``meta``: the run's, when the caller has them (not re-read); ``fit_options`` go to
    lab.fit.fit_rows (n_boot, pipeline_boot, ...).
    """
    from lab import fit

    run_dir = Path(run_dir)
    meta = meta or store.read_meta(run_dir)
    landed, total = store.require_complete(run_dir, partial, "fit")
    rows = select(store.load_rows(run_dir) if rows is None else rows, where or {})
    report = fit.fit_rows(meta["kind"], rows, **fit_options)
    fit_dict = report.to_dict()
    if "identity" in meta:
        fit_dict["success"] = meta["identity"]["success"]
    if landed < total:
        fit_dict["partial"] = {"members": landed, "of": total,
                               "warning": f"partial run: fitted from {landed} of {total} members; thresholds may move"}
    suffix = where_suffix(where, rows)
    path = run_dir / f"fit{suffix}.json"
    store.atomic_write(path, json.dumps(fit_dict, indent=2, sort_keys=True, default=_jsonable))
    store.atomic_write(run_dir / f"thresholds{suffix}.csv", thresholds_csv(fit_dict))
    return Fitted(report, fit_dict, path)


def where_suffix(where: dict[str, str] | None, rows: list[dict]) -> str:
    """"-lr=0.0316,n=8" for file names: each field's selected value as labels show it ("" for none)."""
    if not where:
        return ""
    return "-" + ",".join(f"{k}={labels.value_text(rows[0][k])}" for k in sorted(where))


class SelectionError(ValueError):
    """A ``where`` selection that names no field of the rows, or matches no row."""


def select(rows: list[dict], where: dict[str, str]) -> list[dict]:
    """Rows whose fields equal ``where``'s values: as text, or numbers at the precision typed
    (lab.labels.matches: lr=3e-2 selects the grid's 0.0316); unknown fields are an error."""
    if not rows:
        raise SelectionError("the run has no rows yet")
    for name in where:
        if name not in rows[0]:
            raise SelectionError(f"--where {name}=...: rows have no field {name!r}; fields: {', '.join(sorted(rows[0]))}")
    chosen = [r for r in rows if all(labels.matches(str(v), r[k]) for k, v in where.items())]
    for k, v in where.items():  # "lr=3e-2" may round several grid values: ask for more digits
        values = sorted({r[k] for r in chosen}, key=repr)
        if len(values) > 1:
            raise SelectionError(f"--where {k}={v} matches several values ({', '.join(labels.value_text(x, 6) for x in values)}); "
                                 "give more digits")
    if not chosen:
        shown = ", ".join(f"{k}={v}" for k, v in where.items())
        raise SelectionError(f"no rows with {shown}")
    return chosen


def analyze_run(run_dir: str | Path, *, figures_dir: str | Path | None = None, overlay: dict | None = None,
                prefix: str | None = None, rows: list[dict] | None = None, meta: dict | None = None) -> Summary:
    """Fit, draw and summarise a finished run; figures go to RUN_DIR/figures.

    With ``figures_dir`` they are also copied there as <prefix>-<name>, the prefix being the kind unless
    given (e.g. the sweep's name when several sweeps of one kind share a folder); the summary lists the copies.
    ``overlay``: the run's constructions (lab.overlays.for_run); ``rows``/``meta``: the run's, if at hand.
    """
    from lab import plots

    run_dir = Path(run_dir)
    meta = meta or store.read_meta(run_dir)
    kind = meta["kind"]
    rows = store.load_rows(run_dir) if rows is None else rows
    fit_dict = fit_and_write(run_dir, rows=rows, meta=meta).fit
    paths = plots.make_figures(kind, rows, fit_dict, run_dir / "figures", overlay=overlay)
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        figures_dir.mkdir(parents=True, exist_ok=True)
        paths = [Path(shutil.copy2(p, figures_dir / f"{prefix or kind}-{p.name}")) for p in paths]
    return Summary(run_dir=run_dir, kind=kind, fit=fit_dict, figures=tuple(paths), text=summary_text(kind, rows, fit_dict, paths))


def summary_text(kind: str, rows: list[dict], fit_dict: dict, figures: list[Path]) -> str:
    """A few lines: thresholds per series, the best law, the verdicts, where the figures are."""
    exp = experiment.get(kind)
    a = exp.analysis
    ok = sum(r["status"] == "ok" for r in rows)
    lines = [f"{kind}: {len(rows)} members ({len(rows) - ok} diverged), {sum(bool(r['success']) for r in rows)} succeeded"]
    word = "capacity" if a.direction == "decreasing" else "threshold"
    lines.append(f"{word} {a.resource}* per series:")
    series = fit_dict.get("series", [])
    # every field that tells series apart (a swept lr too, which is not among the kind's series fields)
    shown = labels.series_keys([s["key"] for s in series], a.series, a.covariates)
    integer = bool(rows) and isinstance(rows[0].get(a.resource), int)
    for s in series:
        label = labels.series_label(s["key"], shown) or "all members"
        lines.append(f"  {label}: {labels.threshold_text(s, integer, censored_note=True)}")
    best = fit_dict.get("best")
    if best:
        law = next((law for law in fit_dict.get("laws", []) if law.get("name") == best), {})
        score = "QAIC" if law.get("qaic") is not None else "AIC"
        lines.append(f"best law ({score}): {law.get('formula') or best}")
    lines += [f"  {v}" for v in fit_dict.get("verdicts", [])]
    if figures:
        lines.append("figures: " + ", ".join(str(p) for p in figures if p.suffix == ".png"))
    return "\n".join(lines)


def thresholds_csv(fit_dict: dict) -> str:
    """The series table of a fit as CSV."""
    series = fit_dict.get("series", [])
    covariates = [k for k in fit_dict.get("covariates", []) if any(k in s["key"] for s in series)]
    keys = covariates + sorted({k for s in series for k in s["key"]} - set(covariates))
    cols = ["threshold", "lo", "hi", "censored", "bound", "width", "seeds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys + cols)
    for s in series:
        w.writerow([s["key"].get(k, "") for k in keys] + [_csv_value(s.get(c)) for c in cols])
    return buf.getvalue()


def _csv_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def _jsonable(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
