"""The `lab` console script: parse arguments, call the library, write files. Nothing else lives here.

    lab run SPEC [--out DIR]      train a sweep (re-running resumes), then fit and draw it
    lab plan SPEC                 what a sweep will do, without training
    lab fit RUN_DIR               thresholds and scaling-law fits -> RUN_DIR/fit.json
    lab report RUN_DIR [...]      a self-contained Markdown report with figures and tables
    lab reproduce [--quick|--standard]  the main job: every sweep, fit, figure and the report
    lab interpret RUN_DIR         read the trained networks (feature channels) -> RUN_DIR/interpret
    lab construct ...             explicit constructions measured against the criterion
    lab bench                     throughput benchmarks against the machine's peak and peers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _spec_path(text: str) -> str:
    """A spec file, or the name of a sweep shipped with lab (e.g. superposition-quick)."""
    if Path(text).exists() or "/" in text:
        return text
    from lab.experiment import packaged_sweeps_dir

    packaged = packaged_sweeps_dir() / (text if text.endswith(".toml") else f"{text}.toml")
    return str(packaged) if packaged.exists() else text


def _count(text: str) -> int:
    """A non-negative integer option (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _cmd_run(args) -> int:
    from lab import analysis, interrupt, overlays, progress, sweep

    args.spec = _spec_path(args.spec)
    if args.distributed or args.coordinator:
        sweep.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    result = sweep.run_sweep(args.spec, args.out, progress=not args.quiet, max_members=args.max_members)
    if result.process_index != 0:  # process 0 waits for every process's rows, merges and analyses
        print(f"{result.run_dir}: process {result.process_index} trained {result.trained} members")
        return 0
    print(f"{result.run_dir}: trained {result.trained} members, {result.skipped} already done"
          + ("" if result.complete else " (incomplete: run again to resume)"))
    interrupt.check()  # a Ctrl-C that something swallowed still stops the command
    if result.complete and not args.no_analysis:
        # the kind's constructions and baselines at the run's settings, drawn beside the trained
        # capacities (cached in RUN_DIR/construction.json, as lab reproduce does)
        with progress.phase(f"{result.run_dir}: constructions for the overlays", enabled=not args.quiet):
            overlay = overlays.for_run(result.run_dir)
        with progress.phase(f"{result.run_dir}: fit and figures", enabled=not args.quiet):
            progress.note("fitting thresholds and laws")
            summary = analysis.analyze_run(result.run_dir, figures_dir=args.figures, overlay=overlay)
        print(summary.text)
    interrupt.check()
    return 0


def _cmd_plan(args) -> int:
    from lab.plan import describe, make_plan
    from lab.spec import load_spec

    import jax

    spec = load_spec(_spec_path(args.spec))
    plan = make_plan(spec, devices=args.devices or len(jax.local_devices()))
    print(describe(plan, spec))
    if not args.no_estimate:
        from lab import estimate

        print("calibrating on this machine (a short program per end bucket, once)...", file=sys.stderr, flush=True)
        print(estimate.describe(estimate.estimate(spec, plan)))
    return 0


def _cmd_fit(args) -> int:
    """Fit a logistic threshold per series (bootstrap intervals over seeds; censored series reported as
    bounds), fit every candidate law with multi-start optimisation, compare them by QAIC (AIC corrected for overdispersion) and held-out
    error, print the table and verdicts, and write RUN_DIR/fit.json."""
    from lab import analysis

    where = dict(_key_value(w) for w in args.where)
    fitted = analysis.fit_and_write(args.run_dir, where=where, partial=args.partial)
    print(fitted.report.table())
    csv_name = fitted.path.name.replace("fit", "thresholds", 1).removesuffix(".json") + ".csv"
    print(f"wrote {fitted.path} and {csv_name}")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        from lab.analysis import SelectionError

        raise SelectionError(f"--where {text!r}: expected FIELD=VALUE, e.g. --where model=bilinear")
    return key, value


def _cmd_report(args) -> int:
    from lab import report

    path = report.write_report(args.run_dirs, out=args.out, partial=args.partial)
    print(f"wrote {path}")
    return 0


def _cmd_reproduce(args) -> int:
    from lab import reproduction

    try:
        figures = args.figures or ("figures/standard" if args.standard and not args.quick else "figures")
        path = reproduction.reproduce(quick=args.quick, runs_dir=args.runs, figures_dir=figures,
                                      progress=not args.quiet, force=args.yes, standard=args.standard)
    except reproduction.TooLong as e:
        print(f"lab reproduce: {e}", file=sys.stderr)
        return 3
    print(f"report: {path}")
    return 0


def _cmd_interpret(args) -> int:
    """Take a run's trained networks (stored with [run] keep_params = true) or train its members again
    (their result depends only on their config and seed, so this gives the same networks; kept in
    RUN_DIR/interpret/params.npz) and read them statically: for the superposition
    kind, each feature's channel from the sign pattern of the weights (combinatorial interpretability,
    arXiv 2504.08842), channel sizes and overlaps, features per neuron, the explicit construction at the
    same n and m', and how well channel statistics alone predict which features are computed. Writes
    interpret.json, interpret.md and the figures."""
    from lab import interpretation

    options = {k: v for k, v in (("members", args.members), ("seeds", args.seeds), ("tol", args.tol)) if v is not None}
    result = interpretation.interpret_run(args.run_dir, args.out, **options)
    print(result["text"])
    shown = ", ".join(str(p) for p in result["figures"] if str(p).endswith(".png"))
    print(f"wrote {Path(args.out) if args.out else Path(args.run_dir) / 'interpret'}: interpret.json, interpret.md"
          + (f"; figures {shown}" if shown else ""))
    return 0


def _seeds(text: str) -> list[int]:
    """A comma-separated list of seeds (argparse type)."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds, e.g. 0,1; got {text!r}") from None


def _cmd_construct(args) -> int:
    from lab.experiments.superposition import construct

    return construct.run(args) or 0


def _cmd_bench(args) -> int:
    return benchmark_harness().run(args, command=args.command_line) or 0


def benchmark_harness():
    """benchmarks.harness of the source checkout this lab runs from (benchmarks/ is not installed)."""
    import importlib

    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "harness.py").is_file():
        raise SystemExit("lab bench: the benchmarks live in a source checkout (benchmarks/ beside lab/); "
                         "clone the repository and install it with `pip install -e .`")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.harness")


# The names of benchmarks.harness.BENCHMARKS, repeated here so that `lab bench --help` needs no jax (a test
# checks that they agree).
BENCHMARKS = ("peak", "population", "peers", "sweep", "scaling", "devices")


def add_construct_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `lab construct` (lab.experiments.superposition.construction.main parses the same)."""
    p.add_argument("--m", type=int, default=64, help="input features (default: %(default)s)")
    p.add_argument("--s", type=int, default=3,
                   help="exactly s inputs are active; 0 for Bernoulli inputs, then give --p (default: %(default)s)")
    p.add_argument("--p", type=float, default=None, help="Bernoulli activation probability, with --s 0 (default: none)")
    p.add_argument("--op", choices=("and", "perm"), default="and",
                   help="the task: 2-AND of feature pairs or a permutation of features (default: %(default)s)")
    p.add_argument("--m-out", default="16,32,64,128,256,512,1024,2016", metavar="LIST",
                   help="comma-separated numbers of outputs m' to construct for, capped at the task's number of "
                   "distinct outputs (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=3,
                   help="random instances per width; a width passes when all of them pass (default: %(default)s)")
    p.add_argument("--scheme", choices=("auto", "hybrid", "code", "dedicated"), default="auto",
                   help="construction: one dedicated neuron per output, a random sparse code, or a code with dedicated "
                   "repairs; auto = dedicated when n >= m', else hybrid (default: %(default)s)")
    # The criterion's defaults live in lab.experiments.superposition.scoring.Criterion alone (None here means: use them).
    p.add_argument("--epsilon", type=float, default=None,
                   help="bound on each output's false-negative rate, false-positive rates and 1 - precision "
                   "(default: the success criterion's, lab.experiments.superposition.scoring.Criterion.epsilon)")
    p.add_argument("--fraction", type=float, default=None,
                   help="fraction of the m' outputs that must be computed for success (default: the criterion's)")
    p.add_argument("--samples", type=int, default=None,
                   help="held-out inputs per output and input class when inputs are sampled (default: the criterion's)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="JSON file for the rows and the capacity overlay (default: print only)")
    p.add_argument("--figure", default=None, metavar="DIR", help="directory for construction.png/.pdf (default: none)")
    return p


def add_bench_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `lab bench` (benchmarks.harness.main parses the same)."""
    p.add_argument("--quick", action="store_true", help="shorter timings, skip the end-to-end sweep")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(BENCHMARKS)}")
    p.add_argument("--out", default="benchmarks/results", help="directory the JSON result is written to (default: %(default)s)")
    p.add_argument("--no-save", action="store_true", help="print only, write no JSON")
    p.add_argument("--sweep", default=None,
                   help="spec of the end-to-end benchmark (default: the packaged superposition-quick sweep)")
    return p


def _run_dir_command(sub, name: str, func, **texts) -> argparse.ArgumentParser:
    """A subcommand that works on one run directory (its first argument); its description is the
    docstring of ``func``."""
    p = sub.add_parser(name, description=" ".join(func.__doc__.split()), **texts)
    p.add_argument("run_dir", help="a run directory made by `lab run`")
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab",
        description="Test capacity laws of neural computation by training thousands of small networks at once.",
    )
    parser.add_argument("--version", action="version", version=f"lab {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="train a sweep (re-running resumes), then fit and draw it",
                       description="Train every member of a sweep spec that has no row yet in the run directory; "
                       "when the sweep is complete, fit thresholds and laws, write fit.json and the figures, "
                       "and print a summary. Interrupt at any time and run the same command again to resume.")
    p.add_argument("spec", help="sweep spec (TOML), e.g. sweeps/superposition-quick.toml, or the name of a sweep "
                   "shipped with lab (superposition-quick, attention-quick, superposition-paper, attention-paper)")
    p.add_argument("--out", help="run directory (default: runs/<spec name>)")
    p.add_argument("--figures", default=None, help="also copy the figures into this directory (they are always written to RUN_DIR/figures)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--plain", action="store_true",
                   help="progress as plain lines (one per phase and every few seconds) instead of a live display; "
                   "the default when the output is not a terminal (logs, pipes)")
    p.add_argument("--no-analysis", action="store_true", help="train only; skip the constructions, the fit and figures")
    p.add_argument("--max-members", type=_count, default=None, help="stop after this many members (resume later)")
    g = p.add_argument_group("multi-host (jax.distributed)")
    g.add_argument("--distributed", action="store_true", help="initialize jax.distributed from the environment (Slurm, TPU pod, GKE)")
    g.add_argument("--coordinator", help="coordinator address host:port (explicit launch)")
    g.add_argument("--num-processes", type=int, help="number of processes (with --coordinator)")
    g.add_argument("--process-id", type=int, help="this process's index (with --coordinator)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("plan", help="what a sweep will do, without training",
                       description="Validate a spec and print its members, buckets, chunks, padding waste and programs to compile, "
                       "and the estimated wall time per bucket and in total on this machine.")
    p.add_argument("spec", help="sweep spec (TOML), or the name of a sweep shipped with lab, e.g. superposition-quick")
    p.add_argument("--devices", type=_count, default=0, help="plan for this many devices (default: the local ones)")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the wall-time estimate (it times a short program of the cheapest and costliest buckets "
                   "on this machine the first time, then reuses the timing)")
    p.set_defaults(func=_cmd_plan)

    p = _run_dir_command(sub, "fit", _cmd_fit, help="thresholds and scaling-law fits of a run -> RUN_DIR/fit.json")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="fit only members with this field value (repeatable), e.g. --where model=bilinear --where h=1; "
                   "numbers match the grid value they round to at the digits given (--where lr=3e-2 selects lr = 0.0316); "
                   "writes fit-FIELD=VALUE.json with the value as labels show it")
    p.add_argument("--partial", action="store_true", help="fit a run that is not complete yet (fit.json then says so)")

    p = sub.add_parser("report", help="a self-contained Markdown report with figures and tables",
                       description="Write a Markdown report (figures embedded as files beside it) of one or more runs.")
    p.add_argument("run_dirs", nargs="+", help="run directories made by `lab run`")
    p.add_argument("--out", default=None, help="report path (default: RUN_DIR/report.md for one run, else report.md)")
    p.add_argument("--partial", action="store_true", help="report runs that are not complete yet (with a warning)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("reproduce", help="the main job: every sweep, fit, figure and the report",
                       description="Run the sweeps of both labs (resuming finished ones), fit them, measure the "
                       "constructions, regenerate every figure into figures/ and write the report. Without --quick it "
                       "first prints the plan and estimated wall time of the paper sweeps, and on a CPU stops when "
                       "that is beyond a few hours unless --yes is given.")
    p.add_argument("--quick", action="store_true", help="the CPU-sized quick sweeps (minutes) instead of the paper sweeps (GPU)")
    p.add_argument("--runs", default="runs", help="where run directories go (default: runs/)")
    p.add_argument("--standard", action="store_true",
                   help="the standard sweeps: in the theorems' regimes, about an hour on a 2-core CPU (figures go to "
                   "figures/standard/ unless --figures is given)")
    p.add_argument("--figures", default=None, help="where figures and the report go (default: figures/, or "
                   "figures/standard/ with --standard)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--plain", action="store_true",
                   help="progress as plain lines (one per phase and every few seconds) instead of a live display; "
                   "the default when the output is not a terminal (logs, pipes)")
    p.add_argument("--yes", "--force", dest="yes", action="store_true",
                   help="run the paper sweeps even when their estimated wall time on this CPU is far beyond what a CPU "
                   "should run (without it, lab reproduce stops after printing the plan and estimate)")
    p.set_defaults(func=_cmd_reproduce)

    p = _run_dir_command(sub, "interpret", _cmd_interpret, help="read the trained networks of a run (feature channels) -> RUN_DIR/interpret")
    p.add_argument("--out", default=None, help="output directory (default: RUN_DIR/interpret)")
    p.add_argument("--members", type=_count, default=None,
                   help="re-train at most this many members, spread over the grid (default: every member of the seeds)")
    p.add_argument("--seeds", type=_seeds, default=None, metavar="LIST",
                   help="comma-separated seeds whose members are read (default: the run's first seed)")
    p.add_argument("--tol", type=float, default=None,
                   help="sign-pattern tolerance: a weight is ~0 when |w| <= tol x the largest |w| of its vector "
                   "(default: the kind's, 0.1 for superposition)")

    p = sub.add_parser("construct", help="explicit constructions measured against the success criterion",
                       description="Build the explicit 2-AND / permutation networks and find, for each m', the smallest "
                       "width that passes the success criterion; prints a table, optionally writes JSON and a figure.")
    add_construct_arguments(p).set_defaults(func=_cmd_construct)

    p = sub.add_parser("bench", help="throughput benchmarks against the machine's peak and peers",
                       description="Population throughput, fraction of GEMM peak, peers, end-to-end sweep time.")
    add_bench_arguments(p).set_defaults(func=_cmd_bench)
    return parser


def _version() -> str:
    from lab import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lab` console script."""
    from lab import interrupt

    interrupt.install()  # before any heavy import: Ctrl-C stops the command from its first moment
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BaseException:
        if interrupt.pending():  # a Ctrl-C during an import can surface as another error (jaxlib's ImportError)
            print("\nlab: interrupted", file=sys.stderr)
            return 130
        raise


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)  # before any import of jax: --help and --version stay fast
    args.command_line = " ".join(["lab", *argv])
    from lab import progress

    progress.configure(plain=True if getattr(args, "plain", False) else None)
    from lab.analysis import SelectionError
    from lab.spec import SpecError
    from lab.store import RunDirError

    try:
        return args.func(args)
    except (SpecError, RunDirError, FileNotFoundError, SelectionError) as e:
        print(f"lab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nlab {args.command}: interrupted; finished chunks are saved, run the same command again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
