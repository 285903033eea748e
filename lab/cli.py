"""The `lab` console script: parse arguments, call the library, write files. Nothing else lives here.

    lab run SPEC [--out DIR]      train a sweep (re-running resumes), then fit and draw it
    lab plan SPEC                 what a sweep will do, without training
    lab fit RUN_DIR               thresholds and scaling-law fits -> RUN_DIR/fit.json
    lab report RUN_DIR [...]      a self-contained Markdown report with figures and tables
    lab reproduce [--quick]       the main job: every sweep, fit, figure and the report
    lab construct ...             explicit constructions measured against the criterion
    lab bench                     throughput benchmarks against the machine's peak and peers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_run(args) -> int:
    from lab import analysis, sweep

    if args.distributed or args.coordinator:
        sweep.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    result = sweep.run_sweep(args.spec, args.out, progress=not args.quiet, max_members=args.max_members)
    if result.process_index != 0:  # process 0 waits for every process's rows, merges and analyses
        print(f"{result.run_dir}: process {result.process_index} trained {result.trained} members")
        return 0
    print(f"{result.run_dir}: trained {result.trained} members, {result.skipped} already done"
          + ("" if result.complete else " (incomplete: run again to resume)"))
    if result.complete and not args.no_analysis:
        summary = analysis.analyze_run(result.run_dir, figures_dir=args.figures)
        print(summary.text)
    return 0


def _cmd_plan(args) -> int:
    from lab.plan import describe, make_plan
    from lab.spec import load_spec

    import jax

    spec = load_spec(args.spec)
    plan = make_plan(spec, devices=args.devices or len(jax.local_devices()))
    print(describe(plan, spec))
    return 0


def _cmd_fit(args) -> int:
    from lab import analysis

    where = dict(_key_value(w) for w in args.where)
    report = analysis.fit_and_write(args.run_dir, where=where)
    print(report.table())
    suffix = "-" + ",".join(f"{k}={v}" for k, v in sorted(where.items())) if where else ""
    print(f"wrote {Path(args.run_dir) / f'fit{suffix}.json'} and thresholds{suffix}.csv")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        from lab.analysis import SelectionError

        raise SelectionError(f"--where {text!r}: expected FIELD=VALUE, e.g. --where model=bilinear")
    return key, value


def _cmd_report(args) -> int:
    from lab import report

    path = report.write_report(args.run_dirs, out=args.out)
    print(f"wrote {path}")
    return 0


def _cmd_reproduce(args) -> int:
    from lab import reproduction

    path = reproduction.reproduce(quick=args.quick, runs_dir=args.runs, figures_dir=args.figures, progress=not args.quiet)
    print(f"report: {path}")
    return 0


def _cmd_construct(args) -> int:
    from lab import construction

    return construction.main(args.rest) or 0


def _cmd_bench(args) -> int:
    from lab import bench

    return bench.main(args.rest) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab",
        description="Test capacity laws of neural computation by training thousands of small networks at once.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="train a sweep (re-running resumes), then fit and draw it",
                       description="Train every member of a sweep spec that has no row yet in the run directory; "
                       "when the sweep is complete, fit thresholds and laws, write fit.json and the figures, "
                       "and print a summary. Interrupt at any time and run the same command again to resume.")
    p.add_argument("spec", help="sweep spec (TOML), e.g. sweeps/superposition-quick.toml")
    p.add_argument("--out", help="run directory (default: runs/<spec name>)")
    p.add_argument("--figures", default=None, help="also copy the figures into this directory (they are always written to RUN_DIR/figures)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--no-analysis", action="store_true", help="train only; skip the fit and figures")
    p.add_argument("--max-members", type=int, default=None, help="stop after this many members (resume later)")
    g = p.add_argument_group("multi-host (jax.distributed)")
    g.add_argument("--distributed", action="store_true", help="initialize jax.distributed from the environment (Slurm, TPU pod, GKE)")
    g.add_argument("--coordinator", help="coordinator address host:port (explicit launch)")
    g.add_argument("--num-processes", type=int, help="number of processes (with --coordinator)")
    g.add_argument("--process-id", type=int, help="this process's index (with --coordinator)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("plan", help="what a sweep will do, without training",
                       description="Validate a spec and print its members, buckets, chunks, padding waste and programs to compile.")
    p.add_argument("spec", help="sweep spec (TOML)")
    p.add_argument("--devices", type=int, default=0, help="plan for this many devices (default: the local ones)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("fit", help="thresholds and scaling-law fits of a run -> RUN_DIR/fit.json",
                       description="Fit a logistic threshold per series (bootstrap intervals over seeds; censored series "
                       "reported as bounds), fit every candidate law with multi-start optimisation, compare them by "
                       "AIC/BIC and held-out error, print the table and verdicts, and write RUN_DIR/fit.json.")
    p.add_argument("run_dir", help="a run directory made by `lab run`")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="fit only members with this field value (repeatable), e.g. --where model=bilinear --where h=1; "
                   "writes fit-FIELD=VALUE.json")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("report", help="a self-contained Markdown report with figures and tables",
                       description="Write a Markdown report (figures embedded as files beside it) of one or more runs.")
    p.add_argument("run_dirs", nargs="+", help="run directories made by `lab run`")
    p.add_argument("--out", default=None, help="report path (default: RUN_DIR/report.md for one run, else report.md)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("reproduce", help="the main job: every sweep, fit, figure and the report",
                       description="Run the sweeps of both labs (resuming finished ones), fit them, measure the "
                       "constructions, regenerate every figure into figures/ and write the report.")
    p.add_argument("--quick", action="store_true", help="the CPU-sized quick sweeps (minutes) instead of the paper sweeps (GPU)")
    p.add_argument("--runs", default="runs", help="where run directories go (default: runs/)")
    p.add_argument("--figures", default="figures", help="where figures and the report go (default: figures/)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("construct", help="explicit constructions measured against the success criterion", add_help=False,
                       description="Build the explicit 2-AND / permutation networks and find the smallest width that passes.")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of lab.construction.main (see `lab construct --help`)")
    p.set_defaults(func=_cmd_construct)

    p = sub.add_parser("bench", help="throughput benchmarks against the machine's peak and peers", add_help=False,
                       description="Population throughput, fraction of GEMM peak, peers, end-to-end sweep time.")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of lab.bench.main (see `lab bench --help`)")
    p.set_defaults(func=_cmd_bench)
    return parser


PASSTHROUGH = {"construct": _cmd_construct, "bench": _cmd_bench}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lab` console script."""
    from lab.analysis import SelectionError
    from lab.spec import SpecError
    from lab.store import RunDirMismatch

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:  # these parse their own arguments (and their own --help)
        return PASSTHROUGH[argv[0]](argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, RunDirMismatch, FileNotFoundError, SelectionError) as e:
        print(f"lab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nlab {args.command}: interrupted; finished chunks are saved, run the same command again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
