"""Relational Graph Recognition (RGR), the task of the attention lab (Adler, arXiv 2509.22840).

m items with frozen embeddings x_i in R^d_model and a directed graph G on the items with m' edges.
A context is a random subset of c items; every item of the context (a *query*) must name its
out-neighbours within the context, possibly none.

- Embeddings: orthonormal rows (a random rotation) when m = d_model (uncompressed); independent
  Gaussian rows scaled to unit norm when m > d_model (compressed: items share directions).
- Graph families (loops allowed, so each family is a uniform draw from its class):
  ``perm``: j = π(i) for a random permutation π (m' = m);
  ``degree``: every item has exactly k out-neighbours (m' = m·k);
  ``edges``: exactly m' of the m² ordered pairs, uniformly.
- Padding over m': a graph is drawn as a *rank* of every ordered pair; the graph with m' edges is
  {rank < m'} (``edges``), {row rank < k} (``degree``). Graphs of different sizes drawn from one key
  are nested, and the size is a traced scalar, so members of different m' share one program.
- No-neighbour queries are kept: a query is recovered when its predicted set of neighbours equals
  the true set, the empty set included (``edge_metrics``).

Everything is a pure function of a PRNG key, traceable under jit/vmap: contexts are drawn inside the
training loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab.experiments.attention.member import GRAPHS  # noqa: E402,F401


def item_embeddings(key: jax.Array, m: int, d_model: int) -> jax.Array:
    """Frozen item embeddings, shape (m, d_model): orthonormal rows if m == d_model, else unit Gaussian."""
    if m < d_model:
        raise ValueError(f"need m >= d_model (m = d_model is uncompressed), got m={m}, d_model={d_model}")
    g_MxD = jax.random.normal(key, (m, d_model))
    if m == d_model:
        return gram_schmidt(g_MxD)  # Haar-random rotation
    return g_MxD / jnp.linalg.norm(g_MxD, axis=1, keepdims=True)


def gram_schmidt(g_DxD: jax.Array) -> jax.Array:
    """Q of the QR decomposition of a square matrix with R's diagonal positive, by Gram-Schmidt.

    Equals ``qr`` up to rounding but uses only matrix products: batched LAPACK calls from several
    vmapped programs at once can deadlock XLA's CPU thread pool on small machines (jaxlib 0.10.2).
    """
    d = g_DxD.shape[1]

    def column(q_DxD, j):
        v_D = g_DxD[:, j]
        for _ in range(2):  # twice is enough (Giraud et al., "twice is enough" re-orthogonalisation)
            v_D = v_D - q_DxD @ (q_DxD.T @ v_D)
        return q_DxD.at[:, j].set(v_D / jnp.linalg.norm(v_D)), None

    q_DxD, _ = jax.lax.scan(column, jnp.zeros_like(g_DxD), jnp.arange(d))
    return q_DxD


def graph_ranks(key: jax.Array, m: int, graph: str) -> jax.Array:
    """Rank of each ordered pair (i, j), shape (m, m) int32; the graph keeps the lowest ranks.

    ``edges``: ranks 0..m²-1 over all pairs; ``degree``: ranks 0..m-1 within each row;
    ``perm``: 0 on the pairs (i, π(i)) and 1 elsewhere.
    """
    if graph == "perm":
        pi_M = jax.random.permutation(key, m)
        return 1 - jax.nn.one_hot(pi_M, m, dtype=jnp.int32)
    if graph == "degree":
        u_MxM = jax.random.uniform(key, (m, m))
        return jnp.argsort(jnp.argsort(u_MxM, axis=1), axis=1).astype(jnp.int32)
    if graph == "edges":
        order = jax.random.permutation(key, m * m)
        return jnp.argsort(order).reshape(m, m).astype(jnp.int32)
    raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")


def adjacency(ranks_MxM: jax.Array, graph: str, m_edges: jax.Array, degree: jax.Array) -> jax.Array:
    """0/1 adjacency (float32, (m, m)): the pairs whose rank is below the family's size parameter."""
    if graph == "perm":
        keep = 1
    elif graph == "degree":
        keep = degree
    elif graph == "edges":
        keep = m_edges
    else:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    return (ranks_MxM < keep).astype(jnp.float32)


def sample_contexts(key: jax.Array, m: int, c: int, batch: int) -> jax.Array:
    """``batch`` contexts of c distinct items each, shape (batch, c) int32."""
    # the c largest of m uniform scores are a uniform random c-subset (one top_k, no sort per context)
    _, idx_BxC = jax.lax.top_k(jax.random.uniform(key, (batch, m)), c)
    return idx_BxC.astype(jnp.int32)


def context_indicator(ctx_BxC: jax.Array, m: int) -> jax.Array:
    """X[b, u] = 1 when item u is in context b, shape (B, m) float32 (contexts hold distinct items)."""
    return (ctx_BxC[:, :, None] == jnp.arange(m)).any(axis=1).astype(jnp.float32)


def context_targets(adj_MxM: jax.Array, ctx_BxC: jax.Array) -> jax.Array:
    """y[b, i, j] = 1 when context item j is an out-neighbour of query i, shape (B, c, c)."""
    return adj_MxM[ctx_BxC[:, :, None], ctx_BxC[:, None, :]]


def edge_metrics(pred_BxCxC: jax.Array, y_BxCxC: jax.Array) -> dict:
    """Recovery of the queries' neighbour sets, and edge precision / recall (scalars).

    ``acc_edges``: fraction of queries with >= 1 neighbour in the context whose set is exact;
    ``acc_none``: fraction of queries with no neighbour for which none is predicted;
    ``recovery`` = min(acc_edges, acc_none): neither the all-empty nor an over-eager predictor passes
    (a class absent from the contexts counts as recovered). ``query_acc``: exact sets over all queries.
    """
    pred = pred_BxCxC.astype(jnp.float32)
    tp = (pred * y_BxCxC).sum()
    fp = (pred * (1.0 - y_BxCxC)).sum()
    fn = ((1.0 - pred) * y_BxCxC).sum()
    exact_BxC = jnp.all(pred == y_BxCxC, axis=-1).astype(jnp.float32)
    has_BxC = (y_BxCxC.sum(-1) > 0).astype(jnp.float32)
    n_has, n_none = has_BxC.sum(), (1.0 - has_BxC).sum()
    acc_edges = jnp.where(n_has > 0, (exact_BxC * has_BxC).sum() / jnp.maximum(n_has, 1.0), 1.0)
    acc_none = jnp.where(n_none > 0, (exact_BxC * (1.0 - has_BxC)).sum() / jnp.maximum(n_none, 1.0), 1.0)
    return {
        "recovery": jnp.minimum(acc_edges, acc_none),
        "acc_edges": acc_edges,
        "acc_none": acc_none,
        "query_acc": exact_BxC.mean(),
        "precision": jnp.where(tp + fp > 0, tp / jnp.maximum(tp + fp, 1.0), 1.0),
        "recall": jnp.where(tp + fn > 0, tp / jnp.maximum(tp + fn, 1.0), 1.0),
    }
