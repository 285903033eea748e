"""The report of one or more runs: Markdown (figures linked) and a self-contained HTML (figures inlined).

A report is a list of blocks (heading, paragraph, table, figure, code) built from each run's
fit.json, rows, figures and the reading of its networks that `lab interpret` saved, rendered twice:
report.md for reading in a repository, report.html for sending to someone (every PNG embedded as
base64, no other files needed).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from lab import experiment, labels, store


@dataclass(frozen=True)
class Block:
    kind: str  # "h1" | "h2" | "h3" | "p" | "table" | "figure" | "code"
    content: object  # text, (header, rows) for tables, Path for figures


def run_blocks(run_dir: str | Path, *, figures: list[Path] | None = None, partial: bool = False,
               command: str | None = None, rows: list[dict] | None = None, meta: dict | None = None) -> list[Block]:
    """Blocks describing one analysed run (run `lab run` / lab.analysis.analyze_run first);
    ``command`` is what made its figures (default: the `lab run` of its spec); ``rows``/``meta``:
    the run's, when the caller has them (not re-read)."""
    run_dir = Path(run_dir)
    meta = meta or store.read_meta(run_dir)
    kind = meta["kind"]
    exp = experiment.get(kind)
    fit_path = run_dir / "fit.json"
    if not fit_path.exists():
        raise FileNotFoundError(f"{run_dir} has no fit.json yet; run `lab fit {run_dir}` first")
    fit = json.loads(fit_path.read_text())
    landed, total = store.require_complete(run_dir, partial, "report")
    if fit.get("partial") and not partial:
        raise store.IncompleteRun(f"{fit_path} was fitted on a partial run ({fit['partial']['members']} of "
                                  f"{fit['partial']['of']} members): run `lab fit {run_dir}` again, or report it with --partial")
    rows = store.load_rows(run_dir) if rows is None else rows
    identity = meta.get("identity", {})
    train = identity.get("train", {})
    success = identity.get("success", {})
    n_ok = sum(r["status"] == "ok" for r in rows)
    n_success = sum(bool(r["success"]) for r in rows)
    versions = sorted({r.get("version", "?") for r in rows})
    hosts = sorted({r["host"] for r in rows if "host" in r})  # rows made before lab.host have none

    blocks = [
        Block("h2", f"{meta.get('name', run_dir.name)} ({kind})"),
        Block("p", f"{exp.description}. {len(rows)} members ({len(rows) - n_ok} diverged, {n_success} succeeded); "
                   f"{train.get('steps')} steps x batch {train.get('batch')} ({train.get('optimizer')}). "
                   f"Success: {success_text(exp, success)}. "
                   f"Run directory `{run_dir}`, code version {', '.join(versions)}"
                   + (f", trained on {'; '.join(hosts)}" if hosts else "") + "."),
    ]
    if landed < total or fit.get("partial"):
        fitted = fit.get("partial", {}).get("members", landed)
        blocks.append(Block("p", f"**Warning: partial run.** The fit uses {fitted} of {total} members; "
                                 f"thresholds and laws may change when the run is complete."))
    blocks += [
        Block("h3", "Verdicts"),
    ]
    blocks += [Block("p", v) for v in fit.get("verdicts", [])] or [Block("p", "no verdict (not enough thresholds)")]
    blocks.append(Block("h3", "Laws"))
    blocks.append(Block("table", laws_table(fit)))
    blocks.append(Block("h3", f"Thresholds ({exp.analysis.resource}*, per series)"))
    blocks.append(Block("table", series_table(fit, exp.analysis, integer=bool(rows) and isinstance(rows[0].get(exp.analysis.resource), int))))
    for title, header, body in exp.tables(rows, fit) if exp.tables is not None else []:
        blocks += [Block("h3", title), Block("table", (header, body))]
    figs = [p for p in figures if Path(p).suffix == ".png"] if figures is not None else sorted((run_dir / "figures").glob("*.png"))
    if figs:
        blocks.append(Block("h3", "Figures"))
        made_by = command or f"lab run {run_dir / 'spec.toml'} --out {run_dir}"
        blocks += [Block("figure", (Path(p), f"{figure_caption(exp, Path(p))} Made by `{made_by}`.")) for p in figs]
    return blocks


def success_text(exp: experiment.Experiment, success: dict) -> str:
    """The kind's success criterion in its own words (Experiment.success_text), or a generic sentence."""
    known = {k: v for k, v in success.items() if k in exp.success_fields()}
    if exp.success_text is not None:
        return exp.success_text(exp.success(**known))
    settings = ", ".join(f"{k} = {v}" for k, v in known.items())
    return f"the kind's criterion ({exp.success.__name__}: {settings})"


def figure_caption(exp: experiment.Experiment, path: Path) -> str:
    """What a figure shows: the kind's caption for the figure (Experiment.captions), else its name.

    Figure files are <name>, <kind>-<name> or <sweep>-<name> (several sweeps of a kind in one folder)."""
    captions = {**GENERIC_CAPTIONS, **exp.captions}
    name = max((k for k in captions if path.stem == k or path.stem.endswith(f"-{k}")), key=len, default=None)
    if name is not None:
        return captions[name].rstrip(".") + "."
    return f"{path.stem.rsplit('-', 1)[-1].replace('_', ' ').capitalize()}."


GENERIC_CAPTIONS = {"residuals": "Residuals of each converged law, log(measured capacity / law), per series"}


