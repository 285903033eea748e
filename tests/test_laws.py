"""Laws: formulas, exact recovery, censored likelihood, convergence and identifiability errors."""

import math

import numpy as np
import pytest

from lab import laws
from lab.laws import LAWS, FitError, Law, Points, compare, fit_law, negloglik


def points(covariates, t, sigma=0.05, censored=None):
    t = np.asarray(t, dtype=float)
    cens = np.zeros(len(t), dtype=int) if censored is None else np.asarray(censored)
    return Points({k: np.asarray(v, dtype=float) for k, v in covariates.items()}, np.log(t), np.full(len(t), sigma), cens)


def test_registry_holds_both_labs_laws():
    assert {"n2_over_log", "power", "n2", "n_log_n", "linear"} <= set(LAWS)
    assert {"mlogm_over_d", "mlogm_over_d_icpt", "m_over_d", "power2"} <= set(LAWS)
    for law in LAWS.values():
        assert law.formula and law.params and law.covariates


@pytest.mark.parametrize(
    "name,params,cov,expected",
    [
        ("n2_over_log", {"c": 2.0}, {"n": [8.0]}, 2 * 64 / math.log(8)),
        ("power", {"c": 2.0, "alpha": 1.5}, {"n": [4.0]}, 16.0),
        ("n2", {"c": 0.5}, {"n": [6.0]}, 18.0),
        ("n_log_n", {"c": 1.0}, {"n": [10.0]}, 10 * math.log(10)),
        ("linear", {"c": 3.0}, {"n": [5.0]}, 15.0),
        ("mlogm_over_d", {"c": 1.0}, {"m_edges": [64.0], "d_model": [16.0]}, 64 * math.log(64) / 16),
        ("mlogm_over_d_icpt", {"c": 1.0, "b": 2.0}, {"m_edges": [64.0], "d_model": [16.0]}, 64 * math.log(64) / 16 + 2),
        ("m_over_d", {"c": 2.0}, {"m_edges": [64.0], "d_model": [16.0]}, 8.0),
        ("power2", {"c": 1.0, "alpha": 2.0, "beta": 1.0}, {"m_edges": [8.0], "d_model": [4.0]}, 16.0),
    ],
)
def test_formulas(name, params, cov, expected):
    assert LAWS[name].predict(params, cov)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    "name,params",
    [("power", {"c": 0.7, "alpha": 1.7}), ("n2_over_log", {"c": 1.3}), ("power2", {"c": 2.0, "alpha": 1.2, "beta": 0.8}),
     ("mlogm_over_d_icpt", {"c": 0.9, "b": 3.0})],
)
def test_noise_free_thresholds_recover_parameters_exactly(name, params):
    law = LAWS[name]
    if law.covariates == ("n",):
        cov = {"n": np.array([8.0, 16, 32, 64, 128])}
    else:
        m, d = np.meshgrid([16.0, 32, 64, 128], [8.0, 16, 32])
        cov = {"m_edges": m.ravel(), "d_model": d.ravel()}
    pts = points(cov, law.predict(params, cov))
    fit = fit_law(name, pts, interval="wald")
    assert fit.converged
    for p, v in params.items():
        value, lo, hi = fit.params[p]
        assert value == pytest.approx(v, rel=1e-3, abs=1e-3)
        assert lo <= v <= hi
    assert fit.heldout == pytest.approx(0.0, abs=1e-3)


