"""Single-layer attention scorers for Relational Graph Recognition (Adler, arXiv 2509.22840).

Both models score every (query i, item j) pair of a context with a logit; logit > 0 predicts the
edge i -> j. The bilinear scorer's logits are functions of its parameters (``bilinear_context_logits``
over contexts, ``bilinear_pair_logits`` over every item pair; the module only declares and
initialises the parameters), so training can take whichever form is cheaper.

- ``BilinearScorer``: s_ij = Σ_t (x_i W_Q^t)·(x_j W_K^t) + b, the model of the theory. A sum of
  h bilinear forms of rank d_k is ONE bilinear form x_iᵀ (Σ_t W_Q^t W_K^tᵀ) x_j of rank <= D_K = h·d_k:
  the h heads of this model equal one head of key dimension D_K (``merge_heads``; tested). Heads can
  only help through per-head normalisation, as in:
- ``SoftmaxAttention``: per head, a = softmax_j((x_i W_Q^t)·(x_j W_K^t)/√d_k) over the context plus a
  learned "none" slot (a null key with zero value, so a query can attend to nothing); output
  o_i = Σ_t Σ_j a^t_ij (x_j W_V^t) W_O^t in R^d_model; readout s_ij = g·(o_i·x_j) + b, which scores
  each context item as the query's neighbour.

Heads and key dimensions are padded: a bucket holds h_max heads of dk_max columns and a member
uses the first h heads and the first d_k = dk // h columns of each (``h`` and ``dk`` are traced).
Masked columns get zero gradient, so Adam never moves them, and column (t, a) is initialised from
fold_in(key, t, a) with a scale independent of the bucket: training in a padded bucket equals
training at the exact size (tests/test_attention.py).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from lab.experiments.attention.member import MODELS  # noqa: E402,F401


def headwise_normal(key: jax.Array, shape: tuple[int, int, int], dtype=jnp.float32) -> jax.Array:
    """N(0, 1/shape[1]) weights (h, n_in, K) for W_Q/W_K/W_V, column (t, a) from fold_in(key, t, a) alone."""
    h, n_in, k = shape

    def column(t, a):
        return jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, t), a), (n_in,), dtype)

    cols_HxKxD = jax.vmap(lambda t: jax.vmap(lambda a: column(t, a))(jnp.arange(k)))(jnp.arange(h))
    return jnp.swapaxes(cols_HxKxD, 1, 2) / jnp.sqrt(jnp.asarray(n_in, dtype))


def rowwise_normal(key: jax.Array, shape: tuple[int, int, int], dtype=jnp.float32) -> jax.Array:
    """N(0, 1/shape[2]) weights (h, K, n_out) for W_O, row (t, a) from fold_in(key, t, a) alone."""
    h, k, n_out = shape
    return jnp.swapaxes(headwise_normal(key, (h, n_out, k), dtype), 1, 2)


def key_mask(h_max: int, dk_max: int, dk: jax.Array, h: jax.Array) -> jax.Array:
    """1.0 on the first dk // h key dimensions of the first h heads, shape (h_max, dk_max)."""
    heads_H = jnp.arange(h_max) < h
    dims_K = jnp.arange(dk_max) < dk // h
    return (heads_H[:, None] & dims_K[None, :]).astype(jnp.float32)


class BilinearScorer(nn.Module):
    """Pair logits (B, c, c) = Σ_heads (x_i W_Q)(x_j W_K)ᵀ + b over contexts ctx_BxC of items x_MxD."""

    h_max: int  # heads held by the bucket
    dk_max: int  # key dimensions per head held by the bucket

    @nn.compact
    def __call__(self, x_MxD: jax.Array, ctx_BxC: jax.Array, dk: jax.Array, h: jax.Array) -> jax.Array:
        shape = (self.h_max, x_MxD.shape[-1], self.dk_max)
        params = {
            "w_q_HxDxK": self.param("w_q_HxDxK", headwise_normal, shape),
            "w_k_HxDxK": self.param("w_k_HxDxK", headwise_normal, shape),
            "bias": self.param("bias", nn.initializers.zeros, ()),
        }
        return bilinear_context_logits(params, x_MxD, ctx_BxC, dk, h)


