"""Explicit constructions are ground truth for the criterion: they pass at their stated width on
random instances, fail well below it, never miss a positive, and their exact rates match sampling."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.experiments.superposition import search, theory
from lab.experiments.superposition import construction as C
from lab.experiments.superposition.task import BooleanTask, sample_pairs
from lab.experiments.superposition.scoring import Criterion, feature_error_rates

AND32 = BooleanTask(m=32, op="and", s=3)
PERM128 = BooleanTask(m=128, op="perm", s=3)


def instance(task, m_out, seed=0):
    keys = search.instance_keys(seed)
    return keys, sample_pairs(keys["task"], task, m_out)


@pytest.mark.parametrize("task", [BooleanTask(m=16, op="and", s=3), BooleanTask(m=16, op="perm", s=3),
                                  BooleanTask(m=16, op="and", s=None, p=0.2)])
def test_dedicated_is_exact(task):
    keys, pairs = instance(task, 12)
    params = C.build(task, pairs, 20, keys["code"])  # auto: n >= m' -> dedicated, 8 zero neurons
    fnr, fpr = feature_error_rates(params, jnp.int32(20), pairs, task, None, keys["eval"], 64)
    np.testing.assert_array_equal(fnr, 0.0)
    np.testing.assert_array_equal(fpr, 0.0)
    assert C.nonzero_params(params) == (5 if task.op == "and" else 3) * 12


@pytest.mark.parametrize("task", [AND32, PERM128, BooleanTask(m=32, op="and", s=None, p=0.1)])
def test_exact_rates_match_the_sampled_criterion_and_positives_never_fail(task):
    keys, pairs = instance(task, 60)
    used = C.used_inputs(pairs, task.m)
    code = C.random_code(keys["code"], used, 40, 10)
    read = C.code_readout(task, pairs, code)
    exact = theory.exact_fpr(task, pairs, code, read)
    params = C.build(task, pairs, 40, keys["code"], scheme="code", w=10)
    samples = 2048
    fnr, fpr = feature_error_rates(params, jnp.int32(40), pairs, task, None, keys["eval"], samples)
    np.testing.assert_array_equal(fnr, 0.0)  # a code output fires on every positive, by construction
    fpr = np.asarray(fpr)
    assert 0.005 < exact.mean() < 0.9  # a regime where the comparison means something
    sd = np.sqrt(exact * (1 - exact) / (0.8 * samples)) + 1e-3
    assert np.all(np.abs(fpr - exact) < 5 * sd)
    assert abs(fpr.mean() - exact.mean()) < 0.01


def test_hybrid_certifies_every_output():
    keys, pairs = instance(AND32, 496)
    n = 400
    params = C.build(AND32, pairs, n, keys["code"], criterion=Criterion(samples=64))
    assert params["w_in_DxN"].shape == (32, n)
    eps0 = theory.certified_rate(AND32, 496, Criterion(samples=64))
    assert 0 < eps0 < Criterion().epsilon
    # rates of the reads as built: code reads (0/1 columns) and dedicated neurons (weight 2, exact)
    w_out = np.asarray(params["w_out_NxK"])
    repaired = (w_out == 2.0).any(axis=0)
    code_cols = np.asarray(params["b_in_N"]) != 0
    code = jnp.asarray(np.asarray(params["w_in_DxN"])[:, code_cols & ~(w_out == 2.0).any(axis=1)])
    read = jnp.asarray(w_out[code_cols & ~(w_out == 2.0).any(axis=1)].T)
    exact = theory.exact_fpr(AND32, pairs, code, read)
    assert 0 < repaired.sum() < 100
    assert np.all(exact[~repaired] <= eps0)


@pytest.mark.parametrize("task,m_out", [(AND32, 496), (BooleanTask(m=512, op="perm", s=3), 512)])
def test_passes_at_stated_width_and_fails_at_a_quarter(task, m_out):
    n = theory.stated_width(task, m_out)
    assert n < m_out  # the code (not the dedicated network) is what is tested
    for r in search.passes(task, m_out, n, seeds=(0, 1)):
        assert r["success"] == 1.0 and r["fnr_max"] == 0.0
    assert search.passes(task, m_out, n // 4, seeds=(2,))[0]["success"] == 0.0


def test_width_grows_logarithmically_in_m_out():
    task = BooleanTask(m=512, op="and", s=3)
    n1, n2 = (theory.stated_width(task, k, scheme="code") for k in (1024, 16384))
    assert n1 < n2 < 1.5 * n1  # 16x the outputs: far less than the 4x of √m'
    assert n2 < 16384 ** 0.5 * np.log(16384)


def test_overlay_is_the_capacity_envelope():
    rows = [{"m_out": 16, "n_min": 16}, {"m_out": 64, "n_min": 50}, {"m_out": 256, "n_min": 40}]
    assert search.overlay(rows) == {"n": [16, 40], "m_out": [16, 256]}


def test_cli_search_brackets_the_threshold_and_writes_json_and_figure(tmp_path, capsys):
    out = tmp_path / "c.json"
    from lab.cli import main

    assert main(["construct", "--m", "16", "--s", "2", "--m-out", "60", "--seeds", "1", "--out", str(out),
                 "--figure", str(tmp_path)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["n_fail"] < row["n_min"] < 60 and row["scheme"] == "hybrid"  # beats one neuron per output
    task = BooleanTask(m=16, op="and", s=2)
    assert search.passes(task, 60, row["n_min"], seeds=(0,))[0]["success"] == 1.0
    assert search.passes(task, 60, row["n_fail"], seeds=(0,))[0]["success"] == 0.0
    assert json.loads(out.read_text())["construction"] == {"n": [row["n_min"]], "m_out": [60]}
    assert "n_min" in capsys.readouterr().out
    assert (tmp_path / "construction.png").stat().st_size > 0 and (tmp_path / "construction.pdf").exists()


def test_figure_with_trained_points(tmp_path):
    from lab.experiments.superposition import construction_figure as plot

    rows = [{"op": "and", "m": 64, "s": 3, "p": None, "m_out": k, "n_min": n, "n_stated": n + 10, "scheme": sc,
             "params": 5 * k} for k, n, sc in ((64, 64, "dedicated"), (512, 300, "hybrid"), (2016, 340, "hybrid"))]
    fit = {"kind": "superposition", "series": [{"key": {"n": 32, "m": 64}, "threshold": 90.0, "censored": None},
                                               {"key": {"n": 64, "m": 64}, "threshold": None, "censored": "above"}]}
    assert plot.trained_points(fit, rows) == [(90.0, 32.0, float(64 * 32 + 32 + 32 * 90 + 90))]
    paths = plot.figures([], fit, tmp_path, {"construction_rows": rows})
    assert sorted(p.name for p in paths) == ["construction.pdf", "construction.png"]


def test_rejects_what_it_cannot_build():
    pairs = jnp.array([[0, 1], [2, 3]])
    with pytest.raises(ValueError):
        C.build(BooleanTask(m=8, op="xor", s=2), pairs, 4, jax.random.key(0))
    with pytest.raises(ValueError):
        C.build(BooleanTask(m=8, op="and", s=2, d=4), pairs, 4, jax.random.key(0))
    with pytest.raises(ValueError):
        C.dedicated(pairs, 8, 1, "and")
