"""The attention layer of Mahdavi, Liao & Thrampoulidis (arXiv 2306.02010; their code: BaselineAttention).

Tokens x_t in R^d_in (t = 0 the query, 1..n the context) are embedded, z_t = x_t W_E + b_E + p_t
(p_t sinusoidal), and one softmax attention layer with h heads reads the query's row: head i has
W_Q^i, W_K^i in R^{d x d_h} and a one-dimensional value W_V^i in R^d, and attends over the
context only (no token attends to the query):

    a^i = softmax_t(z_0 W_Q^i (z_t W_K^i)ᵀ / √d),   s_i = Σ_t a^i_t z_t W_V^i,   t = 1..n,
    logits = (Σ_i s_i W_O^i) W_D + b_D,             W_O^i in R^d (a row of W_O), W_D in R^{d x C}.

There is no residual path: the query reaches the logits only through the attention weights, so
the layer memorises through where its heads look (softmax saturation, their Sec. 4). Initialisation
follows their PyTorch code: Xavier-uniform W_Q^i, W_K^i, W_V^i and W_O, default nn.Linear W_E, W_D.

The products are associated differently from their code (exact in real arithmetic, far cheaper):
with a shared context, G^i = W_Q^i (Z W_K^i)ᵀ (d x n) and W_E G^i are formed once per step and a
query's scores are x_0 W_E G^i + (b_E + p_0) G^i; with random contexts the query is carried into
embedding space, r^i = z_0 W_Q^i W_K^iᵀ; W_O W_D (h x C) is formed once per step. Heads and context tokens are padded with masks: a bucket
holds h_max heads and n_max tokens; masked heads output 0 (so their weights get no gradient and
Adam never moves them) and masked tokens get no attention. Head i's weights come from
fold_in(key, i) alone, so a padded member starts, and trains, as at its own size.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp


def uniform(key: jax.Array, shape: tuple[int, ...], bound) -> jax.Array:
    return bound * jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)


def init_params(key: jax.Array, *, h_max: int, d_model: int, dh: int, d_in: int, classes: int, h: jax.Array) -> dict:
    """Parameters of one layer with h_max heads (the member uses the first h); shapes in the names.

    Two draws: head i's W_Q, W_K, W_V, W_O row from fold_in(key_heads, i), the rest from one more
    key (XLA compiles each random draw on its own, and a CPU compile of a draw takes seconds).
    """
    d = d_model
    k_heads, k_rest = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    u_HxJ = jax.vmap(lambda i: uniform(jax.random.fold_in(k_heads, i), (2 * d * dh + 2 * d,), 1.0))(jnp.arange(h_max))
    u_J = uniform(k_rest, (d_in * d + d + d * classes + classes,), 1.0)
    xavier = lambda fan_in, fan_out: jnp.sqrt(6.0 / (fan_in + fan_out))  # noqa: E731
    cut = lambda u, sizes: jnp.split(u, list(itertools.accumulate(sizes))[:-1], axis=-1)  # noqa: E731
    q, k, v, o = cut(u_HxJ, (d * dh, d * dh, d, d))
    w_e, b_e, w_d, b_d = cut(u_J, (d_in * d, d, d * classes, classes))
    return {
        "w_e_IxD": w_e.reshape(d_in, d) / d_in**0.5,  # torch nn.Linear: U(±1/√fan_in)
        "b_e_D": b_e / d_in**0.5,
        "w_q_HxDxK": q.reshape(h_max, d, dh) * xavier(d, dh),
        "w_k_HxDxK": k.reshape(h_max, d, dh) * xavier(d, dh),
        "w_v_HxD": v * xavier(d, 1),
        # W_O is one (h·1) x d matrix in their code: its Xavier bound depends on the member's own h
        "w_o_HxD": o * xavier(h.astype(jnp.float32), d),
        "w_d_DxC": w_d.reshape(d, classes) / d**0.5,
        "b_d_C": b_d / d**0.5,
    }


def logits(params: dict, query_BxI: jax.Array, context, pos_TxD: jax.Array, ctx_mask_N: jax.Array,
           head_mask_H: jax.Array) -> jax.Array:
    """Class logits (B, C) of B examples: query tokens (B, d_in) and a shared context (n_max, d_in)
    or one context per example (B, n_max, d_in)."""
    w_q, w_k, w_v = params["w_q_HxDxK"], params["w_k_HxDxK"], params["w_v_HxD"]
    scale = 1.0 / jnp.sqrt(jnp.float32(params["w_e_IxD"].shape[1]))
    w_e, b0_D = params["w_e_IxD"], params["b_e_D"] + pos_TxD[0]
    if context.ndim == 2:  # shared: keys and values once for the whole batch
        zc_NxD = context @ w_e + params["b_e_D"] + pos_TxD[1:]
        g_HxDxN = jnp.einsum("hdk,hnk->hdn", w_q, jnp.einsum("nd,hdk->hnk", zc_NxD, w_k))
        # z_0 G = x_0 (W_E G) + (b_E + p_0) G: a query costs d_in·h·n, not d_in·d + d·h·n
        u_HxIxN = jnp.einsum("id,hdn->hin", w_e, g_HxDxN)
        scores_BxHxN = (jnp.einsum("bi,hin->bhn", query_BxI, u_HxIxN) + jnp.einsum("d,hdn->hn", b0_D, g_HxDxN)) * scale
        v_BxHxN = jnp.einsum("nd,hd->hn", zc_NxD, w_v)[None]
    else:
        z0_BxD = query_BxI @ w_e + b0_D
        zc_BxNxD = context @ w_e + params["b_e_D"] + pos_TxD[1:]
        r_BxHxD = jnp.einsum("bhk,hek->bhe", jnp.einsum("bd,hdk->bhk", z0_BxD, w_q), w_k)
        scores_BxHxN = jnp.einsum("bhe,bne->bhn", r_BxHxD, zc_BxNxD) * scale
        v_BxHxN = jnp.einsum("bnd,hd->bhn", zc_BxNxD, w_v)
    attn_BxHxN = jax.nn.softmax(jnp.where(ctx_mask_N, scores_BxHxN, -jnp.inf), axis=-1)
    s_BxH = (attn_BxHxN * v_BxHxN).sum(-1) * head_mask_H.astype(jnp.float32)
    return s_BxH @ (params["w_o_HxD"] @ params["w_d_DxC"]) + params["b_d_C"]
