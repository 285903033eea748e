"""The memorisation task of Mahdavi, Liao & Thrampoulidis (arXiv 2306.02010; their code: RandomDataset).

An example is a sequence of 1 + n tokens in R^d_in, every coordinate uniform in [0, 1): a query
token e (the token that is classified) and n context tokens, with a label drawn uniformly among
the classes, independent of the tokens. ``shared`` contexts: one context for the whole data set,
so examples differ only in their query token (the setting of their Fig. 2); ``random``: every
example has its own context.

Everything is a pure function of a key and an index: example i's query, label and context tokens
come from ``fold_in(key, i)`` (context token t from a further ``fold_in(., t)``), so data sets of
different N are nested and a padded bucket (more examples, longer contexts) holds exactly the
data of each member's own size. Random contexts are drawn again whenever an example is used
(they never sit in memory); queries and labels are drawn once per member.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def member_keys(root: jax.Array) -> dict[str, jax.Array]:
    """Independent streams of one member's root key."""
    names = ("examples", "contexts", "init", "data")
    return {name: jax.random.fold_in(root, i) for i, name in enumerate(names)}


def tokens(key: jax.Array, n: int, d_in: int) -> jax.Array:
    """n tokens (n, d_in), uniform in [0, 1); token t from fold_in(key, t) alone."""
    return jax.vmap(lambda t: jax.random.uniform(jax.random.fold_in(key, t), (d_in,)))(jnp.arange(n))


def examples(key: jax.Array, examples: int, d_in: int, classes: int) -> tuple[jax.Array, jax.Array]:
    """Query tokens (examples, d_in) and labels (examples,) int32 of examples 0..examples-1: example
    i draws d_in + 1 uniforms from fold_in(key, i), its query token and its label (uniform among
    ``classes``; one draw for both keeps the program small: XLA compiles each draw separately)."""
    u_NxJ = tokens(key, examples, d_in + 1)
    label_N = jnp.minimum((u_NxJ[:, d_in] * classes).astype(jnp.int32), classes - 1)
    return u_NxJ[:, :d_in], label_N


def shared_context(key: jax.Array, n: int, d_in: int) -> jax.Array:
    """The one context of a ``shared`` data set, shape (n, d_in)."""
    return tokens(key, n, d_in)


def random_contexts(key: jax.Array, idx_B: jax.Array, n: int, d_in: int) -> jax.Array:
    """The contexts of examples idx_B of a ``random`` data set, shape (B, n, d_in)."""
    return jax.vmap(lambda i: tokens(jax.random.fold_in(key, i), n, d_in))(idx_B)


def positions(n_tokens: int, d_model: int) -> np.ndarray:
    """Sinusoidal position encodings (n_tokens, d_model): sin on even, cos on odd dimensions
    (Vaswani et al., arXiv 1706.03762; as in their code). Token 0 is the query."""
    pos_T = np.arange(n_tokens)[:, None]
    freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = np.zeros((n_tokens, d_model), np.float32)
    pe[:, 0::2] = np.sin(pos_T * freq)
    pe[:, 1::2] = np.cos(pos_T * freq)
    return pe


def memorisation_metrics(correct_N: jax.Array, labels_N: jax.Array, mask_N: jax.Array, classes: int,
                         epsilon: float) -> dict[str, jax.Array]:
    """How many of the N training examples (mask_N) a predictor gets right, against the best
    constant predictor (which gets the majority count: the examples of the most frequent label).

    ``accuracy`` = memorised / N; ``excess`` = memorised - majority (<= 0 for every constant
    predictor); ``success``: memorised >= (1 - epsilon)·N and memorised > majority.
    """
    m = mask_N.astype(jnp.float32)
    n = m.sum()
    memorised = (correct_N.astype(jnp.float32) * m).sum()
    majority = (jax.nn.one_hot(labels_N, classes, dtype=jnp.float32) * m[:, None]).sum(0).max()
    ok = (memorised >= (1.0 - epsilon) * n - 1e-3) & (memorised > majority)
    return {"accuracy": memorised / n, "memorised": memorised, "majority": majority,
            "excess": memorised - majority, "success": ok}