def bilinear_context_logits(params: dict, x_MxD: jax.Array, ctx_BxC: jax.Array, dk: jax.Array, h: jax.Array) -> jax.Array:
    """A BilinearScorer's pair logits over contexts, shape (B, c, c): s_ij = x_i A x_jᵀ + b.

    Scored through the bilinear form A = Σ_heads W_Q W_Kᵀ (d_model x d_model; ``bilinear_form``):
    one product x A of the context's items instead of two projections, and one product xᵀ (G x)
    for A's gradient (D_K <= d_model in the regime, so the form costs no more). The items are
    gathered first (frozen: no scatter in the backward pass) with the population's index shared.
    """
    b, c = ctx_BxC.shape
    x_NxD = shared_take(x_MxD, ctx_BxC.reshape(b * c))
    x_DxN = jax.lax.optimization_barrier(x_NxD.T)  # a plain product in the backward pass, see _context_bwd
    return _context_quadratic(bilinear_form(params, dk, h), x_NxD.reshape(b, c, -1), x_DxN) + params["bias"]


def bilinear_pair_logits(params: dict, x_MxD: jax.Array, dk: jax.Array, h: jax.Array) -> jax.Array:
    """A BilinearScorer's logits of every ordered item pair, shape (m, m): s_uv = x_u A x_vᵀ + b.

    The bilinear score of a pair depends on its two items only, not on the context around them, so
    a batch's loss over context pairs is a count-weighted sum over these m² scores (lab.experiments.attention.train).
    """
    x_DxM = jax.lax.optimization_barrier(x_MxD.T)
    return _pair_quadratic(bilinear_form(params, dk, h), x_MxD, x_DxM) + params["bias"]


# --- x A xᵀ with hand-written backward passes ---------------------------------------------------
# Autodiff transposes x inside the product xᵀ (G x) of A's gradient, which XLA's CPU backend runs as
# a slow strided product (~2x the forward x A); these take xᵀ as an input (made once per step, or
# hoisted out of the loop for the frozen items), so both are plain row-major products.


@jax.custom_vjp
def _context_quadratic(a_DxD: jax.Array, x_BxCxD: jax.Array, x_DxN: jax.Array) -> jax.Array:
    """x_b A x_bᵀ of each context b, shape (B, c, c); x_DxN = x (flattened to N = B·c rows) transposed."""
    return jnp.einsum("bid,bjd->bij", x_BxCxD @ a_DxD, x_BxCxD)


def _context_fwd(a_DxD, x_BxCxD, x_DxN):
    return _context_quadratic(a_DxD, x_BxCxD, x_DxN), (a_DxD, x_BxCxD, x_DxN)


def _context_bwd(res, g_BxCxC):
    a_DxD, x_BxCxD, x_DxN = res
    gx_BxCxD = jnp.einsum("bij,bjd->bid", g_BxCxC, x_BxCxD)
    da_DxD = x_DxN @ gx_BxCxD.reshape(x_DxN.shape[1], -1)
    dx_BxCxD = gx_BxCxD @ a_DxD.T + jnp.einsum("bji,bjd->bid", g_BxCxC, x_BxCxD @ a_DxD)
    return da_DxD, dx_BxCxD, jnp.zeros_like(x_DxN)  # x_DxN only serves the backward pass


_context_quadratic.defvjp(_context_fwd, _context_bwd)


@jax.custom_vjp
def _pair_quadratic(a_DxD: jax.Array, x_MxD: jax.Array, x_DxM: jax.Array) -> jax.Array:
    """x A xᵀ, shape (m, m); x_DxM = x transposed."""
    return (x_MxD @ a_DxD) @ x_DxM


def _pair_fwd(a_DxD, x_MxD, x_DxM):
    return _pair_quadratic(a_DxD, x_MxD, x_DxM), (a_DxD, x_MxD, x_DxM)


def _pair_bwd(res, g_MxM):
    a_DxD, x_MxD, x_DxM = res
    gx_MxD = g_MxM @ x_MxD
    return x_DxM @ gx_MxD, gx_MxD @ a_DxD.T + g_MxM.T @ (x_MxD @ a_DxD), jnp.zeros_like(x_DxM)


_pair_quadratic.defvjp(_pair_fwd, _pair_bwd)


@custom_vmap
def shared_take(table_MxF: jax.Array, idx: jax.Array) -> jax.Array:
    """table[idx] (rows of the table, any index shape); vmapped over members that share idx, it
    gathers each row of every member at once."""
    return table_MxF[idx]


