"""Throughput benchmarks: the population trainer against the machine's GEMM peak and its peers.

Everything is measured in one process, side by side, so the ratios survive a noisy machine:

- ``peak``: a large float32 matrix product through XLA and through numpy (the machine's limit);
- ``population``: model-steps per second and FLOP/s of the population programs (lab.engine) for
  the standard superposition populations (small: m = 64, n = 32, m' = 64, batch 256, P = 1024;
  large: m = 256, n = 64, m' = 256, batch 512, P = 256), the attention kind at its default member
  and at the in-regime shapes of sweeps/attention-standard.toml;
- ``peers``: the same models trained by the best straightforward ``jit(vmap(scan))`` a JAX user
  would write (per-member batches from the fastest exact-s sampler, gathered targets, optax loss
  and Adam), by a per-model jitted JAX run (the lab's own scanned trainer without vmap, models
  one after another) and by a plain PyTorch loop (optional: skipped without torch); attention
  against the per-model JAX run and a PyTorch loop;
- ``sweep``: the quick sweeps end to end in a fresh process with a cold compilation cache, and the
  share of their wall time that compiling adds (against the same sweep run again with its
  programs compiled);
- ``scaling``: wall time per training step against population size, and against width at a fixed
  number of FLOPs per step (a figure beside the JSON record);
- ``devices``: throughput with 1 and 2 local devices (simulated CPU devices share the same cores).

Dense-equivalent FLOPs of a superposition step: 6 B (D n + n m') (forward 2, backward 4 per
multiply-add of each dense layer), whatever the trainer actually executes (gathers, shared
batches). Of an attention step: 6 x the multiply-adds of the cheaper of its two exact forms (all
m² item pairs, or the B c² context pairs; lab.experiments.attention.train). Results are printed and
written as one JSON file per invocation under ``--out``.
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

from lab import engine, experiment, host
from lab.experiments.superposition.scoring import Criterion
from lab.training import TrainConfig

# Throughput runs end with one evaluation on this few held-out samples, so that they time the
# training step (the end-to-end sweeps run the real criterion).
STEP_CRITERION = Criterion(samples=2, max_inputs=0)
PROBE = 4  # steps of the short run whose time is subtracted (see steady_throughput)

BENCHMARKS = ("peak", "population", "peers", "sweep", "scaling", "devices")

SMALL = dict(m=64, n=32, m_out=64, batch=256, population=1024)
LARGE = dict(m=256, n=64, m_out=256, batch=512, population=256)
# Regime of the superposition sweeps: 2-AND over exactly-3-sparse inputs (other fields: defaults).
TASK = dict(op="and", s=3, p=None, d=None)
# Attention: the kind's default member (batch 256), and the in-regime shapes of
# sweeps/attention-standard.toml (its settings, each d_model's largest D_K bucket and its size).
ATTENTION_DEFAULT = dict(batch=256, population=256)
ATTENTION_SWEEP = dict(graph="degree", degree=2, context=8, lr=0.02, pos_weight=8.0, batch=32)
ATTENTION_SHAPES = (dict(m=16, d_model=16, dk=16, population=36), dict(m=64, d_model=32, dk=32, population=36),
                    dict(m=128, d_model=32, dk=32, population=36), dict(m=256, d_model=64, dk=64, population=48))
QUICK_SWEEPS = ("superposition-quick", "attention-quick")


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long each measurement runs: full (the default) or --quick."""

    seconds: float = 2.0  # target wall time of one timed call
    repeats: int = 2  # timed calls; the best is kept (noise on a shared machine only slows down)
    peer_models: int = 4  # models trained one after another by each peer
    peer_seconds: float = 3.0
    populations: tuple[int, ...] = (64, 256, 1024, 4096)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # at the FLOPs per step of the small population
    devices: tuple[int, ...] = (1, 2)


