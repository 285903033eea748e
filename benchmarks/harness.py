"""Throughput benchmarks: the population trainer against the machine's GEMM peak and its peers.

Everything is measured in one process, side by side, so the ratios survive a noisy machine:

- ``peak``: a large float32 matrix product through XLA and through numpy (the machine's limit);
- ``population``: model-steps per second and dense-equivalent FLOP/s of the population programs
  (lab.engine) for the standard superposition populations (small: m = 64, n = 32, m' = 64,
  batch 256, P = 1024; large: m = 256, n = 64, m' = 256, batch 512, P = 256) and an attention one;
- ``peers``: the textbook population step (jit(vmap(scan)) with per-member batches, top-k sampling,
  gathered targets, optax loss and Adam: the lab's trainer before tuning), and the same models
  trained one after another by a per-model jitted JAX run (the lab's own scanned trainer without
  vmap) and by a plain PyTorch loop (optional: skipped without torch);
- ``sweep``: the quick superposition sweep end to end, and the share of its wall time compiling;
- ``scaling``: throughput against population size (64 -> 4096) and local device count (simulated
  CPU devices in subprocesses share the same cores).

Dense-equivalent FLOPs of a superposition step: 6 B (D n + n m') (forward 2, backward 4 per
multiply-add of each dense layer), whatever the trainer actually executes (gathers, shared
batches). Results are printed and appended as one JSON file per invocation under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lab import engine, experiment
from lab.experiments.superposition.scoring import Criterion
from lab.training import TrainConfig

# Throughput runs end with one evaluation on this few held-out samples, so that they time the
# training step (the end-to-end sweep runs the real criterion).
STEP_CRITERION = Criterion(samples=2, max_inputs=0)
PROBE = 4  # steps of the short run whose time is subtracted (see steady_throughput)

BENCHMARKS = ("peak", "population", "peers", "sweep", "scaling", "devices")

SMALL = dict(m=64, n=32, m_out=64, batch=256, population=1024)
LARGE = dict(m=256, n=64, m_out=256, batch=512, population=256)
# Regime of the superposition sweeps: 2-AND over exactly-3-sparse inputs (other fields: defaults).
TASK = dict(op="and", s=3, p=None, d=None)


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long each measurement runs: full (the default) or --quick."""

    seconds: float = 2.0  # target wall time of one timed call
    repeats: int = 2  # timed calls; the best is kept (noise on a shared machine only slows down)
    peer_models: int = 4  # models trained one after another by each peer
    peer_seconds: float = 3.0
    populations: tuple[int, ...] = (64, 256, 1024, 4096)
    devices: tuple[int, ...] = (1, 2)


FULL = Budget()
QUICK = Budget(seconds=1.0, repeats=2, peer_models=2, peer_seconds=1.5, populations=(64, 256, 1024), devices=(1, 2))


def main(argv: list[str] | None = None) -> int:
    """`lab bench`: parse the options (lab.cli.add_bench_arguments) and run."""
    from lab.cli import add_bench_arguments

    parser = add_bench_arguments(argparse.ArgumentParser(prog="lab bench", description=__doc__.split("\n\n")[0]))
    args = parser.parse_args(argv)
    return run(args, command=" ".join(["lab", "bench", *(argv if argv is not None else sys.argv[1:])]))


