"""Fit reports: schema of fit.json, table and verdicts, too few thresholds, figures on planted runs."""

import json
import math

import pytest

from lab import fit, planted, store
from lab.laws import get


def around(law, params, lo=0.25, hi=4.0, num=9, cap=None):
    def grid(cov):
        t = get(law).predict(params, {k: [v] for k, v in cov.items()})[0]
        return [r for r in planted.geometric(lo * t, hi * t, num, integer=False) if cap is None or r <= cap]

    return grid


@pytest.fixture(scope="module")
def super_rows():
    truth = {"c": 0.6}
    return planted.simulate("superposition", "n2_over_log", truth, {"n": [8, 16, 32, 64]}, around("n2_over_log", truth, cap=300.0), seeds=3, rng=0)


@pytest.fixture(scope="module")
def super_report(super_rows):
    return fit.fit_rows("superposition", super_rows, n_boot=30)


def test_fit_json_schema(super_report):
    d = json.loads(json.dumps(super_report.to_dict()))
    assert {"kind", "resource", "direction", "covariates", "series", "laws", "best", "verdicts"} <= set(d)
    assert d["kind"] == "superposition" and d["resource"] == "m_out" and d["direction"] == "decreasing"
    for s in d["series"]:
        assert {"key", "threshold", "lo", "hi", "censored", "bound", "width", "seeds"} <= set(s)
        assert (s["threshold"] is None) == (s["censored"] is not None)
    assert any(s["censored"] == "above" for s in d["series"])  # n=64 exceeds the capped sweep
    for law in d["laws"]:
        assert {"name", "formula", "params", "aic", "bic", "heldout", "converged"} <= set(law)
        for p in law["params"].values():
            assert p["lo"] <= p["value"] <= p["hi"]
    assert d["best"] in {law["name"] for law in d["laws"]}


def test_table_and_superposition_verdicts(super_report):
    text = super_report.table()
    for law in ("n2_over_log", "power", "n2", "n_log_n", "linear"):
        assert law in text
    verdicts = " ".join(super_report.verdicts)
    assert "exponent α =" in verdicts and "n²/log n" in verdicts
    assert "best law by QAIC" in verdicts and "by QAIC (ĉ = " in verdicts
    # planted rows have raw outputs (d_out = None): the verdict must say the bound is not tested
    assert "not a test of the bound" in verdicts
    assert "bootstrap over seeds through the whole pipeline (3 seeds: 10 distinct resamples)" in verdicts
    a, lo, hi = next(f for f in super_report.laws if f.name == "power").params["alpha"]
    assert hi < 2.0  # planted n²/log n: exponent below 2
    assert {g.view for g in super_report.groups} == {"computed", "frac90", "all"}


def test_attention_verdicts():
    truth = {"c": 1.0}
    rows = planted.simulate(
        "attention", "mlogm_over_d", truth, {"m_edges": [16, 32, 64, 128, 256], "d_model": [8, 16, 32]},
        around("mlogm_over_d", truth), seeds=3, rng=2,
    )
    report = fit.fit_rows("attention", rows, n_boot=0, law_interval="wald")
    text = " ".join(report.verdicts)
    assert "D_K*·d_model/(m' ln m') = c = " in text
    assert "m' log m' vs m' vs information count: by QAIC" in text and "c·m'·log m'/d_model ranks first" in text
    c, lo, hi = next(f for f in report.laws if f.name == "mlogm_over_d").params["c"]
    assert lo <= 1.0 <= hi


def test_too_few_thresholds_is_a_verdict_not_a_crash():
    # every series always succeeds: only bounds
    rows = planted.simulate("superposition", "n2", {"c": 100.0}, {"n": [8, 16]}, [4, 8, 16], seeds=2, rng=0)
    report = fit.fit_rows("superposition", rows, n_boot=10)
    assert report.best is None and all(not f.converged for f in report.laws)
    assert any("not enough capacities" in v for v in report.verdicts)
    assert "not fitted" in report.table()
    json.dumps(report.to_dict())


def test_write_fit_on_a_run_dir(tmp_path, super_rows):
    (tmp_path / "rows").mkdir()
    store.atomic_write(tmp_path / "run.json", json.dumps({"kind": "superposition", "name": "planted"}))
    store.write_rows(tmp_path, super_rows, "planted")
    from lab import analysis

    path = analysis.fit_and_write(tmp_path, partial=True, n_boot=10).path
    d = json.loads(path.read_text())
    assert path == tmp_path / "fit.json" and d["kind"] == "superposition" and len(d["series"]) == 4


