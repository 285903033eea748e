import os

# Tests run on one CPU device whatever the machine (lab.cpu_devices; import lab would give one per
# core): their chunk sizes and float bits do not depend on the core count. Tests of several devices
# set XLA_FLAGS, which wins.
os.environ.setdefault("LAB_CPU_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

from lab import cli  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_dtypes():
    with jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture(scope="session")
def train_tiny(tmp_path_factory):
    """``train_tiny(spec_text, *options)``: a fresh folder with the spec as tiny.toml, trained by
    `lab run` (with ``options``, e.g. --no-analysis) into its run/; returns that run directory."""
    def train(spec_text: str, *options: str):
        root = tmp_path_factory.mktemp("tiny")
        spec = root / "tiny.toml"
        spec.write_text(spec_text)
        out = root / "run"
        assert cli.main(["run", str(spec), "--out", str(out), "--quiet", *options]) == 0
        return out

    return train