FULL = Budget()
QUICK = Budget(seconds=1.0, repeats=2, peer_models=2, peer_seconds=1.5, populations=(64, 256, 1024),
               widths=(16, 64, 256), devices=(1, 2))


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
    report["load_before"] = _load()
    t_start, cpu_start = time.perf_counter(), host.cpu_times()
    if "peak" in only:
        res["peak"] = _announce("peak", lambda: gemm_peak(budget))
    if "population" in only:
        res["population"] = {
            "small": _announce("population small", lambda: superposition_throughput(SMALL, budget)),
            "large": _announce("population large", lambda: superposition_throughput(LARGE, budget)),
            "attention": _announce("population attention", lambda: attention_throughput(attention_member(), ATTENTION_DEFAULT, budget)),
        }
        for shape in ATTENTION_SHAPES:
            name = f"attention_m{shape['m']}_d{shape['d_model']}"
            res["population"][name] = _announce(f"population {name}", lambda shape=shape: attention_throughput(
                attention_member(**shape), {**ATTENTION_SWEEP, **shape}, budget))
    if "peers" in only:
        res["peers"] = {
            name: {
                "textbook_vmap": _announce(f"peer textbook vmap {name}", lambda cfg=cfg: textbook_vmap(cfg, budget)),
                "jax_loop": _announce(f"peer jax loop {name}", lambda cfg=cfg: jax_loop("superposition", superposition_members(cfg, budget.peer_models), cfg["batch"], budget)),
                "torch_loop": _announce(f"peer torch loop {name}", lambda cfg=cfg: torch_loop(cfg, budget)),
            }
            for name, cfg in (("small", SMALL), ("large", LARGE))
        }
        member = attention_member()
        res["peers"]["attention"] = {
            "jax_loop": _announce("peer jax loop attention", lambda: jax_loop(
                "attention", [dataclasses.replace(member, seed=i) for i in range(budget.peer_models)], ATTENTION_DEFAULT["batch"], budget)),
            "torch_loop": _announce("peer torch loop attention", lambda: torch_attention_loop(member, ATTENTION_DEFAULT["batch"], budget)),
        }
    if "sweep" in only:
        specs = [args.sweep] if args.sweep else [p for p in (_default_sweep(n) for n in QUICK_SWEEPS) if p]
        res["sweep"] = {Path(p).stem: _announce(f"sweep {Path(p).stem}", lambda p=p: sweep_end_to_end(p)) for p in specs}
    if "scaling" in only:
        small = res.get("population", {}).get("small")
        res["scaling"] = _announce("scaling", lambda: scaling(budget, small))
    if "devices" in only:
        res["devices"] = _announce("device scaling", lambda: device_scaling(budget))
    if "peak" in only:  # again at the end: the machine's best of the two is the reference
        again = _announce("peak again", lambda: gemm_peak(budget))
        res["peak"] = {**res["peak"], "again": again, "peak_flops": max(res["peak"]["peak_flops"], again["peak_flops"])}
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["load_after"] = _load()
    report["steal_share"] = host.steal_share(cpu_start, host.cpu_times())
    report["ratios"] = ratios(res)
    print()
    print(summary(report))
    if not args.no_save:
        path = save(report, Path(args.out))
        print(f"\nwritten {path}")
        if "scaling" in res:
            print(f"written {plot_scaling(res['scaling'], path.with_suffix('.png'))}")
    return 0


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other jobs on the machine slow every measurement)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _announce(name: str, fn: Callable[[], dict]) -> dict:
    """Run one measurement, print its duration, and record in it the share of the CPUs' time that
    other guests of a virtual machine took meanwhile (``steal_share``: a slow figure says why)."""
    print(f"  {name} ...", end="", flush=True)
    t0, cpu0 = time.perf_counter(), host.cpu_times()
    out = fn()
    steal = host.steal_share(cpu0, host.cpu_times())
    note = out.get("skipped") if isinstance(out, dict) else None
    if isinstance(out, dict) and steal is not None:
        out["steal_share"] = steal
    print(f" {time.perf_counter() - t0:.1f}s" + (f" (skipped: {note})" if note else "")
          + (f" (CPU steal {steal:.0%})" if steal and steal >= 0.01 else ""), flush=True)
    return out


# --- environment -------------------------------------------------------------------------------


def device_info() -> dict:
    devs = jax.devices()
    info = {
        "platform": devs[0].platform,
        "kind": devs[0].device_kind,
        "count": len(devs),
        "host": platform.node(),
        "cpu": host.cpu_model(),
        "cpu_flags": list(host.cpu_flags()),
        "cores": os.cpu_count(),
        "description": host.describe(),
    }
    return info


