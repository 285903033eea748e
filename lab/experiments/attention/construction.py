"""Explicit bilinear-attention weights that recognise a relational graph (Adler, arXiv 2509.22840).

Notation: E (m x d) item embeddings (rows x_i), A (m x m) adjacency, D = D_K key dimension. A
bilinear scorer (lab.experiments.attention.model.BilinearScorer) gives S = E W_Q W_Kᵀ Eᵀ + b and predicts the
edge i -> j iff S_ij > 0. Both constructions use bias b = -1/2 and aim at S_ij ≈ A_ij.

1. Uncompressed (m = d, E orthogonal), any graph (in particular a permutation):
   W_Q = Eᵀ A E, W_K = I_d (one head, D_K = d). Then S = E Eᵀ A E Eᵀ - 1/2 = A - 1/2 exactly:
   recovery is 100% in every context.
   With out-degree <= 1 (a permutation, a degree-1 graph) D_K = 2 is already exact (``circle_construction``):
   item j gets the key k_j = (cos θ_j, sin θ_j), θ_j = 2πj/m, item i the query q_i = k_{π(i)} of its
   out-neighbour (0 if none), bias -cos(π/m): S_ij = cos(θ_π(i) - θ_j) - cos(π/m) is positive iff
   j = π(i). With m = d any such q, k are linear in x (W_Q = Eᵀq, W_K = Eᵀk), so at m = d_model a
   rank-2 bilinear form recognises every function graph: the uncompressed setting constrains D_K
   only through the precision it needs (margins ~ (π/m)²), not through the m' log m' count.

2. Compressed (m > d, random unit rows), total key dimension D = D_K, edges spread over h heads.
   Keys: a random map G (d x D, Gaussian), k_j = Gᵀ x_j. Query targets: q_a = Σ_{b ∈ N(a)} k_b/|k_b|²,
   so that q_a·k_j = 1 + Σ_{b ∈ N(a), b≠j} k_b·k_j/|k_b|² is 1 on edges and N(0, deg/D) noise off
   them. The query map must be linear in x, so W_Q solves a debiased least-squares problem,
       W_Q = E⁺ diag(1/(P_E)_aa) Q,   P_E = E E⁺ (the projection onto col(E), rank d):
   row i of E W_Q is Σ_a (P_E)_ia/(P_E)_aa q_a, whose a = i term is exactly q_i. Hence
       S_ij + 1/2 = A_ij + [Σ_{b∈N(i), b≠j} k_b·k_j/|k_b|²] + [Σ_{a≠i} (P_E)_ia/(P_E)_aa q_a·k_j].
   For a random d-dimensional col(E), (P_E)_ia ~ √d/m and (P_E)_aa ≈ d/m, so the last sum has
   variance ≈ Σ_a (1/d)(q_a·k_j)² ≈ indeg(j)/d + m'/(d·D); the middle one deg(i)/D <= m'/(d·D)
   when m = d and smaller otherwise. So the noise is σ² ≈ m'/(d_model·D_K) (+ indeg/d_model).
   A context holds c² pairs; recovering (1 - ε) of the queries needs 1/(2σ) ≳ √(2 ln(c²/ε)):
       D_K ≳ 8 ln(c²/ε) · m' / d_model,
   and with c and 1/ε polynomial in m' (the union bound over the graph's pairs) this is
   D_K = Θ(m' log m' / d_model), the law. ``stated_dk`` fixes the constant: D_K = ⌈C·m' ln m' / d⌉.
   The h heads take column blocks of W_Q and G: head t owns key directions t·d_k..(t+1)·d_k - 1 and
   every edge's signal is spread over all heads. For a bilinear scorer the split of D over heads is
   immaterial (many heads = one head of rank D_K, lab.experiments.attention.model.merge_heads).
   For m = d (E orthogonal) the last sum vanishes: only the key crosstalk deg/D is left.
   Regime: the embedding crosstalk (deg + indeg)(1/d - 1/m) does not shrink with D, so the
   construction needs d_model ≳ 8 ln(c/ε)·(deg + indeg)·(1 - d/m): it works for m = d and mild
   compression (tests: m = 1.25 d, degree 1) and fails at any D_K when d_model is too small for
   the degrees (e.g. m = 2d, degree 1, d = 64). Trained models do better than this construction.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lab.experiments.attention.model import BilinearScorer
from lab.experiments.attention.success import AttentionSuccess
from lab.experiments.attention.task import adjacency, context_targets, edge_metrics, graph_ranks, item_embeddings, sample_contexts

STATED_C = 12.0  # D_K = ⌈STATED_C · m' ln m' / d_model⌉: the stated size (measured smallest: 6-9, tests/test_attention_construction.py)


def uncompressed_construction(emb_MxD: jax.Array, adj_MxM: jax.Array) -> dict:
    """Exact bilinear weights for m = d_model (orthonormal embeddings): one head, D_K = d_model."""
    m, d = emb_MxD.shape
    if m != d:
        raise ValueError(f"the exact construction needs m = d_model (orthonormal embeddings), got m={m}, d_model={d}")
    w_q_DxD = emb_MxD.T @ adj_MxM @ emb_MxD
    return {"w_q_HxDxK": w_q_DxD[None], "w_k_HxDxK": jnp.eye(d)[None], "bias": jnp.asarray(-0.5)}


def circle_construction(emb_MxD: jax.Array, adj_MxM: jax.Array) -> dict:
    """Exact bilinear weights of key dimension 2 for a graph of out-degree <= 1 at m = d_model (docstring, 1)."""
    m, d = emb_MxD.shape
    if m != d:
        raise ValueError(f"the circle construction needs m = d_model (orthonormal embeddings), got m={m}, d_model={d}")
    if float(jnp.max(adj_MxM.sum(1))) > 1:
        raise ValueError("the circle construction needs out-degree <= 1 (a permutation or degree-1 graph)")
    theta_M = 2 * jnp.pi * jnp.arange(m, dtype=emb_MxD.dtype) / m
    k_Mx2 = jnp.stack([jnp.cos(theta_M), jnp.sin(theta_M)], axis=1)
    q_Mx2 = adj_MxM @ k_Mx2  # the key of each item's out-neighbour
    # E is orthogonal, so x_i W_Q = (E Eᵀ q)_i = q_i and likewise for the keys
    return {"w_q_HxDxK": (emb_MxD.T @ q_Mx2)[None], "w_k_HxDxK": (emb_MxD.T @ k_Mx2)[None],
            "bias": -jnp.cos(jnp.pi / m)}


def compressed_weights(key: jax.Array, emb_MxD: jax.Array, adj_MxM: jax.Array, dk_max: int, dk: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(W_Q, W_K) of construction 2, shapes (d, dk_max), using only the first ``dk`` (traced) columns."""
    mask_K = (jnp.arange(dk_max) < dk).astype(emb_MxD.dtype)
    # whitened random keys: k_b·k_j / |k_b|² ≈ (P_E)_bj / (P_E)_bb + N(0, 1/D), the least crosstalk
    # a linear key map of compressed embeddings allows (none at all when m = d)
    evals_D, evecs_DxD = jnp.linalg.eigh(emb_MxD.T @ emb_MxD)
    evals_D = jnp.maximum(evals_D, 1e-6 * evals_D[-1])
    whiten_DxD = (evecs_DxD / jnp.sqrt(evals_D)) @ evecs_DxD.T
    g_DxK = whiten_DxD @ jax.random.normal(key, (emb_MxD.shape[1], dk_max)) * mask_K
    k_MxK = emb_MxD @ g_DxK
    q_MxK = adj_MxM @ (k_MxK / jnp.maximum((k_MxK**2).sum(1, keepdims=True), 1e-12))
    # E⁺ = (EᵀE)⁻¹Eᵀ (m >= d, full column rank) from the same eigendecomposition: one LAPACK call per
    # program. Two batched LAPACK calls running concurrently can deadlock XLA's CPU thread pool on a
    # 2-core machine (seen with eigh beside pinv's SVD under vmap, jaxlib 0.10.2).
    pinv_DxM = ((evecs_DxD / evals_D) @ evecs_DxD.T) @ emb_MxD.T
    p_diag_M = jnp.einsum("md,dm->m", emb_MxD, pinv_DxM)  # diagonal of P_E = E E⁺
    return pinv_DxM @ (q_MxK / p_diag_M[:, None]), g_DxK


