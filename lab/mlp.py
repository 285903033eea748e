"""The one-hidden-layer ReLU network of the superposition lab, with a width mask.

A model of width n is held in a bucket of width ``n_max >= n``: neurons j >= n are masked to zero,
so they get no gradient and Adam leaves them untouched (zero gradient, zero moments, zero update).
Initial weights are drawn neuron by neuron (column j of ``w_in`` from ``fold_in(key, j)``) and the
readout starts at zero, so the first n neurons of a wide bucket are exactly the weights of the
width-n model: training masked equals training at the exact width (tests/test_mlp.py).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def columnwise_normal(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
    """N(0, 1/fan_in) weights whose column j depends only on (key, j), shape (fan_in, n)."""
    fan_in, n = shape
    cols_NxD = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(key, j), (fan_in,), dtype))(jnp.arange(n))
    return cols_NxD.T / jnp.sqrt(jnp.asarray(fan_in, dtype))


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
        h_BxN = jax.nn.relu(x_BxD @ w_in + b_in) * width_mask(self.n_max, n_active)
        return h_BxN @ w_out + b_out


def width_mask(n_max: int, n_active: jax.Array) -> jax.Array:
    """1.0 for the first n_active of n_max units, else 0.0; shape (n_max,)."""
    return (jnp.arange(n_max) < n_active).astype(jnp.float32)


def param_count(input_dim: int, n: int, k: int) -> int:
    """Parameters of the width-n model (weights and biases)."""
    return input_dim * n + n + n * k + k