def describe_device(info: dict) -> str:
    if info["platform"] == "cpu":
        return f"CPU ({info['cpu']}, {info['cores']} cores, {info['count']} JAX device(s))"
    return f"{info['count']} x {info['kind']} ({info['platform']})"


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
    return superposition_shape_of(superposition_members(cfg, 1)[0])


def superposition_shape_of(member) -> tuple[tuple[str, Any], ...]:
    exp = experiment.get("superposition")
    return tuple((f, getattr(member, f)) for f in exp.static_fields()) + tuple((a, getattr(member, a)) for a in exp.padded)


def superposition_members(cfg: dict, population: int) -> list:
    exp = experiment.get("superposition")
    fields = {**TASK, "m": cfg["m"], "n": cfg["n"], "m_out": cfg["m_out"]}
    # learning rates vary across members as in a sweep; seeds make every member distinct
    return [exp.member(**fields, lr=float(10 ** (-3 + 2 * (i % 8) / 7)), seed=i) for i in range(population)]


def dense_flops_per_step(cfg: dict) -> float:
    """Dense-equivalent FLOPs of one training step of one member: 6 B (D n + n m') (the kind's
    ``step_flops``)."""
    return experiment.get("superposition").step_flops(dict(superposition_shape(cfg)), TrainConfig(batch=cfg["batch"]))


def _steps_for(seconds: float, rate_guess: float, lo: int = 8, hi: int = 4000) -> int:
    steps = int(np.clip(seconds * rate_guess, lo, hi))
    return max(lo, steps - steps % 4)


SIZING = 32  # extra steps of the program that sizes the timed one (see difference_rate)


def difference_rate(timed: Callable[[int], float], seconds: float, hi: int = 100_000) -> dict:
    """Seconds per training step of a trainer, without its fixed costs.

    ``timed(steps)`` times one run of ``steps`` steps. Three runs: PROBE steps, PROBE + SIZING
    steps (their difference sizes the third: a short run's time is mostly initialisation and
    evaluation, so it cannot size anything), and PROBE + S steps lasting about ``seconds`` more
    than the first; seconds per step = (t_S - t_PROBE) / S, in which the fixed costs cancel.
    """
    probe = timed(PROBE)
    per_step = max(timed(PROBE + SIZING) - probe, 1e-7) / SIZING
    extra = int(np.clip(seconds / per_step, SIZING, hi))
    steps = PROBE + extra - extra % 4
    long = timed(steps)
    return {"steps": steps, "seconds": long, "probe_seconds": probe,
            "step_s": max(long - probe, 1e-9) / (steps - PROBE)}


def step_success(kind: str):
    """[success] settings of a throughput run: an evaluation on 2 sampled held-out inputs."""
    return STEP_CRITERION if kind == "superposition" else experiment.get(kind).success(samples=2)


def time_population(kind: str, shape, members: list, train_cfg: TrainConfig, criterion, repeats: int) -> dict:
    """Compile and time one population program call of ``members`` (through lab.engine)."""
    exp = experiment.get(kind)
    program, sharding = engine.population_program(kind, tuple(shape), train_cfg, criterion)
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
    """Training steps per second of a population, without its fixed costs (``difference_rate``:
    initialisation, the final evaluation and call overheads cancel, as they are amortised over the
    thousands of steps of a real run)."""
    success = step_success(kind)
    runs = {}

    def timed(steps: int) -> float:
        runs[steps] = time_population(kind, shape, members, TrainConfig(steps=steps, batch=batch, evals=1), success, budget.repeats)
        return runs[steps]["seconds"]

    r = difference_rate(timed, budget.seconds)
    p = len(members)
    return {"population": p, "steps": r["steps"], "seconds": r["seconds"], "probe_seconds": r["probe_seconds"],
            "compile_s": runs[r["steps"]]["compile_s"], "fixed_s": max(r["probe_seconds"] - PROBE * r["step_s"], 0.0),
            "model_steps_per_s": p / r["step_s"]}