def run(args: argparse.Namespace, command: str = "lab bench") -> int:
    """Run the benchmarks chosen by the parsed options of `lab bench`."""
    only = [n for chunk in (args.only or list(BENCHMARKS)) for n in chunk.split(",") if n]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        print(f"lab bench: error: unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if args.quick and args.only is None:
        only = [n for n in only if n != "sweep"]
    budget = QUICK if args.quick else FULL

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "device": device_info(),
        "versions": versions(),
        "budget": dataclasses.asdict(budget),
        "results": {},
    }
    print(f"lab bench on {describe_device(report['device'])}", flush=True)
    res = report["results"]
    t_start = time.perf_counter()
    if "peak" in only:
        res["peak"] = _announce("peak", lambda: gemm_peak(budget))
    if "population" in only:
        res["population"] = {
            "small": _announce("population small", lambda: superposition_throughput(SMALL, budget)),
            "large": _announce("population large", lambda: superposition_throughput(LARGE, budget)),
            "attention": _announce("population attention", lambda: attention_throughput(budget)),
        }
    if "peers" in only:
        res["peers"] = {
            name: {
                "textbook_vmap": _announce(f"peer textbook vmap {name}", lambda cfg=cfg: textbook_vmap(cfg, budget)),
                "jax_loop": _announce(f"peer jax loop {name}", lambda cfg=cfg: jax_loop(cfg, budget)),
                "torch_loop": _announce(f"peer torch loop {name}", lambda cfg=cfg: torch_loop(cfg, budget)),
            }
            for name, cfg in (("small", SMALL), ("large", LARGE))
        }
    if "sweep" in only:
        res["sweep"] = _announce("quick sweep", lambda: sweep_end_to_end(args.sweep))
    if "scaling" in only:
        small = res.get("population", {}).get("small")
        res["scaling"] = _announce("population scaling", lambda: population_scaling(budget, small))
    if "devices" in only:
        res["devices"] = _announce("device scaling", lambda: device_scaling(budget))
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["ratios"] = ratios(res)
    print()
    print(summary(report))
    if not args.no_save:
        path = save(report, Path(args.out))
        print(f"\nwritten {path}")
    return 0


def _announce(name: str, fn: Callable[[], dict]) -> dict:
    print(f"  {name} ...", end="", flush=True)
    t0 = time.perf_counter()
    out = fn()
    note = out.get("skipped") if isinstance(out, dict) else None
    print(f" {time.perf_counter() - t0:.1f}s" + (f" (skipped: {note})" if note else ""), flush=True)
    return out


# --- environment -------------------------------------------------------------------------------


def device_info() -> dict:
    devs = jax.devices()
    info = {
        "platform": devs[0].platform,
        "kind": devs[0].device_kind,
        "count": len(devs),
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }
    return info


def describe_device(info: dict) -> str:
    if info["platform"] == "cpu":
        return f"CPU ({info['cpu']}, {info['cores']} cores, {info['count']} JAX device(s))"
    return f"{info['count']} x {info['kind']} ({info['platform']})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import flax
    import jaxlib
    import optax

    out = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
           "numpy": np.__version__, "flax": flax.__version__, "optax": optax.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        out["torch"] = None
    try:
        from lab.sweep import code_version

        out["lab"] = code_version()
    except Exception:  # noqa: BLE001  (git missing: the version is informative only)
        import lab

        out["lab"] = lab.__version__
    return out