@shared_take.def_vmap
def _shared_take_rule(axis_size, in_batched, table, idx):
    table_batched, idx_batched = in_batched
    if table_batched and not idx_batched:
        # XLA gathers a batched table's rows member by member, each read strided across the
        # population; with the population inside a row (moved once: the tables are loop-invariant)
        # a shared index reads one contiguous block of all members' rows.
        return jnp.moveaxis(jnp.moveaxis(table, 0, 1)[idx], idx.ndim, 0), True
    table = table if table_batched else jnp.broadcast_to(table, (axis_size, *table.shape))
    idx = idx if idx_batched else jnp.broadcast_to(idx, (axis_size, *idx.shape))
    return jax.vmap(lambda t, i: t[i])(table, idx), True


class SoftmaxAttention(nn.Module):
    """One multi-head attention layer with a "none" slot and a neighbour readout; logits (B, c, c)."""

    h_max: int
    dk_max: int

    @nn.compact
    def __call__(self, x_MxD: jax.Array, ctx_BxC: jax.Array, dk: jax.Array, h: jax.Array) -> jax.Array:
        d_model = x_MxD.shape[-1]
        shape = (self.h_max, d_model, self.dk_max)
        mask_HxK = key_mask(self.h_max, self.dk_max, dk, h)
        w_q = self.param("w_q_HxDxK", headwise_normal, shape) * mask_HxK[:, None, :]
        w_k = self.param("w_k_HxDxK", headwise_normal, shape) * mask_HxK[:, None, :]
        w_v = self.param("w_v_HxDxK", headwise_normal, shape) * mask_HxK[:, None, :]
        w_o = self.param("w_o_HxKxD", rowwise_normal, (self.h_max, self.dk_max, d_model)) * mask_HxK[:, :, None]
        # inactive heads hold no key or value, so their (uniform) attention adds nothing
        null_H = self.param("null_logit_H", nn.initializers.zeros, (self.h_max,))
        gain = self.param("gain", nn.initializers.ones, ())
        bias = self.param("bias", nn.initializers.zeros, ())

        d_k = jnp.maximum(dk // h, 1).astype(jnp.float32)
        q_BxCxHxK = jnp.einsum("md,hdk->mhk", x_MxD, w_q)[ctx_BxC]
        k_BxCxHxK = jnp.einsum("md,hdk->mhk", x_MxD, w_k)[ctx_BxC]
        v_BxCxHxK = jnp.einsum("md,hdk->mhk", x_MxD, w_v)[ctx_BxC]
        logits_BxHxCxC = jnp.einsum("bihk,bjhk->bhij", q_BxCxHxK, k_BxCxHxK) / jnp.sqrt(d_k)
        null_BxHxCx1 = jnp.broadcast_to(null_H[None, :, None, None], logits_BxHxCxC.shape[:3] + (1,))
        attn = jax.nn.softmax(jnp.concatenate([logits_BxHxCxC, null_BxHxCx1], axis=-1), axis=-1)
        o_BxCxHxK = jnp.einsum("bhij,bjhk->bihk", attn[..., :-1], v_BxCxHxK)
        out_BxCxD = jnp.einsum("bihk,hkd->bid", o_BxCxHxK, w_o)
        x_BxCxD = x_MxD[ctx_BxC]
        return gain * jnp.einsum("bid,bjd->bij", out_BxCxD, x_BxCxD) + bias


def make_model(name: str, h_max: int, dk_max: int) -> nn.Module:
    """The scorer named ``name`` with at most h_max heads of at most dk_max key dimensions each."""
    if name == "bilinear":
        return BilinearScorer(h_max=h_max, dk_max=dk_max)
    if name == "softmax":
        return SoftmaxAttention(h_max=h_max, dk_max=dk_max)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def merge_heads(params: dict) -> dict:
    """Bilinear parameters of h heads x d_k as ONE head of key dimension h·d_k (same scores)."""
    h, d, k = params["w_q_HxDxK"].shape
    merge = lambda w: jnp.swapaxes(w, 0, 1).reshape(1, d, h * k)  # noqa: E731
    return {**params, "w_q_HxDxK": merge(params["w_q_HxDxK"]), "w_k_HxDxK": merge(params["w_k_HxDxK"])}


def bilinear_form(params: dict, dk: int | jax.Array, h: int | jax.Array) -> jax.Array:
    """The d_model x d_model matrix Σ_t W_Q^t W_K^tᵀ of a bilinear scorer (rank <= D_K)."""
    h_max, _, k = params["w_q_HxDxK"].shape
    mask_Hx1xK = key_mask(h_max, k, jnp.asarray(dk), jnp.asarray(h))[:, None, :]
    return jnp.einsum("hdk,hek->de", params["w_q_HxDxK"] * mask_Hx1xK, params["w_k_HxDxK"] * mask_Hx1xK)