def superposition_throughput(cfg: dict, budget: Budget, population: int | None = None) -> dict:
    """Steady model-steps/s and dense-equivalent FLOP/s of a superposition population."""
    population = population or cfg["population"]
    members = superposition_members(cfg, population)
    r = steady_throughput("superposition", superposition_shape(cfg), members, cfg["batch"], budget)
    return {**{k: v for k, v in cfg.items() if k != "population"}, **r,
            "dense_flops": r["model_steps_per_s"] * dense_flops_per_step(cfg)}


def attention_member(**fields):
    """An attention member: the kind's default, or the standard sweep's settings with ``fields``."""
    exp = experiment.get("attention")
    if not fields:
        return exp.member()
    keep = {k: v for k, v in {**ATTENTION_SWEEP, **fields}.items() if k not in ("batch", "population")}
    return exp.member(**keep)


def attention_shape(member) -> tuple[tuple[str, Any], ...]:
    exp = experiment.get("attention")
    return tuple((f, getattr(member, f)) for f in exp.static_fields()) + tuple((a, getattr(member, a)) for a in exp.padded)


def attention_flops_per_step(member, batch: int) -> float:
    """6 x the multiply-adds of the cheaper exact form of a bilinear step: projections and scores of
    all m² item pairs, or of the context's items and its B c² pairs (the kind's ``step_flops``)."""
    return experiment.get("attention").step_flops(dict(attention_shape(member)), TrainConfig(batch=batch))


def attention_throughput(member, cfg: dict, budget: Budget) -> dict:
    """Steady model-steps/s of a population of ``cfg['population']`` seeds of ``member``, and of the
    same population under the previous attention trainer (``before``), measured alongside."""
    members = [dataclasses.replace(member, seed=i) for i in range(cfg["population"])]
    r = steady_throughput("attention", attention_shape(member), members, cfg["batch"], budget)
    before = _attention_before(member, members, cfg["batch"], budget)
    return {"member": dataclasses.asdict(member), "batch": cfg["batch"], **r,
            "dense_flops": r["model_steps_per_s"] * attention_flops_per_step(member, cfg["batch"]), "before": before}


def _attention_before(member, members: list, batch: int, budget: Budget) -> dict:
    """The attention trainer before this round (lab 0.1.0 at commit 7f24a5b): every item projected,
    the context's projected rows gathered and scored (a scatter in the backward pass), the loss over
    the B c² context pairs; the same task, initialisation, optimizer and loop (lab.training)."""
    from lab.experiments.attention import train as attention_train
    from lab.experiments.attention.model import key_mask
    from lab.experiments.attention.task import context_targets, sample_contexts
    from lab.training import train_loop

    exp = experiment.get("attention")
    static = dict(attention_shape(member))
    success = step_success("attention")
    model = attention_train.make_model("bilinear", static["h"], static["dk"])
    c, m = static["context"], static["m"]

    def logits(params, x_MxD, ctx_BxC, dk, h):
        mask_HxK = key_mask(static["h"], static["dk"], dk, h)[:, None, :]
        q_MxHxK = jnp.einsum("md,hdk->mhk", x_MxD, params["w_q_HxDxK"] * mask_HxK)
        k_MxHxK = jnp.einsum("md,hdk->mhk", x_MxD, params["w_k_HxDxK"] * mask_HxK)
        return jnp.einsum("bihk,bjhk->bij", q_MxHxK[ctx_BxC], k_MxHxK[ctx_BxC]) + params["bias"]

    def make(steps: int):
        cfg = TrainConfig(steps=steps, batch=batch, evals=1)

        def train(root, hyper):
            keys = attention_train.member_keys(root)
            emb_MxD, adj_MxM = attention_train.task_instance(root, static, hyper["m_edges"], hyper["degree"])

            def loss_fn(params, batch_key):
                ctx_BxC = sample_contexts(batch_key, m, c, batch)
                out = logits(params, emb_MxD, ctx_BxC, hyper["dk"], hyper["h"])
                return attention_train.pair_loss(out, context_targets(adj_MxM, ctx_BxC), float(static["pos_weight"]))

            eval_ctx = sample_contexts(keys["eval"], m, c, success.samples)
            params = model.init(keys["init"], emb_MxD, eval_ctx[:1], hyper["dk"], hyper["h"])["params"]
            evaluate = lambda p: {"logit": logits(p, emb_MxD, eval_ctx, hyper["dk"], hyper["h"]).mean()}  # noqa: E731
            return train_loop(params, loss_fn=loss_fn, evaluate=evaluate, data_key=attention_train.data_key(m, c),
                              learning_rate=hyper["lr"], cfg=cfg)[1]

        return jax.jit(jax.vmap(train))

    keys = jnp.stack([engine.member_key(exp, mb) for mb in members])
    hyper = engine.hyper_arrays(exp, members)

    def timed(steps: int) -> float:
        compiled = make(steps).lower(keys, hyper).compile()
        jax.block_until_ready(compiled(keys, hyper))
        return best_time(lambda: jax.block_until_ready(compiled(keys, hyper)), budget.repeats)

    r = difference_rate(timed, budget.seconds / 2)
    return {"steps": r["steps"], "seconds": r["seconds"], "model_steps_per_s": len(members) / r["step_s"]}


