"""The memorisation kind: its capacity metric fails trivial predictors, padded heads/contexts/examples
train exactly as at their own size, a tiny layer memorises a tiny data set, a planted law comes back."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import engine, experiment, fit, planted
from lab.experiments import memorization
from lab.experiments.memorization import model as mem_model
from lab.experiments.memorization import task as mem_task
from lab.experiments.memorization import train as mem_train
from lab.experiments.memorization.member import MemorizationMember
from lab.experiments.memorization.success import MemorizationSuccess
from lab.thresholds import member_success
from lab.training import TrainConfig

SUCCESS = MemorizationSuccess()
TINY = dict(d_model=8, dh=6, d_in=5, classes=7)  # small programs: compiling them is most of the time


def run(members, cfg, **maxima):
    """Train ``members`` in one vmapped program of a bucket with the given padded maxima."""
    static = {f: getattr(members[0], f) for f in experiment.get("memorization").static_fields()}
    train = mem_train.make_train({**static, **maxima}, cfg, SUCCESS)
    keys = jnp.stack([engine.member_key(memorization.EXPERIMENT, m) for m in members])
    return jax.jit(jax.vmap(train))(keys, engine.hyper_arrays(memorization.EXPERIMENT, members))


def as_row(metrics: dict) -> dict:
    row = memorization.row_metrics(MemorizationMember(), {k: np.asarray(v)[None] for k, v in metrics.items()})
    return {**row, "status": "ok", "success": bool(np.asarray(metrics["success"]))}


def test_capacity_metric_fails_trivial_predictors():
    n, classes = 400, 100
    labels = jax.random.randint(jax.random.key(0), (n,), 0, classes)
    counts = np.bincount(np.asarray(labels), minlength=classes)
    score = jax.jit(lambda correct, eps: mem_task.memorisation_metrics(correct, labels, jnp.ones(n, bool), classes, eps),
                    static_argnums=1)
    guesses = {
        "constant": jnp.zeros(n, jnp.int32),
        "majority": jnp.full(n, int(counts.argmax()), jnp.int32),
        "chance": jax.random.randint(jax.random.key(1), (n,), 0, classes),
    }
    for name, guess in guesses.items():
        m = score(guess == labels, SUCCESS.epsilon)
        row = as_row(m)
        assert not bool(m["success"]) and not member_success(row), name
        assert float(m["excess"]) <= 0.0, name  # nothing beyond the majority count
        assert float(m["majority"]) == counts.max()
    # the majority label is the best a constant predictor does: exactly zero excess, even at epsilon = 0
    m = score(guesses["majority"] == labels, 0.0)
    assert float(m["excess"]) == 0.0 and not bool(m["success"])
    # a perfect predictor passes, and counts every example beyond the majority label's
    m = score(jnp.ones(n, bool), SUCCESS.epsilon)
    assert bool(m["success"]) and member_success(as_row(m)) and float(m["excess"]) == n - counts.max()
    # at epsilon = 0.01, four wrong in 400 pass and eight do not
    assert bool(score(jnp.arange(n) >= 4, 0.01)["success"])
    assert not bool(score(jnp.arange(n) >= 8, 0.01)["success"])


CFG = TrainConfig(steps=600, batch=16, evals=20)
MEMBER = MemorizationMember(examples=16, h=4, context=8, lr=0.03, seed=3, **TINY)


@pytest.fixture(scope="module")
def exact_and_padded():
    """MEMBER (and another seed) in a bucket of its own size; MEMBER beside a larger one in a padded bucket."""
    exact = run([MEMBER, dataclasses.replace(MEMBER, seed=0)], CFG, examples=16, h=4, context=8)
    other = dataclasses.replace(MEMBER, examples=64, h=6, context=10, seed=1)
    padded = run([other, MEMBER], CFG, examples=64, h=6, context=10)
    return exact, padded


def test_padded_heads_contexts_and_examples_train_exactly_as_at_their_own_size(exact_and_padded):
    (_, exact), (p_pad, padded) = exact_and_padded
    # the same run for the first 120 steps (4 evaluation points); at lr 0.03 rounding differences in the
    # padded sums then grow along the trajectory, so later points are not compared
    for k in ("loss", "accuracy", "memorised", "majority", "success"):
        np.testing.assert_allclose(padded[k][1, :4], exact[k][0, :4], rtol=1e-4, atol=1e-6)
    # masked heads never move from their initial weights
    root = engine.member_key(memorization.EXPERIMENT, MEMBER)
    init = jax.jit(lambda k: mem_model.init_params(k, h_max=6, h=jnp.int32(4), **TINY))(mem_task.member_keys(root)["init"])
    for name in ("w_q_HxDxK", "w_k_HxDxK", "w_v_HxD", "w_o_HxD"):
        np.testing.assert_array_equal(p_pad[name][1, 4:], init[name][4:])


def test_tiny_layer_memorises_a_tiny_data_set(exact_and_padded):
    (_, metrics), _ = exact_and_padded
    np.testing.assert_array_equal(metrics["accuracy"][:, -1], 1.0)
    assert bool(np.all(metrics["success"][:, -1])) and not bool(np.any(metrics["success"][:, 0]))
    assert bool(np.all(metrics["loss"][:, -1] < 0.1 * metrics["loss"][:, 0]))


def test_padded_data_and_masks_give_the_exact_size_logits():
    """Data drawn for a larger bucket hold the smaller data set, and a layer padded to more heads and
    context tokens computes the logits of its own size (shared and random contexts)."""
    h, n, d_in = 3, 4, TINY["d_in"]

    @jax.jit
    def both(key):
        small = mem_model.init_params(key, h_max=h, h=jnp.int32(h), **TINY)
        big = mem_model.init_params(key, h_max=5, h=jnp.int32(h), **TINY)
        q_small, y_small = mem_task.examples(key, 6, d_in, TINY["classes"])
        q_big, y_big = mem_task.examples(key, 10, d_in, TINY["classes"])
        idx = jnp.arange(6)
        pos = jnp.asarray(mem_task.positions(8, TINY["d_model"]))
        contexts = {"shared": (mem_task.shared_context(key, n, d_in), mem_task.shared_context(key, 7, d_in)),
                    "random": (mem_task.random_contexts(key, idx, n, d_in), mem_task.random_contexts(key, idx, 7, d_in))}
        logits = {
            kind: (mem_model.logits(small, q_small, c_small, pos[: n + 1], jnp.ones(n, bool), jnp.ones(h, bool)),
                   mem_model.logits(big, q_big[idx], c_big, pos, jnp.arange(7) < n, jnp.arange(5) < h))
            for kind, (c_small, c_big) in contexts.items()
        }
        return small, big, (y_small, y_big, q_big), logits

    small, big, (y_small, y_big, q_big), logits = both(jax.random.key(2))
    np.testing.assert_array_equal(y_small, y_big[:6])
    assert float(q_big.min()) >= 0.0 and float(q_big.max()) < 1.0
    for name in ("w_q_HxDxK", "w_k_HxDxK", "w_v_HxD", "w_o_HxD"):
        np.testing.assert_array_equal(big[name][:h], small[name])
    for kind, (exact, padded) in logits.items():
        np.testing.assert_allclose(padded, exact, rtol=1e-5, atol=1e-6, err_msg=kind)
    assert not np.allclose(logits["shared"][0], logits["random"][0])


def test_member_refuses_impossible_settings():
    for bad in (dict(examples=1), dict(classes=1), dict(d_model=7), dict(contexts="fixed"), dict(h=0), dict(lr=0.0)):
        with pytest.raises(ValueError):
            MemorizationMember(**bad)
    # their layer at h = 1: W_Q, W_K (64 x 64), W_V and a row of W_O (64 each), embedding, decoder
    assert MemorizationMember(h=1).params == 2 * 64 * 64 + 64 + 64 + 65 * 64 + 65 * 100


def test_planted_h_times_n_law_is_recovered_and_preferred():
    rows = planted.simulate("memorization", "mem_hn", {"c": 6.0}, {"h": [1, 2, 4, 8], "context": [4, 8, 16], "dh": [64]},
                            lambda c: planted.geometric(4, 4000, 16), seeds=3, rng=1)
    report = fit.fit_rows("memorization", rows, n_boot=50, pipeline_boot=0)
    hn = fit.law_fit(report, "mem_hn")
    assert hn.params["c"][1] <= 6.0 <= hn.params["c"][2]
    power = fit.law_fit(report, "mem_power")
    assert power.params["alpha"][1] <= 1.0 <= power.params["alpha"][2]
    assert power.params["beta"][1] <= 1.0 <= power.params["beta"][2]
    assert fit.law_fit(report, "mem_h").qaic > hn.qaic + 2
