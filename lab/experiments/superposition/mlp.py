"""The one-hidden-layer ReLU network of the superposition lab, with a width mask.

A model of width n is held in a bucket of width ``n_max >= n``: neurons j >= n are masked to zero,
so they get no gradient and Adam leaves them untouched (zero gradient, zero moments, zero update).
Initial weights are drawn neuron by neuron (column j of ``w_in`` from (key, j): ``columnwise_normal``) and the
readout starts at zero, so the first n neurons of a wide bucket are exactly the weights of the
width-n model: training masked equals training at the exact width
(tests/test_training.py::test_masked_training_matches_exact_width).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def columnwise_normal(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
    """N(0, 1/fan_in) weights whose column j depends only on (key, j), shape (fan_in, n): the
    rows of one (n, fan_in) draw, a prefix of any wider one (JAX's threefry draws element i from
    (key, i): jax_threefry_partitionable, the default)."""
    fan_in, n = shape
    return jax.random.normal(key, (n, fan_in), dtype).T / jnp.sqrt(jnp.asarray(fan_in, dtype))


class MaskedMLP(nn.Module):
    """x -> relu(x W_in + b_in) * mask -> W_out + b_out; logits for k_max outputs.

    Params: w_in_DxN (D inputs, N = n_max neurons), b_in_N, w_out_NxK, b_out_K.
    """

    n_max: int
    k_max: int

    @nn.compact
    def __call__(self, x_BxD: jax.Array, n_active: jax.Array) -> jax.Array:
        w_in = self.param("w_in_DxN", columnwise_normal, (x_BxD.shape[-1], self.n_max))
        b_in = self.param("b_in_N", nn.initializers.zeros, (self.n_max,))
        w_out = self.param("w_out_NxK", nn.initializers.zeros, (self.n_max, self.k_max))
        b_out = self.param("b_out_K", nn.initializers.zeros, (self.k_max,))
        params = {"w_in_DxN": w_in, "b_in_N": b_in, "w_out_NxK": w_out, "b_out_K": b_out}
        return forward(params, x_BxD, width_mask(self.n_max, n_active))


def forward(params: dict, x_BxM: jax.Array, mask_N: jax.Array, w_in_MxN: jax.Array | None = None) -> jax.Array:
    """The network's output for a parameter dict, shape (B, K) (MaskedMLP's one forward pass);
    ``w_in_MxN`` overrides w_in_DxN (inputs in superposition fold their embedding into it)."""
    w_in_MxN = params["w_in_DxN"] if w_in_MxN is None else w_in_MxN
    h_BxN = jax.nn.relu(shared_matmul(x_BxM, w_in_MxN) + params["b_in_N"]) * mask_N
    return matmul(h_BxN, params["w_out_NxK"]) + params["b_out_K"]


@jax.custom_vjp
def matmul(h_BxN: jax.Array, w_NxK: jax.Array) -> jax.Array:
    """h @ w, shape (B, K), whose weight gradient h^T dz reads a transposed copy of h: XLA's CPU
    backend runs a batched product that contracts the leading axis of both operands far slower
    than a plain one, and it folds a bare transpose back into the product."""
    return h_BxN @ w_NxK


def _matmul_fwd(h_BxN, w_NxK):
    return h_BxN @ w_NxK, (h_BxN, w_NxK)


def _matmul_bwd(res, dz_BxK):
    h_BxN, w_NxK = res
    h_NxB = jax.lax.optimization_barrier(h_BxN.T)
    return dz_BxK @ w_NxK.T, h_NxB @ dz_BxK


matmul.defvjp(_matmul_fwd, _matmul_bwd)


# --- x @ w for a population that shares x -------------------------------------------------------
# Under vmap over members with x shared, XLA receives P matrix products against a broadcast x (and
# P products x^T dz in the backward pass) and runs them as small batched products. These rules
# make them one (B x M) @ (M x P·N) product and one (M x B) @ (B x P·N) product instead.


def _wide(w_PxMxN: jax.Array) -> jax.Array:
    p, m, n = w_PxMxN.shape
    return jnp.transpose(w_PxMxN, (1, 0, 2)).reshape(m, p * n)


def _unwide(z_AxPN: jax.Array, p: int) -> jax.Array:
    a, pn = z_AxPN.shape
    return jnp.transpose(z_AxPN.reshape(a, p, pn // p), (1, 0, 2))


@custom_vmap
def _matmul(x_BxM, w_MxN):
    return x_BxM @ w_MxN


@_matmul.def_vmap
def _matmul_rule(axis_size, in_batched, x, w):
    x_batched, w_batched = in_batched
    if w_batched and not x_batched:  # shared input: one wide product
        return _unwide(x @ _wide(w), axis_size), True
    return (x @ w if x_batched and not w_batched else jnp.einsum("pbm,pmn->pbn", x, w)), True


@custom_vmap
def _input_grad(x_BxM, dz_BxN):
    return x_BxM.T @ dz_BxN


@_input_grad.def_vmap
def _input_grad_rule(axis_size, in_batched, x, dz):
    x_batched, dz_batched = in_batched
    if dz_batched and not x_batched:  # shared input: one wide product
        x_MxB = jax.lax.optimization_barrier(x.T)  # a plain product; see matmul
        return _unwide(x_MxB @ _wide(dz), axis_size), True
    if x_batched and not dz_batched:
        return jnp.einsum("pbm,bn->pmn", x, dz), True
    return jnp.einsum("pbm,pbn->pmn", x, dz), True


@jax.custom_vjp
def shared_matmul(x_BxM: jax.Array, w_MxN: jax.Array) -> jax.Array:
    """x @ w, shape (B, N); vmapped over members that share x it runs as one wide matrix product."""
    return _matmul(x_BxM, w_MxN)


def _shared_matmul_fwd(x_BxM, w_MxN):
    return _matmul(x_BxM, w_MxN), (x_BxM, w_MxN)


def _shared_matmul_bwd(res, dz_BxN):
    x_BxM, w_MxN = res
    return dz_BxN @ w_MxN.T, _input_grad(x_BxM, dz_BxN)


shared_matmul.defvjp(_shared_matmul_fwd, _shared_matmul_bwd)


def width_mask(n_max: int, n_active: jax.Array) -> jax.Array:
    """1.0 for the first n_active of n_max units, else 0.0; shape (n_max,)."""
    return (jnp.arange(n_max) < n_active).astype(jnp.float32)


def param_count(input_dim: int, n: int, k: int) -> int:
    """Parameters of the width-n model (weights and biases)."""
    return input_dim * n + n + n * k + k