def laws_table(fit: dict) -> tuple[list[str], list[list[str]]]:
    """Each law as its formula, parameters at the precision their intervals support, ΔQAIC (or
    ΔAIC) to the best, held-out error; best first."""
    laws = list(fit.get("laws", []))
    score = "qaic" if any(law.get("qaic") is not None for law in laws) else "aic"
    header = ["law", "parameters [95% interval]", f"Δ{score.upper()}", "held-out error", "converged"]
    valid = [law.get(score) for law in laws if _finite(law.get(score))]
    best = min(valid) if valid else 0.0
    laws.sort(key=lambda law: (not _finite(law.get(score)), law.get(score) if _finite(law.get(score)) else 0.0))
    rows = []
    for law in laws:
        params = "; ".join(f"{p} = {_param(v)}" for p, v in law.get("params", {}).items()) or (law.get("error") or "-")
        name = f"{law.get('formula') or law['name']} (`{law['name']}`)"
        if law["name"] == fit.get("best"):
            name = f"**{name}** (best)"
        delta = labels.number(law[score] - best, 2) if _finite(law.get(score)) else "-"
        heldout = labels.number(law["heldout"], 2) if _finite(law.get("heldout")) else "-"
        rows.append([name, params, delta, heldout, "yes" if law.get("converged") else "no"])
    return header, rows


def _param(v: dict) -> str:
    """value [lo, hi]: 2 significant digits when the interval is wide (or spans zero), else 3."""
    value, lo, hi = v.get("value"), v.get("lo"), v.get("hi")
    if not _finite(value):
        return "-"
    if not (_finite(lo) and _finite(hi)):
        return labels.number(value, 3)
    wide = lo <= 0 <= hi or (lo > 0 and hi / lo > 1.5) or (hi < 0 and lo / hi > 1.5)
    d = 2 if wide else 3
    return f"{labels.number(value, d)} [{labels.number(lo, d)}, {labels.number(hi, d)}]"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def series_table(fit: dict, analysis: experiment.Analysis, integer: bool = False) -> tuple[list[str], list[list[str]]]:
    """One row per series: the fields that vary between series (a swept lr too), then the threshold
    at the precision its interval supports, or its censored bound."""
    series = fit.get("series", [])
    keys = labels.series_keys([s["key"] for s in series], analysis.series) or list(analysis.covariates)
    header = keys + [f"{analysis.resource}* [95% interval]", "seeds"]
    rows = []
    for s in series:
        thr = labels.threshold_text(s, integer, censored_note=True)
        rows.append([labels.value_text(s["key"].get(k, "")) for k in keys] + [thr, str(s.get("seeds", ""))])
    return header, rows


def write_report(run_dirs, out: str | Path | None = None, *, title: str = "lab report", intro: list[Block] | None = None,
                 figures: list[list[Path]] | None = None, partial: bool = False, command: str | None = None,
                 loaded: list[tuple[list[dict], dict]] | None = None, extra: list[list[Block]] | None = None) -> Path:
    """Write ``out`` (.md) and the self-contained .html beside it; returns the Markdown path.

    ``figures[i]`` lists run i's figures (default: the PNGs in RUN_DIR/figures); ``extra[i]``: blocks
    that follow run i's (default: the reading `lab interpret` saved in RUN_DIR/interpret, if any,
    noted when stale: lab.interpretation.load_reading). An incomplete run is refused unless
    ``partial`` (the report then warns).
    """
    from lab import interpretation  # not at the top: it builds on this module's Block
    run_dirs = [Path(d) for d in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    out = Path(out) if out else (run_dirs[0] / "report.md" if len(run_dirs) == 1 else Path("report.md"))
    store.ensure_writable_dir(out.parent, "report directory")
    # No date or timing in the text: the same runs give the same report, so reproducing changes no file.
    blocks = [Block("h1", title)] + list(intro or [])
    for i, d in enumerate(run_dirs):
        rows, meta = loaded[i] if loaded else (None, None)
        blocks += run_blocks(d, figures=figures[i] if figures else None, partial=partial, command=command, rows=rows, meta=meta)
        blocks += list(extra[i]) if extra is not None else interpretation.saved_blocks(d, rows=rows, meta=meta)
    store.atomic_write(out, render_markdown(blocks, out.parent))
    store.atomic_write(out.with_suffix(".html"), render_html(blocks, title, out.parent))
    return out


FOLD_ROWS = 12  # longer tables are folded (<details>), with their size in the summary line


def render_markdown(blocks: list[Block], base: Path, *, inline: bool = False) -> str:
    """Markdown; figures linked relative to ``base`` (the report's folder), or with ``inline``
    embedded as data URIs (for the HTML). Figure blocks hold a path or (path, caption)."""
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + str(b.content))
        elif b.kind == "p":
            out.append(str(b.content))
        elif b.kind == "code":
            out.append("```\n" + str(b.content) + "\n```")
        elif b.kind == "table":
            header, rows = b.content
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            table = "\n".join(lines)
            if len(rows) > FOLD_ROWS:
                table = f"<details><summary>{len(rows)} rows (click to unfold)</summary>\n\n{table}\n\n</details>"
            out.append(table)
        elif b.kind == "figure":
            path, caption = b.content if isinstance(b.content, tuple) else (b.content, "")
            path = Path(path)
            if inline:
                src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            else:
                src = os.path.relpath(path.resolve(), base.resolve()).replace(os.sep, "/")
            out.append(f"![{path.stem}]({src})" + (f"\n\n*{path.name}*: {caption}" if caption else ""))
    return "\n\n".join(out) + "\n"


def render_html(blocks: list[Block], title: str, base: Path = Path(".")) -> str:
    """One HTML file with every figure inlined: the Markdown rendered by markdown-it-py."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    body = md.render(render_markdown(blocks, base, inline=True))
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem}"
             "img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}summary{cursor:pointer}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")


def _g(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
