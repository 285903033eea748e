"""`lab interpret RUN_DIR`: a kind's reading of its trained networks (Experiment.interpret).

``interpret_run`` loads the run's rows and kind and hands them to the kind's ``interpret`` (the
superposition kind: feature channels read from sign patterns,
lab.experiments.superposition.interpret). The kind returns {"figures": paths, "summary": JSON-able,
"text": Markdown} and optionally "captions" (figure stem -> caption). Its files go to
RUN_DIR/interpret (or ``out_dir``); with ``figures_dir`` the figures are also copied there as
<prefix>-<name>, like lab.analysis.analyze_run's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import experiment, store
from lab.report import Block


class NoInterpretation(store.RunDirError):
    """The run's kind has no reading of its trained networks."""


def interpret_run(run_dir: str | Path, out_dir: str | Path | None = None, *, figures_dir: str | Path | None = None,
                  prefix: str | None = None, rows: list[dict] | None = None, meta: dict | None = None,
                  **options) -> dict:
    """The kind's reading of ``run_dir``'s networks (module docstring); ``options`` go to the kind."""
    run_dir = Path(run_dir)
    meta = meta or store.read_meta(run_dir)
    exp = experiment.get(meta["kind"])
    if exp.interpret is None:
        raise NoInterpretation(f"kind {exp.name!r} has no reading of its trained networks (its Experiment has no "
                               f"interpret); kinds that have one: {', '.join(interpretable()) or 'none'}")
    rows = store.load_rows(run_dir) if rows is None else rows
    out_dir = store.ensure_writable_dir(Path(out_dir) if out_dir is not None else run_dir / "interpret", "output directory")
    result = dict(exp.interpret(run_dir, rows, out_dir, **options))
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        figures_dir.mkdir(parents=True, exist_ok=True)
        result["figures"] = [Path(shutil.copy2(p, figures_dir / f"{prefix or exp.name}-{Path(p).name}"))
                             for p in result["figures"]]
    return result


def interpretable() -> list[str]:
    """The kinds with a reading of their trained networks."""
    return [k for k in experiment.kinds() if experiment.get(k).interpret is not None]


def blocks(result: dict, command: str | None = None) -> list[Block]:
    """Report blocks of a reading: a heading, its text and its figures (PNGs) with their captions."""
    captions = result.get("captions", {})
    made_by = f" Made by `{command}`." if command else ""
    out = [Block("h3", "Reading the trained networks"), Block("p", result["text"])]
    for p in (Path(p) for p in result["figures"] if Path(p).suffix == ".png"):
        caption = captions.get(p.stem.rsplit("-", 1)[-1], p.stem.replace("_", " ").capitalize())
        out.append(Block("figure", (p, caption.rstrip(".") + "." + made_by)))
    return out
