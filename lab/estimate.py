"""How long a sweep will take on this machine: the kind's cost model, calibrated by a short run.

A member-step of a bucket costs ``t(c) = a + b·c`` seconds and an evaluation point ``e(c) = a' + b'·c``,
``c`` the kind's cost model (Experiment.cost) at the bucket's padded shape. The lines come from
timing short programs (CALIBRATION_STEPS steps with one and with two evaluation points) of the
sweep's cheapest bucket and its costliest one below CALIBRATION_BUDGET on this machine, each with the
population one device trains at once; the same timings give the compile time of a program. Calibrations are kept in ~/.cache/lab/calibration.json (or $LAB_CACHE), keyed by kind,
device, bucket shape and training settings, so each is measured once per machine.

    estimate(spec, plan) -> Estimate     per bucket: compile + members x steps x t(c)

The estimate counts compilation, training and evaluation; the fit and figures (about a minute) are
not in it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lab import experiment
from lab.plan import Bucket, Plan
from lab.spec import Spec

CALIBRATION_STEPS = 64
# Calibration programs stay below this cost x batch (the quick superposition sweep's costliest bucket
# is 1e7): paper-sized buckets would take minutes to time on a CPU, so their cost is extrapolated
# along the line through the cheaper buckets (compute-bound shapes only get more efficient, so the
# extrapolation errs long).
CALIBRATION_BUDGET = 4e7


@dataclass(frozen=True)
class Timing:
    """One calibration point: a bucket's cost, seconds per member-step and per member-evaluation,
    seconds to compile a program."""

    cost: float
    step_s: float
    eval_s: float
    compile_s: float


@dataclass(frozen=True)
class BucketEstimate:
    compile_s: float
    train_s: float
    member_steps: int  # lanes (members and fillers) x steps still to run


@dataclass(frozen=True)
class Estimate:
    buckets: tuple[BucketEstimate, ...]
    device: str
    how: str

    @property
    def compile_s(self) -> float:
        return sum(b.compile_s for b in self.buckets)

    @property
    def train_s(self) -> float:
        return sum(b.train_s for b in self.buckets)

    @property
    def total_s(self) -> float:
        return self.compile_s + self.train_s


def cache_path() -> Path:
    return Path(os.environ.get("LAB_CACHE", Path.home() / ".cache" / "lab")) / "calibration.json"


def device_name() -> str:
    """The machine a calibration belongs to (its cache key): ``lab.host.describe()`` and the local
    device count. On a CPU the processor model matters: a home directory shared by several
    machines must not lend one machine's timings to another."""
    import jax

    from lab import host

    return f"{host.describe()}; {len(jax.local_devices())} device(s)"


def population(bucket: Bucket, spec: Spec, devices: int) -> int:
    """Members one calibration call trains: one CPU group or one whole chunk (what a chunk runs at once)."""
    from lab import engine

    per_device = bucket.chunk // devices
    group = engine.bucket_group(spec.experiment, bucket.shape_dict, spec.train, spec.success, per_device)
    return max(2, group) * devices


def measure(spec: Spec, bucket: Bucket, devices: int) -> Timing:
    """Compile and time short programs of ``bucket`` (one and two evaluation points, each run twice)."""
    from lab import engine

    exp = spec.experiment
    steps = CALIBRATION_STEPS
    p = population(bucket, spec, devices)
    members = (list(bucket.members) * p)[:p]
    run_s, compile_s = [], []
    for evals in (1, 2):
        cfg = dataclasses.replace(spec.train, steps=steps, evals=evals, loss_every=min(spec.train.loss_every, steps))
        t0 = time.perf_counter()
        engine.train_population(exp, bucket.shape, members, cfg, spec.success)
        t1 = time.perf_counter()
        engine.train_population(exp, bucket.shape, members, cfg, spec.success)
        run_s.append(time.perf_counter() - t1)
        compile_s.append(max(t1 - t0 - run_s[-1], 0.0))
    eval_s = max(run_s[1] - run_s[0], 0.0) / p
    step_s = max(run_s[0] / p - eval_s, 0.0) / steps
    return Timing(cost=exp.cost(bucket.shape_dict), step_s=step_s, eval_s=eval_s, compile_s=sum(compile_s) / 2)


