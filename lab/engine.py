"""The jit / vmap / shard boundary: the one place where a member's pure train function becomes a
compiled population program.

``population_program(exp, shape, ...)`` returns ``f(keys_P, hyper_P) -> metrics_P``: the kind's
``train`` vmapped over P members and jitted, with the population axis sharded over the local
devices (a 1-D mesh named "pop"; each device trains its own members under ``shard_map``; no
pmap). Trained parameters are dropped inside the program so XLA never materialises them for the
host, unless the sweep keeps them ([run] keep_params). Programs are cached per bucket shape, and
the JAX persistent compilation cache makes re-runs skip compilation.

``Compiler`` compiles a sweep's programs ahead of time in a background thread, so that XLA compiles
the next buckets while the current one trains (lab.sweep runs the costliest bucket first).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
import typing
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lab import experiment
from lab.cpu_devices import usable_cores
from lab.training import TrainConfig


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (default ~/.cache/lab/jax, or $LAB_JAX_CACHE)."""
    path = Path(path or os.environ.get("LAB_JAX_CACHE", Path.home() / ".cache" / "lab" / "jax"))
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return path


def population_mesh() -> Mesh:
    """A 1-D mesh over this process's devices; each process trains its own members."""
    return Mesh(np.array(jax.local_devices()), ("pop",))


# On a CPU the population runs as consecutive groups (lax.map over groups, vmap within). A group is
# as small as the cost of dispatching its operations allows: its members' memory estimates
# (Experiment.bytes_per_member) add up to at most CPU_GROUP_BYTES, so that a step's activations stay
# in cache, unless the group would then do fewer than CPU_GROUP_FLOPS per training step
# (Experiment.step_flops), where each of a step's few hundred small operations costs more to
# launch than to run; a group holds at least two members. On the 2-core benchmark machine (one JAX
# device per core) this gives groups of 8 small and 2 large superposition members (about 1.2x and
# 1.5x faster per member than groups of 256 and 32) and keeps the attention kind's default member
# (0.15 MFLOP a step) in groups of 128, where groups of 8 ran 3.8x slower (benchmarks/README.md).
# Accelerators take the whole population at once.
CPU_GROUP_BYTES = 8 << 20
CPU_GROUP_FLOPS = 32e6

