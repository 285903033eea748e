"""RGR task: embeddings, nested graphs, contexts, targets and the recovery metric on hand-checked cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.experiments.attention.task import adjacency, context_targets, edge_metrics, graph_ranks, item_embeddings, sample_contexts


def test_embeddings_orthonormal_or_unit():
    e = np.asarray(item_embeddings(jax.random.key(0), 8, 8))
    np.testing.assert_allclose(e @ e.T, np.eye(8), atol=1e-5)
    c = np.asarray(item_embeddings(jax.random.key(0), 20, 8))
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    assert np.abs(c @ c.T - np.eye(20)).max() > 0.1  # compressed items interfere
    with pytest.raises(ValueError, match="m >= d_model"):
        item_embeddings(jax.random.key(0), 4, 8)


def test_graph_families_sizes_and_nesting():
    key = jax.random.key(1)
    perm = np.asarray(adjacency(graph_ranks(key, 6, "perm"), "perm", jnp.int32(6), jnp.int32(0)))
    np.testing.assert_array_equal(perm.sum(0), 1)
    np.testing.assert_array_equal(perm.sum(1), 1)
    ranks = graph_ranks(key, 6, "degree")
    deg2 = np.asarray(adjacency(ranks, "degree", jnp.int32(12), jnp.int32(2)))
    np.testing.assert_array_equal(deg2.sum(1), 2)
    deg3 = np.asarray(adjacency(ranks, "degree", jnp.int32(18), jnp.int32(3)))
    assert (deg3 >= deg2).all()  # graphs of one key are nested
    ranks = graph_ranks(key, 6, "edges")
    small = np.asarray(adjacency(ranks, "edges", jnp.int32(5), jnp.int32(0)))
    big = np.asarray(adjacency(ranks, "edges", jnp.int32(20), jnp.int32(0)))
    assert small.sum() == 5 and big.sum() == 20 and (big >= small).all()


def test_contexts_are_distinct_items():
    ctx = np.asarray(sample_contexts(jax.random.key(2), 10, 4, 50))
    assert ctx.shape == (50, 4) and ctx.min() >= 0 and ctx.max() < 10
    assert all(len(set(row)) == 4 for row in ctx)
    assert len({tuple(sorted(r)) for r in ctx}) > 20  # random subsets, not one repeated


def test_targets_hand_checked():
    # edges 0->1, 1->2, 2->0, 3->3 (a loop)
    adj = np.zeros((5, 5), np.float32)
    adj[0, 1] = adj[1, 2] = adj[2, 0] = adj[3, 3] = 1
    ctx = jnp.asarray([[0, 1, 4], [3, 2, 1]], jnp.int32)
    y = np.asarray(context_targets(jnp.asarray(adj), ctx))
    np.testing.assert_array_equal(y[0], [[0, 1, 0], [0, 0, 0], [0, 0, 0]])  # only 0->1 inside
    np.testing.assert_array_equal(y[1], [[1, 0, 0], [0, 0, 0], [0, 1, 0]])  # loop 3->3, 1->2


def test_metrics_hand_checked():
    y = jnp.asarray([[[0, 1, 0], [0, 0, 0], [0, 0, 0]]], jnp.float32)
    perfect = edge_metrics(y > 0, y)
    assert float(perfect["recovery"]) == 1.0 and float(perfect["precision"]) == 1.0
    # predicting "none" everywhere: every no-neighbour query right, the one with a neighbour wrong
    empty = edge_metrics(jnp.zeros_like(y) > 0, y)
    assert float(empty["acc_none"]) == 1.0 and float(empty["acc_edges"]) == 0.0
    assert float(empty["recovery"]) == 0.0 and float(empty["recall"]) == 0.0
    assert float(empty["query_acc"]) == pytest.approx(2 / 3)
    # an extra edge from a no-neighbour query: recall 1, precision 1/2, that query fails
    extra = y.at[0, 2, 0].set(1.0)
    m = edge_metrics(extra > 0, y)
    assert float(m["recall"]) == 1.0 and float(m["precision"]) == 0.5
    assert float(m["acc_none"]) == 0.5 and float(m["recovery"]) == 0.5


def test_gram_schmidt_is_qr_with_positive_diagonal():
    from lab.experiments.attention.task import gram_schmidt

    g = jax.random.normal(jax.random.key(4), (12, 12))
    q, r = np.linalg.qr(np.asarray(g))
    q = q * np.sign(np.diag(r))[None, :]
    np.testing.assert_allclose(gram_schmidt(g), q, atol=2e-5)
