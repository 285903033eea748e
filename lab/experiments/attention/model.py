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
    """A BilinearScorer's pair logits over contexts, shape (B, c, c).

    The context's item vectors are gathered first and then projected: the items are frozen, so the
    backward pass needs no scatter into a per-item array (under the population vmap XLA's CPU
    scatter was the cost of a step), and heads are one product of width h·K.
    """
    x_BxCxD = x_MxD[ctx_BxC]
    q_BxCxHK, k_BxCxHK = _masked_projections(params, x_BxCxD, dk, h)
    return jnp.einsum("bik,bjk->bij", q_BxCxHK, k_BxCxHK) + params["bias"]


def bilinear_pair_logits(params: dict, x_MxD: jax.Array, dk: jax.Array, h: jax.Array) -> jax.Array:
    """A BilinearScorer's logits of every ordered item pair, shape (m, m): s_uv = Σ_heads q_u·k_v + b.

    The bilinear score of a pair depends on its two items only, not on the context around them, so
    a batch's loss over context pairs is a count-weighted sum over these m² scores (lab.experiments.attention.train).
    """
    q_MxHK, k_MxHK = _masked_projections(params, x_MxD, dk, h)
    return q_MxHK @ k_MxHK.T + params["bias"]


def _masked_projections(params: dict, x_NxD: jax.Array, dk: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x W_Q, x W_K) of every head side by side, shape (..., h_max·dk_max), masked to the member's
    h heads of dk // h columns (masked columns get zero gradient)."""
    h_max, d, dk_max = params["w_q_HxDxK"].shape
    mask_HK = key_mask(h_max, dk_max, dk, h).reshape(h_max * dk_max)
    wide = lambda w_HxDxK: jnp.swapaxes(w_HxDxK, 0, 1).reshape(d, h_max * dk_max)  # noqa: E731
    return (x_NxD @ wide(params["w_q_HxDxK"])) * mask_HK, (x_NxD @ wide(params["w_k_HxDxK"])) * mask_HK


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
