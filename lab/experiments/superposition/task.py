"""Sparse Boolean tasks of the superposition lab (Adler & Shavit, arXiv 2409.15318).

m Boolean input features, sparse (exactly `s` active, or each active with probability `p`);
m' output features, each a Boolean function of at most two inputs:

- ``perm``: y_j = x_π(j)              (neural permutation; needs m' <= m)
- ``and``:  y_j = x_a(j) AND x_b(j)   over m' distinct random pairs a < b
- ``or``, ``xor``: likewise.

Inputs may be held in superposition: feature i is a fixed random unit vector e_i in R^d (d < m) and
the network sees Σ_{i active} e_i. Everything here is a pure function of a PRNG key, traceable under
jit/vmap, so batches are drawn inside the training loop.

Padding: a task instance is drawn for ``m_out_max`` outputs; a member that computes m' < m_out_max
uses the first m' of them, and those do not depend on m_out_max (pairs are a prefix of one random
permutation). That is what lets members of different m' share one program.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

OPS = ("and", "or", "xor", "perm")


@dataclass(frozen=True)
class BooleanTask:
    """Static description of a sparse Boolean task (hashable: it is part of a program's shape)."""

    m: int  # input features
    op: str = "and"  # one of OPS
    s: int | None = 3  # exactly s active per sample (None: use p)
    p: float | None = None  # each feature active with probability p (when s is None)
    d: int | None = None  # input superposition dimension (None: inputs are the raw features)

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, got {self.op!r}")
        if (self.s is None) == (self.p is None):
            raise ValueError("give exactly one of s (active count) and p (activation probability)")
        if self.s is not None and not 1 <= self.s <= self.m:
            raise ValueError(f"s must be in [1, m={self.m}], got {self.s}")
        if self.p is not None and not 0 < self.p < 1:
            raise ValueError(f"p must be in (0, 1), got {self.p}")
        if self.d is not None and not 1 <= self.d:
            raise ValueError(f"d must be positive, got {self.d}")

    @property
    def arity(self) -> int:
        return 1 if self.op == "perm" else 2

    @property
    def max_outputs(self) -> int:
        """How many distinct output features exist (m for perm, m(m-1)/2 pairs otherwise)."""
        return self.m if self.op == "perm" else self.m * (self.m - 1) // 2

    @property
    def input_dim(self) -> int:
        return self.m if self.d is None else self.d

    @property
    def density(self) -> float:
        """Expected fraction of active features."""
        return self.s / self.m if self.s is not None else float(self.p)


def all_pairs(m: int) -> np.ndarray:
    """All pairs a < b of m features, shape (m(m-1)/2, 2), in lexicographic order."""
    a, b = np.triu_indices(m, k=1)
    return np.stack([a, b], axis=1).astype(np.int32)


def sample_pairs(key: jax.Array, task: BooleanTask, m_out_max: int) -> jax.Array:
    """The task instance: input indices of each output feature, shape (m_out_max, 2).

    For ``perm`` both columns hold π(j). Row j does not depend on m_out_max (prefix property).
    The pairs are the m_out_max largest of one uniform per pair, in decreasing order: a uniform
    draw without replacement, by a top-k (at m = 256 a permutation's full sorts of the 32640
    pairs cost 15 ms per member, the top-k 0.5 ms).
    """
    if m_out_max > task.max_outputs:
        raise ValueError(f"{task.op} over m={task.m} has {task.max_outputs} distinct outputs, asked {m_out_max}")
    if task.op == "perm":
        src_K = jax.random.permutation(key, task.m)[:m_out_max].astype(jnp.int32)
        return jnp.stack([src_K, src_K], axis=1)
    order_K = jax.lax.top_k(jax.random.uniform(key, (task.max_outputs,)), m_out_max)[1]
    return jnp.asarray(all_pairs(task.m))[order_K]


def sample_inputs(key: jax.Array, task: BooleanTask, batch: int) -> jax.Array:
    """Sparse Boolean inputs, shape (batch, m), float32 in {0, 1}: one random draw of
    ``input_words(task)`` words per input (see ``inputs_from_words``)."""
    return inputs_from_words(jax.random.bits(key, (input_words(task), batch), jnp.uint32), task)


def input_words(task: BooleanTask) -> int:
    """Random 32-bit words one input of ``task`` takes: s (exactly-s) or m (Bernoulli)."""
    return task.s if task.s is not None else task.m


def background_task(task: BooleanTask, n_forced: int) -> BooleanTask | None:
    """The task of the other inputs when ``n_forced`` of a feature's own inputs are forced on:
    exactly-s inputs keep s - n_forced others (None: none left); Bernoulli inputs are independent
    of the forced ones (the task itself)."""
    if task.s is None:
        return task
    return dataclasses.replace(task, s=task.s - n_forced) if task.s > n_forced else None


def inputs_from_words(words_WxB: jax.Array, task: BooleanTask) -> jax.Array:
    """Inputs (batch, m) from uniform 32-bit words (input_words(task), batch).

    A caller that needs several random arrays per training step draws all their words at once
    and slices them: on a CPU each random draw compiles to a dozen kernels, most of a small
    program's compile time, and costs a key split besides.
    """
    if task.s is None:
        return (uniform_from_words(words_WxB.T) < task.p).astype(jnp.float32)
    idx_BxS = active_from_words(words_WxB, task.m)
    return (idx_BxS[:, :, None] == jnp.arange(task.m)).any(axis=1).astype(jnp.float32)


def sample_active(key: jax.Array, m: int, s: int, batch: int) -> jax.Array:
    """Indices of s distinct active features out of m, uniform over s-subsets, shape (batch, s)."""
    return active_from_words(jax.random.bits(key, (s, batch), jnp.uint32), m)


def active_from_words(words_SxB: jax.Array, m: int) -> jax.Array:
    """Indices of s distinct active features out of m from s uniform words per input, (batch, s).

    Draw r_j uniform in [0, m - j) and take the r_j-th feature not chosen yet: s·batch random
    words instead of m·batch uniforms and a top-k (which made sampling, not the network, the
    cost of a training step).
    """
    s = words_SxB.shape[0]
    r_SxB = below_from_words(words_SxB, m - jnp.arange(s)[:, None])
    chosen: list[jax.Array] = []
    for j in range(s):
        idx_B = r_SxB[j]
        if chosen:
            # skip past the chosen ones in increasing order: idx becomes the r_j-th free feature
            for c_B in jnp.sort(jnp.stack(chosen), axis=0):
                idx_B = idx_B + (idx_B >= c_B).astype(idx_B.dtype)
        chosen.append(idx_B)
    return jnp.stack(chosen, axis=1)


def below_from_words(words: jax.Array, n) -> jax.Array:
    """Integers floor(u · n / 2^32) in [0, n) from uniform 32-bit words u, int32; n < 2^16.

    Lemire's multiply-shift, exact in 32-bit arithmetic (u = hi·2^16 + lo): each value's
    probability is within 2^-32 of 1/n, far below any sampling noise here.
    """
    n = jnp.asarray(n, jnp.uint32)
    hi, lo = words >> 16, words & jnp.uint32(0xFFFF)
    return ((hi * n + ((lo * n) >> 16)) >> 16).astype(jnp.int32)


def uniform_from_words(words: jax.Array) -> jax.Array:
    """Uniform floats in [0, 1) from 32-bit words (their top 23 bits as the mantissa, as jax.random does)."""
    return jax.lax.bitcast_convert_type((words >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


def apply_op(op: str, xa: jax.Array, xb: jax.Array) -> jax.Array:
    """The Boolean function of an output feature on {0,1} values (numpy or jax arrays alike)."""
    if op == "and":
        return xa * xb
    if op == "or":
        return xa + xb - xa * xb
    if op == "xor":
        return (xa - xb) ** 2
    if op == "perm":
        return xa
    raise ValueError(f"unknown op {op!r}")


def targets(x_BxM: jax.Array, pairs_Kx2: jax.Array, op: str) -> jax.Array:
    """Target outputs, shape (batch, K)."""
    return apply_op(op, x_BxM[:, pairs_Kx2[:, 0]], x_BxM[:, pairs_Kx2[:, 1]])


def feature_embedding(key: jax.Array, m: int, d: int) -> jax.Array:
    """Random unit vectors e_i in R^d for the m features, shape (m, d)."""
    e_MxD = jax.random.normal(key, (m, d))
    return e_MxD / jnp.linalg.norm(e_MxD, axis=1, keepdims=True)


def local_assignments(op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values forced on a feature's own inputs when testing it, with their labels.

    Returns (values_Ax2, positive_A, near_miss_A): for ``and`` the four assignments of (x_a, x_b);
    positives are those whose target is 1; near misses are negatives in which at least one of the
    feature's own inputs is active (for ``or`` and ``perm``, where no such negative exists, the
    all-off assignment). The error criterion measures false negatives on positives and false
    positives on near misses, which a constant predictor cannot pass.
    """
    if op == "perm":
        vals = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    else:
        vals = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = apply_op(op, vals[:, 0], vals[:, 1])
    pos = y > 0.5
    near = (~pos) & (vals.max(axis=1) > 0)
    if not near.any():
        near = ~pos
    return vals, pos, near
