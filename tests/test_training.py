"""The trainer: masking is exact, members are independent and deterministic, and it learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import engine
from lab.experiments import superposition
from lab.experiments.superposition import baseline
from lab.experiments.superposition import train as sp_train
from lab.experiments.superposition.scoring import Criterion
from lab.experiments.superposition.member import SuperpositionMember
from lab.training import TrainConfig

CFG = TrainConfig(steps=60, batch=32, evals=2)
CRIT = Criterion(samples=16)


def static(n, m_out, m=16, **kw):
    base = dict(m=m, op="and", s=2, p=None, d=None, d_out=None, objective="bce", balance=True)
    return {**base, **kw, "n": n, "m_out": m_out}


def run(shape, members, cfg=CFG, jit=True):
    train = sp_train.make_train(shape, cfg, CRIT)
    keys = jnp.stack([engine.member_key(superposition.EXPERIMENT, m) for m in members])
    hyper = {
        "lr": jnp.asarray([m.lr for m in members], jnp.float32),
        "n": jnp.asarray([m.n for m in members], jnp.int32),
        "m_out": jnp.asarray([m.m_out for m in members], jnp.int32),
    }
    f = jax.vmap(train)
    return (jax.jit(f) if jit else f)(keys, hyper)


def test_masked_training_matches_exact_width():
    member = SuperpositionMember(m=16, s=2, n=6, m_out=5, lr=0.02, seed=3)
    params_exact, exact = run(static(6, 5), [member])
    params_masked, masked = run(static(12, 10), [member])
    np.testing.assert_allclose(masked["loss"], exact["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(masked["fnr"][..., :5], exact["fnr"], atol=1e-6)
    np.testing.assert_allclose(masked["fpr"][..., :5], exact["fpr"], atol=1e-6)
    np.testing.assert_allclose(params_masked["w_in_DxN"][0, :, :6], params_exact["w_in_DxN"][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params_masked["w_out_NxK"][0, :6, :5], params_exact["w_out_NxK"][0], rtol=1e-4, atol=1e-5)
    # padded neurons and outputs never move from their initial values
    np.testing.assert_array_equal(params_masked["w_out_NxK"][0, 6:, :], 0.0)
    np.testing.assert_array_equal(params_masked["w_out_NxK"][0, :, 5:], 0.0)


def test_member_independent_of_population_and_deterministic():
    a = SuperpositionMember(m=16, s=2, n=8, m_out=6, lr=0.02, seed=0)
    others = [SuperpositionMember(m=16, s=2, n=4, m_out=10, lr=0.1, seed=s) for s in (1, 2)]
    _, alone = run(static(8, 10), [a])
    _, together = run(static(8, 10), [others[0], a, others[1]])
    for k in ("loss", "fnr", "fpr", "frac_ok"):
        np.testing.assert_allclose(together[k][1], alone[k][0], rtol=1e-5, atol=1e-6)
    _, again = run(static(8, 10), [a])
    np.testing.assert_array_equal(again["loss"], alone["loss"])


def test_jit_and_eager_agree():
    member = SuperpositionMember(m=16, s=2, n=4, m_out=3, lr=0.02, seed=1)
    cfg = TrainConfig(steps=4, batch=8, evals=2)
    _, jitted = run(static(4, 3), [member], cfg)
    _, eager = run(static(4, 3), [member], cfg, jit=False)
    np.testing.assert_allclose(jitted["loss"], eager["loss"], rtol=1e-5)


def test_learns_small_2and_task():
    cfg = TrainConfig(steps=600, batch=64, evals=2)
    members = [SuperpositionMember(m=12, s=2, n=16, m_out=6, lr=0.03, seed=s) for s in range(2)]
    _, metrics = run(static(16, 6, m=12), members, cfg)
    assert metrics["success"][:, -1].all(), metrics["frac_ok"]
    assert (metrics["loss"][:, -1] < metrics["loss"][:, 0]).all()


def test_diverging_member_leaves_others_untouched():
    good = SuperpositionMember(m=16, s=2, n=8, m_out=6, lr=0.02, seed=0)
    bad = SuperpositionMember(m=16, s=2, n=8, m_out=6, lr=1e30, seed=0, )
    cfg = TrainConfig(steps=20, batch=16, evals=2)
    shape = static(8, 6)
    train = sp_train.make_train({**shape, "objective": "mse"}, cfg, CRIT)
    members = [bad, good]
    keys = jnp.stack([engine.member_key(superposition.EXPERIMENT, m) for m in members])
    hyper = {"lr": jnp.asarray([1e30, 0.02], jnp.float32), "n": jnp.asarray([8, 8], jnp.int32), "m_out": jnp.asarray([6, 6], jnp.int32)}
    _, both = jax.jit(jax.vmap(train))(keys, hyper)
    _, alone = jax.jit(jax.vmap(train))(keys[1:], jax.tree.map(lambda v: v[1:], hyper))
    assert not np.isfinite(both["loss"][0]).all()
    np.testing.assert_allclose(both["loss"][1], alone["loss"][0], rtol=1e-5)


def test_outputs_in_superposition_mask_exactly_and_read_prefix_stable_vectors():
    read_small = sp_train.readout_vectors(jax.random.key(7), 6, 5)
    read_big = sp_train.readout_vectors(jax.random.key(7), 6, 9)
    np.testing.assert_array_equal(read_big[:, :5], read_small)
    np.testing.assert_allclose(np.linalg.norm(read_big, axis=0), 1.0, rtol=1e-6)
    member = SuperpositionMember(m=16, s=2, n=6, m_out=5, d_out=6, lr=0.02, seed=3)
    params_exact, exact = run(static(6, 5, d_out=6), [member])
    params_masked, masked = run(static(12, 10, d_out=6), [member])
    assert params_exact["w_out_NxK"].shape == (1, 6, 6)  # readout into R^d_out, not into m' units
    np.testing.assert_allclose(masked["loss"], exact["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(masked["fnr"][..., :5], exact["fnr"], atol=1e-6)


def test_learns_small_2and_task_with_outputs_in_superposition():
    cfg = TrainConfig(steps=600, batch=64, evals=2)
    members = [SuperpositionMember(m=12, s=2, n=16, m_out=6, d_out=8, lr=0.03, seed=s) for s in range(2)]
    _, metrics = run(static(16, 6, m=12, d_out=8), members, cfg)
    assert metrics["success"][:, -1].all(), metrics["frac_ok"]


def test_logged_steps_every_kth_and_last():
    from lab.training import logged_steps

    np.testing.assert_array_equal(logged_steps(TrainConfig(steps=10, evals=2, loss_every=2)), [0, 1, 0, 1, 1])
    assert logged_steps(TrainConfig(steps=6, evals=2, loss_every=1)).all()
    assert logged_steps(TrainConfig(steps=6, evals=1, loss_every=100)).tolist() == [0, 0, 0, 0, 0, 1]


def test_reported_loss_is_mean_over_logged_steps_and_leaves_training_alone():
    member = SuperpositionMember(m=16, s=2, n=6, m_out=5, lr=0.02, seed=3)
    # one evaluation per step with every loss logged: the loss of each step
    params_each, each = run(static(6, 5), [member], TrainConfig(steps=12, batch=16, evals=12, loss_every=1))
    params_k, sparse = run(static(6, 5), [member], TrainConfig(steps=12, batch=16, evals=2, loss_every=4))
    per_step = np.asarray(each["loss"][0])
    expected = [per_step[[3, 5]].mean(), per_step[[9, 11]].mean()]  # steps 4 and 6 of each segment of 6
    np.testing.assert_allclose(sparse["loss"][0], expected, rtol=1e-5)
    # the loss is a metric: the trained parameters do not depend on which steps report it
    for k in params_each:
        np.testing.assert_allclose(params_k[k], params_each[k], rtol=1e-5, atol=1e-7)


def test_oversampling_changes_training_data_not_the_evaluation():
    """With lr = 0 the parameters stay at initialisation: the evaluation (exact, over the task's
    input distribution) is identical with and without oversampling, while the training loss differs."""
    members = [SuperpositionMember(m=12, s=3, n=8, m_out=6, lr=1e-3, seed=0)]
    shape = static(8, 6, m=12, s=3)

    def frozen(oversample):
        train = sp_train.make_train({**shape, "oversample": oversample}, TrainConfig(steps=8, batch=16, evals=1), CRIT)
        keys = jnp.stack([engine.member_key(superposition.EXPERIMENT, m) for m in members])
        hyper = {"lr": jnp.zeros(1), "n": jnp.full(1, 8, jnp.int32), "m_out": jnp.full(1, 6, jnp.int32)}
        return jax.jit(jax.vmap(train))(keys, hyper)[1]

    plain, forced = frozen(0.0), frozen(0.5)
    for name in ("fnr", "fpr", "precision", "frac_ok"):
        np.testing.assert_array_equal(plain[name], forced[name])
    assert not np.allclose(plain["loss"], forced["loss"])


def test_forced_inputs_put_a_features_inputs_in_each_class():
    from lab.experiments.superposition.task import BooleanTask, sample_pairs

    task = BooleanTask(m=20, op="and", s=3)
    pairs = sample_pairs(jax.random.key(3), task, 10)
    words = jax.random.bits(jax.random.key(4), (sp_train.forced_words(task, 3000),), jnp.uint32)
    x, add_a, add_b, a, b = sp_train.forced_inputs(words, task, pairs, jnp.int32(7), 3000)
    x_full = np.asarray(x + add_a[:, None] * jax.nn.one_hot(a, 20) + add_b[:, None] * jax.nn.one_hot(b, 20))
    xa, xb = x_full[np.arange(3000), np.asarray(a)], x_full[np.arange(3000), np.asarray(b)]
    assert set(np.unique(x_full)) <= {0.0, 1.0} and np.all(x_full.sum(1) <= 3)
    # both on, only a, only b: about a third each (a background may already hold the other input)
    for frac in ((xa * xb).mean(), (xa * (1 - xb)).mean(), ((1 - xa) * xb).mean()):
        assert 0.25 < frac < 0.42
    chosen = {tuple(p) for p in np.asarray(pairs)[:7]}
    assert {(int(i), int(j)) for i, j in zip(np.asarray(a), np.asarray(b))} <= chosen  # only features < m_out


def test_dedicated_baseline_is_exact_with_raw_inputs_and_outputs_and_degrades_in_superposition():
    raw = SuperpositionMember(m=16, s=3, n=12, m_out=12, seed=0)
    out = baseline.dedicated_baseline(raw, Criterion())
    assert out["success"] == 1.0 and out["n_ok"] == 12
    perm = SuperpositionMember(m=16, op="perm", s=3, n=10, m_out=10, seed=1)
    assert baseline.dedicated_baseline(perm, Criterion())["n_ok"] == 10
    tight = SuperpositionMember(m=16, s=3, d=4, d_out=4, n=24, m_out=24, seed=0)  # 16 inputs in 4 dims
    assert baseline.dedicated_baseline(tight, Criterion())["n_ok"] < 24


@pytest.mark.parametrize("population", [None, 3])
def test_attention_loss_forms_equal_the_plain_context_pairs_loss(population):
    """The trainer's two bilinear losses, through x A xᵀ with hand-written backward passes and
    population gathers, equal the plain loss over context pairs (gather, project q and k, score),
    value and gradient, with padded heads and key dimensions: the count form Σ_uv N_uv loss(s_uv),
    N = XᵀX, and the context form; alone and vmapped over members sharing the contexts."""
    from lab.experiments.attention import train as attention_train
    from lab.experiments.attention.model import bilinear_pair_logits, key_mask, make_model
    from lab.experiments.attention.task import context_indicator, context_targets, sample_contexts
    from lab.losses import weighted_bce

    static = dict(m=16, d_model=16, graph="degree", context=8, model="bilinear", pos_weight=8.0, h=2, dk=8)
    model = make_model("bilinear", 2, 8)
    ctx_BxC = sample_contexts(jax.random.key(1), 16, 8, 32)
    dk, h = jnp.int32(6), jnp.int32(2)

    def member(seed):
        emb_MxD, adj_MxM = attention_train.task_instance(jax.random.key(seed), static, jnp.int32(32), jnp.int32(2))
        params = model.init(jax.random.key(2), emb_MxD, ctx_BxC[:1], dk, h)["params"]
        noise = jax.random.key(3 + seed)
        return emb_MxD, adj_MxM, jax.tree.map(lambda p: p + 0.1 * jax.random.normal(noise, p.shape), params)

    def plain(p, emb_MxD, adj_MxM):
        mask_HxK = key_mask(2, 8, dk, h)[:, None, :]
        q_BxCxHxK = jnp.einsum("bcd,hdk->bchk", emb_MxD[ctx_BxC], p["w_q_HxDxK"] * mask_HxK)
        k_BxCxHxK = jnp.einsum("bcd,hdk->bchk", emb_MxD[ctx_BxC], p["w_k_HxDxK"] * mask_HxK)
        logits = jnp.einsum("bihk,bjhk->bij", q_BxCxHxK, k_BxCxHxK) + p["bias"]
        return attention_train.pair_loss(logits, context_targets(adj_MxM, ctx_BxC), 8.0)

    def by_context(p, emb_MxD, adj_MxM):
        logits = model.apply({"params": p}, emb_MxD, ctx_BxC, dk, h)
        return attention_train.pair_loss(logits, attention_train.shared_targets(adj_MxM, ctx_BxC), 8.0)

    def by_counts(p, emb_MxD, adj_MxM):
        x_BxM = context_indicator(ctx_BxC, 16)
        return weighted_bce(bilinear_pair_logits(p, emb_MxD, dk, h), adj_MxM, (x_BxM.T @ x_BxM) * (1 + 7 * adj_MxM) / (32 * 64))

    if population is None:
        emb, adj, params = member(0)
        forms = {f.__name__: jax.value_and_grad(f) for f in (plain, by_context, by_counts)}
    else:
        emb, adj, params = jax.tree.map(lambda *a: jnp.stack(a), *[member(s) for s in range(population)])
        forms = {f.__name__: jax.jit(jax.vmap(jax.value_and_grad(f))) for f in (plain, by_context, by_counts)}
    (loss, grads), *others = [f(params, emb, adj) for f in forms.values()]
    for other_loss, other_grads in others:
        np.testing.assert_allclose(other_loss, loss, rtol=1e-6)
        for name in grads:
            np.testing.assert_allclose(other_grads[name], grads[name], rtol=1e-5, atol=1e-7)
