"""`lab construct`: the smallest working construction across m', as a table, JSON and a figure."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.search import format_table, measure, overlay
from lab.experiments.superposition.task import BooleanTask


def run(args: argparse.Namespace) -> int:
    """Measure the constructions chosen by the parsed options of `lab construct`."""
    s = None if args.s == 0 else args.s
    task = BooleanTask(m=args.m, op=args.op, s=s, p=args.p)
    m_outs = sorted({min(int(v), task.max_outputs) for v in args.m_out.split(",") if v.strip()})
    given = {k: getattr(args, k) for k in ("epsilon", "fraction", "samples") if getattr(args, k) is not None}
    criterion = Criterion(**given)
    rows = measure(args.m, s, m_outs, args.op, tuple(range(args.seeds)), criterion, p=args.p, scheme=args.scheme,
                   on_row=lambda r: print(f"m'={r['m_out']}: n_min={r['n_min']} ({r['evaluations']} evaluations)",
                                          file=sys.stderr, flush=True))
    print(format_table(rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "construction": overlay(rows)}, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    if args.figure:
        from lab.experiments.superposition import construction_figure

        for path in construction_figure.figures([], None, Path(args.figure), {"construction_rows": rows}):
            print(f"wrote {path}", file=sys.stderr)
    return 0
