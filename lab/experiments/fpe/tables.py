"""The report's table at the paper's point: each arm's final held-out accuracy (mean and 95% t interval
over seeds) beside the value arXiv 2510.04500 reports, one table per task setting swept there."""

from __future__ import annotations

from lab import labels
from lab.experiments.fpe import paper
from lab.experiments.fpe.figures import SETTING, accuracy_table, paper_point_rows, settings


def tables(rows: list[dict], fit: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """[(title, header, body)] for lab.report: measured against reported accuracy per arm."""
    groups = settings(paper_point_rows(rows))
    varying = labels.varying([g for g, _ in groups], SETTING)
    point = ", ".join(f"{k} = {v}" for k, v in paper.POINT.items())
    out = []
    for setting, mine in groups:
        where = labels.series_label(setting, varying)
        header = ["arm", "measured accuracy [95% interval]", "seeds", "paper"]
        body = [[t["arm"], f"{t['mean']:.3f} [{t['lo']:.3f}, {t['hi']:.3f}]", str(t["seeds"]),
                 f"{t['paper']:.3f}" if t["paper"] is not None else "-"] for t in accuracy_table(mine)]
        out.append((f"At the paper's point ({point}{'; ' + where if where else ''})", header, body))
    return out
