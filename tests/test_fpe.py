"""The FPE kind (arXiv 2510.04500): the split keeps the non-zero count and, where it should, the
function; the formulas' targets; a constant predictor fails; padding is exact; a tiny run learns."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import engine, experiment, planted
from lab.experiments.fpe import split as fs
from lab.experiments.fpe import task
from lab.experiments.fpe import train as fpe_train
from lab.experiments.fpe.member import FPEMember
from lab.experiments.fpe.success import FPESuccess
from lab.fit import fit_rows, law_fit
from lab.training import TrainConfig

M, N, ALPHA_MAX = 12, 4, 3  # 4 clauses of k = 3 literals, 4 neurons, up to 3 children
K, KLIT = 4, 3


def dense_network(key, m=M, n=N, lanes=ALPHA_MAX * N, bias=-0.3):
    """A dense network with random weights in lanes < n and a non-positive bias."""
    k1, k2 = jax.random.split(key)
    params = {"w1_MxL": jax.random.normal(k1, (m, lanes)), "b1_L": jnp.full((lanes,), bias),
              "w2_L": jax.random.normal(k2, (lanes,)), "b2": jnp.asarray(0.1)}
    return params, fs.dense_masks(m, lanes, jnp.int32(m), jnp.int32(n))


@jax.jit
def _split(params, masks, split, alpha):
    """The split's steps for one arm: partition, expansion (unpruned) and the whole of fs.fpe."""
    common = dict(split=split, key=jax.random.key(0), clause_M=task.clause_of_variable(M, KLIT, jnp.int32(K)),
                  k_max=K, n_max=N, clauses=jnp.int32(K), m=jnp.int32(M))
    children = fs.partition(params, masks[0], alpha=alpha, **common)
    expanded = fs.expand(params, masks[0], children, jnp.int32(N), alpha)
    return {"children": children, "expanded": expanded, "fpe": fs.fpe(params, masks, n=jnp.int32(N), alpha=alpha, **common)}


def split_of(arm, params, masks, alpha):
    return _split(params, masks, jnp.int32(fs.SPLITS.index(arm)), jnp.int32(alpha))


@pytest.mark.parametrize("arm,alpha", [("random", 2), ("clause", 2), ("gram", 2), ("random", 3), ("clause", 3)])
def test_split_keeps_the_nonzero_count_and_partitions_the_inputs(arm, alpha):
    params, masks = dense_network(jax.random.key(1))
    dense_count = fs.nonzero(*masks, jnp.float32(N))
    assert float(dense_count) == M * N + N + N + 1  # weights, output weights, hidden biases, output bias
    out = split_of(arm, params, masks, alpha)
    new, (m1, m2) = out["fpe"]
    assert float(fs.nonzero(m1, m2, jnp.float32(alpha * N))) == float(dense_count)
    # before pruning: the children's masks are disjoint and cover the parent's inputs
    _, e1, _ = out["expanded"]
    per_parent = np.asarray(e1).reshape(M, ALPHA_MAX, N)[:, :alpha].sum(1)
    np.testing.assert_array_equal(per_parent, np.asarray(masks[0])[:, :N])
    assert np.asarray(e1)[:, alpha * N:].sum() == 0
    # pruning removed exactly the surplus, and only weights no larger than any kept one
    assert float(np.asarray(e1).sum() + alpha * N - np.asarray(m1).sum() - np.asarray(m2).sum()) == 2 * (alpha - 1) * N
    mags1 = np.abs(np.asarray(new["w1_MxL"]))
    kept = np.concatenate([mags1[np.asarray(m1) > 0], np.abs(np.asarray(new["w2_L"]))[np.asarray(m2) > 0]])
    gone = mags1[(np.asarray(e1) > 0) & (np.asarray(m1) == 0)]
    assert gone.size == 0 or gone.max() <= kept.min()
    # child c of neuron i copies its input weights, bias and (not divided) output weight
    parent = np.arange(alpha * N) % N
    np.testing.assert_array_equal(np.asarray(new["w2_L"])[: alpha * N], np.asarray(params["w2_L"])[parent])
    np.testing.assert_array_equal(np.asarray(new["b1_L"])[: alpha * N], np.asarray(params["b1_L"])[parent])
    if arm == "clause":  # every clause's literals share a child, in every neuron
        children = np.asarray(out["children"])
        for j in range(K):
            assert (children[j * KLIT:(j + 1) * KLIT] == children[j * KLIT]).all()