def compressed_construction(key: jax.Array, emb_MxD: jax.Array, adj_MxM: jax.Array, dk: int, h: int = 1) -> dict:
    """Bilinear weights of total key dimension dk over h heads (module docstring, construction 2)."""
    d = emb_MxD.shape[1]
    if dk % h:
        raise ValueError(f"dk must be divisible by h, got dk={dk}, h={h}")
    w_q_DxK, g_DxK = compressed_weights(key, emb_MxD, adj_MxM, dk, jnp.asarray(dk))
    split = lambda w: jnp.moveaxis(w.reshape(d, h, dk // h), 1, 0)  # noqa: E731  (head t: columns t*d_k..)
    return {"w_q_HxDxK": split(w_q_DxK), "w_k_HxDxK": split(g_DxK), "bias": jnp.asarray(-0.5)}


def stated_dk(m_edges: int, d_model: int, c: float = STATED_C) -> int:
    """The construction's stated size ⌈c · m' ln m' / d_model⌉ (at least 1)."""
    return max(1, math.ceil(c * m_edges * math.log(max(m_edges, 2)) / d_model))


def construction_recovery(params: dict, emb_MxD: jax.Array, adj_MxM: jax.Array, key: jax.Array, context: int, samples: int) -> dict:
    """Edge metrics (lab.experiments.attention.task.edge_metrics) of constructed weights on ``samples`` random contexts."""
    h, _, k = params["w_q_HxDxK"].shape
    ctx_BxC = sample_contexts(key, emb_MxD.shape[0], context, samples)
    logits = BilinearScorer(h_max=h, dk_max=k).apply({"params": params}, emb_MxD, ctx_BxC, jnp.asarray(h * k), jnp.asarray(h))
    return edge_metrics(logits > 0, context_targets(adj_MxM, ctx_BxC))


def random_instance(key: jax.Array, m: int, d_model: int, graph: str, m_edges: int) -> tuple[jax.Array, jax.Array]:
    """(embeddings, adjacency) of a random RGR instance (degree graphs: m_edges must be m·k)."""
    k_emb, k_graph = jax.random.split(key)
    emb_MxD = item_embeddings(k_emb, m, d_model)
    ranks = graph_ranks(k_graph, m, graph)
    return emb_MxD, adjacency(ranks, graph, jnp.asarray(m_edges), jnp.asarray(m_edges // m))


def construction_recoveries(m: int, d_model: int, graph: str, m_edges: int, dks, *, seeds: int = 2,
                            context: int = 16, samples: int = 256) -> np.ndarray:
    """Recovery of construction 2 on ``seeds`` random instances at each dk, shape (seeds, len(dks)).

    One jitted program: dks are masks on max(dks) key columns, seeds and dks are vmapped.
    """
    dk_max = int(max(dks))

    def one(seed_key, dk):
        k_inst, k_g, k_ctx = jax.random.split(seed_key, 3)
        emb, adj = random_instance(k_inst, m, d_model, graph, m_edges)
        w_q, w_k = compressed_weights(k_g, emb, adj, dk_max, dk)
        params = {"w_q_HxDxK": w_q[None], "w_k_HxDxK": w_k[None], "bias": jnp.asarray(-0.5)}
        ctx_BxC = sample_contexts(k_ctx, m, context, samples)
        logits = BilinearScorer(h_max=1, dk_max=dk_max).apply({"params": params}, emb, ctx_BxC, dk, jnp.asarray(1))
        return edge_metrics(logits > 0, context_targets(adj, ctx_BxC))["recovery"]

    keys = jnp.stack([jax.random.key(s) for s in range(seeds)])
    dks_arr = jnp.asarray(list(dks), jnp.int32)
    run = jax.jit(jax.vmap(lambda k: jax.vmap(lambda dk: one(k, dk))(dks_arr)))
    return np.asarray(run(keys))


def smallest_dk(m: int, d_model: int, graph: str, m_edges: int, dks, *, seeds: int = 2, context: int = 16,
                criterion: AttentionSuccess = AttentionSuccess(samples=256)) -> int | None:
    """Smallest dk in ``dks`` from which on the construction succeeds on all ``seeds`` instances."""
    dks = sorted(int(k) for k in dks)
    rec = construction_recoveries(m, d_model, graph, m_edges, dks, seeds=seeds, context=context, samples=criterion.samples)
    ok = (rec >= 1.0 - criterion.epsilon).all(axis=0)
    for i, dk in enumerate(dks):
        if ok[i:].all():
            return dk
    return None


def construction_points(configs, dks=None, **kwargs) -> dict:
    """Smallest succeeding D_K of the construction for each (m, d_model, graph, m_edges) in ``configs``.

    Returns {"m", "m_edges", "d_model", "dk"} lists, usable as figures' extra["construction"]; configs
    whose construction never succeeds within ``dks`` (default 1..2·d_model) are left out.
    """
    out = {"m": [], "m_edges": [], "d_model": [], "dk": []}
    for m, d_model, graph, m_edges in configs:
        grid = dks if dks is not None else np.unique(np.round(np.geomspace(1, 2 * d_model, 28)).astype(int))
        dk = smallest_dk(m, d_model, graph, m_edges, grid, **kwargs)
        if dk is not None:
            out["m"].append(int(m))
            out["m_edges"].append(int(m_edges))
            out["d_model"].append(int(d_model))
            out["dk"].append(dk)
    return out
