"""A non-editable install works: the wheel holds every module and the sweep specs, and `lab plan`
runs from an installed copy outside the source tree."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")
    src = tmp_path_factory.mktemp("src")  # build from a copy: no build/ or egg-info in the checkout
    for name in ("lab", "sweeps"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(out)],
                   check=True, capture_output=True, cwd=out)
    (path,) = out.glob("lab-*.whl")
    return path


def test_wheel_holds_every_module_the_specs_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lab").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    specs = {f"lab/sweeps/{p.name}" for p in (ROOT / "sweeps").glob("*.toml")}
    assert specs and specs <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)


@pytest.mark.slow
def test_lab_plan_runs_from_an_installed_copy(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "elsewhere"  # no sweeps/ folder here: the specs must come from the package
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "JAX_PLATFORMS": "cpu"}
    probe = "import lab, sys; print(lab.__file__); from lab.cli import main; sys.exit(main(sys.argv[1:]))"
    for spec in ("superposition-quick", str(target / "lab" / "sweeps" / "attention-quick.toml")):
        proc = subprocess.run([sys.executable, "-c", probe, "plan", spec, "--no-estimate"], cwd=work, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(str(target / "lab")), proc.stdout  # the installed copy, not the checkout
        assert "members" in proc.stdout and "bucket 0" in proc.stdout


def test_a_checkout_reads_the_sweeps_folder_itself():
    from lab import experiment, reproduction

    assert experiment.packaged_sweeps_dir() == ROOT / "sweeps"
    names = [p.name for p in reproduction.sweep_paths(quick=True)]
    assert names[:2] == ["superposition-quick.toml", "attention-quick.toml"]  # kinds in their order
    # every kind's quick sweep, and the extra quick sweeps a kind lists (FPE: fixed training sets)
    assert set(names) == {f"{kind}-quick.toml" for kind in experiment.kinds()} | {"fpe-data.toml"}
    assert all(p.parent == ROOT / "sweeps" for p in reproduction.sweep_paths(quick=True))
