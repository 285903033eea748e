"""Results do not depend on the device count (1 vs 4 simulated CPU devices, NamedSharding) or the
process count (1 vs 2 processes under jax.distributed on localhost, merged by process 0): the
rows are compared bit for bit with a single-device, single-process run."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import store
from lab.sweep import run_sweep

TINY = Path(__file__).parent / "specs" / "tiny.toml"
ROOT = Path(__file__).parent.parent
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
    """Every member exactly once, bit for bit (less the code version: commits may land mid-test)."""
    assert sorted(r["id"] for r in rows) == sorted(reference)
    for row in rows:
        ref = reference[row["id"]]
        assert {k: v for k, v in row.items() if k != "version"} == {k: v for k, v in ref.items() if k != "version"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_of_four_devices_give_the_rows_of_one_process_with_one_device(tmp_path, reference, jax_cache):
    """`lab run --coordinator ... --num-processes 2 --process-id i`, each process with 4 CPU devices."""
    out = tmp_path / "two"
    address = f"localhost:{free_port()}"
    check = (  # what lab.cli.main runs, plus checks that each process really sharded over 4 devices
        "import sys, jax; from lab import sweep; "
        "sweep.initialize_distributed(sys.argv[3], 2, int(sys.argv[4])); "
        "assert jax.process_count() == 2 and jax.local_device_count() == 4, jax.devices(); "
        "r = sweep.run_sweep(sys.argv[1], sys.argv[2], progress=False); "
        "assert r.plan.devices == 4 and all(b.chunk % 4 == 0 for b in r.plan.buckets), r.plan; "
        "assert r.complete == (r.process_index == 0), r; print(r.process_index, r.trained)"
    )
    env = child_env(jax_cache, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    procs = [
        subprocess.Popen([sys.executable, "-c", check, str(TINY), str(out), address, str(pid)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    trained = dict(tuple(map(int, out_.split()[-2:])) for out_, _ in results)
    assert sum(trained.values()) == 8 and min(trained.values()) > 0  # both did a share, no member twice
    writers = {f.name.split("-")[0] for f in (out / "rows").glob("*.jsonl")}
    assert writers == {"p0", "p1"}  # each process wrote its own rows ...
    merged = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert_same_rows(merged, reference)  # ... and process 0 merged them all
    assert_same_rows(store.load_rows(out), reference)