def test_censored_point_enters_as_a_bound():
    law = LAWS["linear"]
    pts = points({"n": [8.0, 16.0]}, [8.0, 1.0], censored=[0, 1])  # second: threshold above 1
    far_above = negloglik(law, np.array([math.log(1.0)]), pts.take([1]))
    assert far_above == pytest.approx(0.0, abs=1e-6)  # predicts 16 > bound 1: no penalty
    below = points({"n": [16.0]}, [1000.0], censored=[1])  # must exceed 1000, law says 16
    assert negloglik(law, np.array([0.0]), below) > 100
    # a censored "above" bound pulls c up when the measured points alone would set it lower
    measured = points({"n": [8.0, 16.0, 32.0]}, [8.0, 16.0, 32.0], sigma=0.3)
    with_bound = Points(
        {"n": np.array([8.0, 16.0, 32.0, 64.0])}, np.log([8.0, 16.0, 32.0, 128.0]), np.full(4, 0.3), np.array([0, 0, 0, 1])
    )
    c0 = fit_law("linear", measured, interval="wald").params["c"][0]
    c1 = fit_law("linear", with_bound, interval="wald").params["c"][0]
    assert c0 == pytest.approx(1.0, rel=1e-3) and c1 > 1.05


def test_too_few_thresholds_raise():
    pts = points({"n": [8.0, 16.0]}, [10.0, 30.0])
    with pytest.raises(FitError, match="need at least 3"):
        fit_law("power", pts)


def test_unidentified_parameters_raise():
    # one d_model only: beta of power2 is not identified by the data
    cov = {"m_edges": np.array([16.0, 32, 64, 128]), "d_model": np.full(4, 16.0)}
    pts = points(cov, LAWS["mlogm_over_d"].predict({"c": 1.0}, cov))
    with pytest.raises(FitError, match="not identified"):
        fit_law("power2", pts, interval="wald")


def test_a_law_without_finite_likelihood_does_not_converge():
    bad = Law("nan_law", "nan", ("c",), ("n",), lambda v, p: np.full_like(v["n"], np.nan))
    pts = points({"n": [8.0, 16.0, 32.0]}, [8.0, 16.0, 32.0])
    with pytest.raises(FitError, match="finite likelihood"):
        fit_law(bad, pts)
    laws.register(bad)
    try:
        (rec,) = compare(["nan_law"], pts)  # recorded as not converged, not raised, no parameters
        assert not rec.converged and rec.params == {} and "finite" in rec.error
    finally:
        del LAWS["nan_law"]


def test_new_law_is_one_registry_entry():
    law = laws.register(Law("sqrt_n", "c·√n", ("c",), ("n",), lambda v, p: p["c"] * np.sqrt(v["n"])))
    try:
        cov = {"n": np.array([4.0, 16.0, 64.0, 256.0])}
        pts = points(cov, 3 * np.sqrt(cov["n"]))
        fits = compare(["sqrt_n", "linear", "n2"], pts, interval="wald")
        assert laws.best(fits).name == "sqrt_n"
        assert fits[0].params["c"][0] == pytest.approx(3.0, rel=1e-4)
    finally:
        del LAWS[law.name]


def test_bootstrap_intervals_cover_and_are_sane():
    cov = {"n": np.array([8.0, 16, 32, 64])}
    rng = np.random.default_rng(0)
    t = LAWS["power"].predict({"c": 0.5, "alpha": 1.6}, cov) * np.exp(0.1 * rng.standard_normal(4))
    fit = fit_law("power", points(cov, t, sigma=0.1), interval="bootstrap", n_boot=60)
    v, lo, hi = fit.params["alpha"]
    assert lo < 1.6 < hi and lo < v < hi and hi - lo < 0.6
    wald = fit_law("power", points(cov, t, sigma=0.1), interval="wald")
    # for a law linear in log space both intervals agree roughly
    assert (hi - lo) == pytest.approx(wald.params["alpha"][2] - wald.params["alpha"][1], rel=0.4)


def test_aic_bic_consistent():
    cov = {"n": np.array([8.0, 16, 32, 64, 128])}
    pts = points(cov, LAWS["n2"].predict({"c": 0.2}, cov) * np.exp([0.05, -0.05, 0.02, 0.0, -0.02]))
    f1, f2 = compare(["n2", "power"], pts, interval="wald")
    assert f1.aic == pytest.approx(2 * 1 + 2 * f1.nll) and f2.bic == pytest.approx(2 * math.log(5) + 2 * f2.nll)
    assert f1.aic < f2.aic  # the extra exponent does not pay for itself on n² data
