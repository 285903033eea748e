"""Per-feature error that a trivial predictor cannot pass, and the success criterion.

With sparse inputs almost every 2-AND is 0, so plain accuracy rewards the all-zeros predictor. Each
output feature j is instead tested on held-out samples in which its own inputs are forced to each
local assignment (lab.boolean_task.local_assignments) while all other features follow the input
distribution: the false-negative rate on positives (for 2-AND: both inputs on) and the
false-positive rate on near misses (exactly one on). A feature is computed when both rates are
<= epsilon; a network succeeds when a fraction >= ``fraction`` of its m' features is computed.

Forcing a feature's inputs changes only two entries of the input, so the hidden pre-activations of
all (feature, assignment) variants are a shared background pass plus a rank-2 update: evaluation
costs O(S·N·(m + m')) rather than O(S·m'·N·m). With exactly-s inputs the background keeps s - c
other active features when c of the feature's own inputs are forced on, and background samples that
hold the feature's own inputs are left out of that feature's rates, so every test sample is drawn
from the training distribution conditioned on the assignment (about S·(1 - 2s/m) samples count).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from lab.boolean_task import BooleanTask, local_assignments, sample_inputs
from lab.mlp import width_mask


@dataclass(frozen=True)
class Criterion:
    """When a trained network counts as computing its task."""

    epsilon: float = 0.05  # per-feature bound on both the false-negative and false-positive rate
    fraction: float = 1.0  # fraction of output features that must be computed
    samples: int = 64  # held-out samples per feature and local assignment

    def __post_init__(self):
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.samples < 1:
            raise ValueError(f"samples must be positive, got {self.samples}")


def feature_error_rates(
    params: dict,
    n_active: jax.Array,
    pairs_Kx2: jax.Array,
    task: BooleanTask,
    emb_MxD: jax.Array | None,
    key: jax.Array,
    samples: int,
    decision_threshold: float = 0.0,
    feature_block: int = 64,
) -> tuple[jax.Array, jax.Array]:
    """False-negative and false-positive rates of each output feature, shapes (K,), (K,).

    ``params`` is a MaskedMLP parameter dict; outputs above ``decision_threshold`` count as 1.
    """
    vals, pos, near = local_assignments(task.op)
    vals_Ax2, pos_A, near_A = jnp.asarray(vals), jnp.asarray(pos, jnp.float32), jnp.asarray(near, jnp.float32)
    w_MxN = params["w_in_DxN"] if emb_MxD is None else emb_MxD @ params["w_in_DxN"]
    mask_N = width_mask(w_MxN.shape[1], n_active)
    # With exactly-s inputs, an assignment forcing c of the feature's inputs on keeps s - c others.
    n_on_A = vals_Ax2.sum(axis=1).astype(jnp.int32) if task.arity == 2 else vals_Ax2[:, 0].astype(jnp.int32)
    x_CxSxM = jnp.stack([background(jax.random.fold_in(key, c), task, samples, c) for c in range(3)])
    z_CxSxN = x_CxSxM @ w_MxN + params["b_in_N"]
    x_SxAxM = jnp.moveaxis(x_CxSxM[n_on_A], 0, 1)
    z_SxAxN = jnp.moveaxis(z_CxSxN[n_on_A], 0, 1)
    distinct_K = (pairs_Kx2[:, 0] != pairs_Kx2[:, 1]).astype(jnp.float32)

    def one_feature(args):
        (a, b), distinct, w_out_N, b_out = args
        da_SxA = vals_Ax2[None, :, 0] - x_SxAxM[:, :, a]
        db_SxA = (vals_Ax2[None, :, 1] - x_SxAxM[:, :, b]) * distinct
        z = z_SxAxN + da_SxA[..., None] * w_MxN[a] + db_SxA[..., None] * w_MxN[b]
        out_SxA = (jax.nn.relu(z) * mask_N) @ w_out_N + b_out
        # condition on the background not holding the feature's own inputs (they are forced)
        valid_SxA = (1.0 - x_SxAxM[:, :, a]) * (1.0 - x_SxAxM[:, :, b])
        return (out_SxA > decision_threshold).astype(jnp.float32) * valid_SxA, valid_SxA

    fires_KxSxA, valid_KxSxA = jax.lax.map(
        one_feature,
        ((pairs_Kx2[:, 0], pairs_Kx2[:, 1]), distinct_K, params["w_out_NxK"].T, params["b_out_K"]),
        batch_size=min(feature_block, pairs_Kx2.shape[0]),
    )
    fires_KxA = fires_KxSxA.sum(axis=1) / jnp.maximum(valid_KxSxA.sum(axis=1), 1.0)
    fnr_K = ((1.0 - fires_KxA) * pos_A).sum(-1) / pos_A.sum()
    fpr_K = (fires_KxA * near_A).sum(-1) / near_A.sum()
    return fnr_K, fpr_K


def success(fnr_K: jax.Array, fpr_K: jax.Array, k_active: jax.Array, criterion: Criterion) -> dict:
    """Summary over the first ``k_active`` features: worst rates, fraction computed, success flag."""
    active_K = jnp.arange(fnr_K.shape[0]) < k_active
    ok_K = (jnp.maximum(fnr_K, fpr_K) <= criterion.epsilon) & active_K
    frac_ok = ok_K.sum().astype(jnp.float32) / jnp.maximum(k_active, 1).astype(jnp.float32)
    return {
        "fnr_max": jnp.where(active_K, fnr_K, 0.0).max(),
        "fpr_max": jnp.where(active_K, fpr_K, 0.0).max(),
        "frac_ok": frac_ok,
        "success": frac_ok >= criterion.fraction - 1e-9,
    }


def background(key: jax.Array, task: BooleanTask, samples: int, n_forced: int) -> jax.Array:
    """Inputs around a feature whose own inputs hold ``n_forced`` ones, shape (samples, m).

    Bernoulli inputs are independent of the forced ones; exactly-s inputs keep s - n_forced others
    (samples that hold the feature's own inputs are excluded by feature_error_rates).
    """
    if task.s is None:
        return sample_inputs(key, task, samples)
    s_rest = max(task.s - n_forced, 0)
    if s_rest == 0:
        return jnp.zeros((samples, task.m))
    return sample_inputs(key, dataclasses.replace(task, s=s_rest), samples)
