"""The documented Python API: every name exported from `lab` resolves, lazily."""

import subprocess
import sys

import lab


def test_every_exported_name_resolves():
    for name in lab.__all__:
        assert getattr(lab, name) is not None, name
    assert callable(lab.reproduce) and callable(lab.run_sweep) and "superposition" in lab.kinds()


def test_import_lab_does_not_import_jax():
    code = "import sys, lab; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
