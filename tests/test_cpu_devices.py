"""lab.cpu_devices: one JAX device per CPU core, asked through XLA_FLAGS at `import lab`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cpu_devices

ROOT = Path(__file__).resolve().parents[1]


def test_requested_defaults_to_the_usable_cores(monkeypatch):
    monkeypatch.setattr(cpu_devices, "usable_cores", lambda: 6)
    assert cpu_devices.requested({}) == 6
    assert cpu_devices.requested({"LAB_CPU_DEVICES": " "}) == 6
    assert cpu_devices.requested({"LAB_CPU_DEVICES": "3"}) == 3
    # a device count already in XLA_FLAGS is the user's: nothing is asked
    assert cpu_devices.requested({"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "LAB_CPU_DEVICES": "3"}) is None


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_device_count_names_the_variable(bad):
    with pytest.raises(ValueError, match=f"LAB_CPU_DEVICES must be a positive number of CPU devices, got '{bad}'"):
        cpu_devices.requested({"LAB_CPU_DEVICES": bad})


def test_flagged_reads_the_last_device_count_in_xla_flags():
    flags = "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=2 --xla_force_host_platform_device_count=4"
    assert cpu_devices.flagged({"XLA_FLAGS": flags}) == "4"  # XLA obeys the last one
    assert cpu_devices.flagged({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}) is None
    assert cpu_devices.flagged({}) is None


def test_configure_adds_the_flag_and_keeps_other_flags():
    env = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false", "LAB_CPU_DEVICES": "2"}
    assert cpu_devices.configure(env) == 2
    assert env["XLA_FLAGS"] == "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=2"
    assert cpu_devices.configure(env) is None  # idempotent: the flag is there now
    assert env["XLA_FLAGS"].count("device_count") == 1
    fresh = {"LAB_CPU_DEVICES": "1"}
    assert cpu_devices.configure(fresh) == 1 and fresh["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"


def test_shortfall_notes_a_backend_started_before_import_lab():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    note = cpu_devices.shortfall(1, "cpu", env)
    assert "JAX has 1 CPU device(s), not the 4 asked for" in note and "import lab before" in note
    assert cpu_devices.shortfall(4, "cpu", env) is None
    assert cpu_devices.shortfall(1, "gpu", env) is None  # accelerators: the flag does not apply
    assert cpu_devices.shortfall(1, "cpu", {}) is None


def _devices_after_import_lab(env: dict) -> str:
    code = "import lab, jax; print(len(jax.devices()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_lab_gives_jax_one_cpu_device_per_core_unless_told_otherwise():
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "LAB_CPU_DEVICES")}
    base["JAX_PLATFORMS"] = "cpu"
    assert _devices_after_import_lab(base) == str(cpu_devices.usable_cores())
    assert _devices_after_import_lab({**base, "LAB_CPU_DEVICES": "3"}) == "3"
    assert _devices_after_import_lab({**base, "LAB_CPU_DEVICES": "3", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}) == "2"
