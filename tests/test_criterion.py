"""The error criterion: an exact 2-AND network passes; all-zeros and random networks fail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.boolean_task import BooleanTask, sample_pairs
from lab.criterion import Criterion, feature_error_rates, success

TASK = BooleanTask(m=16, op="and", s=3)
K = 12


def exact_and_network(pairs_Kx2):
    """One neuron per pair: relu(x_a + x_b - 1) is 1 iff both are on; logit 10 h - 5."""
    k = pairs_Kx2.shape[0]
    w_in = np.zeros((TASK.m, k), np.float32)
    w_in[np.asarray(pairs_Kx2[:, 0]), np.arange(k)] = 1.0
    w_in[np.asarray(pairs_Kx2[:, 1]), np.arange(k)] = 1.0
    return {
        "w_in_DxN": jnp.asarray(w_in),
        "b_in_N": -jnp.ones(k),
        "w_out_NxK": 10.0 * jnp.eye(k),
        "b_out_K": -5.0 * jnp.ones(k),
    }


def evaluate(params, pairs, n):
    fnr, fpr = feature_error_rates(params, jnp.int32(n), pairs, TASK, None, jax.random.key(1), 64)
    return fnr, fpr, success(fnr, fpr, jnp.int32(pairs.shape[0]), Criterion())


@pytest.fixture
def pairs():
    return sample_pairs(jax.random.key(0), TASK, K)


def test_exact_network_passes(pairs):
    fnr, fpr, s = evaluate(exact_and_network(pairs), pairs, K)
    np.testing.assert_array_equal(fnr, 0.0)
    np.testing.assert_array_equal(fpr, 0.0)
    assert bool(s["success"]) and float(s["frac_ok"]) == 1.0


def test_all_zeros_fails(pairs):
    params = jax.tree.map(jnp.zeros_like, exact_and_network(pairs))
    fnr, fpr, s = evaluate(params, pairs, K)
    np.testing.assert_array_equal(fnr, 1.0)
    assert not bool(s["success"])


def test_always_on_fails(pairs):
    params = jax.tree.map(jnp.zeros_like, exact_and_network(pairs))
    params["b_out_K"] = jnp.ones(K)
    fnr, fpr, s = evaluate(params, pairs, K)
    np.testing.assert_array_equal(fpr, 1.0)
    assert not bool(s["success"])


def test_random_network_fails(pairs):
    keys = jax.random.split(jax.random.key(5), 4)
    shapes = exact_and_network(pairs)
    params = {name: jax.random.normal(k, v.shape) for k, (name, v) in zip(keys, shapes.items())}
    _, _, s = evaluate(params, pairs, K)
    assert not bool(s["success"])


def test_masked_neurons_do_not_count(pairs):
    fnr, _, s = evaluate(exact_and_network(pairs), pairs, K - 1)  # last pair's neuron masked off
    assert float(fnr[-1]) == 1.0 and float(fnr[:-1].max()) == 0.0
    assert not bool(s["success"])
    partial = success(fnr, jnp.zeros(K), jnp.int32(K), Criterion(fraction=0.9))
    assert bool(partial["success"])


def test_fraction_counts_only_active_features():
    fnr = jnp.array([0.0, 0.0, 1.0])
    s = success(fnr, jnp.zeros(3), jnp.int32(2), Criterion())
    assert bool(s["success"]) and float(s["fnr_max"]) == 0.0
