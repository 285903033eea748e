"""Thresholds: logistic MLE recovery, censoring, separation, diverged members, seed grouping."""

import math

import numpy as np
import pytest
from scipy import special

from lab import experiment
from lab.thresholds import fit_logistic, fit_thresholds, series_fields, success_probability

GRID = np.geomspace(8, 128, 9)


def planted_series(t, w, seeds, direction, rng, grid=GRID):
    sign = -1.0 if direction == "decreasing" else 1.0
    r = np.repeat(grid, seeds)
    seed = np.tile(np.arange(seeds), len(grid))
    p = special.expit(sign * (np.log(r) - math.log(t)) / w)
    return r, rng.random(len(r)) < p, seed


@pytest.mark.parametrize("direction", ["decreasing", "increasing"])
def test_recovers_planted_threshold_and_width(direction):
    rng = np.random.default_rng(0)
    r, y, seed = planted_series(30.0, 0.2, 40, direction, rng)
    th = fit_logistic(r, y, seed, direction, n_boot=50)
    assert th.censored is None and not th.sharp
    assert th.lo < 30.0 < th.hi
    assert th.hi / th.lo < 1.3  # 40 seeds pin it down
    assert th.width == pytest.approx(0.2, rel=0.3)
    assert th.seeds == 40 and th.members == 40 * len(GRID)


def test_wald_interval_coverage_near_nominal():
    # 100 planted series, 8 seeds each; Fisher-information 95% intervals (no bootstrap)
    hits = []
    for i in range(100):
        r, y, seed = planted_series(30.0, 0.25, 8, "decreasing", np.random.default_rng(100 + i))
        th = fit_logistic(r, y, seed, "decreasing", n_boot=0)
        if th.censored is None:
            hits.append(th.lo <= 30.0 <= th.hi)
    assert len(hits) >= 95
    # binomial sd of a 95% rate over 100 is 2.2%; allow about 3 sd below and a conservative top
    assert 0.88 <= np.mean(hits) <= 0.995


@pytest.mark.parametrize(
    "direction,outcome,censored,bound",
    [
        ("decreasing", 1, "above", 64.0),  # always works: capacity beyond the largest m'
        ("decreasing", 0, "below", 8.0),  # never works: capacity below the smallest m'
        ("increasing", 1, "below", 8.0),  # always works: D_K* below the smallest D_K
        ("increasing", 0, "above", 64.0),
    ],
)
def test_censored_series_are_bounds_not_numbers(direction, outcome, censored, bound):
    r = [8, 16, 32, 64] * 3
    th = fit_logistic(r, [outcome] * 12, [0] * 4 + [1] * 4 + [2] * 4, direction)
    assert th.censored == censored and th.bound == pytest.approx(bound)
    assert th.threshold is None and th.lo is None and th.hi is None


def test_fitted_transition_outside_the_sweep_is_censored():
    # decreasing, success probability still high at the largest value: threshold above the sweep
    rng = np.random.default_rng(1)
    r, y, seed = planted_series(500.0, 0.3, 6, "decreasing", rng)
    y[-3:] = [0, 1, 1]  # a stray failure at the top so that the series is not all-success
    th = fit_logistic(r, y, seed, "decreasing", n_boot=0)
    assert th.censored == "above" and th.bound == pytest.approx(128.0)


def test_separated_data_gives_geometric_midpoint_and_bracket():
    th = fit_logistic([8, 16, 32, 64] * 2, [1, 1, 0, 0] * 2, [0] * 4 + [1] * 4, "decreasing", n_boot=20)
    assert th.threshold == pytest.approx(math.sqrt(16 * 32))
    assert (th.lo, th.hi) == pytest.approx((16.0, 32.0))
    assert th.sharp and th.width is None


def test_quasi_separated_threshold_at_the_mixed_value():
    # one of two seeds fails at 32: the threshold sits at 32, bracketed by 16 and 64
    th = fit_logistic([8, 16, 32, 64] * 2, [1, 1, 1, 0, 1, 1, 0, 0], [0] * 4 + [1] * 4, "decreasing", n_boot=20)
    assert th.threshold == pytest.approx(32.0, rel=1e-3)
    assert th.lo == pytest.approx(16.0) and th.hi == pytest.approx(64.0)


def test_single_resource_value():
    th = fit_logistic([8, 8, 8], [1, 0, 1], [0, 1, 2], "increasing")
    assert th.threshold == pytest.approx(8.0) and th.width is None and "single" in th.note


def test_diverged_members_count_as_failures():
    analysis = experiment.Analysis(resource="m_out", direction="decreasing", series=("n",), laws=(), covariates=("n",))
    rows = [
        {"n": 8, "m_out": m, "seed": s, "success": True, "status": "ok" if m < 32 else "diverged"}
        for m in (8, 16, 32, 64) for s in (0, 1)
    ]
    (th,) = fit_thresholds(rows, analysis, n_boot=0)
    assert th.threshold == pytest.approx(math.sqrt(16 * 32))


def test_series_split_by_swept_fields_and_metric_lists_ignored():
    analysis = experiment.Analysis(resource="m_out", direction="decreasing", series=("n", "loss"), laws=(), covariates=("n",))
    rows = [
        {"n": n, "m_out": m, "seed": s, "lr": lr, "loss": [0.5, 0.1 * s], "success": m <= n * lr * 100, "status": "ok"}
        for n in (8, 16) for lr in (0.01, 0.02) for m in (4, 8, 16, 32, 64) for s in (0, 1)
    ]
    assert series_fields(rows, analysis) == ("n", "lr")
    ths = fit_thresholds(rows, analysis, n_boot=0)
    assert len(ths) == 4 and all(t.seeds == 2 and t.members == 10 for t in ths)


def test_bootstrap_interval_contains_the_point_interval():
    rng = np.random.default_rng(3)
    r, y, seed = planted_series(30.0, 0.3, 6, "increasing", rng)
    wald = fit_logistic(r, y, seed, "increasing", n_boot=0)
    boot = fit_logistic(r, y, seed, "increasing", n_boot=100, rng=np.random.default_rng(0))
    assert boot.threshold == wald.threshold
    assert boot.lo <= wald.lo and boot.hi >= wald.hi


def test_success_probability_curve():
    p = success_probability([10.0, 20.0, 40.0], 20.0, 0.5, "decreasing")
    assert p[0] > 0.5 and p[1] == pytest.approx(0.5) and p[2] < 0.5
    step = success_probability([10.0, 40.0], 20.0, None, "increasing")
    assert list(step) == [0.0, 1.0]
