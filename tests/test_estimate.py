"""Wall-time estimates: the cost model's arithmetic, the calibration cache, and `lab reproduce`
refusing a CPU run far beyond what a CPU should do unless --yes."""

from pathlib import Path

import pytest

from lab import cli, estimate, experiment, reproduction
from lab.plan import make_plan
from lab.spec import load_spec

TINY = Path(__file__).parent / "specs" / "tiny.toml"


def test_estimate_is_compile_plus_lanes_times_steps_and_evals():
    spec = load_spec(TINY)
    plan = make_plan(spec)
    exp = spec.experiment
    costs = sorted(exp.cost(b.shape_dict) for b in plan.buckets)
    timings = [estimate.Timing(cost=costs[0], step_s=1e-3, eval_s=1e-2, compile_s=2.0),
               estimate.Timing(cost=costs[-1], step_s=1e-3, eval_s=1e-2, compile_s=4.0)]
    est = estimate.estimate(spec, plan, timings=timings)
    lanes = sum(b.n_chunks * b.chunk for b in plan.buckets)
    assert est.compile_s == pytest.approx(3.0 * plan.n_programs)
    assert est.train_s == pytest.approx(lanes * (spec.train.steps * 1e-3 + spec.train.evals * 1e-2))
    done = {experiment.member_id(m) for m in plan.buckets[0].members}
    rest = estimate.estimate(spec, plan, timings=timings, done=done)
    assert rest.buckets[0].train_s == 0 and rest.buckets[0].compile_s == 0
    assert rest.total_s < est.total_s
    assert "bucket 0" in estimate.describe(est) and "timed on this machine" in estimate.describe(est)


def test_cost_line_through_the_calibration_points():
    line = estimate._interpolate([(10.0, 1.0), (30.0, 2.0)])
    assert line(10.0) == 1.0 and line(20.0) == pytest.approx(1.5) and line(30.0) == 2.0
    assert estimate._interpolate([(10.0, 1.0)])(20.0) == 2.0


@pytest.mark.parametrize("seconds, text", [(4.4, "4 s"), (250, "4 min 10 s"), (7500, "2 h 05 min"), (3 * 86400, "3.0 days")])
def test_duration(seconds, text):
    assert estimate.duration(seconds) == text


def _fake_preflight(total):
    def preflight(quick, runs_dir="runs", sweeps_dir=None, standard=False):
        return "sweep superposition-paper: 4032 members\nestimated wall time on this machine: lots", total
    return preflight


def test_reproduce_on_a_cpu_refuses_a_far_too_long_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reproduction, "preflight", _fake_preflight(50 * 3600.0))
    monkeypatch.setattr(reproduction.sweep, "run_sweep", lambda *a, **k: pytest.fail("must not train"))
    code = cli.main(["reproduce", "--runs", str(tmp_path / "runs"), "--figures", str(tmp_path / "fig"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert "4032 members" in err and "2.1 days" in err and "--yes" in err and "--quick" in err
    assert not (tmp_path / "runs").exists()


class Started(Exception):
    pass


@pytest.mark.parametrize("argv, total", [(["--yes"], 50 * 3600.0), (["--force"], 50 * 3600.0), ([], 600.0)])
def test_reproduce_goes_ahead_with_yes_or_a_short_estimate(tmp_path, monkeypatch, argv, total):
    monkeypatch.setattr(reproduction, "preflight", _fake_preflight(total))

    def run_sweep(*a, **k):
        raise Started

    monkeypatch.setattr(reproduction.sweep, "run_sweep", run_sweep)
    with pytest.raises(Started):
        cli.main(["reproduce", "--runs", str(tmp_path / "runs"), "--figures", str(tmp_path / "fig"), "--quiet", *argv])


def test_quick_reproduce_needs_no_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduction, "preflight", lambda *a, **k: pytest.fail("no preflight for --quick"))
    monkeypatch.setattr(reproduction.sweep, "run_sweep", lambda *a, **k: (_ for _ in ()).throw(Started()))
    with pytest.raises(Started):
        cli.main(["reproduce", "--quick", "--runs", str(tmp_path / "runs"), "--figures", str(tmp_path / "f"), "--quiet"])


@pytest.mark.slow
def test_calibration_is_measured_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE", str(tmp_path))
    spec = load_spec(TINY)
    plan = make_plan(spec)
    first = estimate.estimate(spec, plan)
    assert first.total_s > 0 and all(b.train_s > 0 for b in first.buckets)
    assert (tmp_path / "calibration.json").exists()
    monkeypatch.setattr(estimate, "measure", lambda *a: pytest.fail("calibration not cached"))
    assert estimate.estimate(spec, plan).total_s == first.total_s
    # another machine sharing the cache (a home directory on several hosts) measures its own
    monkeypatch.setattr(estimate, "device_name", lambda: "cpu: Another CPU (avx2), jax 0.1; 1 device(s)")
    with pytest.raises(pytest.fail.Exception, match="calibration not cached"):
        estimate.estimate(spec, plan)
