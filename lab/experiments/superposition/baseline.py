"""The naive baseline of the superposition lab: one dedicated neuron per feature, in the member's own
setting (same task instance, same superposition of inputs and outputs), scored by the criterion."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab import experiment
from lab.engine import member_key
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.member import SuperpositionMember
from lab.experiments.superposition.scoring import feature_scores, success
from lab.experiments.superposition.task import feature_embedding, sample_pairs
from lab.experiments.superposition.train import member_keys, readout_vectors


def dedicated_network(member: SuperpositionMember) -> tuple[dict, jax.Array, jax.Array | None]:
    """The naive baseline in the member's own setting: one neuron per feature, m' = n.

    Neuron j reads the (possibly superposed) input along e_a + e_b with bias -1, so it fires when
    both of its inputs are on (perm: along 2 e_a), and writes 2·v_j into the
    (possibly superposed) output, which the decoder reads as 2 Σ_k h_k v_k·v_j - 1. Exact with
    raw inputs and outputs; interference between the superposed directions is all that can make
    it fail. Returns (parameters with the readout folded in, pairs (m', 2), embedding or None),
    drawn from the member's own keys, so it faces the same task instance as the trained member.
    """
    task, k = member.task, member.m_out
    keys = member_keys(member_key(experiment.get("superposition"), member))
    pairs_Kx2 = sample_pairs(keys["task"], task, k)
    emb_MxD = feature_embedding(keys["embed"], task.m, task.d) if task.d is not None else None
    e_MxD = emb_MxD if emb_MxD is not None else jnp.eye(task.m)
    w_in_DxK = (e_MxD[pairs_Kx2[:, 0]] + e_MxD[pairs_Kx2[:, 1]]).T  # perm (a = b): 2 e_a
    b_in_K = -jnp.ones(k)
    if member.d_out is None:
        w_out_KxK, b_out_K = 2.0 * jnp.eye(k), -jnp.ones(k)
    else:
        read_OxK = readout_vectors(keys["readout"], member.d_out, k)
        w_out_KxK, b_out_K = 2.0 * read_OxK.T @ read_OxK, -jnp.ones(k)
    if member.objective != "bce":  # mse reads outputs at 1/2: scale the logit-style read into [0, 1]
        w_out_KxK, b_out_K = 0.5 * w_out_KxK, 0.5 * b_out_K + 0.5
    params = {"w_in_DxN": w_in_DxK, "b_in_N": b_in_K, "w_out_NxK": w_out_KxK, "b_out_K": b_out_K}
    return params, pairs_Kx2, emb_MxD


def dedicated_baseline(member: SuperpositionMember, criterion: Criterion) -> dict:
    """Scores of ``dedicated_network`` under the criterion: success, n_ok, frac_ok, worst rates."""
    params, pairs_Kx2, emb_MxD = dedicated_network(member)
    k = member.m_out
    decision = 0.0 if member.objective == "bce" else 0.5
    key = member_keys(member_key(experiment.get("superposition"), member))["eval"]
    scores = feature_scores(params, jnp.int32(k), pairs_Kx2, member.task, emb_MxD, key, criterion, decision)
    return {name: float(v) for name, v in success(scores, jnp.int32(k), criterion).items()}
