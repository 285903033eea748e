"""The jit / vmap / shard boundary: the one place where a member's pure train function becomes a
compiled population program.

``population_program(exp, shape, ...)`` returns ``f(keys_P, hyper_P) -> metrics_P``: the kind's
``train`` vmapped over P members and jitted, with the population axis sharded over the local
devices (a 1-D mesh named "pop", NamedSharding; no pmap). Trained parameters are dropped inside the
program so XLA never materialises them for the host. Programs are cached per bucket shape, and the
JAX persistent compilation cache makes re-runs skip compilation.
"""

from __future__ import annotations

import functools
import os
import typing
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lab import experiment
from lab.criterion import Criterion
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


@functools.lru_cache(maxsize=64)
def population_program(kind: str, shape: tuple[tuple[str, Any], ...], train_cfg: TrainConfig, criterion: Criterion, n_devices: int):
    """Compiled-on-first-call program training a population of one bucket's members."""
    exp = experiment.get(kind)
    train = exp.make_train(dict(shape), train_cfg, criterion)
    sharding = NamedSharding(population_mesh(), PartitionSpec("pop"))

    def metrics_only(keys, hyper):
        return jax.vmap(lambda k, h: train(k, h)[1])(keys, hyper)

    return jax.jit(metrics_only, in_shardings=(sharding, sharding), out_shardings=sharding), sharding


def hyper_arrays(exp: experiment.Experiment, members: list) -> dict[str, jax.Array]:
    """Per-member values of the traced and padded fields, shape (P,) each."""
    hints = typing.get_type_hints(exp.member)
    out = {}
    for field in exp.traced + exp.padded:
        dtype = jnp.float32 if "float" in str(hints[field]) else jnp.int32
        out[field] = jnp.asarray([getattr(m, field) for m in members], dtype)
    return out


def train_population(exp: experiment.Experiment, shape, members: list, train_cfg: TrainConfig, criterion: Criterion) -> dict[str, np.ndarray]:
    """Train ``members`` (all of one bucket shape) in one program call; metrics as numpy, (P, ...)."""
    n_dev = len(jax.local_devices())
    program, sharding = population_program(exp.name, tuple(shape), train_cfg, criterion, n_dev)
    keys = jnp.stack([experiment.member_key(exp, m) for m in members])
    hyper = hyper_arrays(exp, members)
    keys, hyper = jax.device_put((keys, hyper), sharding)
    metrics = program(keys, hyper)
    return jax.tree.map(np.asarray, metrics)