def test_dense_arm_is_left_unchanged():
    params, masks = dense_network(jax.random.key(2))
    new, new_masks = split_of("dense", params, masks, 2)["fpe"]
    for a, b in zip(jax.tree.leaves((new, new_masks)), jax.tree.leaves((params, masks))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def unpruned(arm, params, masks, alpha):
    new, e1, e2 = split_of(arm, params, masks, alpha)["expanded"]
    return new, (e1, e2)


def test_split_preserves_the_function_where_it_should():
    """Copied output weights and non-positive biases: unchanged on inputs whose active variables
    lie within one child of every neuron (split docstring); not on inputs across children."""
    params, masks = dense_network(jax.random.key(3), bias=-0.2)
    f = jax.jit(fpe_train.forward)
    # clause split: every input with only one clause's variables on, in any pattern
    one_clause = [np.isin(np.arange(M), range(j * KLIT, j * KLIT + KLIT)) * np.array(bits * K)
                  for j in range(K) for bits in itertools.product([0, 1], repeat=KLIT)]
    x = jnp.asarray(np.array(one_clause, dtype=np.float32))
    for alpha in (2, 3):
        new, new_masks = unpruned("clause", params, masks, alpha)
        np.testing.assert_allclose(f(new, new_masks, x), f(params, masks, x), rtol=1e-5, atol=1e-5)
    # random split: an input with one active variable lies in one child of every neuron
    new, new_masks = unpruned("random", params, masks, 2)
    x1 = jnp.eye(M)
    np.testing.assert_allclose(f(new, new_masks, x1), f(params, masks, x1), rtol=1e-5, atol=1e-5)
    # across children relu is not additive: the all-ones input changes
    ones = jnp.ones((1, M))
    assert abs(float(f(new, new_masks, ones)[0] - f(params, masks, ones)[0])) > 1e-3


def truth(x_lit, form, k, clauses):
    groups = [x_lit[j * k:(j + 1) * k] for j in range(clauses)]
    if form == "dnf":
        return float(any(all(g) for g in groups))
    return float(all(any(g) for g in groups))


@pytest.mark.parametrize("form", ["dnf", "cnf"])
def test_targets_on_every_input_of_a_tiny_formula(form):
    k, clauses, k_max = 2, 2, 3  # a bucket of 3 clauses holding a member with 2
    lits = np.array(list(itertools.product([0, 1], repeat=k_max * k)), dtype=np.float32)
    y = np.asarray(task.targets(jnp.asarray(lits), form, jnp.int32(clauses), k, k_max))
    expected = [truth(row[: clauses * k], form, k, clauses) for row in lits]
    np.testing.assert_array_equal(y, expected)
    # x = literal XOR sign: a negated variable's literal is true when the variable is 0
    signs = task.variable_signs(jax.random.key(0), k_max * k, True)
    draw = jax.jit(lambda key: task.sample(key, 64, form=form, clauses=jnp.int32(clauses), k=k, k_max=k_max,
                                           m=jnp.int32(clauses * k), m_max=k_max * k, signs_M=signs))
    x, y2 = draw(jax.random.key(1))
    lit = np.abs(np.asarray(x) - np.asarray(signs))[:, : clauses * k]
    np.testing.assert_array_equal(np.asarray(y2), [truth(r, form, k, clauses) for r in lit])
    assert np.asarray(x)[:, clauses * k:].sum() == 0  # padding lanes stay 0


@pytest.mark.parametrize("form,clauses,k", [("dnf", 8, 3), ("cnf", 8, 3), ("dnf", 2, 2), ("dnf", 32, 3)])
def test_classes_are_balanced_so_a_constant_predictor_fails(form, clauses, k):
    q = float(task.literal_rate(jnp.int32(clauses), k))
    assert abs((1 - q**k) ** clauses - 0.5) < 1e-6  # P(formula) = 1/2 exactly
    signs = task.variable_signs(jax.random.key(0), clauses * k, True)
    draw = jax.jit(lambda key: task.sample(key, 20000, form=form, clauses=jnp.int32(clauses), k=k, k_max=clauses,
                                           m=jnp.int32(clauses * k), m_max=clauses * k, signs_M=signs))
    _, y = draw(jax.random.key(5))
    rate = float(np.mean(np.asarray(y)))
    assert abs(rate - 0.5) < 0.02
    assert max(rate, 1 - rate) < FPESuccess().level  # neither constant predictor succeeds
    with pytest.raises(ValueError, match="level"):
        FPESuccess(level=0.55)


def test_sparse_inputs_have_exactly_s_active_and_half_hold_a_clause():
    draw = jax.jit(lambda key: task.sample_sparse(key, 4000, active=5, clauses=jnp.int32(6), k=3, k_max=8, m=jnp.int32(20), m_max=26))
    x, y = draw(jax.random.key(3))
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_array_equal(x.sum(1), 5)
    assert x[:, 20:].sum() == 0
    np.testing.assert_array_equal(y, [truth(r, "dnf", 3, 6) for r in x])
    assert 0.45 < y.mean() < 0.6  # planted in half, a few more by chance


def run(members, shape, cfg, crit):
    exp = experiment.get("fpe")
    train = fpe_train.make_train(shape, cfg, crit)
    keys = jnp.stack([engine.member_key(exp, m) for m in members])
    return jax.jit(jax.vmap(train))(keys, engine.hyper_arrays(exp, members))


def shape_of(members, **maxima):
    exp = experiment.get("fpe")
    static = {f: getattr(members[0], f) for f in exp.static_fields()}
    return {**static, **{f: max(getattr(m, f) for m in members) for f in exp.padded}, **maxima}


CFG, CRIT = TrainConfig(steps=2000, batch=64, evals=2), FPESuccess(samples=256)
MEMBER = FPEMember(clauses=2, k=2, n=4, alpha=2, split="clause", lr=0.03, seed=1)
ARMS = [dataclasses.replace(MEMBER, split=s) for s in ("dense", "random", "gram")]
OTHER = dataclasses.replace(MEMBER, clauses=3, n=5, alpha=3, split="random", seed=2)


@pytest.fixture(scope="module")
def padded():
    """One program: MEMBER, its other arms (same seed) and a larger member that sets the bucket."""
    members = [OTHER, MEMBER, *ARMS]
    return run(members, shape_of(members), CFG, CRIT)[1]


def test_padded_member_trains_exactly_as_at_its_own_size(padded):
    exact = run([MEMBER], shape_of([MEMBER]), CFG, CRIT)[1]
    for key in ("loss", "acc", "tpr", "nonzero"):
        np.testing.assert_allclose(padded[key][1], exact[key][0], rtol=1e-4, atol=1e-5)


def test_a_tiny_run_learns_and_the_arms_share_their_warm_up(padded):
    acc = np.asarray(padded["acc"])[1:]  # clause, dense, random, gram of one seed
    np.testing.assert_allclose(acc[:, 0], acc[0, 0])  # one warm-up, split afterwards
    assert acc[:, -1].min() > 0.8 and acc[0, -1] >= CRIT.level  # every arm learns; the clause split succeeds
    m = MEMBER.m
    np.testing.assert_array_equal(np.asarray(padded["nonzero"])[1:, -1], m * 4 + 4 + 4 + 1)  # m·n + n + n + 1 for every arm


def test_a_fixed_training_set_is_padded_exactly_and_differs_from_fresh_inputs():
    """train_size = N: batches come from one set of N inputs (the paper's epochs); padding stays exact."""
    fixed = dataclasses.replace(MEMBER, train_size=32)
    members = [dataclasses.replace(OTHER, train_size=32), fixed]
    padded_fixed = run(members, shape_of(members), CFG, CRIT)[1]
    exact = run([fixed], shape_of([fixed]), CFG, CRIT)[1]
    for key in ("loss", "acc", "nonzero"):
        np.testing.assert_allclose(padded_fixed[key][1], exact[key][0], rtol=1e-4, atol=1e-5)
    fresh = run([MEMBER], shape_of([MEMBER]), CFG, CRIT)[1]
    assert not np.allclose(np.asarray(exact["loss"]), np.asarray(fresh["loss"]))
    # 32 inputs of 4 variables repeat: training on them fits them, the loss falls well below log 2
    assert float(np.asarray(exact["loss"])[0, -1]) < 0.3


def test_member_names_its_arm_and_refuses_impossible_settings():
    m = FPEMember(split="gram")
    assert m.split == 3 and m.arm == "gram" and m == FPEMember(split=3)
    with pytest.raises(ValueError, match="split"):
        FPEMember(split="half")
    with pytest.raises(ValueError, match="active"):
        FPEMember(active=4, negate=True)
    with pytest.raises(ValueError, match="alpha"):
        FPEMember(clauses=1, k=1, n=2, alpha=3)
    with pytest.raises(ValueError, match="train_size"):
        FPEMember(train_size=-1)


def test_planted_gains_are_recovered():
    truth_p = {"c": 1.0, "g_random": 1.3, "g_clause": 2.5, "g_gram": 1.8}
    rows = planted.simulate("fpe", "fpe_arms", truth_p, {"n": [4, 8, 16], "split": [0, 1, 2, 3]},
                            lambda cov: planted.geometric(1, 96, 14), seeds=3, width=0.1, rng=0)
    report = fit_rows("fpe", rows, n_boot=40, pipeline_boot=0)
    assert report.best == "fpe_arms"
    fit = law_fit(report, "fpe_arms")
    for name, value in truth_p.items():
        _, lo, hi = fit.params[name]
        assert lo <= value <= hi, (name, value, lo, hi)


def test_fit_and_figures_run_on_a_tiny_run(padded, tmp_path):
    """The kind's row format feeds its fit, verdicts and figures (the paper panel included: the
    tiny run's rows are relabelled to the paper's point, which only the drawing reads)."""
    from lab.experiments import fpe
    from lab.experiments.fpe import figures

    members = [OTHER, MEMBER, *ARMS]
    rows = []
    for i, m in enumerate(members):
        metrics = {k: np.asarray(v)[i] for k, v in padded.items()}
        rows.append({**dataclasses.asdict(m), **fpe.row_metrics(m, metrics), "status": "ok", "kind": "fpe",
                     "success": bool(np.asarray(padded["success"])[i, -1])})
    fit = fit_rows("fpe", rows, n_boot=20, pipeline_boot=0).to_dict()
    assert any("K*" in v for v in fit["verdicts"])
    at_point = [{**r, "clauses": 8, "n": 8} for r in rows[1:]]
    paths = figures.figures(rows + at_point, fit, tmp_path)
    assert {p.stem for p in paths} == {"paper", "accuracy", "capacity"}


def test_report_table_sets_measured_accuracy_beside_the_papers():
    """lab report shows, per split point, each arm's accuracy with its seed interval next to the paper's."""
    from lab import experiment

    rows = [{"clauses": 8, "n": 8, "alpha": 2, "k": 3, "extra": 0, "form": "dnf", "negate": True, "lr": 0.01,
             "split_at": at, "split": s, "seed": seed, "acc": [0.5, 0.80 + 0.05 * s + 0.01 * seed]}
            for at in (0.5, 0.125) for s in range(3) for seed in range(3)]
    rows.append({**rows[0], "clauses": 16})  # not the paper's point: left out
    tables = experiment.get("fpe").tables(rows, {})
    assert [t[0].split("; ")[-1] for t in tables] == ["split_at=0.5)", "split_at=0.125)"]
    title, header, body = tables[0]
    assert header == ["arm", "measured accuracy [95% interval]", "seeds", "paper"]
    assert [r[0] for r in body] == ["dense", "random", "clause"] and [r[3] for r in body] == ["0.787", "0.887", "0.994"]
    assert body[0][1].startswith("0.810 [") and body[0][2] == "3"