def test_figures_are_written(tmp_path, super_rows, super_report):
    from lab.plots import make_figures

    extra = {"construction": {"n": [16, 32], "m_out": [40, 120]}}
    paths = make_figures("superposition", super_rows, super_report.to_dict(), tmp_path, overlay=extra)
    names = {p.name for p in paths}
    assert {"capacity.png", "capacity.pdf", "success.png", "success.pdf", "residuals.png", "residuals.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)


def test_figures_without_measured_thresholds(tmp_path):
    from lab.plots import make_figures

    rows = planted.simulate("superposition", "n2", {"c": 100.0}, {"n": [8, 16]}, [4, 8, 16], seeds=2, rng=0)
    report = fit.fit_rows("superposition", rows, n_boot=0, law_interval="wald")
    names = {p.name for p in make_figures("superposition", rows, report.to_dict(), tmp_path)}
    assert {"capacity.png", "success.png"} <= names and "residuals.png" not in names  # no law fitted


def test_superposed_outputs_tied_to_width_are_the_bounds_regime():
    truth = {"c": 0.6}
    rows = planted.simulate("superposition", "n2_over_log", truth, {"n": [8, 16, 32]}, around("n2_over_log", truth),
                            seeds=2, rng=1)
    for r in rows:
        r["d"] = r["d_out"] = r["n"]
    report = fit.fit_rows("superposition", rows, n_boot=0, pipeline_boot=0, law_interval="wald")
    text = " ".join(report.verdicts)
    assert "the regime of the O(n²/log n) bound" in text and "not a test of the bound" not in text


def test_qaic_divides_law_differences_by_overdispersion():
    """Thresholds scattered 3x beyond their intervals: ΔQAIC = ΔAIC_data/ĉ, so the comparison
    is ĉ times less confident than plain AIC would claim."""
    import numpy as np

    from lab import laws

    rng = np.random.default_rng(0)
    n = np.array([8.0, 11, 16, 23, 32, 45, 64, 90])
    log_t = np.log(0.5 * n**2 / np.log(n)) + 0.3 * rng.standard_normal(len(n))
    pts = laws.Points({"n": n}, log_t, np.full(len(n), 0.1), np.zeros(len(n)))
    fits = {f.name: f for f in laws.compare(["n2_over_log", "n2", "power"], pts, interval="wald")}
    c_hat = fits["power"].chi2_dof
    assert c_hat > 3 and fits["n2"].c_hat == pytest.approx(c_hat)
    d_aic = fits["n2"].aic - fits["n2_over_log"].aic
    d_qaic = fits["n2"].qaic - fits["n2_over_log"].qaic
    assert d_qaic == pytest.approx(d_aic / c_hat, rel=1e-6)


def test_laws_are_fitted_per_group():
    """fit_by: two settings planted with different constants get their own fits."""
    import dataclasses

    from lab import experiment

    rows = []
    for op, c in (("and", 0.3), ("or", 1.2)):
        truth = {"c": c}
        rows += planted.simulate("superposition", "n2", truth, {"n": [8, 16, 32, 64]}, around("n2", truth),
                                 seeds=2, rng=3, fixed={"op": op})
    analysis = dataclasses.replace(experiment.get("superposition").analysis, laws=("n2",), views=("success",))
    report = fit.fit_rows("superposition", rows, analysis=analysis, n_boot=0, pipeline_boot=0, law_interval="wald")
    got = {g.group["op"]: g.laws[0].params["c"] for g in report.groups}
    assert set(got) == {"and", "or"}
    for op, c in (("and", 0.3), ("or", 1.2)):
        v, lo, hi = got[op]
        assert lo <= c <= hi and abs(math.log(v / c)) < 0.3


def test_seed_pipeline_interval_contains_the_point_and_is_at_least_as_wide():
    truth = {"c": 0.6}
    rows = planted.simulate("superposition", "n2_over_log", truth, {"n": [8, 16, 32, 64]}, around("n2_over_log", truth),
                            seeds=4, rng=5)
    import dataclasses

    from lab import experiment

    analysis = dataclasses.replace(experiment.get("superposition").analysis, views=("success",))
    plain = fit.fit_rows("superposition", rows, analysis=analysis, n_boot=30, pipeline_boot=0)
    piped = fit.fit_rows("superposition", rows, analysis=analysis, n_boot=30, pipeline_boot=40)
    for a, b in zip(plain.laws, piped.laws):
        if not a.converged:
            continue
        for p, (v, lo, hi) in b.params.items():
            assert lo <= v <= hi and lo <= a.params[p][1] + 1e-12 and hi >= a.params[p][2] - 1e-12
        assert b.seed_resamples == 35


def test_count_capacity_interval_spans_the_grid_step():
    """Seeds that compute every feature at m' = 16 and collapse at 24 bracket the capacity in
    [16, 24]: the interval must reach 24 even though all seeds agree on the count."""
    from lab import capacity

    rows = [{"n": 8, "m_out": r, "seed": s, "status": "ok", "n_ok": [float(r if r <= 16 else 3)]}
            for r in (8, 16, 24) for s in range(4)]
    (t,) = capacity.count_capacities(rows, ["n"], capacity.get("computed"), "m_out")
    assert t.threshold == 16 and t.lo == 16 and t.hi == 24 and t.censored is None


def test_fit_json_records_the_runs_success_settings(tmp_path, super_rows):
    """The figures draw the spec's ε (e.g. the attention threshold line at 1 - ε) from fit.json."""
    from lab import analysis

    (tmp_path / "rows").mkdir()
    meta = {"kind": "superposition", "name": "planted", "identity": {"success": {"epsilon": 0.1, "fraction": 0.9}}}
    store.atomic_write(tmp_path / "run.json", json.dumps(meta))
    store.write_rows(tmp_path, super_rows, "planted")
    fitted = analysis.fit_and_write(tmp_path, partial=True, n_boot=10, pipeline_boot=0)
    assert json.loads(fitted.path.read_text())["success"] == {"epsilon": 0.1, "fraction": 0.9}