# XLA options of a population program compiled for a CPU. LLVM at -O1 rather than -O3 compiles the
# quick sweeps' programs 15-55% faster (superposition 5.9 -> 3.9-4.3 s, attention 4.5 -> 1.9 s on
# the 2-core benchmark machine) and runs them as fast: their time goes to library matrix products
# and few large fusions. Members' results were bitwise equal in the buckets compared, or differed
# in a loss's last bit (benchmarks/README.md). Accelerators keep XLA's defaults.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def group_size(members_per_device: int, bytes_per_member: int, flops_per_step: float = 0.0,
               platform: str | None = None) -> int:
    """Members vmapped together on one device; the rest run group after group.

    On a CPU: the fewest groups of at most b members (k = ceil(P / b) groups), made as even as
    possible (g = ceil(P / k) members each). b is the largest power of two whose memory estimate
    fits ``CPU_GROUP_BYTES``, raised to the members that make ``CPU_GROUP_FLOPS`` per step when
    ``flops_per_step`` (one member's) is known, and to 2. Under 2b members, one group: two groups
    with repeated lanes would do more work. Groups that divide the population (up to a few
    repeated lanes, see ``population_program``) keep ``lax.map`` from compiling a second copy of
    the program for a remainder group: with 6 members and a budget of 4 the program held a group of
    4 and a copy for the other 2, and compiled in twice the time.
    """
    platform = platform or jax.local_devices()[0].platform
    if platform != "cpu":
        return members_per_device
    fit = max(1, CPU_GROUP_BYTES // max(bytes_per_member, 1))
    largest = 1 << (fit.bit_length() - 1)
    if flops_per_step > 0:
        largest = max(largest, -int(-CPU_GROUP_FLOPS // flops_per_step))
    largest = max(largest, 2)  # a group of one ran 1.5-3x slower per member than a group of two
    if 2 * largest > members_per_device:  # one group rather than two and a half
        return members_per_device
    n_groups = -(-members_per_device // largest)
    return -(-members_per_device // n_groups)


def bucket_group(exp: experiment.Experiment, shape: Mapping[str, Any], train_cfg: TrainConfig, success: Any,
                 members_per_device: int, platform: str | None = None) -> int:
    """``group_size`` of a bucket of ``exp``: from its members' memory and FLOPs estimates."""
    flops = exp.step_flops(shape, train_cfg) if exp.step_flops else 0.0
    return group_size(members_per_device, exp.bytes_per_member(shape, train_cfg, success), flops, platform)


@functools.lru_cache(maxsize=64)
def population_program(kind: str, shape: tuple[tuple[str, Any], ...], train_cfg: TrainConfig, success: Any,
                       group: int | None = None, keep_params: bool = False):
    """Compiled-on-first-call program training a population of one bucket's members: metrics, or
    (metrics, trained parameters) with ``keep_params``; leaves (P, ...), P a multiple of the local
    devices (``population_mesh``), which each train P / devices of them.

    ``group``: members vmapped together per device (default ``group_size``); like the chunk size,
    it can change a member's last float bits (see lab.sweep). When it does not divide a device's
    members, the last group is filled with repeats of the last member (their results are dropped),
    so that ``lax.map`` runs whole groups only: one copy of the training in the program.
    Each device runs its own members (``shard_map`` over the "pop" axis): a vmap over a device axis
    around the groups' ``lax.map``, partitioned by XLA, had run grouped programs 1.5-10x slower on
    two CPU devices (benchmarks/README.md).
    """
    exp = experiment.get(kind)
    train = exp.make_train(dict(shape), train_cfg, success)
    sharding = NamedSharding(population_mesh(), PartitionSpec("pop"))

    def member(k, h):
        params, metrics = train(k, h)
        return (metrics, params) if keep_params else metrics

    def device_members(keys, hyper):
        """One device's members (leaves (P / devices, ...)): vmapped all at once, or group after group."""
        per_dev = keys.shape[0]
        g = group or bucket_group(exp, dict(shape), train_cfg, success, per_dev)
        if g >= per_dev:
            return jax.vmap(member)(keys, hyper)
        lanes = -(-per_dev // g) * g  # whole groups: lanes past per_dev repeat the device's last member
        if lanes > per_dev:
            keys, hyper = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], lanes - per_dev, axis=0)]), (keys, hyper))
        out = jax.lax.map(lambda a: member(*a), (keys, hyper), batch_size=g)
        return jax.tree.map(lambda a: a[:per_dev], out)

    # check_vma=False: the kinds' custom VJPs (the attention scorer's) return cotangents without the
    # manual-axis type that shard_map's checker expects; every member's computation is local anyway
    population = jax.shard_map(device_members, mesh=sharding.mesh, in_specs=sharding.spec, out_specs=sharding.spec,
                               check_vma=False)

    options = CPU_COMPILER_OPTIONS if jax.local_devices()[0].platform == "cpu" else None
    return jax.jit(population, in_shardings=(sharding, sharding), out_shardings=sharding, compiler_options=options), sharding


def member_key(exp: experiment.Experiment, member) -> jax.Array:
    """The member's root PRNG key: its seed folded with its task identity."""
    ident = ",".join(f"{f}={getattr(member, f)!r}" for f in exp.identity)
    return jax.random.fold_in(jax.random.key(member.seed), experiment.stable_hash(f"{exp.name}:{ident}"))


def hyper_dtypes(exp: experiment.Experiment) -> dict[str, Any]:
    """The dtype of each traced and padded field's per-member array (float32 or int32)."""
    hints = typing.get_type_hints(exp.member)
    return {field: jnp.float32 if "float" in str(hints[field]) else jnp.int32 for field in exp.traced + exp.padded}


def hyper_arrays(exp: experiment.Experiment, members: list) -> dict[str, jax.Array]:
    """Per-member values of the traced and padded fields, shape (P,) each."""
    return {field: jnp.asarray([getattr(m, field) for m in members], dtype) for field, dtype in hyper_dtypes(exp).items()}


@functools.lru_cache(maxsize=32)
def compile_population(kind: str, shape: tuple, train_cfg: TrainConfig, success: Any, population: int, keep_params: bool = False):
    """The population program of one bucket compiled ahead of time for ``population`` members (no
    arrays needed: it is lowered from their shapes). Returns (compiled, sharding). Kept in memory
    for the process's later sweeps (e.g. a sweep run again, resumed, or run by a test)."""
    exp = experiment.get(kind)
    program, sharding = population_program(kind, tuple(shape), train_cfg, success, keep_params=keep_params)
    key_dtype = jax.eval_shape(lambda: jax.random.key(0)).dtype
    keys = jax.ShapeDtypeStruct((population,), key_dtype, sharding=sharding)
    hyper = {f: jax.ShapeDtypeStruct((population,), d, sharding=sharding) for f, d in hyper_dtypes(exp).items()}
    return program.lower(keys, hyper).compile(), sharding


class Compiler:
    """Compiles population programs ahead of time, ``workers`` at a time, in background threads.

    ``submit`` queues a program (once per bucket and population); ``get`` returns it, waiting for
    its compilation (or compiling it now if it was never submitted). XLA compiles without holding
    the GIL, so a worker compiles the next buckets while the caller's thread trains the current
    one. ``workers = 0`` compiles each program when it is needed (no thread).

    Default: one worker, except on a CPU with a single usable core, where compiling would only
    take turns with training. With one JAX device per core the training keeps a CPU's cores busy,
    so there compiling ahead takes turns with it (on the 2-core benchmark machine the cold quick
    sweeps took as long with it as without; with one device it had made them 10-20% faster);
    where cores are spare, or on an accelerator, it hides the compiles (docs/install.md).
    ``$LAB_COMPILE_AHEAD`` = 1 or 0 overrides it.
    """

    def __init__(self, workers: int | None = None):
        if workers is None:
            forced = os.environ.get("LAB_COMPILE_AHEAD")
            workers = int(forced != "0") if forced is not None else int(jax.local_devices()[0].platform != "cpu" or usable_cores() > 1)
        self.workers = workers
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="lab-compile") if workers else None
        self._futures: dict[tuple, concurrent.futures.Future] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, shape, train_cfg: TrainConfig, success: Any, population: int, keep_params: bool = False) -> None:
        key = (kind, tuple(shape), train_cfg, success, population, keep_params)
        with self._lock:
            if key in self._futures or self._pool is None:
                return
            self._futures[key] = self._pool.submit(compile_population, *key)

    def get(self, kind: str, shape, train_cfg: TrainConfig, success: Any, population: int, keep_params: bool = False):
        """(compiled program, input sharding) of a bucket."""
        key = (kind, tuple(shape), train_cfg, success, population, keep_params)
        with self._lock:
            future = self._futures.get(key)
        if future is None or future.cancelled():
            return compile_population(*key)
        return future.result()

    def close(self) -> None:
        """Drop programs not yet compiled; one being compiled finishes in its thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "Compiler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def train_population(exp: experiment.Experiment, shape, members: list, train_cfg: TrainConfig, success: Any,
                     compiler: Compiler | None = None, keep_params: bool = False):
    """Train ``members`` (all of one bucket shape) in one program call; metrics as numpy, (P, ...),
    or (metrics, trained parameters) with ``keep_params``.

    With ``compiler`` the program comes from it (compiled ahead, see ``Compiler``); the result is
    the same either way.
    """
    keys = jnp.stack([member_key(exp, m) for m in members])
    hyper = hyper_arrays(exp, members)
    if compiler is None:
        program, sharding = population_program(exp.name, tuple(shape), train_cfg, success, keep_params=keep_params)
    else:
        program, sharding = compiler.get(exp.name, shape, train_cfg, success, len(members), keep_params)
    keys, hyper = jax.device_put((keys, hyper), sharding)
    metrics = program(keys, hyper)
    return jax.tree.map(np.asarray, metrics)