# --- peers -------------------------------------------------------------------------------------


def jax_loop(kind: str, members: list, batch: int, budget: Budget) -> dict:
    """The lab's scanned trainer jitted per model (no vmap), models trained one after another."""
    exp = experiment.get(kind)
    shape = dict(superposition_shape_of(members[0]) if kind == "superposition" else attention_shape(members[0]))
    success = step_success(kind)

    def timed(steps: int) -> tuple[float, float]:
        train = exp.make_train(shape, TrainConfig(steps=steps, batch=batch, evals=1), success)
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

    compiles = {}

    def timed_only(steps: int) -> float:
        seconds, compiles[steps] = timed(steps)
        return seconds

    # fixed costs (initialisation, evaluation, dispatch) cancel in the difference, as in steady_throughput
    r = difference_rate(timed_only, budget.peer_seconds)
    return {"models": len(members), "steps": r["steps"], "seconds": r["seconds"], "compile_s": compiles[r["steps"]],
            "model_steps_per_s": len(members) / r["step_s"]}


def textbook_vmap(cfg: dict, budget: Budget) -> dict:
    """The best straightforward population trainer: jit(vmap(scan(step))) with per-member batches
    drawn by the fastest exact-s sampler (lab's ``sample_inputs``), gathered targets, optax's BCE and
    Adam, gradients only (no loss value), the whole population in one vmap."""
    import optax

    from lab.experiments.superposition.task import BooleanTask, sample_inputs, sample_pairs
    from lab.experiments.superposition.train import class_weights

    task = BooleanTask(m=cfg["m"], op=TASK["op"], s=TASK["s"])
    q, pos_weight = class_weights(task)
    # a quarter of the population: the per-member throughput of one vmap does not grow with its
    # size (see the scaling benchmark)
    m, n, k, batch, p = cfg["m"], cfg["n"], cfg["m_out"], cfg["batch"], max(8, cfg["population"] // 4)
    opt = optax.adam(1e-2)

    def loss(params, pairs_Kx2, key):
        x_BxM = sample_inputs(key, task, batch)
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
            grads = jax.grad(loss)(params, pairs_Kx2, jax.random.fold_in(k_data, t))
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        params, _ = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))[0]
        return loss(params, pairs_Kx2, k_data)

    keys = jax.random.split(jax.random.key(0), p)

    def timed(steps: int) -> tuple[float, float]:
        with jax.numpy_dtype_promotion("standard"):
            program = jax.jit(jax.vmap(lambda key: train(key, steps)))
            t0 = time.perf_counter()
            compiled = program.lower(keys).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(keys))
        return best_time(lambda: jax.block_until_ready(compiled(keys)), budget.repeats), compile_s

    compiles = {}

    def timed_only(steps: int) -> float:
        seconds, compiles[steps] = timed(steps)
        return seconds

    r = difference_rate(timed_only, budget.peer_seconds)  # fixed costs cancel
    model_steps = p / r["step_s"]
    return {"population": p, "steps": r["steps"], "seconds": r["seconds"], "compile_s": compiles[r["steps"]],
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

    return _torch_timed(torch, train, budget)


def _torch_timed(torch, train: Callable[[int, int, float], float], budget: Budget) -> dict:
    """Time ``train(seed, steps, lr)`` over budget.peer_models models with torch's faster of 1 and
    all threads."""
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


def torch_attention_loop(member, batch: int, budget: Budget) -> dict:
    """A plain PyTorch loop training bilinear scorers of ``member``'s shape one after another:
    contexts by a top-k of uniforms, gathered rows projected and scored, weighted BCE, Adam."""
    try:
        import torch
    except ImportError:
        return {"skipped": "torch is not installed (pip install 'lab[torch]' to compare against it)"}
    if member.model != "bilinear":
        return {"skipped": "the PyTorch peer trains the bilinear scorer only"}
    m, d, k, c, pw = member.m, member.d_model, member.h * member.dk, member.context, member.pos_weight

    def train(seed: int, steps: int, lr: float) -> float:
        gen = torch.Generator().manual_seed(seed)
        emb = torch.randn(m, d, generator=gen)
        emb = emb / emb.norm(dim=1, keepdim=True)
        out_degree = max(member.degree, 1)  # perm and degree graphs: each item has out_degree neighbours
        nbrs = torch.rand(m, m, generator=gen).topk(out_degree, dim=1).indices
        adj = torch.zeros(m, m).scatter_(1, nbrs, 1.0)
        w_q = (torch.randn(d, k, generator=gen) / d**0.5).requires_grad_()
        w_k = (torch.randn(d, k, generator=gen) / d**0.5).requires_grad_()
        bias = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([w_q, w_k, bias], lr=lr)
        loss = torch.zeros(())
        for _ in range(steps):
            ctx = torch.rand(batch, m, generator=gen).topk(c, dim=1).indices
            x = emb[ctx]
            logits = (x @ w_q) @ (x @ w_k).transpose(1, 2) + bias
            y = adj[ctx[:, :, None], ctx[:, None, :]]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=1.0 + (pw - 1.0) * y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss.detach())

    return _torch_timed(torch, train, budget)


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


