"""A kind from outside lab/: the worked example examples/lab-xor-kind/lab_xor.py, loaded the ways a
user loads it (by import, through $LAB_KINDS, through a `lab.kinds` entry point), runs end to end:
plan, train, fit, generic figures, report. Nothing in lab/ names it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import experiment, laws
from lab.cli import main
from lab.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lab-xor-kind"
LAWS = ("xor_linear", "xor_power", "xor_n2_over_log")

TINY = """
kind = "xor"
seeds = 1
[fixed]
lr = 0.03
[sweep]
n = [4, 8]
m_out = [1, 2, 3, 4, 6]
[train]
steps = 300
batch = 64
evals = 1
[success]
samples = 256
[run]
max_buckets_per_axis = 1
"""


@pytest.fixture(scope="module")
def xor():
    """The example's module, imported by path (it registers its kind and laws); removed afterwards."""
    spec = importlib.util.spec_from_file_location("lab_xor", EXAMPLE / "lab_xor.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["lab_xor"] = module
    spec.loader.exec_module(module)
    yield module
    experiment.unregister("xor")
    for name in LAWS:
        laws.LAWS.pop(name, None)
    sys.modules.pop("lab_xor", None)


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "xor-tiny.toml"
    path.write_text(TINY)
    return path


def test_the_example_is_a_kind(xor):
    assert experiment.get("xor") is xor.EXPERIMENT
    assert "xor" in experiment.kinds() and xor.EXPERIMENT.figures is None
    assert all(name in laws.LAWS for name in LAWS)


def test_plan(xor, tiny, capsys):
    assert main(["plan", str(tiny), "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert "(kind xor): 10 members, 1 program to compile" in out
    assert "success: epsilon 0.02, samples 256" in out


def test_spec_refuses_what_the_kind_does_not_take(xor):
    with pytest.raises(SpecError, match=r"\[success\] unknown key 'fraction' for kind 'xor'; allowed: epsilon, samples"):
        parse_spec({"kind": "xor", "success": {"fraction": 0.9}})
    with pytest.raises(SpecError, match=r"\[fixed\] unknown key 'm' for kind 'xor'; allowed: n, m_out, lr"):
        parse_spec({"kind": "xor", "fixed": {"m": 64}})
    with pytest.raises(SpecError, match=r"\[sweep\] m_out = 0 is impossible: m_out \(XOR outputs\) must be positive"):
        parse_spec({"kind": "xor", "sweep": {"m_out": [0, 1]}})


def test_end_to_end(xor, tiny, tmp_path, capsys):
    """train -> fit -> generic figures -> report, for a kind with no figures of its own."""
    run = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(run), "--quiet"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and {r["kind"] for r in rows} == {"xor"}
    assert all(len(r["n_ok"]) == 1 and 0 <= r["n_ok"][0] <= r["m_out"] for r in rows)
    assert any(r["success"] for r in rows), "a width-8 layer learns one XOR in 300 steps"
    fit = json.loads((run / "fit.json").read_text())  # written by lab run
    assert fit["kind"] == "xor" and [s["key"]["n"] for s in fit["series"]] == [4, 8]
    converged = any(law["converged"] for law in fit["laws"])
    assert (run / "figures" / "residuals.png").is_file() == converged
    assert main(["fit", str(run), "--where", "n=8"]) == 0  # one series: quick, and too few for a law
    assert "not enough capacities to fit a law" in capsys.readouterr().out
    assert json.loads((run / "fit-n=8.json").read_text())["series"][0]["key"]["n"] == 8
    assert main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "(xor)" in report and "each of its m' XOR outputs errs" in report


def test_generic_figures_from_a_planted_law(xor, tmp_path):
    """A kind with figures=None gets fit.json's content and the residuals figure; the planted
    linear law is recovered by the kind's own laws."""
    from lab.fit import fit_rows
    from lab.planted import geometric, simulate
    from lab.plots import make_figures

    rows = simulate("xor", "xor_linear", {"c": 0.5}, {"n": [4, 8, 16, 32, 64]},
                    lambda cov: geometric(1, cov["n"] * 2, 9), seeds=3, rng=1)
    fit = fit_rows("xor", rows, n_boot=50, pipeline_boot=0).to_dict()
    linear = next(law for law in fit["laws"] if law["name"] == "xor_linear")
    assert linear["converged"] and linear["params"]["c"]["lo"] < 0.5 < linear["params"]["c"]["hi"]
    assert any("two neurons per XOR give c = 0.5" in v for v in fit["verdicts"])
    paths = make_figures("xor", rows, fit, tmp_path)
    assert sorted(p.name for p in paths) == ["residuals.pdf", "residuals.png"]


def test_masked_equals_exact_size(xor):
    """A member padded into a wider bucket trains exactly as at its own size (the kind's masks)."""
    import jax
    import numpy as np

    from lab import engine
    from lab.training import TrainConfig

    cfg = TrainConfig(steps=8, batch=32, evals=2, loss_every=1)
    member = xor.XorMember(n=3, m_out=2, lr=0.05, seed=1)
    success = xor.XorSuccess(samples=128)
    key, hyper = engine.member_key(xor.EXPERIMENT, member), engine.hyper_arrays(xor.EXPERIMENT, [member])
    hyper = {k: v[0] for k, v in hyper.items()}
    exact = jax.jit(xor.make_train({"n": 3, "m_out": 2}, cfg, success))(key, hyper)[1]
    padded = jax.jit(xor.make_train({"n": 8, "m_out": 5}, cfg, success))(key, hyper)[1]
    for name in ("loss", "n_ok", "err_max"):
        np.testing.assert_allclose(np.asarray(padded[name]), np.asarray(exact[name]), rtol=1e-5, atol=1e-6)
    assert jax.tree.structure(exact) == jax.tree.structure(padded)


def _lab(code: str, pythonpath: list[Path], **env) -> str:
    """Run Python ``code`` in a fresh process with only ``env`` added; its stdout."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, ROOT])), **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


CHECK = "import lab; spec = lab.load_spec({path!r}); print(spec.kind, len(spec.members()), lab.kinds())"


def test_found_through_lab_kinds(tiny):
    """LAB_KINDS names a module on the path: the way to use a kind that is not installed."""
    out = _lab(CHECK.format(path=str(tiny)), [EXAMPLE], LAB_KINDS="lab_xor")
    assert out.split()[:2] == ["xor", "10"]


def test_found_through_an_entry_point(tiny, tmp_path):
    """An installed distribution declaring `[project.entry-points."lab.kinds"] xor = "lab_xor:EXPERIMENT"`
    (what `pip install examples/lab-xor-kind` writes, made here by hand to stay offline and fast)."""
    site = tmp_path / "site"
    info = site / "lab_xor_kind-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-xor-kind\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[lab.kinds]\nxor = lab_xor:EXPERIMENT\n")
    assert 'xor = "lab_xor:EXPERIMENT"' in (EXAMPLE / "pyproject.toml").read_text()
    out = _lab(CHECK.format(path=str(tiny)), [site, EXAMPLE], LAB_KINDS="")
    assert out.split()[:2] == ["xor", "10"]