def calibrate(spec: Spec, plan: Plan, *, use_cache: bool = True) -> list[Timing]:
    """Timings of the plan's cheapest bucket and its costliest within CALIBRATION_BUDGET (measured
    once per machine, then cached)."""
    exp = spec.experiment
    cost = lambda b: exp.cost(b.shape_dict)  # noqa: E731
    cheapest = min(plan.buckets, key=cost)
    affordable = [b for b in plan.buckets if cost(b) * spec.train.batch <= CALIBRATION_BUDGET] or [cheapest]
    ends = sorted({cheapest, max(affordable, key=cost)}, key=cost)
    path = cache_path()
    cache = _read(path) if use_cache else {}
    timings = []
    for bucket in ends:
        key = json.dumps([spec.kind, device_name(), repr(bucket.shape), dataclasses.asdict(spec.train),
                          dataclasses.asdict(spec.success), population(bucket, spec, plan.devices)], default=str)
        if key not in cache:
            cache[key] = dataclasses.asdict(measure(spec, bucket, plan.devices))
        timings.append(Timing(**cache[key]))
    if use_cache:
        _write(path, cache)
    return timings


def estimate(spec: Spec, plan: Plan, *, timings: list[Timing] | None = None, done: set[str] = frozenset()) -> Estimate:
    """Wall time per bucket on this machine; members in ``done`` (ids) are not counted."""
    exp = spec.experiment
    timings = timings if timings is not None else calibrate(spec, plan)
    step_s = _interpolate([(t.cost, t.step_s) for t in timings])
    eval_s = _interpolate([(t.cost, t.eval_s) for t in timings])
    compile_s = sum(t.compile_s for t in timings) / len(timings)
    out = []
    for b in plan.buckets:
        todo = sum(experiment.member_id(m) not in done for m in b.members)
        lanes = -(-todo // b.chunk) * b.chunk if todo else 0
        c = exp.cost(b.shape_dict)
        out.append(BucketEstimate(compile_s=compile_s if todo else 0.0, member_steps=lanes * spec.train.steps,
                                  train_s=lanes * (spec.train.steps * step_s(c) + spec.train.evals * eval_s(c))))
    how = (f"estimated from the kind's cost model ({exp.name}.cost) and {CALIBRATION_STEPS}-step programs of the "
           f"{'cheapest and a costlier bucket' if len(timings) > 1 else 'cheapest bucket'} timed on this machine "
           f"(cached in {cache_path()}); fit and figures not included (about a minute)")
    return Estimate(buckets=tuple(out), device=device_name(), how=how)


def _interpolate(points: list[tuple[float, float]]):
    """Seconds as a function of cost: the line through the calibration points (proportional to cost
    beyond a single point), never below the cheapest point's share."""
    (c0, y0), (c1, y1) = points[0], points[-1]
    if c1 <= c0:
        return lambda c: y0 * c / c0 if c0 else y0
    slope = max((y1 - y0) / (c1 - c0), 0.0)
    return lambda c: max(y0 + slope * (c - c0), y0 * min(c / c0, 1.0))


def describe(est: Estimate) -> str:
    """The estimate as printed by `lab plan` and `lab reproduce`."""
    lines = [f"estimated wall time on this machine ({est.device}): {duration(est.total_s)} "
             f"(compile {duration(est.compile_s)}, training {duration(est.train_s)})"]
    for i, b in enumerate(est.buckets):
        lines.append(f"  bucket {i}: compile {duration(b.compile_s)}, train {duration(b.train_s)}")
    lines.append(f"  ({est.how})")
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """3 s, 4 min 10 s, 2 h 05 min, 3.2 days."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{seconds / 86400:.1f} days"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, cache: dict) -> None:
    from lab import store

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        store.atomic_write(path, json.dumps(cache, indent=1, sort_keys=True))
    except OSError:  # a read-only home: the estimate still stands, it is just not remembered
        pass


__all__ = ["Estimate", "BucketEstimate", "Timing", "estimate", "calibrate", "describe", "duration"]
