"""`lab interpret RUN_DIR`: a kind's reading of its trained networks (Experiment.interpret).

``interpret_run`` loads the run's rows and kind and hands them to the kind's ``interpret`` (the
superposition kind: feature channels read from sign patterns,
lab.experiments.superposition.interpret). The kind returns {"figures": paths, "summary": JSON-able,
"text": Markdown} and optionally "captions" (figure stem -> caption), and writes its figures to
RUN_DIR/interpret (or ``out_dir``); ``save`` writes interpret.json (the summary, and under
"reading" the run it read and how to show it) and interpret.md (the text) beside them, so that
``load_reading`` gives `lab report` the same reading without re-reading the networks. With
``figures_dir`` the figures are also copied there as <prefix>-<name>, like
lab.analysis.analyze_run's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lab import experiment, store
from lab.report import Block

FOLDER = "interpret"  # RUN_DIR/interpret: where a reading goes unless told otherwise, and where reports look


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
    out_dir = store.ensure_writable_dir(Path(out_dir) if out_dir is not None else run_dir / FOLDER, "output directory")
    result = dict(exp.interpret(run_dir, rows, out_dir, **options))
    save(out_dir, result, rows=rows, meta=meta, options=options)
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        figures_dir.mkdir(parents=True, exist_ok=True)
        result["figures"] = [Path(shutil.copy2(p, figures_dir / f"{prefix or exp.name}-{Path(p).name}"))
                             for p in result["figures"]]
    return result


def save(out_dir: Path, result: dict, *, rows: list[dict], meta: dict, options: dict) -> None:
    """interpret.json: the summary, with "reading": the run's spec digest and rows read (to tell a
    stale reading), the options, the figures' names and captions; interpret.md: the text."""
    reading = {"kind": meta["kind"], "digest": meta.get("digest"), "rows": len(rows), "rows_tag": _rows_tag(rows),
               "options": options, "figures": [Path(p).name for p in result["figures"]],
               "captions": dict(result.get("captions", {}))}
    summary = {**result["summary"], "reading": reading}
    store.atomic_write(out_dir / "interpret.json", json.dumps(summary, indent=1, sort_keys=True))
    store.atomic_write(out_dir / "interpret.md", result["text"] + "\n")


def load_reading(run_dir: str | Path, *, rows: list[dict] | None = None, meta: dict | None = None) -> dict | None:
    """The reading saved in RUN_DIR/interpret, as ``interpret_run`` returned it ({"figures",
    "summary", "text", "captions"}), with "command" (what makes it again) and "stale" (None, or why
    it may no longer describe the run: made for another spec digest, or from other rows than the
    run has now, e.g. before the run was resumed); None when the run has no saved reading.

    A stale reading is still shown by reports, with that note: it is the researcher's to judge,
    and re-reading means training again.
    """
    run_dir = Path(run_dir)
    folder = run_dir / FOLDER
    if not (folder / "interpret.json").is_file():
        return None
    summary = json.loads((folder / "interpret.json").read_text(encoding="utf-8"))
    reading = summary.pop("reading", None)
    text = (folder / "interpret.md").read_text(encoding="utf-8").rstrip("\n") if (folder / "interpret.md").is_file() else ""
    if reading is None:  # saved before readings recorded the run they read
        figures, captions, options = sorted(folder.glob("*.png")), {}, {}
        stale = "it does not record which spec and rows it read (an older lab saved it)"
    else:
        figures, captions, options = [folder / f for f in reading["figures"]], reading["captions"], reading["options"]
        stale = _staleness(reading, meta or store.read_meta(run_dir), store.load_rows(run_dir) if rows is None else rows)
    command = " ".join(["lab interpret", str(run_dir), *(f"--{k.replace('_', '-')} {_option(v)}" for k, v in options.items())])
    return {"figures": [p for p in figures if p.is_file()], "summary": summary, "text": text, "captions": captions,
            "command": command, "stale": stale}


def _staleness(reading: dict, meta: dict, rows: list[dict]) -> str | None:
    if reading["digest"] != meta.get("digest"):
        return f"it was made for another spec (digest {reading['digest']}; the run's is now {meta.get('digest')})"
    if reading["rows_tag"] != _rows_tag(rows):
        return f"the run's rows changed after it was made ({reading['rows']} rows then, {len(rows)} now)"
    return None


def _rows_tag(rows: list[dict]) -> str:
    return store.ids_tag(sorted(r["id"] for r in rows))


def _option(value) -> str:
    """An option as `lab interpret` takes it (a list comma-separated)."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def interpretable() -> list[str]:
    """The kinds with a reading of their trained networks."""
    return [k for k in experiment.kinds() if experiment.get(k).interpret is not None]


def blocks(result: dict, command: str | None = None) -> list[Block]:
    """Report blocks of a reading: a heading, a note when it is stale (``load_reading``), its text and
    its figures (PNGs) with their captions."""
    captions = result.get("captions", {})
    made_by = f" Made by `{command}`." if command else ""
    out = [Block("h3", "Reading the trained networks")]
    if result.get("stale"):
        out.append(Block("p", f"**Stale reading:** {result['stale']}; run `{result['command']}` to read the networks again."))
    out.append(Block("p", result["text"]))
    for p in (Path(p) for p in result["figures"] if Path(p).suffix == ".png"):
        caption = captions.get(p.stem.rsplit("-", 1)[-1], p.stem.replace("_", " ").capitalize())
        out.append(Block("figure", (p, caption.rstrip(".") + "." + made_by)))
    return out


def saved_blocks(run_dir: str | Path, *, rows: list[dict] | None = None, meta: dict | None = None) -> list[Block]:
    """Report blocks of the reading saved in RUN_DIR/interpret (``load_reading``); none without one."""
    reading = load_reading(run_dir, rows=rows, meta=meta)
    return [] if reading is None else blocks(reading, reading["command"])
