"""The criterion: exact scoring equals brute force; exact networks pass; trivial, random and
over-eager networks fail; many good features never fail by chance."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.experiments.superposition.task import BooleanTask, apply_op, sample_pairs
from lab.experiments.superposition.scoring import (
    CLASSES_Ax2, Criterion, computed, exact_counts, feature_error_rates, feature_scores, rates, scored_exactly, success,
)

TASK = BooleanTask(m=16, op="and", s=3)
K = 12


def exact_and_network(pairs_Kx2, m=TASK.m):
    """One neuron per pair: relu(x_a + x_b - 1) is 1 iff both are on; logit 10 h - 5."""
    k = pairs_Kx2.shape[0]
    w_in = np.zeros((m, k), np.float32)
    w_in[np.asarray(pairs_Kx2[:, 0]), np.arange(k)] = 1.0
    w_in[np.asarray(pairs_Kx2[:, 1]), np.arange(k)] = 1.0
    return {
        "w_in_DxN": jnp.asarray(w_in),
        "b_in_N": -jnp.ones(k),
        "w_out_NxK": 10.0 * jnp.eye(k),
        "b_out_K": -5.0 * jnp.ones(k),
    }


def score(params, pairs, n, task=TASK, criterion=Criterion()):
    scores = feature_scores(params, jnp.int32(n), pairs, task, None, jax.random.key(1), criterion)
    return scores, success(scores, jnp.int32(pairs.shape[0]), criterion)


@pytest.fixture
def pairs():
    return sample_pairs(jax.random.key(0), TASK, K)


def brute_force(params, pairs, task):
    """Every s-subset through the dense network in numpy: fire counts and counts per class."""
    w, b = np.asarray(params["w_in_DxN"]), np.asarray(params["b_in_N"])
    wo, bo = np.asarray(params["w_out_NxK"]), np.asarray(params["b_out_K"])
    fires = np.zeros((len(pairs), 4))
    counts = np.zeros((len(pairs), 4))
    for subset in itertools.combinations(range(task.m), task.s):
        x = np.zeros(task.m, np.float32)
        x[list(subset)] = 1
        out = np.maximum(x @ w + b, 0) @ wo + bo
        for k, (a, bb) in enumerate(np.asarray(pairs)):
            c = int(2 * x[a] + x[bb])
            counts[k, c] += 1
            fires[k, c] += out[k] > 0
    return fires, counts


def test_exact_scoring_equals_brute_force(pairs):
    keys = jax.random.split(jax.random.key(7), 4)
    shapes = exact_and_network(pairs)
    params = {name: 0.7 * jax.random.normal(k, v.shape) for k, (name, v) in zip(keys, shapes.items())}
    fires, counts = exact_counts(params, jnp.int32(K), pairs, TASK, None, chunk=100)  # several chunks + padding
    bf_fires, bf_counts = brute_force(params, pairs, TASK)
    np.testing.assert_array_equal(np.asarray(counts), bf_counts)
    np.testing.assert_array_equal(np.asarray(fires), bf_fires)
    assert bf_counts[0].tolist() == [math.comb(14, 3), math.comb(14, 2), math.comb(14, 2), math.comb(14, 1)]


def test_exact_scoring_is_used_and_exact_network_passes(pairs):
    assert scored_exactly(TASK, Criterion())
    scores, s = score(exact_and_network(pairs), pairs, K)
    np.testing.assert_array_equal(scores["fnr"], 0.0)
    np.testing.assert_array_equal(scores["fpr_max"], 0.0)
    np.testing.assert_array_equal(scores["precision"], 1.0)
    assert bool(s["success"]) and float(s["frac_ok"]) == 1.0 and float(s["n_ok"]) == K


def test_all_zeros_fails(pairs):
    params = jax.tree.map(jnp.zeros_like, exact_and_network(pairs))
    scores, s = score(params, pairs, K)
    np.testing.assert_array_equal(scores["fnr"], 1.0)
    assert not bool(s["success"]) and float(s["n_ok"]) == 0


def test_always_on_fails(pairs):
    params = jax.tree.map(jnp.zeros_like, exact_and_network(pairs))
    params["b_out_K"] = jnp.ones(K)
    scores, s = score(params, pairs, K)
    np.testing.assert_array_equal(scores["fpr_max"], 1.0)
    assert not bool(s["success"])


def test_random_network_fails(pairs):
    keys = jax.random.split(jax.random.key(5), 4)
    shapes = exact_and_network(pairs)
    params = {name: jax.random.normal(k, v.shape) for k, (name, v) in zip(keys, shapes.items())}
    _, s = score(params, pairs, K)
    assert not bool(s["success"])


def test_masked_neurons_do_not_count(pairs):
    scores, s = score(exact_and_network(pairs), pairs, K - 1)  # last pair's neuron masked off
    assert float(scores["fnr"][-1]) == 1.0 and float(scores["fnr"][:-1].max()) == 0.0
    assert not bool(s["success"])
    assert bool(success(scores, jnp.int32(K), Criterion(fraction=0.9))["success"])


def test_or_of_two_ands_fails():
    """AND(a, b) OR AND(c, d): every per-class false-positive rate is below 0.2% at m = 64, s = 3,
    but half of its firings are wrong (precision 1/2): not a detector of AND(a, b)."""
    task = BooleanTask(m=64, op="and", s=3)
    pairs = jnp.array([[0, 1], [2, 3]], jnp.int32)
    params = exact_and_network(pairs, m=64)
    params["w_out_NxK"] = 10.0 * jnp.array([[1.0, 0.0], [1.0, 1.0]])  # output 0 also fires on (2, 3)
    scores, s = score(params, pairs, 2, task=task)
    assert float(scores["fpr_max"][0]) < 0.002 and float(scores["fnr"][0]) == 0.0
    assert float(scores["precision"][0]) == pytest.approx(0.5)
    assert not bool(computed(scores, 0.05)[0]) and bool(computed(scores, 0.05)[1])
    assert not bool(s["success"])


def test_thousand_good_features_never_fail_by_chance():
    """Features right on 99% of their positives with 99% precision all pass, at any number of
    features: scores are exact class counts, so no sampling noise can fail a feature."""
    k, m, s = 1000, 64, 3
    counts_A = np.array([math.comb(m - 2, s), math.comb(m - 2, s - 1), math.comb(m - 2, s - 1), math.comb(m - 2, s - 2)], float)
    rng = np.random.default_rng(0)
    misses = rng.binomial(int(counts_A[3]), 0.01, size=k).clip(max=1)  # at most 1 of 62 positives missed
    hits = counts_A[3] - misses
    false = np.floor(0.01 * hits).astype(int)  # false positives: 1% of the firings at most
    fires_KxA = np.zeros((k, 4))
    fires_KxA[:, 3] = hits
    fires_KxA[:, 0] = false
    scores = rates(jnp.asarray(fires_KxA / counts_A), jnp.broadcast_to(jnp.asarray(counts_A), (k, 4)), "and")
    s = success(scores, jnp.int32(k), Criterion())
    assert bool(s["success"]) and float(s["n_ok"]) == k


def test_sampled_scoring_agrees_with_exact_on_exact_network(pairs):
    """Bernoulli-free fallback: the sampled path scores the exact network perfectly too."""
    fnr, fpr = feature_error_rates(exact_and_network(pairs), jnp.int32(K), pairs, TASK, None, jax.random.key(1), 256)
    np.testing.assert_array_equal(fnr, 0.0)
    np.testing.assert_array_equal(fpr, 0.0)
    scores, _ = score(exact_and_network(pairs), pairs, K, criterion=Criterion(max_inputs=0))
    np.testing.assert_array_equal(scores["precision"], 1.0)


def test_perm_exact_network_passes():
    task = BooleanTask(m=12, op="perm", s=3)
    pairs = sample_pairs(jax.random.key(2), task, 8)
    params = {
        "w_in_DxN": jnp.asarray(np.eye(12, dtype=np.float32)[:, np.asarray(pairs[:, 0])]),
        "b_in_N": jnp.zeros(8),
        "w_out_NxK": 10.0 * jnp.eye(8),
        "b_out_K": -5.0 * jnp.ones(8),
    }
    scores, s = score(params, pairs, 8, task=task)
    assert bool(s["success"])
    np.testing.assert_array_equal(scores["precision"], 1.0)


def test_fraction_counts_only_active_features():
    scores = {"fnr": jnp.array([0.0, 0.0, 1.0]), "fpr_max": jnp.zeros(3), "precision": jnp.ones(3)}
    s = success(scores, jnp.int32(2), Criterion())
    assert bool(s["success"]) and float(s["fnr_max"]) == 0.0


def test_samples_needed_gives_quarter_epsilon_interval():
    c = Criterion(epsilon=0.05)
    n = c.samples_needed()
    assert 1.96 * math.sqrt(0.05 * 0.95 / n) <= 0.05 / 4 < 1.96 * math.sqrt(0.05 * 0.95 / (n - 1))
    assert c.samples >= n


def test_class_order_matches_ops():
    assert apply_op("and", CLASSES_Ax2[:, 0], CLASSES_Ax2[:, 1]).tolist() == [0, 0, 0, 1]
