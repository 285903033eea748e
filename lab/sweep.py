r"""Running a sweep: spec -> plan -> chunks trained on the local devices -> rows in the run dir.

Re-running resumes: chunks whose rows have landed are skipped, so after Ctrl-C or kill -9 only the
missing members train, and the final results equal an uninterrupted run's bit for bit.

What a member's floats depend on, precisely: its config and seed, its bucket's shape (which comes
from the whole grid) and the width of its program call, i.e. how many members are vmapped together
on its device (set by the chunk size, the device count and the CPU group size). Which other members
share the call does not matter, nor does a resume, a kill -9, or which process trains it. The width
does: XLA's CPU matrix-multiply library (YNNPACK) blocks a batched product by its batch size, so the
same member trained in chunks of 2 and of 4 can differ by ~1e-7 relative in its loss (measured on
m = 128, batch 256; thresholds are unaffected unless a member sits exactly on the criterion's edge).
A run directory therefore records each process's execution plan (plan-p<i>.json) and refuses to
resume under another one (other [run] chunking, memory or device count): a resumed run equals an
uninterrupted run with the same plan, bit for bit; runs with different plans agree to float rounding.

With several processes (jax.distributed), process p trains the members whose id hashes to p
(``owner``) on its local devices, writes its own row files, and process 0 merges them into
results.jsonl. Launch (the run dir must be on a file system all processes share):

    one host, all its GPUs:      lab run SPEC --out DIR            (one process shards over them)
    one host, one process/GPU:   CUDA_VISIBLE_DEVICES=$i lab run SPEC --out DIR \
                                     --coordinator localhost:7777 --num-processes 8 --process-id $i
    Slurm (a process per GPU):   srun --ntasks-per-node=8 --gpus-per-node=8 lab run SPEC --out DIR --distributed
    TPU pod:                     gcloud compute tpus tpu-vm ssh NAME --worker=all \
                                     --command="lab run SPEC --out DIR --distributed"
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

import lab
from lab import cpu_devices, engine, experiment, host, interrupt, store
from lab.plan import Plan, make_plan
from lab.progress import Progress
from lab.spec import Spec, load_spec


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    spec: Spec
    plan: Plan  # this process's share of the grid (members already done included)
    trained: int
    skipped: int  # members already landed before this invocation
    complete: bool  # every member of the grid has a row (known to process 0, which merges)
    process_index: int = 0  # this process under jax.distributed; only process 0 merges and analyses
    process_count: int = 1


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> None:
    """Start jax.distributed before anything touches a device: explicit ``host:port``, process count
    and index, or (all None) JAX's auto-detection on Slurm, Open MPI, TPU pods and GKE."""
    kwargs = {}
    if coordinator is not None:
        kwargs = dict(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    jax.distributed.initialize(**kwargs)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """lab's version, plus the git commit of its source tree when there is one ("-dirty": edited)."""
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=Path(lab.__file__).parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{lab.__version__}+{commit}" if commit else lab.__version__


def owner(member_id: str, n_processes: int) -> int:
    """The process that trains a member: a stable hash of its id, independent of any plan."""
    return int(member_id, 16) % n_processes


def run_sweep(
    spec: Spec | str | Path,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    merge_timeout: float = 600.0,
    max_members: int | None = None,
) -> RunResult:
    """Train every missing member of ``spec`` into the run dir ``out`` (default runs/<spec name>).

    Under jax.distributed (see ``initialize_distributed``) every process calls this with the same
    spec and ``out`` on a shared file system; each trains its own share and process 0 merges once
    every row has landed, waiting while rows keep arriving (up to ``merge_timeout`` seconds
    without a new one). ``max_members`` stops after that many members have landed in this
    invocation (for tests and dry runs); the run then stays incomplete and a later call resumes it.
    """
    spec_path = None
    if not isinstance(spec, Spec):
        spec_path = Path(spec)
        spec = load_spec(spec_path)
    interrupt.check()
    pid, nproc = jax.process_index(), jax.process_count()
    note = cpu_devices.shortfall(len(jax.local_devices()), jax.local_devices()[0].platform)
    if note and progress:
        print(f"lab: {note}", file=sys.stderr)
    members = spec.members()
    # Buckets come from the whole grid and chunks from this process's whole share, done or not: a
    # resumed run replays exactly the chunks of an uninterrupted one (skipping those that landed).
    # Planned before the run dir is made: members too large for the device are refused first.
    plan = make_plan(spec, members, devices=len(jax.local_devices()),
                     select=lambda m: owner(experiment.member_id(m), nproc) == pid)
    run_dir = store.open_run(out or Path("runs") / spec.name, spec, spec_path)
    with store.lock_run(run_dir, pid):
        return _run_locked(spec, members, plan, run_dir, pid, nproc, progress, merge_timeout, max_members)


def _run_locked(spec, members, plan, run_dir, pid, nproc, progress, merge_timeout, max_members) -> RunResult:
    exp = spec.experiment
    engine.enable_compilation_cache()
    ids = [experiment.member_id(m) for m in members]
    done = store.done_ids(run_dir, repair=True)  # damaged rows files are moved aside and retrained
    todo = sum(experiment.member_id(m) not in done for b in plan.buckets for m in b.members)
    has_rows = any((run_dir / "rows").glob(f"p{pid}-*.jsonl"))
    store.check_plan(run_dir, pid, execution_plan(spec, plan, nproc), resuming=has_rows and todo > 0)
    interrupt.check()

    desc = spec.name + (f" [process {pid}/{nproc}]" if nproc > 1 else "")
    # The ETA weighs each chunk by its program's cost: buckets differ tenfold, so members alone mislead.
    work = [bucket.chunk * exp.cost(bucket.shape_dict) for bucket in plan.buckets]
    todo_work = sum(work[b] for b, bucket in enumerate(plan.buckets) for chunk in bucket.chunks()
                    if any(experiment.member_id(m) not in done for m in chunk))
    bar = Progress(todo, desc=desc, work=todo_work) if progress and todo else None
    trained, digest = 0, spec.digest()
    # Costliest bucket first, the others compiled in the background while it trains (engine.Compiler):
    # on a CPU a quick sweep's programs compile for about as long as they train. A member's result
    # does not depend on the order. A run capped by max_members compiles each program when needed.
    pending = [b for b, bucket in enumerate(plan.buckets)
               if any(experiment.member_id(m) not in done for chunk in bucket.chunks() for m in chunk)]
    order = sorted(pending, key=lambda b: -work[b] * plan.buckets[b].n_chunks)
    with engine.Compiler(0 if max_members is not None else None) as compiler:
        for b_index in order:
            bucket = plan.buckets[b_index]
            compiler.submit(exp.name, bucket.shape, spec.train, spec.success, bucket.chunk, spec.run.keep_params)
        for b_index in order:
            bucket = plan.buckets[b_index]
            compiled = False
            for c_index, chunk in enumerate(bucket.chunks()):
                missing = [i for i, m in enumerate(chunk) if experiment.member_id(m) not in done]
                if not missing:
                    continue
                if max_members is not None and trained >= max_members:
                    break
                interrupt.check()
                if bar:
                    step = "training" if compiled else "compiling, then training"
                    bar.note(f"bucket {b_index + 1}/{plan.n_programs}: {step} chunk {c_index + 1}/{bucket.n_chunks}",
                             announce=not compiled)
                compiled = True
                padded = list(chunk) + [chunk[-1]] * (bucket.chunk - len(chunk))  # filler rows are dropped
                metrics = engine.train_population(exp, bucket.shape, padded, spec.train, spec.success, compiler,
                                                  spec.run.keep_params)
                if spec.run.keep_params:  # parameters land before their rows: a row implies its parameters
                    metrics, params = metrics
                    store.write_params(run_dir, [experiment.member_id(chunk[i]) for i in missing],
                                       jax.tree.map(lambda a: a[np.asarray(missing)], params), f"p{pid}-b{b_index}")
                rows = [member_row(exp, chunk[i], jax.tree.map(lambda a, i=i: a[i], metrics)) for i in missing]
                for row in rows:
                    row["spec"] = digest  # what made the row: a run dir never adopts rows of another spec
                store.write_rows(run_dir, rows, f"p{pid}-b{b_index}")
                trained += len(rows)
                if bar:
                    bar.update(len(rows), work=work[b_index])
    if bar:
        bar.close()
    interrupt.check()

    complete = _wait_for_all(run_dir, set(ids), merge_timeout if nproc > 1 else 0.0) if pid == 0 else False
    if complete:  # results.jsonl exists only for a complete run
        store.merge(run_dir, order=ids)
    return RunResult(run_dir=Path(run_dir), spec=spec, plan=plan, trained=trained, skipped=len(done & set(ids)),
                     complete=complete, process_index=pid, process_count=nproc)


def execution_plan(spec: Spec, plan: Plan, n_processes: int) -> dict:
    """What besides the spec sets a member's floats: per bucket its chunk size and vmapped group."""
    exp, platform = spec.experiment, jax.local_devices()[0].platform
    chunks = []
    for b in plan.buckets:
        group = engine.bucket_group(exp, b.shape_dict, spec.train, spec.success, b.chunk // plan.devices, platform)
        chunks.append({"shape": [[k, v] for k, v in b.shape], "chunk": b.chunk, "group": group})
    return {"platform": platform, "devices": plan.devices, "processes": n_processes, "chunks": chunks}


def member_row(exp: experiment.Experiment, member, metrics: dict) -> dict:
    """The stored row of one trained member."""
    finite = bool(np.all(np.isfinite(np.asarray(metrics["loss"]))))
    success_E = np.asarray(metrics["success"]).astype(bool)
    row = dataclasses.asdict(member)
    row.update(exp.row_metrics(member, metrics))
    row.update(
        id=experiment.member_id(member),
        kind=exp.name,
        status="ok" if finite else "diverged",
        success=bool(success_E[-1]) and finite,  # at the end of training
        success_evals=success_E.tolist(),  # at each evaluation point
        version=code_version(),
        host=host.describe(),  # XLA rounds floats per machine: see lab.host
    )
    return row


def _wait_for_all(run_dir: Path, ids: set[str], timeout: float) -> bool:
    """Wait until every member has a row; give up after ``timeout`` seconds without a new row."""
    deadline, landed = time.monotonic() + timeout, -1
    while True:
        interrupt.check()
        done = store.done_ids(run_dir) & ids
        if len(done) == len(ids):
            return True
        if len(done) > landed:  # other processes are still landing chunks: keep waiting
            deadline, landed = time.monotonic() + timeout, len(done)
        if time.monotonic() >= deadline:
            if timeout > 0 or done:
                print(f"{len(ids) - len(done)} members have no rows yet; re-run to complete {run_dir}", file=sys.stderr)
            return False
        time.sleep(0.5)
