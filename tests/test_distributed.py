"""Results do not depend on the device count (1 vs 4 simulated CPU devices, NamedSharding) or the
process count (1 vs 2 processes under jax.distributed on localhost, merged by process 0)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab import store
from lab.sweep import run_sweep

TINY = Path(__file__).parent / "specs" / "tiny.toml"
ROOT = Path(__file__).parent.parent
DISCRETE = ("status", "success", "success_evals", "frac_ok", "n", "m_out", "seed", "lr", "id", "version")
TIMEOUT = 300


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "jax-cache"
    os.environ.setdefault("LAB_JAX_CACHE", str(path))
    return os.environ["LAB_JAX_CACHE"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, jax_cache):
    """The tiny sweep in this process (one CPU device)."""
    out = tmp_path_factory.mktemp("reference")
    run_sweep(TINY, out, progress=False)
    return {r["id"]: r for r in store.load_rows(out)}


def child_env(jax_cache: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "JAX_PLATFORMS": "cpu", "LAB_JAX_CACHE": jax_cache, **extra}


def assert_same_rows(rows: list[dict], reference: dict):
    """Every member exactly once; same outcome; floats equal up to float32 reassociation."""
    assert sorted(r["id"] for r in rows) == sorted(reference)
    for row in rows:
        ref = reference[row["id"]]
        assert row.keys() == ref.keys()
        for key in row:
            if key in DISCRETE or not isinstance(row[key], (list, float)):
                assert row[key] == ref[key] or key == "version", (key, row[key], ref[key])
            else:
                np.testing.assert_allclose(row[key], ref[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_four_devices_give_the_results_of_one(tmp_path, reference, jax_cache):
    out = tmp_path / "four"
    code = (
        "import jax, sys; from lab.sweep import run_sweep; "
        "assert jax.local_device_count() == 4, jax.local_devices(); "
        "r = run_sweep(sys.argv[1], sys.argv[2], progress=False); "
        "assert r.plan.devices == 4 and all(b.chunk % 4 == 0 for b in r.plan.buckets), r.plan; "
        "print('chunks', [b.chunk for b in r.plan.buckets])"
    )
    env = child_env(jax_cache, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run([sys.executable, "-c", code, str(TINY), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_rows(store.load_rows(out), reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_under_jax_distributed_merge_to_the_single_process_rows(tmp_path, reference, jax_cache):
    out = tmp_path / "two"
    address = f"localhost:{free_port()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "run", str(TINY), "--out", str(out), "--no-analysis", "--quiet",
             "--coordinator", address, "--num-processes", "2", "--process-id", str(pid)],
            cwd=ROOT, env=child_env(jax_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for pid in (0, 1)
    ]
    try:
        results = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    # each process wrote its own row files; process 0 merged them all
    writers = {f.name.split("-")[0] for f in (out / "rows").glob("*.jsonl")}
    assert writers == {"p0", "p1"}
    merged = [__import__("json").loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert_same_rows(merged, reference)
    assert_same_rows(store.load_rows(out), reference)