def sweep_end_to_end(spec_path: str) -> dict:
    """Wall time of a whole sweep in a fresh process with a cold compilation cache, and the share
    of it that compiling adds (what `lab run SPEC` costs the first time)."""
    path = Path(spec_path)
    if not path.exists():
        return {"skipped": f"no sweep spec at {path}"}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LAB_JAX_CACHE": str(Path(tmp) / "cache")}
        code = ("import json, benchmarks.harness as b; "
                f"print('RESULT', json.dumps(b._sweep_worker({str(path)!r}, {str(Path(tmp))!r})))")
        t0 = time.perf_counter()
        out = _subprocess_result(code, env)
        out["process_s"] = time.perf_counter() - t0
    return out


def _sweep_worker(spec_path: str, tmp: str) -> dict:
    """The sweep cold, then again in the same process into a new run dir with every program
    compiled (lab.engine keeps them in memory): the difference is what compiling added to the cold
    run, whether it waited for a program or compiled while training (``compile_share``). The summed
    durations of JAX's compile events (``compile_s``) count work done in a background thread too.

    The process's CPU time of both runs (``cpu_s``, ``compiled_cpu_s``: every thread, XLA's
    included) gives what compiling cost in CPU-seconds (``compile_cpu_s``, the difference) and
    how busy the cores were (``cores_busy``, CPU time over wall time). When training and
    compiling keep every core busy, cold wall ≈ (training + compiling CPU-seconds) / cores, and
    the share ≈ ``compile_cpu_share`` = compile_cpu_s / cpu_s: compiling's part of the work."""
    from lab import sweep
    from lab.spec import load_spec

    clock = _CompileClock()
    spec = load_spec(spec_path)
    t0, c0 = time.perf_counter(), time.process_time()
    result = sweep.run_sweep(spec, Path(tmp) / "cold", progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    compile_s = clock.seconds
    t0, c0 = time.perf_counter(), time.process_time()
    sweep.run_sweep(spec, Path(tmp) / "compiled", progress=False)
    warm, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
    members, programs = result.plan.n_members, result.plan.n_programs
    compile_cpu = max(cpu - warm_cpu, 0.0)
    return {"spec": _shown(spec_path), "members": members, "programs": programs, "chunks": result.plan.n_chunks,
            "steps": spec.train.steps, "wall_s": wall, "compiled_wall_s": warm, "compile_s": compile_s,
            "compile_events_after_s": clock.seconds - compile_s, "compile_share": max(wall - warm, 0.0) / wall,
            "cpu_s": cpu, "compiled_cpu_s": warm_cpu, "compile_cpu_s": compile_cpu,
            "compile_cpu_per_program_s": compile_cpu / max(programs, 1), "compile_cpu_share": compile_cpu / cpu if cpu else 0.0,
            "cores_busy": cpu / wall, "compiled_cores_busy": warm_cpu / warm if warm else 0.0,
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


def _shown(path: str) -> str:
    """A spec path as recorded: relative to the working directory when inside it (records name no
    folder of the machine that made them), else its file name."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return p.name


def _default_sweep(name: str) -> Path | None:
    from lab.experiment import packaged_sweeps_dir

    for folder in (Path.cwd() / "sweeps", packaged_sweeps_dir()):
        p = folder / f"{name}.toml"
        if p.exists():
            return p
    return None


# --- scaling -----------------------------------------------------------------------------------


def scaling(budget: Budget, measured: dict | None = None) -> dict:
    """Wall time per training step of the population program (a) against population size at the
    small shape, (b) against width n (m = m' = 2n) at the small population's FLOPs per step
    (P = 1024 · 32/n members of 6 B (2n)·n·2 FLOPs each): a flat curve means the cost of a sweep is
    its FLOPs, whatever its shapes. ``measured``: the small population of this run, reused."""
    part = dataclasses.replace(budget, seconds=budget.seconds / 2)

    def row(cfg: dict, p: int) -> dict:
        if measured and cfg == SMALL and measured.get("population") == p:
            r = measured
        else:
            r = superposition_throughput(cfg, part, population=p)
        step_s = p / r["model_steps_per_s"]
        return {"population": p, "n": cfg["n"], "m": cfg["m"], "m_out": cfg["m_out"], "step_s": step_s,
                "model_steps_per_s": r["model_steps_per_s"], "dense_flops": r["dense_flops"],
                "step_flops": p * dense_flops_per_step(cfg), "compile_s": r["compile_s"]}

    population = [row(SMALL, p) for p in budget.populations]
    flops = SMALL["population"] * dense_flops_per_step(SMALL)
    width = []
    for n in budget.widths:
        cfg = {**SMALL, "n": n, "m": 2 * n, "m_out": 2 * n}
        width.append(row(cfg, max(2, round(flops / dense_flops_per_step(cfg)))))
    return {"population": population, "width": width, "width_step_flops": flops}


def plot_scaling(scaled: dict, path: Path) -> Path:
    """The two scaling curves: seconds per step against population size and against width."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    rows = scaled["population"]
    ps = [r["population"] for r in rows]
    a.loglog(ps, [r["step_s"] * 1e3 for r in rows], "o-", label="measured")
    a.loglog(ps, [rows[0]["step_s"] * 1e3 * p / ps[0] for p in ps], ":", color="gray", label="linear in P")
    a.set(xlabel="population P (small: m = 64, n = 32, m' = 64, batch 256)", ylabel="ms per training step",
          title="wall time against population size")
    a.set_xticks(ps, [str(p) for p in ps])
    a.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    a.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    a.legend()
    rows = scaled["width"]
    b.semilogx([r["n"] for r in rows], [r["step_s"] * 1e3 for r in rows], "o-")
    for r in rows:
        b.annotate(f"P={r['population']}", (r["n"], r["step_s"] * 1e3), textcoords="offset points", xytext=(0, 6),
                   ha="center", fontsize=7)
    b.set_ylim(0, max(r["step_s"] for r in rows) * 1e3 * 1.25)
    b.set_xticks([r["n"] for r in rows], [str(r["n"]) for r in rows])
    b.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    b.set(xlabel="width n (m = m' = 2n, batch 256)", ylabel="ms per training step",
          title=f"fixed {scaled['width_step_flops'] / 1e9:.1f} GFLOP per step")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    note = "CPU devices (--xla_force_host_platform_device_count) share the machine's cores; lab's default is one per core" if on_cpu else ""
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
    for name, r in pops.items():
        before = r.get("before", {}).get("model_steps_per_s")
        if before and "model_steps_per_s" in r:
            out[f"{name}_vs_before"] = r["model_steps_per_s"] / before
    for name, r in res.get("sweep", {}).items():
        if "compile_share" in r:
            out[f"{name}_compile_share"] = r["compile_share"]
        if "compile_cpu_share" in r:
            out[f"{name}_compile_cpu_share"] = r["compile_cpu_share"]
    for curve in ("population", "width"):
        rows = res.get("scaling", {}).get(curve, [])
        for r in rows:
            key = f"p{r['population']}" if curve == "population" else f"n{r['n']}"
            out[f"scaling_{curve}_{key}_step_time_vs_first"] = r["step_s"] / rows[0]["step_s"]
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
        lines.append(f"GEMM peak ({p['size']}^2 float32): XLA {_g(p['xla_flops'])}FLOP/s, numpy {_g(p['numpy_flops'])}FLOP/s"
                     + (f"; at the end {_g(p['again']['peak_flops'])}FLOP/s; reference {_g(p['peak_flops'])}FLOP/s" if "again" in p else ""))
    for name, r in res.get("population", {}).items():
        if "skipped" in r:
            lines.append(f"population {name}: skipped ({r['skipped']})")
            continue
        frac = rat.get(f"{name}_fraction_of_peak")
        flops = f", {_g(r['dense_flops'])}FLOP/s dense-equivalent" if "dense_flops" in r else ""
        before = rat.get(f"{name}_vs_before")
        lines.append(f"population {name} (P={r['population']}): {_g(r['model_steps_per_s'])} model-steps/s{flops}"
                     + (f" = {frac:.1%} of peak" if frac is not None else "") + f"; compile {r['compile_s']:.1f}s"
                     + (f"; {before:.1f}x the previous attention trainer ({_g(r['before']['model_steps_per_s'])})" if before else ""))
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
    for name, r in res.get("sweep", {}).items():
        if "skipped" in r or "error" in r:
            lines.append(f"sweep {name}: {'skipped' if 'skipped' in r else 'failed'} ({r.get('skipped') or r['error']})")
        else:
            lines.append(f"sweep {name} ({r['members']} members x {r['steps']} steps, {r['programs']} programs, {r['chunks']} chunks, "
                         f"cold cache): {r['wall_s']:.1f}s wall; {r['compiled_wall_s']:.1f}s again with its programs compiled: "
                         f"compiling added {r['compile_share']:.0%} ({r['compile_s']:.1f}s of compile events)"
                         + (f"; CPU time {r['cpu_s']:.0f}s cold ({r['cores_busy']:.2f} cores busy), {r['compiled_cpu_s']:.0f}s compiled: "
                            f"compiling cost {r['compile_cpu_s']:.0f} CPU-s ({r['compile_cpu_per_program_s']:.1f} per program), "
                            f"{r['compile_cpu_share']:.0%} of the cold run's CPU time" if "cpu_s" in r else ""))
    if "scaling" in res:
        cells = ", ".join(f"P={r['population']}: {r['step_s'] * 1e3:.3g}" for r in res["scaling"]["population"])
        lines.append(f"scaling with population (small, ms per step): {cells}")
        cells = ", ".join(f"n={r['n']} (P={r['population']}): {r['step_s'] * 1e3:.3g}" for r in res["scaling"]["width"])
        lines.append(f"scaling with width at {_g(res['scaling']['width_step_flops'])}FLOP per step (ms per step): {cells}")
    if "devices" in res:
        cells = ", ".join(f"{r['devices']} dev: {_g(r['model_steps_per_s'])}" if "model_steps_per_s" in r
                          else f"{r['devices']} dev: error" for r in res["devices"]["rows"])
        note = res["devices"].get("note")
        lines.append(f"device scaling (small, model-steps/s): {cells}" + (f" ({note})" if note else ""))
    load = report.get("load_before"), report.get("load_after")
    steal = report.get("steal_share")
    lines.append(f"total {report['seconds']:.0f}s" + (f"; load average before {load[0]}, after {load[1]}" if all(load) else "")
                 + (f"; CPU steal {steal:.0%} of the run (cores taken by other guests of this virtual machine)" if steal else ""))
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
