"""The attention kind: padded heads/key dims are exact, heads of a bilinear model are one head, it learns."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import engine, experiment
from lab.experiments import attention
from lab.experiments.attention import train as attention_train
from lab.experiments.attention.member import AttentionMember
from lab.experiments.attention.model import BilinearScorer, SoftmaxAttention, bilinear_form, merge_heads
from lab.experiments.attention.success import AttentionSuccess
from lab.training import TrainConfig

CRIT = AttentionSuccess(samples=32)


def run(members, dk_max, h_max, cfg):
    m0 = members[0]
    static = {f: getattr(m0, f) for f in experiment.get("attention").static_fields()}
    train = attention_train.make_train({**static, "dk": dk_max, "h": h_max}, cfg, CRIT)
    keys = jnp.stack([engine.member_key(attention.EXPERIMENT, m) for m in members])
    hyper = {
        "lr": jnp.asarray([m.lr for m in members], jnp.float32),
        **{f: jnp.asarray([getattr(m, f) for m in members], jnp.int32) for f in ("m_edges", "degree", "dk", "h")},
    }
    return jax.jit(jax.vmap(train))(keys, hyper)


@pytest.mark.parametrize("model,h,dk", [("bilinear", 1, 3), ("softmax", 2, 4)])
def test_padded_heads_and_key_dims_match_exact_size(model, h, dk):
    """The exact-size bucket (h, dk) uses every column for h = 1; padded buckets hold more heads and dims."""
    cfg = TrainConfig(steps=20, batch=8, evals=2)
    member = AttentionMember(m=10, d_model=6, graph="edges", m_edges=15, h=h, dk=dk, context=5, model=model, lr=0.02, seed=1)
    other = dataclasses.replace(member, h=1, dk=6, m_edges=25, seed=4)
    p_exact, exact = run([member], dk_max=dk, h_max=h, cfg=cfg)
    p_pad, padded = run([other, member], dk_max=8, h_max=3, cfg=cfg)
    for k in ("loss", "recovery", "precision", "recall"):
        np.testing.assert_allclose(padded[k][1], exact[k][0], rtol=1e-4, atol=1e-5)
    # head t, key dim a < d_k: the same trained weight; padded entries never move from their init
    d_k = dk // h
    np.testing.assert_allclose(p_pad["w_q_HxDxK"][1, :h, :, :d_k], p_exact["w_q_HxDxK"][0, :, :, :d_k], rtol=1e-4, atol=1e-5)
    model_cls = BilinearScorer if model == "bilinear" else SoftmaxAttention
    root = engine.member_key(attention.EXPERIMENT, member)
    init = model_cls(h_max=3, dk_max=8).init(attention_train.member_keys(root)["init"], jnp.ones((10, 6)),
                                             jnp.zeros((1, 5), jnp.int32), jnp.int32(dk), jnp.int32(h))["params"]
    np.testing.assert_allclose(p_pad["w_k_HxDxK"][1, h:], init["w_k_HxDxK"][h:], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p_pad["w_k_HxDxK"][1, :, :, d_k:], init["w_k_HxDxK"][:, :, d_k:], rtol=1e-6, atol=1e-7)


def test_bilinear_heads_equal_one_head_of_rank_dk():
    x = jax.random.normal(jax.random.key(0), (12, 5))
    ctx = jnp.asarray([[0, 3, 7, 11], [2, 3, 4, 5]], jnp.int32)
    params = BilinearScorer(h_max=4, dk_max=2).init(jax.random.key(1), x, ctx, jnp.int32(8), jnp.int32(4))["params"]
    params = {**params, "bias": jnp.asarray(0.3)}
    many = BilinearScorer(h_max=4, dk_max=2).apply({"params": params}, x, ctx, jnp.int32(8), jnp.int32(4))
    one = BilinearScorer(h_max=1, dk_max=8).apply({"params": merge_heads(params)}, x, ctx, jnp.int32(8), jnp.int32(1))
    np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-6)
    assert np.linalg.matrix_rank(np.asarray(bilinear_form(params, 8, 4)), tol=1e-5) <= 8
    assert np.linalg.matrix_rank(np.asarray(bilinear_form(params, 4, 2)), tol=1e-5) == 4  # 2 heads x 2 dims
    # per-head softmax normalisation breaks the identity: merged heads give other scores
    sp = SoftmaxAttention(h_max=4, dk_max=2).init(jax.random.key(2), x, ctx, jnp.int32(8), jnp.int32(4))["params"]
    merged = {**sp, **{k: jnp.swapaxes(sp[k], 0, 1).reshape(1, 5, 8) for k in ("w_q_HxDxK", "w_k_HxDxK", "w_v_HxDxK")},
              "w_o_HxKxD": sp["w_o_HxKxD"].reshape(1, 8, 5), "null_logit_H": sp["null_logit_H"][:1]}
    many_s = SoftmaxAttention(h_max=4, dk_max=2).apply({"params": sp}, x, ctx, jnp.int32(8), jnp.int32(4))
    one_s = SoftmaxAttention(h_max=1, dk_max=8).apply({"params": merged}, x, ctx, jnp.int32(8), jnp.int32(1))
    assert np.abs(np.asarray(many_s - one_s)).max() > 1e-3


def test_tiny_graph_recovered_exactly():
    cfg = TrainConfig(steps=300, batch=16, evals=2)
    members = [AttentionMember(m=8, d_model=8, graph="perm", m_edges=8, h=2, dk=8, context=6, lr=0.05, seed=s)
               for s in range(2)]
    _, metrics = run(members, dk_max=8, h_max=2, cfg=cfg)
    np.testing.assert_array_equal(metrics["recovery"][:, -1], 1.0)
    np.testing.assert_array_equal(metrics["precision"][:, -1], 1.0)
    np.testing.assert_array_equal(metrics["recall"][:, -1], 1.0)
    assert metrics["success"][:, -1].all()
    assert (metrics["loss"][:, -1] < metrics["loss"][:, 0]).all()


def test_member_validation():
    AttentionMember(m=8, d_model=4, graph="degree", m_edges=16, degree=2, h=2, dk=4, context=4)
    bad = [
        (dict(h=3, dk=4), "divisible by h"),
        (dict(graph="perm", m_edges=7), "m_edges = m"),
        (dict(graph="degree", m_edges=16, degree=3), "m \\* degree"),
        (dict(graph="edges", m_edges=65, degree=0), "m_edges must be in"),
        (dict(graph="edges", m_edges=64, degree=0), "m_edges = 64 is too dense"),  # the complete graph
        (dict(graph="edges", m_edges=17, degree=0), "m_edges = 17 is too dense"),  # more than m²/4
        (dict(graph="degree", m_edges=0, degree=3), "m_edges = 24 is too dense"),
        (dict(dk=9), "dk = 9 exceeds d_model = 8"),
        (dict(model="softmax", h=2, dk=18), "d_k = dk / h = 9 > d_model"),
        (dict(m=4, d_model=8, m_edges=4, context=2), "m >= d_model"),
        (dict(context=1), "context"),
        (dict(model="mlp"), "model"),
        (dict(dk=0), "dk must be positive"),
        (dict(lr=0.0), "lr"),
    ]
    for kw, msg in bad:
        with pytest.raises(ValueError, match=msg):
            AttentionMember(**{**dict(m=8, d_model=8, m_edges=8, context=4), **kw})


def test_member_regime_limits_and_derived_edge_count():
    # the densest graph allowed (m²/4 edges) and the largest usable key dimensions pass
    AttentionMember(m=8, d_model=8, graph="edges", m_edges=16, dk=8, context=4)
    AttentionMember(m=8, d_model=4, graph="degree", degree=2, model="softmax", h=2, dk=8, context=4)
    # m_edges left at 0 is the family's own count, so sweeps can give degree and m alone
    assert AttentionMember(m=16, d_model=8, graph="degree", degree=2, dk=4).m_edges == 32
    assert AttentionMember(m=16, d_model=16, graph="perm", dk=4).m_edges == 16
    with pytest.raises(ValueError, match="m_edges must be in"):
        AttentionMember(m=8, d_model=8, graph="edges", dk=8, context=4)  # edges needs its count


def test_registered_analysis():
    exp = experiment.get("attention")
    assert exp.analysis.resource == "dk" and exp.analysis.direction == "increasing"
    assert exp.analysis.covariates == ("m_edges", "d_model", "m")
    assert exp.analysis.fit_by == ("model", "h", "compression")
    assert {"dk", "seed", "lr"}.isdisjoint(exp.analysis.series)
    # every series field is a member field or the row's compression (attention.row_metrics)
    assert set(exp.analysis.series) <= set(exp.fields()) | {"compression"}
    member = AttentionMember(m=64, d_model=16, graph="degree", degree=1, dk=4)
    assert attention.row_metrics(member, {"recovery": np.ones(2)})["compression"] == 4.0


def test_spec_refuses_out_of_regime_members_naming_the_field():
    from lab.spec import SpecError, parse_spec

    complete = {"kind": "attention", "fixed": {"m": 8, "d_model": 8, "graph": "edges", "m_edges": 64, "context": 4, "dk": 4}}
    with pytest.raises(SpecError, match=r"^a.toml: \[fixed\] m_edges = 64 is impossible: .*too dense"):
        parse_spec(complete, source="a.toml")
    wide = {"kind": "attention", "fixed": {"m": 16, "graph": "degree", "degree": 1, "context": 4},
            "sweep": {"d_model": [8, 16], "dk": [4, 16]}}
    with pytest.raises(SpecError, match=r"^b.toml: \[sweep\] dk = 16 is impossible: .*exceeds d_model = 8"):
        parse_spec(wide, source="b.toml")


def planted_rows(law, params, seed=0):
    from lab import planted

    grid = {"m_edges": [32, 64, 128, 256], "d_model": [16, 32], "m": [32, 64]}
    dks = lambda cov: planted.geometric(0.5, 64.0, 12, integer=False)  # noqa: E731
    rows = planted.simulate("attention", law, params, grid, dks, seeds=3, width=0.15, rng=seed)
    return [{**r, "compression": r["m"] / r["d_model"]} for r in rows]


def test_information_count_law_recovered_and_preferred_when_planted():
    from lab import fit

    rows = [r for r in planted_rows("info_over_d", {"c": 0.5}) if r["compression"] == 2.0]
    report = fit.fit_rows("attention", rows, n_boot=0, pipeline_boot=0, law_interval="wald")
    info = next(f for f in report.laws if f.name == "info_over_d")
    assert info.params["c"][1] <= 0.5 <= info.params["c"][2]
    assert report.best == "info_over_d" or report.best in ("power2", "mlogm_over_d_icpt")
    mlog = next(f for f in report.laws if f.name == "mlogm_over_d")
    assert mlog.qaic - info.qaic > 2
    text = " ".join(report.verdicts)
    assert "setting: bilinear scorer" in text and "compressed (m/d_model = 2" in text
    assert "D_K*·d_model/ln C(m², m') = c = " in text and "m' log m' vs m' vs information count" in text


def test_law_figure_per_compression_group_with_exact_construction(tmp_path):
    from lab import fit
    from lab.experiments.attention import overlays as attention_overlays
    from lab.plots import make_figures

    rows = planted_rows("mlogm_over_d", {"c": 0.5}, seed=1)
    report = fit.fit_rows("attention", rows, n_boot=0, pipeline_boot=0, law_interval="wald")
    assert {g.group["compression"] for g in report.groups} == {1.0, 2.0, 4.0}
    # uncompressed members are compared with the exact construction (D_K = d_model), no search
    uncompressed = [{**r, "graph": "edges"} for r in rows if r["m"] == r["d_model"]]
    extra = attention_overlays.overlay(uncompressed, None)
    assert set(extra) == {"exact"} and extra["exact"]["dk"] == extra["exact"]["d_model"] == [32] * 4
    # a degree-1 graph has the exact circle construction of key dimension 2
    function_graphs = [{**r, "graph": "degree", "degree": 1} for r in uncompressed]
    assert attention_overlays.overlay(function_graphs, None)["exact"]["dk"] == [2] * 4
    names = {p.name for p in make_figures("attention", rows, report.to_dict(), tmp_path, overlay=extra)}
    assert {"law.png", "threshold.png", "residuals.png"} <= names
