"""The results store of a run directory: append-only, crash-safe, one JSON row per member.

Layout of RUN_DIR:
    spec.toml        the spec as given (copied on the first run)
    run.json         the spec's identity and digest: the run dir is bound to it
    rows/*.jsonl     one file per finished chunk, written to a temporary name, fsynced and renamed,
                     so a chunk's rows land whole or not at all (Ctrl-C or kill -9 lose at most the
                     chunks in flight); file names carry the process index for multi-host runs
    results.jsonl    all rows merged, one per member, in grid order (written when a run completes)

Rows are flat dicts: the member's config fields, ``id``, ``status`` ("ok" | "diverged"),
``success`` (at the end of training), per-evaluation-point metric lists, and ``version``.
Load them with ``lab.store.load_rows(run_dir)`` (list of dicts) or ``lab.store.load_frame(run_dir)``
(a pandas DataFrame; pandas is optional: pip install 'lab[analysis]'); ``export_frame(run_dir,
"rows.parquet")`` writes Parquet (with pyarrow) or CSV.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from lab.spec import Spec


class RunDirMismatch(RuntimeError):
    """The run directory belongs to a different spec."""


def open_run(run_dir: str | Path, spec: Spec, spec_path: str | Path | None = None) -> Path:
    """Create ``run_dir`` for ``spec``, or check that an existing one was made by the same spec."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    meta = {"kind": spec.kind, "name": spec.name, "digest": spec.digest(), "identity": spec.identity()}
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old.get("digest") != meta["digest"]:
            changed = sorted(k for k in meta["identity"] if old.get("identity", {}).get(k) != meta["identity"][k])
            raise RunDirMismatch(
                f"{run_dir} holds a run of a different spec (changed: {', '.join(changed) or 'kind'}); "
                f"results are never mixed: give another --out directory, or delete {run_dir} to start over"
            )
        return run_dir
    (run_dir / "rows").mkdir(parents=True, exist_ok=True)
    if spec_path is not None and Path(spec_path).exists():
        shutil.copyfile(spec_path, run_dir / "spec.toml")
    atomic_write(meta_path, json.dumps(meta, indent=2, sort_keys=True))
    return run_dir


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; collaborators should read results
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # the rename itself survives a power cut


def _umask() -> int:
    """The process's umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_rows(run_dir: str | Path, rows: list[dict], tag: str) -> Path:
    """Land one chunk's rows atomically as rows/<tag>.jsonl."""
    path = Path(run_dir) / "rows" / f"{tag}.jsonl"
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


def load_rows(run_dir: str | Path) -> list[dict]:
    """All rows of a run, one per member (the first landed copy wins if a chunk was retried)."""
    run_dir = Path(run_dir)
    rows, seen = [], set()
    files = sorted((run_dir / "rows").glob("*.jsonl")) if (run_dir / "rows").exists() else []
    if not files and (run_dir / "results.jsonl").exists():
        files = [run_dir / "results.jsonl"]
    for path in files:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row["id"] not in seen:
                    seen.add(row["id"])
                    rows.append(row)
    return rows


def load_frame(run_dir: str | Path):
    """The rows of a run as a pandas DataFrame, one row per member (pandas is optional)."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("lab.store.load_frame needs pandas (pip install 'lab[analysis]'); lab.store.load_rows needs nothing") from e
    return pd.DataFrame(load_rows(run_dir))


def export_frame(run_dir: str | Path, path: str | Path) -> Path:
    """Write a run's rows to ``path``: Parquet for .parquet (needs pyarrow), else CSV."""
    path = Path(path)
    frame = load_frame(run_dir)
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ImportError("Parquet export needs pyarrow (pip install 'lab[analysis]'); a .csv path needs only pandas") from e
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def done_ids(run_dir: str | Path) -> set[str]:
    return {r["id"] for r in load_rows(run_dir)}


def merge(run_dir: str | Path, order: list[str] | None = None) -> Path:
    """Write results.jsonl: every landed row once, in ``order`` (member ids) when given."""
    rows = load_rows(run_dir)
    if order is not None:
        rank = {mid: i for i, mid in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r["id"], len(rank)))
    path = Path(run_dir) / "results.jsonl"
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no run.json); make one with `lab run SPEC --out {run_dir}`")
    return json.loads(path.read_text())
