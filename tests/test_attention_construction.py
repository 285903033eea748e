"""Explicit constructions: exact for uncompressed graphs; least squares works at its stated size only."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.experiments.attention.construction import (
    circle_construction,
    compressed_construction,
    construction_points,
    construction_recoveries,
    construction_recovery,
    random_instance,
    stated_dk,
    uncompressed_construction,
)
from lab.experiments.attention.model import BilinearScorer, bilinear_form


def test_uncompressed_permutation_construction_is_exact():
    for seed in range(3):
        emb, adj = random_instance(jax.random.key(seed), 24, 24, "perm", 24)
        params = uncompressed_construction(emb, adj)
        # the score matrix is A - 1/2 exactly, so every context is recovered
        scores = emb @ bilinear_form(params, 24, 1) @ emb.T + params["bias"]
        np.testing.assert_allclose(scores, adj - 0.5, atol=1e-4)
        m = construction_recovery(params, emb, adj, jax.random.key(10 + seed), context=12, samples=64)
        assert float(m["recovery"]) == 1.0 and float(m["precision"]) == 1.0 and float(m["recall"]) == 1.0


def test_circle_construction_is_exact_with_two_key_dimensions():
    for seed, graph in ((0, "perm"), (1, "degree"), (2, "degree")):
        emb, adj = random_instance(jax.random.key(seed), 32, 32, graph, 32)
        params = circle_construction(emb, adj)
        assert params["w_q_HxDxK"].shape == (1, 32, 2)
        scores = emb @ bilinear_form(params, 2, 1) @ emb.T + params["bias"]
        np.testing.assert_array_equal(np.asarray(scores > 0), np.asarray(adj > 0))
        m = construction_recovery(params, emb, adj, jax.random.key(20 + seed), context=16, samples=64)
        assert float(m["recovery"]) == 1.0
    _, adj2 = random_instance(jax.random.key(3), 16, 16, "degree", 32)
    with pytest.raises(ValueError, match="out-degree <= 1"):
        circle_construction(emb[:16, :16], adj2)


def test_compressed_construction_succeeds_at_stated_size_and_fails_well_below():
    # a degree-2 graph uncompressed (m = d) and a degree-1 graph compressed (m = 1.25 d)
    for m, d, k in ((48, 48, 2), (80, 64, 1)):
        m_edges = k * m
        dk = stated_dk(m_edges, d)
        rec = construction_recoveries(m, d, "degree", m_edges, [dk // 8, dk], seeds=2, context=12, samples=128)
        assert (rec[:, 1] >= 0.95).all(), (m, d, dk, rec)
        assert (rec[:, 0] < 0.8).all(), (m, d, dk, rec)


def test_compressed_construction_heads_split_keeps_scores():
    emb, adj = random_instance(jax.random.key(3), 40, 20, "degree", 40)
    one = compressed_construction(jax.random.key(4), emb, adj, dk=12, h=1)
    four = compressed_construction(jax.random.key(4), emb, adj, dk=12, h=4)
    ctx = jnp.arange(40, dtype=jnp.int32)[None]
    s1 = BilinearScorer(h_max=1, dk_max=12).apply({"params": one}, emb, ctx, jnp.int32(12), jnp.int32(1))
    s4 = BilinearScorer(h_max=4, dk_max=3).apply({"params": four}, emb, ctx, jnp.int32(12), jnp.int32(4))
    np.testing.assert_allclose(s1, s4, rtol=1e-4, atol=1e-4)


def test_construction_points_grow_with_edges():
    pts = construction_points([(32, 32, "degree", 32), (32, 32, "degree", 128)], dks=[4, 8, 16, 32, 64, 96, 128], seeds=1, context=8)
    assert set(pts) == {"m", "m_edges", "d_model", "dk"} and pts["m"] == [32, 32]
    assert pts["m_edges"] == [32, 128] and pts["d_model"] == [32, 32]
    assert pts["dk"][0] < pts["dk"][1]
