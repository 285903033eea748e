import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.experiments.superposition.task import BooleanTask, all_pairs, local_assignments, sample_inputs, sample_pairs, targets


def test_targets_on_hand_checked_case():
    x = jnp.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    pairs = jnp.array([[0, 1], [0, 2], [2, 3]])
    np.testing.assert_array_equal(targets(x, pairs, "and"), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(targets(x, pairs, "or"), [[1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(targets(x, pairs, "xor"), [[0, 1, 0], [1, 0, 1]])
    perm = jnp.array([[2, 2], [0, 0]])
    np.testing.assert_array_equal(targets(x, perm, "perm"), [[0, 1], [1, 1]])


def test_exactly_s_active_and_bernoulli_rate():
    x = sample_inputs(jax.random.key(0), BooleanTask(m=32, s=3), 500)
    assert x.shape == (500, 32)
    np.testing.assert_array_equal(x.sum(1), 3)
    xp = sample_inputs(jax.random.key(1), BooleanTask(m=32, s=None, p=0.1), 4000)
    assert abs(float(xp.mean()) - 0.1) < 0.01


def test_pairs_distinct_and_prefix_of_larger_instance():
    task = BooleanTask(m=12)
    big = np.asarray(sample_pairs(jax.random.key(3), task, 60))
    small = np.asarray(sample_pairs(jax.random.key(3), task, 10))
    np.testing.assert_array_equal(big[:10], small)
    assert len({tuple(p) for p in big}) == 60
    assert (big[:, 0] < big[:, 1]).all()
    perm = np.asarray(sample_pairs(jax.random.key(3), BooleanTask(m=12, op="perm"), 12))
    assert sorted(perm[:, 0]) == list(range(12)) and (perm[:, 0] == perm[:, 1]).all()


def test_sampled_pairs_are_uniform():
    task = BooleanTask(m=5, op="and")  # 10 pairs
    keys = jax.random.split(jax.random.key(0), 4000)
    first2 = np.asarray(jax.vmap(lambda k: sample_pairs(k, task, 2))(keys))
    counts = np.zeros((5, 5))
    for (a, b) in first2[:, 0]:
        counts[a, b] += 1
    assert counts[np.triu_indices(5, 1)].min() > 400 - 80 and counts.max() < 400 + 80  # ~4.2 sigma
    # the first two pairs are distinct
    assert (first2[:, 0] != first2[:, 1]).any(axis=1).all()


def test_too_many_outputs_rejected():
    with pytest.raises(ValueError, match="distinct outputs"):
        sample_pairs(jax.random.key(0), BooleanTask(m=4), 7)
    assert len(all_pairs(4)) == 6


def test_local_assignments():
    vals, pos, near = local_assignments("and")
    assert vals[pos].tolist() == [[1, 1]]
    assert vals[near].tolist() == [[0, 1], [1, 0]]
    vals, pos, near = local_assignments("xor")
    assert vals[near].tolist() == [[1, 1]]
    vals, pos, near = local_assignments("or")
    assert vals[near].tolist() == [[0, 0]]
