"""The `lab` command end to end on a tiny sweep: run -> fit.json, figures, summary; fit; report; plan; errors."""

import json

import pytest

from lab import cli, store

TINY = """
kind = "superposition"
seeds = 2
[fixed]
m = 8
s = 2
lr = 0.05
[sweep]
n = [2, 4]
m_out = [1, 3, 6]
[train]
steps = 300
batch = 32
evals = 1
[success]
epsilon = 0.2
samples = 16
[run]
max_waste = 0.5
"""


@pytest.fixture(scope="module")
def run_dir(train_tiny):
    return train_tiny(TINY)


def test_run_trains_fits_and_draws(run_dir, capsys):
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 12
    fit = json.loads((run_dir / "fit.json").read_text())
    assert fit["kind"] == "superposition" and len(fit["series"]) == 2
    assert (run_dir / "thresholds.csv").read_text().startswith("n,")
    assert (run_dir / "figures" / "capacity.png").stat().st_size > 0
    assert (run_dir / "figures" / "capacity.pdf").exists()
    # the constructions and baseline drawn beside the trained capacities, measured at the run's settings
    overlay = json.loads((run_dir / "construction.json").read_text())
    assert overlay["digest"] == store.read_meta(run_dir)["digest"] and overlay["extra"]


def test_rerun_resumes_with_nothing_to_train(run_dir, capsys):
    spec = run_dir.parent / "tiny.toml"
    assert cli.main(["run", str(spec), "--out", str(run_dir), "--quiet", "--no-analysis"]) == 0
    assert "trained 0 members, 12 already done" in capsys.readouterr().out


def test_fit_and_report_commands(run_dir, capsys):
    assert cli.main(["fit", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "n2_over_log" in out and "fit.json" in out
    assert cli.main(["report", str(run_dir)]) == 0
    md = (run_dir / "report.md").read_text()
    assert "## tiny (superposition)" in md and "![capacity](figures/capacity.png)" in md
    assert (run_dir / "report.html").read_text().count("data:image/png;base64,") >= 2


def test_plan_prints_buckets_and_an_estimate_without_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))  # the calibration's timings go here
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    assert cli.main(["plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "12 members" in out and "bucket 0" in out
    assert "estimated wall time on this machine" in out and "timed on this machine" in out
    assert not (tmp_path / "runs").exists() and (tmp_path / "cache" / "calibration.json").exists()


def test_bad_spec_is_one_clear_error(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY.replace("s = 2", "s = 2\nwidth = 3"))
    assert cli.main(["plan", str(spec)]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "'width'" in err


@pytest.mark.parametrize("command", ["run", "plan", "fit", "report", "reproduce", "interpret", "construct", "bench"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_fit_a_subset_with_where(run_dir, capsys):
    assert cli.main(["fit", str(run_dir), "--where", "n=4"]) == 0
    fit = json.loads((run_dir / "fit-n=4.json").read_text())
    assert [s["key"]["n"] for s in fit["series"]] == [4]
    assert (run_dir / "thresholds-n=4.csv").exists()
    assert cli.main(["fit", str(run_dir), "--where", "width=4"]) == 2
    assert "no field 'width'" in capsys.readouterr().err
    assert cli.main(["fit", str(run_dir), "--where", "n=5"]) == 2
    assert "no rows with n=5" in capsys.readouterr().err
