"""lab: a JAX laboratory that tests capacity laws of neural computation by experiment.

Everything the `lab` command does is a function here (imported lazily, so `import lab` is cheap):

    lab.load_spec(path) -> Spec                 validate a TOML sweep spec
    lab.make_plan(spec) / lab.describe(plan, spec)   buckets, chunks, padding waste
    lab.run_sweep(spec_or_path, out) -> RunResult    train (resumes), rows in the run directory
    lab.load_rows(run_dir) -> list[dict]        one row per member
    lab.load_params(run_dir) -> dict            member id -> trained parameters ([run] keep_params = true)
    lab.load_frame(run_dir) -> DataFrame        the same rows in pandas (pip install "lab[analysis]")
    lab.export_frame(run_dir, "rows.parquet")   Parquet (with pyarrow) or CSV
    lab.fit_run(run_dir) -> FitReport           thresholds, law fits, comparison, verdicts
    lab.analyze_run(run_dir) -> Summary         fit.json, thresholds.csv, figures, summary text
    lab.write_report(run_dirs, out) -> Path     Markdown + self-contained HTML report
    lab.reproduce(quick=True) -> Path           every sweep, fit, figure and the report
    lab.interpret_run(run_dir) -> dict          the kind's reading of its trained networks (feature channels)
    lab.load_reading(run_dir) -> dict | None    that reading as saved in RUN_DIR/interpret (reports show it)
    lab.kinds() / lab.define / lab.Experiment   the experiment kinds (docs/extending.md)
"""

from __future__ import annotations

import importlib

from lab import cpu_devices as _cpu_devices

# One JAX device per CPU core (lab.cpu_devices): asked through XLA_FLAGS, so it holds when lab is
# imported before the first JAX operation. It does not import JAX.
_cpu_devices.configure()

__version__ = "0.1.0"

_EXPORTS = {
    "load_spec": "lab.spec",
    "parse_spec": "lab.spec",
    "Spec": "lab.spec",
    "SpecError": "lab.spec",
    "make_plan": "lab.plan",
    "describe": "lab.plan",
    "run_sweep": "lab.sweep",
    "RunResult": "lab.sweep",
    "load_rows": "lab.store",
    "load_params": "lab.store",
    "load_frame": "lab.store",
    "export_frame": "lab.store",
    "fit_run": "lab.fit",
    "fit_rows": "lab.fit",
    "FitReport": "lab.fit",
    "LAWS": "lab.laws",
    "Law": "lab.laws",
    "fit_thresholds": "lab.thresholds",
    "simulate": "lab.planted",
    "make_figures": "lab.plots",
    "analyze_run": "lab.analysis",
    "write_report": "lab.report",
    "reproduce": "lab.reproduction",
    "interpret_run": "lab.interpretation",
    "load_reading": "lab.interpretation",
    "register": "lab.experiment",
    "Experiment": "lab.experiment",
    "Analysis": "lab.experiment",
    "kinds": "lab.experiment",
    "define": "lab.experiment",
    "TrainConfig": "lab.train_config",
    "Criterion": "lab.experiments.superposition.criterion",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