# --- timing ------------------------------------------------------------------------------------


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` calls of ``fn`` (which must block until its work is done)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_peak(budget: Budget, size: int = 2048) -> dict:
    """float32 GEMM FLOP/s of an (size x size) @ (size x size) product, through XLA and numpy."""
    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((size, size), dtype=np.float32)
    b_np = rng.standard_normal((size, size), dtype=np.float32)
    matmul = jax.jit(jnp.matmul)
    a, b = jnp.asarray(a_np), jnp.asarray(b_np)
    matmul(a, b).block_until_ready()
    reps = max(budget.repeats, 5)
    t_xla = best_time(lambda: matmul(a, b).block_until_ready(), reps)
    t_np = best_time(lambda: a_np @ b_np, reps)
    out = {"size": size, "xla_flops": flops / t_xla, "numpy_flops": flops / t_np}
    out["peak_flops"] = max(out["xla_flops"], out["numpy_flops"])
    return out


# --- superposition populations -----------------------------------------------------------------


def superposition_shape(cfg: dict) -> tuple[tuple[str, Any], ...]:
    exp = experiment.get("superposition")
    member = superposition_members(cfg, 1)[0]
    return tuple((f, getattr(member, f)) for f in exp.static_fields()) + tuple((a, getattr(member, a)) for a in exp.padded)


def superposition_members(cfg: dict, population: int) -> list:
    exp = experiment.get("superposition")
    fields = {**TASK, "m": cfg["m"], "n": cfg["n"], "m_out": cfg["m_out"]}
    # learning rates vary across members as in a sweep; seeds make every member distinct
    return [exp.member(**fields, lr=float(10 ** (-3 + 2 * (i % 8) / 7)), seed=i) for i in range(population)]


def dense_flops_per_step(cfg: dict) -> float:
    """Dense-equivalent FLOPs of one training step of one member: 6 B (D n + n m')."""
    d_in = cfg.get("d") or cfg["m"]
    return 6.0 * cfg["batch"] * (d_in * cfg["n"] + cfg["n"] * cfg["m_out"])


def _steps_for(seconds: float, rate_guess: float, lo: int = 8, hi: int = 4000) -> int:
    steps = int(np.clip(seconds * rate_guess, lo, hi))
    return max(lo, steps - steps % 4)


def time_population(kind: str, shape, members: list, train_cfg: TrainConfig, criterion: Criterion, repeats: int) -> dict:
    """Compile and time one population program call of ``members`` (through lab.engine)."""
    exp = experiment.get(kind)
    n_dev = len(jax.local_devices())
    program, sharding = engine.population_program(kind, tuple(shape), train_cfg, criterion, n_dev)
    keys = jnp.stack([engine.member_key(exp, m) for m in members])
    hyper = engine.hyper_arrays(exp, members)
    keys, hyper = jax.device_put((keys, hyper), sharding)
    t0 = time.perf_counter()
    compiled = program.lower(keys, hyper).compile()
    compile_s = time.perf_counter() - t0
    run = lambda: jax.block_until_ready(compiled(keys, hyper))  # noqa: E731
    run()  # warm: first-call allocations
    seconds = best_time(run, repeats)
    return {"compile_s": compile_s, "seconds": seconds, "steps": train_cfg.steps, "population": len(members)}


def steady_throughput(kind: str, shape, members: list, batch: int, budget: Budget) -> dict:
    """Training steps per second of a population, without its fixed costs.

    Two programs run: a short one (PROBE steps) and one sized to last about ``budget.seconds``;
    model-steps/s = P (S - PROBE) / (t_S - t_PROBE), so initialisation, the final evaluation and
    call overheads cancel, as they are amortised over the thousands of steps of a real run.
    """
    short = time_population(kind, shape, members, TrainConfig(steps=PROBE, batch=batch, evals=1), STEP_CRITERION, budget.repeats)
    per_step = short["seconds"] / PROBE  # an upper bound: includes the fixed costs
    steps = max(4 * PROBE, _steps_for(budget.seconds, 1 / max(per_step, 1e-9)))
    long = time_population(kind, shape, members, TrainConfig(steps=steps, batch=batch, evals=1), STEP_CRITERION, budget.repeats)
    step_s = max(long["seconds"] - short["seconds"], 1e-9) / (steps - PROBE)
    p = len(members)
    return {"population": p, "steps": steps, "seconds": long["seconds"], "probe_seconds": short["seconds"],
            "compile_s": long["compile_s"], "fixed_s": max(short["seconds"] - PROBE * step_s, 0.0),
            "model_steps_per_s": p / step_s}


def superposition_throughput(cfg: dict, budget: Budget, population: int | None = None) -> dict:
    """Steady model-steps/s and dense-equivalent FLOP/s of a superposition population."""
    population = population or cfg["population"]
    members = superposition_members(cfg, population)
    r = steady_throughput("superposition", superposition_shape(cfg), members, cfg["batch"], budget)
    return {**{k: v for k, v in cfg.items() if k != "population"}, **r,
            "dense_flops": r["model_steps_per_s"] * dense_flops_per_step(cfg)}


def attention_throughput(budget: Budget, population: int = 256) -> dict:
    """The attention kind's population at its default member settings (skipped if not built)."""
    try:
        exp = experiment.get("attention")
    except KeyError:
        return {"skipped": "the attention kind is not registered (lab/attention.py missing)"}
    member = exp.member()
    members = [dataclasses.replace(member, seed=i) for i in range(population)]
    shape = tuple((f, getattr(member, f)) for f in exp.static_fields()) + tuple((a, getattr(member, a)) for a in exp.padded)
    batch = TrainConfig().batch
    r = steady_throughput("attention", shape, members, batch, budget)
    # the kind's cost model counts the multiply-adds of one forward pass (projections and scores of
    # all items): forward + backward = 6 FLOPs per multiply-add
    return {"member": dataclasses.asdict(member), "batch": batch, **r,
            "dense_flops": r["model_steps_per_s"] * 6.0 * exp.cost(dict(shape))}


# --- peers -------------------------------------------------------------------------------------


def jax_loop(cfg: dict, budget: Budget) -> dict:
    """The lab's scanned trainer jitted per model (no vmap), models trained one after another."""
    exp = experiment.get("superposition")
    members = superposition_members(cfg, budget.peer_models)
    criterion = STEP_CRITERION

    def timed(steps: int) -> tuple[float, float]:
        train = exp.make_train(dict(superposition_shape(cfg)), TrainConfig(steps=steps, batch=cfg["batch"], evals=1), criterion)
        one = jax.jit(lambda k, h: train(k, h)[1])
        args = [(engine.member_key(exp, m), {k: v[0] for k, v in engine.hyper_arrays(exp, [m]).items()}) for m in members]
        t0 = time.perf_counter()
        one.lower(*args[0]).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(one(*args[0]))
        t0 = time.perf_counter()
        for a in args:
            jax.block_until_ready(one(*a))
        return time.perf_counter() - t0, compile_s

    probe, _ = timed(PROBE)
    steps = max(4 * PROBE, _steps_for(budget.peer_seconds, PROBE * len(members) / max(probe, 1e-6)))
    seconds, compile_s = timed(steps)
    # fixed costs (initialisation, evaluation, dispatch) cancel in the difference, as in steady_throughput
    return {"models": len(members), "steps": steps, "seconds": seconds, "compile_s": compile_s,
            "model_steps_per_s": len(members) * (steps - PROBE) / max(seconds - probe, 1e-9)}


def textbook_vmap(cfg: dict, budget: Budget) -> dict:
    """jit(vmap(scan(step))) of the textbook step: per-member batches (uniform + top-k), gathered
    targets, optax BCE, optax Adam; the whole population in one vmap (lab's trainer before tuning)."""
    import optax

    from lab.experiments.superposition.task import BooleanTask, sample_pairs
    from lab.experiments.superposition.train import class_weights

    task = BooleanTask(m=cfg["m"], op=TASK["op"], s=TASK["s"])
    q, pos_weight = class_weights(task)
    # a 32nd of the population (at least 8 members; its per-member sampling makes it slow to time):
    # the per-member throughput of one vmap does not grow with its size (see the scaling benchmark)
    m, n, k, batch, s, p = cfg["m"], cfg["n"], cfg["m_out"], cfg["batch"], TASK["s"], max(8, cfg["population"] // 32)
    opt = optax.adam(1e-2)

    def loss(params, pairs_Kx2, key):
        u_BxM = jax.random.uniform(key, (batch, m))
        x_BxM = (u_BxM >= jax.lax.top_k(u_BxM, s)[0][:, -1:]).astype(jnp.float32)
        y_BxK = x_BxM[:, pairs_Kx2[:, 0]] * x_BxM[:, pairs_Kx2[:, 1]]
        h_BxN = jax.nn.relu(x_BxM @ params["w_in"] + params["b_in"])
        out_BxK = h_BxN @ params["w_out"] + params["b_out"]
        w_BxK = (1.0 + (pos_weight - 1.0) * y_BxK) / (1.0 + (pos_weight - 1.0) * q)
        return (optax.sigmoid_binary_cross_entropy(out_BxK, y_BxK) * w_BxK).mean()

    def train(key, steps):
        k_init, k_task, k_data = jax.random.split(key, 3)
        params = {"w_in": jax.random.normal(k_init, (m, n)) / np.sqrt(m), "b_in": jnp.zeros(n),
                  "w_out": jnp.zeros((n, k)), "b_out": jnp.zeros(k)}
        pairs_Kx2 = sample_pairs(k_task, task, k)

        def step(carry, t):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params, pairs_Kx2, jax.random.fold_in(k_data, t))
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        return jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))[1]

    keys = jax.random.split(jax.random.key(0), p)

    def timed(steps: int) -> tuple[float, float]:
        with jax.numpy_dtype_promotion("standard"):
            program = jax.jit(jax.vmap(lambda key: train(key, steps)))
            t0 = time.perf_counter()
            compiled = program.lower(keys).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(keys))
        return best_time(lambda: jax.block_until_ready(compiled(keys)), budget.repeats), compile_s

    probe, _ = timed(PROBE)
    steps = max(4 * PROBE, _steps_for(budget.peer_seconds, PROBE / max(probe, 1e-6), lo=PROBE))
    seconds, compile_s = timed(steps)
    model_steps = p * (steps - PROBE) / max(seconds - probe, 1e-9)  # fixed costs cancel
    return {"population": p, "steps": steps, "seconds": seconds, "compile_s": compile_s,
            "model_steps_per_s": model_steps, "dense_flops": model_steps * dense_flops_per_step(cfg)}


def torch_loop(cfg: dict, budget: Budget) -> dict:
    """A plain PyTorch loop training the same models one after another (Adam, weighted BCE)."""
    try:
        import torch
    except ImportError:
        return {"skipped": "torch is not installed (pip install 'lab[torch]' to compare against it)"}
    from lab.experiments.superposition.train import class_weights
    from lab.experiments.superposition.task import BooleanTask, all_pairs

    task = BooleanTask(m=cfg["m"], op=TASK["op"], s=TASK["s"])
    q, pos_weight = class_weights(task)
    m, n, k, batch, s = cfg["m"], cfg["n"], cfg["m_out"], cfg["batch"], TASK["s"]

    def train(seed: int, steps: int, lr: float) -> float:
        gen = torch.Generator().manual_seed(seed)
        pairs = torch.as_tensor(all_pairs(m))[torch.randperm(m * (m - 1) // 2, generator=gen)[:k]]
        model = torch.nn.Sequential(torch.nn.Linear(m, n), torch.nn.ReLU(), torch.nn.Linear(n, k))
        torch.nn.init.zeros_(model[2].weight)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        loss = torch.zeros(())
        for _ in range(steps):
            u = torch.rand(batch, m, generator=gen)
            x = torch.zeros(batch, m).scatter_(1, u.topk(s, dim=1).indices, 1.0)
            y = x[:, pairs[:, 0]] * x[:, pairs[:, 1]]
            w = (1.0 + (pos_weight - 1.0) * y) / (1.0 + (pos_weight - 1.0) * q)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y, weight=w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss.detach())

    per_step = {}
    for threads in sorted({1, os.cpu_count() or 1}):  # give torch its better thread count
        torch.set_num_threads(threads)
        train(0, 3, 1e-2)
        t0 = time.perf_counter()
        train(0, 20, 1e-2)
        per_step[threads] = (time.perf_counter() - t0) / 20
    torch.set_num_threads(min(per_step, key=per_step.get))
    steps = _steps_for(budget.peer_seconds / budget.peer_models, 1 / max(min(per_step.values()), 1e-9))
    t0 = time.perf_counter()
    for i in range(budget.peer_models):
        train(i, steps, 1e-2)
    seconds = time.perf_counter() - t0
    return {"models": budget.peer_models, "steps": steps, "seconds": seconds, "threads": torch.get_num_threads(),
            "model_steps_per_s": budget.peer_models * steps / seconds}


# --- end to end --------------------------------------------------------------------------------


class _CompileClock:
    """Sums JAX's compile-related event durations (tracing, lowering, XLA compilation)."""

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __init__(self):
        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_) -> None:
        if event in self.EVENTS:
            self.seconds += duration


def sweep_end_to_end(spec_path: str | None = None) -> dict:
    """Wall time of a whole sweep in a fresh process with a cold compilation cache, and the share
    of it spent compiling (what `lab run SPEC` costs the first time)."""
    path = Path(spec_path) if spec_path else _default_sweep()
    if path is None or not path.exists():
        return {"skipped": f"no sweep spec at {path or 'sweeps/superposition-quick.toml'}"}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LAB_JAX_CACHE": str(Path(tmp) / "cache")}
        code = ("import json, benchmarks.harness as b; "
                f"print('RESULT', json.dumps(b._sweep_worker({str(path)!r}, {str(Path(tmp) / 'run')!r})))")
        t0 = time.perf_counter()
        out = _subprocess_result(code, env)
        out["process_s"] = time.perf_counter() - t0
    return out


def _sweep_worker(spec_path: str, run_dir: str) -> dict:
    from lab import sweep
    from lab.spec import load_spec

    clock = _CompileClock()
    spec = load_spec(spec_path)
    t0 = time.perf_counter()
    result = sweep.run_sweep(spec, run_dir, progress=False)
    wall = time.perf_counter() - t0
    members = result.plan.n_members
    return {"spec": spec_path, "members": members, "programs": result.plan.n_programs, "chunks": result.plan.n_chunks,
            "steps": spec.train.steps, "wall_s": wall, "compile_s": clock.seconds, "compile_share": clock.seconds / wall,
            "model_steps_per_s": members * spec.train.steps / wall}


def _subprocess_result(code: str, env: dict) -> dict:
    """Run ``code`` in a fresh Python and parse the JSON it prints after 'RESULT '."""
    root = str(Path(__file__).resolve().parent.parent)  # the checkout, so that `benchmarks` imports
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        return {"error": (proc.stderr or proc.stdout)[-600:]}
    return json.loads(line[len("RESULT "):])


def _default_sweep() -> Path | None:
    from lab.experiment import packaged_sweeps_dir

    for folder in (Path.cwd() / "sweeps", packaged_sweeps_dir()):
        p = folder / "superposition-quick.toml"
        if p.exists():
            return p
    return None


# --- scaling -----------------------------------------------------------------------------------


def population_scaling(budget: Budget, measured: dict | None = None) -> dict:
    """Small-population throughput against population size (``measured``: a small-population
    result of this run, reused for its own size)."""
    rows = []
    for p in budget.populations:
        if measured and measured.get("population") == p:
            r = measured
        else:
            r = superposition_throughput(SMALL, dataclasses.replace(budget, repeats=2, seconds=budget.seconds / 2), population=p)
        rows.append({"population": p, "model_steps_per_s": r["model_steps_per_s"], "dense_flops": r["dense_flops"],
                     "compile_s": r["compile_s"]})
    return {"shape": "small", "rows": rows}


def device_scaling(budget: Budget) -> dict:
    """Small-population throughput with N local devices (subprocesses; CPU devices are simulated)."""
    rows = []
    on_cpu = jax.devices()[0].platform == "cpu"
    for n in budget.devices:
        if not on_cpu and n > len(jax.devices()):
            continue
        env = dict(os.environ)
        if on_cpu:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n}").strip()
        code = ("import json, benchmarks.harness as b; "
                f"print('RESULT', json.dumps(b._device_worker({n}, {budget.seconds}, {budget.repeats})))")
        rows.append({"devices": n, **_subprocess_result(code, env)})
    note = "simulated CPU devices (--xla_force_host_platform_device_count) share the same cores" if on_cpu else ""
    return {"shape": "small", "rows": rows, "note": note}


def _device_worker(n: int, seconds: float, repeats: int) -> dict:
    budget = dataclasses.replace(FULL, seconds=seconds, repeats=repeats)
    r = superposition_throughput(SMALL, budget)
    return {"devices": len(jax.local_devices()), "requested": n, "model_steps_per_s": r["model_steps_per_s"],
            "dense_flops": r["dense_flops"]}


# --- report ------------------------------------------------------------------------------------


def ratios(res: dict) -> dict:
    """The headline ratios, from measurements of this one run."""
    out: dict[str, float] = {}
    peak = res.get("peak", {}).get("peak_flops")
    pops = res.get("population", {})
    for name, r in pops.items():
        if peak and "dense_flops" in r:
            out[f"{name}_fraction_of_peak"] = r["dense_flops"] / peak
    for name, peers in res.get("peers", {}).items():
        pop = pops.get(name, {})
        for peer, r in peers.items():
            if "model_steps_per_s" in pop and "model_steps_per_s" in r:
                out[f"{name}_vs_{peer}"] = pop["model_steps_per_s"] / r["model_steps_per_s"]
            if peak and "dense_flops" in r:
                out[f"{name}_{peer}_fraction_of_peak"] = r["dense_flops"] / peak
    if "sweep" in res and "compile_share" in res["sweep"]:
        out["sweep_compile_share"] = res["sweep"]["compile_share"]
    rows = res.get("scaling", {}).get("rows", [])
    if rows:
        base = rows[0]["model_steps_per_s"]
        for r in rows:
            out[f"population_{r['population']}_vs_{rows[0]['population']}"] = r["model_steps_per_s"] / base
    drows = [r for r in res.get("devices", {}).get("rows", []) if "model_steps_per_s" in r]
    if drows:
        for r in drows:
            out[f"devices_{r['devices']}_vs_{drows[0]['devices']}"] = r["model_steps_per_s"] / drows[0]["model_steps_per_s"]
    return out


def _g(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def summary(report: dict) -> str:
    res, rat = report["results"], report["ratios"]
    lines = [f"device: {describe_device(report['device'])}; jax {report['versions']['jax']}, "
             f"torch {report['versions']['torch'] or 'absent'}; {report['date']}"]
    if "peak" in res:
        p = res["peak"]
        lines.append(f"GEMM peak ({p['size']}^2 float32): XLA {_g(p['xla_flops'])}FLOP/s, numpy {_g(p['numpy_flops'])}FLOP/s")
    for name, r in res.get("population", {}).items():
        if "skipped" in r:
            lines.append(f"population {name}: skipped ({r['skipped']})")
            continue
        frac = rat.get(f"{name}_fraction_of_peak")
        flops = f", {_g(r['dense_flops'])}FLOP/s dense-equivalent" if "dense_flops" in r else ""
        lines.append(f"population {name} (P={r['population']}): {_g(r['model_steps_per_s'])} model-steps/s{flops}"
                     + (f" = {frac:.1%} of peak" if frac is not None else "") + f"; compile {r['compile_s']:.1f}s")
    for name, peers in res.get("peers", {}).items():
        for peer, r in peers.items():
            if "skipped" in r:
                lines.append(f"peer {peer} ({name}): skipped ({r['skipped']})")
                continue
            ratio = rat.get(f"{name}_vs_{peer}")
            frac = rat.get(f"{name}_{peer}_fraction_of_peak")
            lines.append(f"peer {peer} ({name}): {_g(r['model_steps_per_s'])} model-steps/s"
                         + (f" = {frac:.1%} of peak" if frac is not None else "")
                         + (f"; lab's population is {ratio:.1f}x faster" if ratio is not None else ""))
    if "sweep" in res:
        r = res["sweep"]
        if "skipped" in r or "error" in r:
            lines.append(f"quick sweep: {'skipped' if 'skipped' in r else 'failed'} ({r.get('skipped') or r['error']})")
        else:
            lines.append(f"quick sweep ({r['members']} members x {r['steps']} steps, {r['programs']} programs, {r['chunks']} chunks): "
                         f"{r['wall_s']:.1f}s wall, {r['compile_share']:.0%} compiling")
    if "scaling" in res:
        cells = ", ".join(f"P={r['population']}: {_g(r['model_steps_per_s'])}" for r in res["scaling"]["rows"])
        lines.append(f"population scaling (small, model-steps/s): {cells}")
    if "devices" in res:
        cells = ", ".join(f"{r['devices']} dev: {_g(r['model_steps_per_s'])}" if "model_steps_per_s" in r
                          else f"{r['devices']} dev: error" for r in res["devices"]["rows"])
        note = res["devices"].get("note")
        lines.append(f"device scaling (small, model-steps/s): {cells}" + (f" ({note})" if note else ""))
    lines.append(f"total {report['seconds']:.0f}s")
    return "\n".join(lines)


def save(report: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report["date"].replace(":", "").replace("+0000", "Z")
    plat = report["device"]["platform"]
    path = out_dir / f"{stamp}-{plat}.json"
    i = 1
    while path.exists():
        path = out_dir / f"{stamp}-{plat}-{i}.json"
        i += 1
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
