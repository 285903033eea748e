"""Training a memorisation member: cross-entropy on the query's label, the paper's learning-rate
schedule, and the count of memorised examples (``make_train``, which the engine vmaps and jits).

Heads, context tokens and examples are padded (head and token masks; a member draws its batches
from its first N examples and is scored on them), so a bucket trains seeds x h x n x N in one
program. Their code trains each (h, n, N) point as its own process.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from lab import experiment
from lab.experiments.memorization.model import init_params, logits
from lab.experiments.memorization.success import MemorizationSuccess
from lab.experiments.memorization.task import (
    examples,
    member_keys,
    memorisation_metrics,
    positions,
    random_contexts,
    shared_context,
)
from lab.training import TrainConfig, train_loop

EVAL_CHUNK = 1024  # examples scored at once at an evaluation point (memory only)


def schedule(peak: jax.Array, steps: int):
    """Their schedule: linear warm-up from peak/100 over the first 5% of steps, then cosine decay
    to 0 (torch LinearLR then CosineAnnealingLR); ``peak`` may be traced."""
    warm = max(steps // 20, 1)

    def lr(count):
        t = count.astype(jnp.float32)
        rise = peak * (0.01 + 0.99 * t / warm)
        fall = peak * 0.5 * (1.0 + jnp.cos(math.pi * (t - warm) / max(steps - warm, 1)))
        return jnp.where(t < warm, rise, fall)

    return lr


def data_key() -> jax.Array:
    """The batch stream shared by every member (TrainConfig.data = "task"): uniforms that each
    member turns into indices among its own N examples."""
    return jax.random.key(experiment.stable_hash("memorization-data"))


def make_train(static: Mapping[str, Any], train_cfg: TrainConfig, success: MemorizationSuccess):
    """Build train(root_key, hyper) for one bucket; hyper = {lr, examples, h, context} (scalars)."""
    n_max, h_max, big_n = static["context"], static["h"], static["examples"]
    d_in, classes = static["d_in"], static["classes"]
    shared = static["contexts"] == "shared"
    pos_TxD = jnp.asarray(positions(n_max + 1, static["d_model"]))
    chunk = min(big_n, EVAL_CHUNK)
    eval_idx_KxE = jnp.minimum(jnp.arange(-(-big_n // chunk) * chunk), big_n - 1).reshape(-1, chunk)

    def train(root: jax.Array, hyper: Mapping[str, jax.Array]):
        keys = member_keys(root)
        n_ex = hyper["examples"]
        q_NxI, y_N = examples(keys["examples"], big_n, d_in, classes)
        ctx = shared_context(keys["contexts"], n_max, d_in) if shared else None
        ctx_mask = jnp.arange(n_max) < hyper["context"]
        head_mask = jnp.arange(h_max) < hyper["h"]

        def batch_logits(params, idx_B):
            c = ctx if shared else random_contexts(keys["contexts"], idx_B, n_max, d_in)
            return logits(params, q_NxI[idx_B], c, pos_TxD, ctx_mask, head_mask)

        def sample(batch_key):
            """The step's examples, uniform over the member's first n_ex."""
            u_B = jax.random.uniform(batch_key, (train_cfg.batch,))
            return jnp.minimum((u_B * n_ex.astype(jnp.float32)).astype(jnp.int32), n_ex - 1)

        def loss_fn(params, idx_B):
            ce = optax.softmax_cross_entropy_with_integer_labels(batch_logits(params, idx_B), y_N[idx_B])
            return ce.mean()

        def evaluate(params):
            pred = jax.lax.map(lambda idx: jnp.argmax(batch_logits(params, idx), axis=-1), eval_idx_KxE)
            correct_N = pred.reshape(-1)[:big_n] == y_N
            return memorisation_metrics(correct_N, y_N, jnp.arange(big_n) < n_ex, classes, success.epsilon)

        params = init_params(keys["init"], h_max=h_max, d_model=static["d_model"], dh=static["dh"], d_in=d_in,
                             classes=classes, h=hyper["h"])
        return train_loop(
            params, loss_fn=loss_fn, evaluate=evaluate,
            data_key=data_key() if train_cfg.data == "task" else keys["data"],
            learning_rate=schedule(hyper["lr"], train_cfg.steps), cfg=train_cfg, sample=sample,
        )

    return train
