"""The training loop shared by every experiment kind: one `lax.scan`, evaluated at a few points.

A run is ``steps`` optimizer steps split into ``evals`` equal segments; after each segment the
kind's ``evaluate`` runs on held-out data. Batches are drawn inside the loop from
``fold_in(data_key, step)``, so they depend neither on how the run is segmented nor on any other
member. Scalars such as the learning rate are traced values: sweeping them never recompiles.
No host sync happens inside: the caller (lab.engine) jits and vmaps this over a population.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lab.train_config import DATA, OPTIMIZERS, TrainConfig  # noqa: F401  (re-exported)


def logged_steps(cfg: TrainConfig):
    """Which positions of a segment report their training loss, bool (steps_per_eval,): every
    ``loss_every``-th step and the last one (a divergence shows there, as NaN stays NaN)."""
    j = np.arange(cfg.steps_per_eval)
    return ((j + 1) % cfg.loss_every == 0) | (j == cfg.steps_per_eval - 1)


def make_optimizer(name: str, learning_rate: jax.Array) -> optax.GradientTransformation:
    """The optimizer, with a (possibly traced, per-member) learning rate."""
    if name == "adam":
        return optax.adam(learning_rate)
    if name == "adamw":
        return optax.adamw(learning_rate, weight_decay=1e-4)
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}")


def train_loop(
    params,
    *,
    loss_fn: Callable[[object, object], jax.Array],
    evaluate: Callable[[object], dict],
    data_key: jax.Array,
    learning_rate: jax.Array,
    cfg: TrainConfig,
    sample: Callable[[jax.Array], object] | None = None,
):
    """Train ``params`` on ``loss_fn(params, batch)``; returns (params, metrics).

    ``batch = sample(batch_key)`` (default: the key itself, for a loss that draws its own batch).
    A kind that draws its batch in ``sample`` has it drawn once per step, outside the gradient and
    the logged loss: the program then holds one copy of the sampler, not two (on a CPU each random
    draw compiles to a dozen kernels, most of a small program's compile time).

    metrics: ``loss`` (mean training loss of each segment, over its logged steps: see
    ``logged_steps``) and each entry of ``evaluate(params)``, stacked over evaluation points:
    leaves of shape (evals, ...).
    """
    opt = make_optimizer(cfg.optimizer, learning_rate)
    grad_fn = jax.grad(loss_fn)
    logged = logged_steps(cfg)
    n_logged, logged_J = float(logged.sum()), jnp.asarray(logged)

    def step(carry, t_j):
        t, j = t_j  # step index in the run, position in its segment
        params, opt_state = carry
        batch_key = jax.random.fold_in(data_key, t)
        batch = batch_key if sample is None else sample(batch_key)
        grads = grad_fn(params, batch)
        # the predicate is the same for every member, so under vmap this stays a branch
        loss = jax.lax.cond(logged_J[j], lambda: loss_fn(params, batch), lambda: jnp.zeros((), jnp.float32))
        with jax.numpy_dtype_promotion("standard"):  # optax mixes Python floats and int32 counts
            updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def segment(carry, seg):
        js = jnp.arange(cfg.steps_per_eval)
        carry, losses = jax.lax.scan(step, carry, (seg * cfg.steps_per_eval + js, js))
        return carry, {"loss": losses.sum() / n_logged, **evaluate(carry[0])}

    with jax.numpy_dtype_promotion("standard"):
        opt_state = opt.init(params)
    (params, _), metrics = jax.lax.scan(segment, (params, opt_state), jnp.arange(cfg.evals))
    return params, metrics
