"""`lab reproduce`: every sweep, fit, construction, figure and the report, from one command.

Runs the sweeps every kind ships at one level (Experiment.sweeps; quick: CPU-sized, minutes;
standard: in the theorems' regimes, about an hour on a 2-core CPU; otherwise the paper-sized GPU
sweeps) into
``runs_dir`` (finished members are skipped, so an interrupted reproduce resumes), measures the
explicit constructions for the overlays, fits and draws each run, reads its trained networks when
its kind can (Experiment.interpret, lab.interpretation), copies every figure into ``figures_dir``
and writes figures_dir/report.md (+ report.html).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lab import analysis, experiment, interpretation, overlays, report, store, sweep
from lab import progress as live

def level(quick: bool, standard: bool = False) -> str:
    """The sweep level reproduce runs: quick, else standard, else paper (experiment.LEVELS)."""
    return "quick" if quick else "standard" if standard else "paper"


def sweep_paths(quick: bool, sweeps_dir: str | Path | None = None, standard: bool = False) -> list[Path]:
    """The spec files reproduce runs, in order: every kind's sweeps of the level (Experiment.sweeps).

    ``sweeps_dir`` looks for the specs by name there instead of where each kind keeps them.
    """
    paths = experiment.levels_paths(level(quick, standard))
    if sweeps_dir is not None:
        paths = [Path(sweeps_dir) / p.name for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"sweep specs not found: {', '.join(missing)}")
    return paths


# Beyond this estimate on a CPU, `lab reproduce` (the paper sweeps) stops and asks for --yes.
CPU_LIMIT_S = 2 * 3600.0


class TooLong(RuntimeError):
    """The estimated wall time is far beyond what this machine should run without being asked."""


def preflight(quick: bool, runs_dir: str | Path = "runs", sweeps_dir: str | Path | None = None,
              standard: bool = False) -> tuple[str, float]:
    """The plan and estimated wall time of every sweep still to run: (text, total seconds)."""
    import jax

    from lab import estimate
    from lab.plan import describe, make_plan
    from lab.spec import load_spec

    texts, total = [], 0.0
    for path in sweep_paths(quick, sweeps_dir, standard):
        spec = load_spec(path)
        plan = make_plan(spec, devices=len(jax.local_devices()))
        run_dir = Path(runs_dir) / path.stem
        done = store.done_ids(run_dir) if (run_dir / "run.json").exists() else set()
        est = estimate.estimate(spec, plan, done=done)
        total += est.total_s
        texts += [describe(plan, spec), estimate.describe(est)]
    texts.append(f"total estimated wall time: {estimate.duration(total)} (plus fit and figures)")
    return "\n".join(texts), total


def reproduce(quick: bool = True, *, runs_dir: str | Path = "runs", figures_dir: str | Path = "figures",
              sweeps_dir: str | Path | None = None, progress: bool = True, force: bool = False,
              standard: bool = False) -> Path:
    """Run, fit and draw every sweep; returns the report's path (figures_dir/report.md).

    The paper sweeps (``quick=False``) first print their plan and estimated wall time; on a CPU an
    estimate beyond CPU_LIMIT_S raises TooLong unless ``force``.
    """
    runs_dir, figures_dir = Path(runs_dir), Path(figures_dir)
    if not quick:
        import jax

        which = "standard" if standard else "paper"
        _say(True, f"planning the {which} sweeps and estimating their wall time on this machine...")
        text, total = preflight(quick, runs_dir, sweeps_dir, standard)
        _say(True, text)
        if jax.default_backend() == "cpu" and total > CPU_LIMIT_S and not force:
            from lab import estimate

            raise TooLong(f"the {which} sweeps would take about {estimate.duration(total)} on this CPU (limit "
                          f"{estimate.duration(CPU_LIMIT_S)}); they are sized for a GPU. Run `lab reproduce --quick` "
                          f"for the CPU-sized sweeps, or pass --yes to run the {which} sweeps here anyway")
    run_dirs, figures, timings, loaded, readings = [], [], [], [], []
    paths = sweep_paths(quick, sweeps_dir, standard)
    kinds = [_kind(p) for p in paths]
    command = "lab reproduce" + (" --quick" if quick else " --standard" if standard else "")
    for path in paths:
        t0 = time.perf_counter()
        _say(progress, f"== {path.stem}: training")
        result = sweep.run_sweep(path, runs_dir / path.stem, progress=progress)
        if not result.complete:
            raise RuntimeError(f"{result.run_dir} is incomplete; run `lab reproduce` again to resume")
        # the run's rows and meta are read once here and handed to the overlay, the fit, the figures and the report
        meta, rows = store.read_meta(result.run_dir), store.load_rows(result.run_dir)
        with live.phase(f"{path.stem}: constructions for the overlays", enabled=progress):
            overlay = overlays.for_run(result.run_dir, rows=rows, meta=meta)
        with live.phase(f"{path.stem}: fit and figures", enabled=progress):
            live.note("fitting thresholds and laws")
            # several sweeps of one kind: their figures are told apart by the sweep's name
            prefix = path.stem if kinds.count(_kind(path)) > 1 else None
            summary = analysis.analyze_run(result.run_dir, figures_dir=figures_dir, overlay=overlay, prefix=prefix,
                                           rows=rows, meta=meta)
        _say(progress, summary.text)
        reading = []
        if experiment.get(_kind(path)).interpret is not None:  # the kind reads its trained networks
            with live.phase(f"{path.stem}: reading the trained networks", enabled=progress):
                read = interpretation.interpret_run(result.run_dir, figures_dir=figures_dir, prefix=prefix,
                                                    rows=rows, meta=meta)
            reading = interpretation.blocks(read, command)
        readings.append(reading)
        run_dirs.append(result.run_dir)
        figures.append(list(summary.figures))
        loaded.append((rows, meta))
        timings.append((path.stem, time.perf_counter() - t0, result.trained))
    # Wall times go to the terminal, not into the report: the same runs then give the same report.
    _say(progress, "wall time per sweep: " + "; ".join(f"{name} {sec:.0f} s ({n} members trained now)" for name, sec, n in timings))
    intro = [report.Block("p", f"Produced by `{command}`: every sweep below, its fit and its figures.")]
    with live.phase("writing the report", enabled=progress):
        return report.write_report(run_dirs, figures_dir / "report.md", title=command, intro=intro, figures=figures,
                                   command=command, loaded=loaded, extra=readings)


def _kind(path: Path) -> str:
    import tomllib

    return str(tomllib.loads(path.read_text(encoding="utf-8")).get("kind", path.stem))


def _say(on: bool, text: str) -> None:
    if on:
        print(text, file=sys.stderr, flush=True)
