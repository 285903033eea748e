"""The trainer's fast paths compute exactly what the plain code does: shared-input products under
vmap, the s-sparse sampler, targets from counts, and population groups in the engine."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import harness as bench
from lab import engine, experiment
from lab.experiments.superposition.task import (BooleanTask, below_from_words, sample_active, sample_inputs, sample_pairs, targets,
                                                uniform_from_words)
from lab.experiments.superposition.scoring import Criterion
from lab.experiments.superposition.mlp import matmul, shared_matmul
from lab.experiments.superposition.member import SuperpositionMember
from lab.training import TrainConfig


@pytest.mark.parametrize("x_batched", [False, True])
def test_shared_matmul_matches_plain_product_under_vmap(x_batched):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (3, 5, 4) if x_batched else (5, 4))
    w, v = jax.random.normal(k2, (3, 4, 6)), jax.random.normal(k3, (3, 6, 2))
    in_axes = (0 if x_batched else None, 0, 0)
    for op in (shared_matmul, matmul):
        fast = jax.jit(jax.vmap(jax.value_and_grad(lambda x, w, v: (jax.nn.relu(op(x, w)) @ v).sum(), argnums=(1,)), in_axes))
        plain = jax.jit(jax.vmap(jax.value_and_grad(lambda x, w, v: (jax.nn.relu(x @ w) @ v).sum(), argnums=(1,)), in_axes))
        (a, (ga,)), (b, (gb,)) = fast(x, w, v), plain(x, w, v)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-5)


def test_sample_active_is_uniform_over_subsets():
    idx = np.asarray(sample_active(jax.random.key(0), 5, 2, 20000))
    assert all(len(set(r)) == 2 for r in idx)
    counts = collections.Counter(tuple(sorted(r)) for r in idx)
    assert len(counts) == 10 and max(abs(c - 2000) for c in counts.values()) < 200  # ~4.7 sigma


def test_integers_from_words_are_exact_multiply_shift():
    """below_from_words(u, n) = floor(u·n / 2^32) exactly (checked in 64-bit integers), so each
    value of [0, n) takes 2^32/n words up to one: uniform within 2^-32."""
    rng = np.random.default_rng(0)
    edges = np.array([0, 1, 2**16 - 1, 2**16, 2**31, 2**32 - 1], np.uint64)
    words = np.concatenate([rng.integers(0, 2**32, 5000, dtype=np.uint64), edges])
    for n in (1, 2, 3, 7, 61, 64, 1000, 65535):
        got = np.asarray(below_from_words(jnp.asarray(words.astype(np.uint32)), n))
        np.testing.assert_array_equal(got, (words * np.uint64(n)) >> np.uint64(32))
    u = np.asarray(uniform_from_words(jnp.asarray(np.array([0, 2**32 - 1, 2**31], np.uint32))))
    np.testing.assert_array_equal(u, [0.0, 1.0 - 2.0**-23, 0.5])


@pytest.mark.parametrize("op", ["and", "or", "xor", "perm"])
def test_targets_of_a_shared_batch_under_vmap_equal_each_members(op):
    # the trainer's case: one batch x shared by the population, pairs per member
    task = BooleanTask(m=10, op=op, s=None, p=0.3)
    x = sample_inputs(jax.random.key(1), task, 64)
    pairs = jax.vmap(lambda k: sample_pairs(k, task, 8))(jax.random.split(jax.random.key(2), 3))
    together = jax.jit(jax.vmap(lambda pr: targets(x, pr, op)))(pairs)
    for i in range(3):
        np.testing.assert_array_equal(together[i], targets(x, pairs[i], op))


def test_population_groups_do_not_change_results():
    exp = experiment.get("superposition")
    members = [SuperpositionMember(m=12, s=2, n=n, m_out=4, lr=lr, seed=s)
               for s, (n, lr) in enumerate([(4, 0.02), (6, 0.05), (3, 0.01), (6, 0.1)])]
    shape = tuple((f, getattr(members[0], f)) for f in exp.static_fields()) + (("n", 6), ("m_out", 4))
    cfg, crit = TrainConfig(steps=6, batch=8, evals=2), Criterion(samples=4)
    keys = jnp.stack([engine.member_key(exp, m) for m in members])
    hyper = engine.hyper_arrays(exp, members)
    whole, _ = engine.population_program("superposition", shape, cfg, crit, 4)
    a = whole(keys, hyper)
    for g in (2, 3):  # 3 does not divide 4: the second group is filled with a repeat of the last member
        groups, _ = engine.population_program("superposition", shape, cfg, crit, g)
        b = groups(keys, hyper)
        for k in ("loss", "fnr", "fpr"):
            assert b[k].shape == a[k].shape
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_cpu_groups_are_even():
    per_member = engine.CPU_GROUP_BYTES // 4  # the budget fits 4 members
    groups = [engine.group_size(p, per_member, platform="cpu") for p in (3, 4, 5, 6, 8, 9, 12)]
    assert groups == [3, 4, 5, 6, 4, 3, 4]  # one group below two budgets' worth, then even groups
    assert engine.group_size(6, per_member, platform="gpu") == 6
    assert engine.group_size(1024, engine.CPU_GROUP_BYTES // 32, platform="cpu") == 32


def test_cpu_groups_do_enough_work_per_step_and_hold_two_members():
    too_big = engine.CPU_GROUP_BYTES * 2  # not even one member fits the memory budget
    assert engine.group_size(1024, too_big, platform="cpu") == 2  # a group of one is never chosen
    assert engine.group_size(3, too_big, platform="cpu") == 3
    tiny = engine.CPU_GROUP_FLOPS / 16  # a member doing 1/16 of the FLOPs floor per step
    assert engine.group_size(1024, too_big, tiny, platform="cpu") == 16
    assert engine.group_size(1024, engine.CPU_GROUP_BYTES // 64, tiny, platform="cpu") == 64  # memory allows more
    assert engine.group_size(24, too_big, tiny, platform="cpu") == 24  # under two groups' worth: one group


def test_bench_ratios_and_summary_from_a_report():
    res = {"peak": {"size": 8, "xla_flops": 2e9, "numpy_flops": 1e9, "peak_flops": 2e9},
           "population": {"small": {"population": 4, "model_steps_per_s": 100.0, "dense_flops": 5e8, "compile_s": 1.0}},
           "peers": {"small": {"torch_loop": {"model_steps_per_s": 10.0}, "jax_loop": {"skipped": "x"}}}}
    rat = bench.ratios(res)
    assert rat == {"small_fraction_of_peak": 0.25, "small_vs_torch_loop": 10.0}
    report = {"results": res, "ratios": rat, "seconds": 1.0, "date": "d", "versions": {"jax": "j", "torch": None},
              "device": {"platform": "cpu", "cpu": "c", "cores": 2, "count": 1, "kind": "cpu"}}
    text = bench.summary(report)
    assert "25.0% of peak" in text and "10.0x faster" in text and "skipped (x)" in text


def test_padded_draws_are_prefixes_of_wider_ones():
    """A member padded to a wider bucket draws the same first-layer columns and readout vectors as
    at its own width (what lets widths and m' share a program)."""
    from lab.experiments.superposition.mlp import columnwise_normal
    from lab.experiments.superposition.train import readout_vectors

    key = jax.random.key(7)
    np.testing.assert_array_equal(columnwise_normal(key, (6, 3)), columnwise_normal(key, (6, 10))[:, :3])
    np.testing.assert_array_equal(readout_vectors(key, 5, 4), readout_vectors(key, 5, 12)[:, :4])



SIX_MEMBERS = """
import jax.numpy as jnp
from lab import engine, experiment
from lab.experiments.superposition.scoring import Criterion
from lab.experiments.superposition.member import SuperpositionMember
from lab.training import TrainConfig
exp = experiment.get("superposition")
members = [SuperpositionMember(m=12, s=2, n=n, m_out=4, lr=lr, seed=s)
           for s, (n, lr) in enumerate([(4, 0.02), (6, 0.05), (3, 0.01), (6, 0.1), (5, 0.03), (2, 0.04)])]
shape = tuple((f, getattr(members[0], f)) for f in exp.static_fields()) + (("n", 6), ("m_out", 4))
cfg, crit = TrainConfig(steps=6, batch=8, evals=2), Criterion(samples=4)
keys = jnp.stack([engine.member_key(exp, m) for m in members])
hyper = engine.hyper_arrays(exp, members)
"""

ON_TWO_DEVICES = SIX_MEMBERS + """
import sys, jax, numpy as np
assert len(jax.devices()) == 2
out = {}
for g in (3, 2):  # per device: one vmap of its 3 members, or groups of 2 (a repeated lane)
    program, sharding = engine.population_program("superposition", shape, cfg, crit, g)
    res = program(*jax.device_put((keys, hyper), sharding))
    out.update({f"{k}_{g}": np.asarray(res[k]) for k in ("loss", "fnr", "fpr")})
np.savez(sys.argv[1], **out)
"""


def test_two_devices_train_each_member_as_one_device_does(tmp_path):
    """Each of two devices runs its own members (shard_map), whole or in groups: every member's
    results equal those of the one-device program."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "LAB_CPU_DEVICES")}
    env.update(JAX_PLATFORMS="cpu", LAB_CPU_DEVICES="2")
    out = tmp_path / "two.npz"
    run = subprocess.run([sys.executable, "-c", "import lab\n" + ON_TWO_DEVICES, str(out)],
                         cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    two = np.load(out)
    ns = {}
    exec(SIX_MEMBERS, ns)
    one, _ = engine.population_program("superposition", ns["shape"], ns["cfg"], ns["crit"], 6)
    ref = one(ns["keys"], ns["hyper"])
    for g in (3, 2):
        for k in ("loss", "fnr", "fpr"):
            np.testing.assert_allclose(two[f"{k}_{g}"], np.asarray(ref[k]), rtol=1e-5, atol=1e-6)
