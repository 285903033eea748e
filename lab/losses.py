"""Losses shared by the experiment kinds, with gradients written out for speed.

Under the lab's population vmap a loss and its gradient are elementwise passes over (P, B, ...)
arrays that cost as much as a small network's matrix products, so each pass counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def weighted_bce(z: jax.Array, y: jax.Array, w: jax.Array) -> jax.Array:
    """Σ w · BCE(sigmoid(z), y) over logits z (any shape): one exp and one log per entry, and the
    gradient w · (sigmoid(z) - y) (autodiff of the generic form costs several passes more)."""
    loss = jnp.maximum(z, 0.0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return (w * loss).sum()


def _weighted_bce_fwd(z, y, w):
    return weighted_bce(z, y, w), (z, y, w)


def _weighted_bce_bwd(res, g):
    z, y, w = res
    return g * w * (jax.nn.sigmoid(z) - y), None, None


weighted_bce.defvjp(_weighted_bce_fwd, _weighted_bce_bwd)
