"""The report of one or more runs: Markdown (figures linked) and a self-contained HTML (figures inlined).

A report is a list of blocks (heading, paragraph, table, figure, code) built from each run's
fit.json, rows and figures, rendered twice: report.md for reading in a repository, report.html for
sending to someone (every PNG embedded as base64, no other files needed).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lab import experiment, store


@dataclass(frozen=True)
class Block:
    kind: str  # "h1" | "h2" | "h3" | "p" | "table" | "figure" | "code"
    content: object  # text, (header, rows) for tables, Path for figures


def run_blocks(run_dir: str | Path, *, figures: list[Path] | None = None, partial: bool = False) -> list[Block]:
    """Blocks describing one analysed run (run `lab run` / lab.analysis.analyze_run first)."""
    run_dir = Path(run_dir)
    meta = store.read_meta(run_dir)
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
    rows = store.load_rows(run_dir)
    identity = meta.get("identity", {})
    train = identity.get("train", {})
    success = identity.get("success", {})
    n_ok = sum(r["status"] == "ok" for r in rows)
    n_success = sum(bool(r["success"]) for r in rows)
    versions = sorted({r.get("version", "?") for r in rows})

    blocks = [
        Block("h2", f"{meta.get('name', run_dir.name)} ({kind})"),
        Block("p", f"{exp.description}. {len(rows)} members ({len(rows) - n_ok} diverged, {n_success} succeeded); "
                   f"{train.get('steps')} steps x batch {train.get('batch')} ({train.get('optimizer')}); success: every "
                   f"feature's error <= {success.get('epsilon')} (fraction {success.get('fraction')}). "
                   f"Run directory `{run_dir}`, code version {', '.join(versions)}."),
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
    blocks.append(Block("table", series_table(fit, exp.analysis)))
    figs = [p for p in figures if Path(p).suffix == ".png"] if figures is not None else sorted((run_dir / "figures").glob("*.png"))
    if figs:
        blocks.append(Block("h3", "Figures"))
        blocks += [Block("figure", Path(p)) for p in figs]
    return blocks


def laws_table(fit: dict) -> tuple[list[str], list[list[str]]]:
    """Law, formula, parameters with intervals, AIC, BIC, held-out error; best first."""
    header = ["law", "formula", "parameters [95% interval]", "AIC", "BIC", "held-out", "converged"]
    laws = sorted(fit.get("laws", []), key=lambda l: (l.get("aic") is None, l.get("aic") or 0.0))
    rows = []
    for law in laws:
        params = "; ".join(
            f"{p} = {_g(v.get('value'))} [{_g(v.get('lo'))}, {_g(v.get('hi'))}]" for p, v in law.get("params", {}).items()
        )
        name = law["name"] + (" (best)" if law["name"] == fit.get("best") else "")
        rows.append([name, law.get("formula", ""), params, _g(law.get("aic")), _g(law.get("bic")),
                     _g(law.get("heldout")), str(law.get("converged", ""))])
    return header, rows


def series_table(fit: dict, analysis: experiment.Analysis) -> tuple[list[str], list[list[str]]]:
    """One row per series: the fields that vary between series, then the threshold or its bound."""
    series = fit.get("series", [])
    keys = [k for k in analysis.series if len({str(s["key"].get(k)) for s in series}) > 1] or list(analysis.covariates)
    header = keys + ["threshold", "95% interval", "width", "seeds"]
    rows = []
    for s in series:
        if s.get("censored"):
            thr, interval = f"{'<' if s['censored'] == 'below' else '>'} {_g(s.get('bound'))}", "censored"
        else:
            thr, interval = _g(s.get("threshold")), f"[{_g(s.get('lo'))}, {_g(s.get('hi'))}]"
        rows.append([str(s["key"].get(k, "")) for k in keys] + [thr, interval, _g(s.get("width")), str(s.get("seeds", ""))])
    return header, rows


def write_report(run_dirs, out: str | Path | None = None, *, title: str = "lab report", intro: list[Block] | None = None,
                 figures: list[list[Path]] | None = None, partial: bool = False) -> Path:
    """Write ``out`` (.md) and the self-contained .html beside it; returns the Markdown path.

    ``figures[i]`` lists run i's figures (default: the PNGs in RUN_DIR/figures). An incomplete run
    is refused unless ``partial`` (the report then warns).
    """
    run_dirs = [Path(d) for d in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    out = Path(out) if out else (run_dirs[0] / "report.md" if len(run_dirs) == 1 else Path("report.md"))
    store.ensure_writable_dir(out.parent, "report directory")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks = [Block("h1", title), Block("p", f"Generated {stamp} by lab.")] + list(intro or [])
    for i, d in enumerate(run_dirs):
        blocks += run_blocks(d, figures=figures[i] if figures else None, partial=partial)
    store.atomic_write(out, render_markdown(blocks, out.parent))
    store.atomic_write(out.with_suffix(".html"), render_html(blocks, title))
    return out


def render_markdown(blocks: list[Block], base: Path) -> str:
    """Markdown; figures are linked relative to ``base`` (the report's folder)."""
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
            out.append("\n".join(lines))
        elif b.kind == "figure":
            rel = os.path.relpath(Path(b.content).resolve(), base.resolve())
            out.append(f"![{Path(b.content).stem}]({rel})")
    return "\n\n".join(out) + "\n"


def render_html(blocks: list[Block], title: str) -> str:
    """One HTML file with every figure inlined."""
    body = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}>{html.escape(str(b.content))}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{html.escape(str(b.content))}</p>")
        elif b.kind == "code":
            body.append(f"<pre>{html.escape(str(b.content))}</pre>")
        elif b.kind == "table":
            header, rows = b.content
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif b.kind == "figure":
            data = base64.b64encode(Path(b.content).read_bytes()).decode()
            body.append(f'<figure><img alt="{html.escape(Path(b.content).stem)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(Path(b.content).name)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def _g(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
