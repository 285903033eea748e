"""The results store of a run directory: append-only, crash-safe, one JSON row per member.

Layout of RUN_DIR:
    spec.toml        the spec as given (copied on the first run)
    run.json         the spec's identity and digest: the run dir is bound to it
    rows/*.jsonl     one file per finished chunk, written to a temporary name, fsynced and renamed,
                     so a chunk's rows land whole or not at all (Ctrl-C or kill -9 lose at most the
                     chunks in flight); file names carry the process index for multi-host runs
    results.jsonl    all rows merged, one per member, in grid order (written when a run completes)
    plan-p<i>.json   how process i chunks its members (a resume must chunk them the same way)
    damaged/         rows files found truncated or corrupt, moved aside (their members are retrained)
    .lock-p<i>       held by the `lab run` of process i while it trains (released even by kill -9)

A run directory validates itself: every row carries the digest of the spec that made it (``spec``),
every rows file is checked line by line and against the member ids its name records, and a fit
refuses a run whose rows are incomplete unless asked for a partial fit.

Rows are flat dicts: the member's config fields, ``id``, ``status`` ("ok" | "diverged"),
``success`` (at the end of training), per-evaluation-point metric lists, ``version`` and ``spec``.
Files are strict JSON: inside metric lists NaN is written as null and infinities as "Infinity" /
"-Infinity"; ``load_rows`` turns them back into floats.
Load them with ``lab.store.load_rows(run_dir)`` (list of dicts) or ``lab.store.load_frame(run_dir)``
(a pandas DataFrame; pandas is optional: pip install 'lab[analysis]'); ``export_frame(run_dir,
"rows.parquet")`` writes Parquet (with pyarrow) or CSV.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np

from lab.spec import Spec


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


class RunDirMismatch(RunDirError):
    """The run directory (or some of its rows) belongs to a different spec or execution plan."""


class DamagedRows(RunDirError):
    """A rows file that is truncated or corrupt."""


class IncompleteRun(RunDirError):
    """A fit or report asked of a run whose members do not all have rows yet."""


class RunDirLocked(RunDirError):
    """Another `lab run` is training into the same run directory."""


def open_run(run_dir: str | Path, spec: Spec, spec_path: str | Path | None = None) -> Path:
    """Create ``run_dir`` for ``spec``, or check that an existing one was made by the same spec.

    Refused: a directory that cannot be written, one bound to another spec, and one holding rows
    but no run.json unless every row carries this spec's digest (run.json is then rewritten).
    """
    run_dir = Path(run_dir)
    ensure_writable_dir(run_dir, "run directory")
    meta_path = run_dir / "run.json"
    meta = {"kind": spec.kind, "name": spec.name, "digest": spec.digest(), "identity": spec.identity(),
            "members": len(spec.members())}
    if meta_path.exists():
        old = read_meta(run_dir)
        if old.get("digest") != meta["digest"]:
            changed = sorted(k for k in meta["identity"] if old.get("identity", {}).get(k) != meta["identity"][k])
            raise RunDirMismatch(
                f"{run_dir} holds a run of a different spec (changed: {', '.join(changed) or 'kind'}); "
                f"results are never mixed: give another --out directory, or delete {run_dir} to start over"
            )
        if "members" not in old:  # made before run.json recorded the grid size
            atomic_write(meta_path, json.dumps(meta, indent=2, sort_keys=True))
        return run_dir
    rows = load_rows(run_dir, repair=True, check_spec=False)
    foreign = [r for r in rows if r.get("spec") != meta["digest"]]
    if foreign:
        raise RunDirMismatch(
            f"{run_dir} holds {len(rows)} rows but no run.json, and {len(foreign)} of them were not made by this spec "
            f"(their spec digest is {foreign[0].get('spec') or 'missing'}, this spec's is {meta['digest']}); "
            f"results are never mixed: give another --out directory, or move {run_dir} away"
        )
    (run_dir / "rows").mkdir(parents=True, exist_ok=True)
    if spec_path is not None and Path(spec_path).exists():
        shutil.copyfile(spec_path, run_dir / "spec.toml")
    atomic_write(meta_path, json.dumps(meta, indent=2, sort_keys=True))
    return run_dir


def ensure_writable_dir(path: str | Path, what: str = "directory") -> Path:
    """Create ``path`` if needed and check that files can be written in it (before any work is done)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{what} {path} is a file, not a directory: give a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.ENOTDIR: "a part of the path is a file",
                  errno.ENOSPC: "no space left on the device"}.get(e.errno, e.strerror or str(e))
        raise RunDirError(f"cannot write the {what} {path}: {reason}") from None
    return path


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


def write_rows(run_dir: str | Path, rows: list[dict], prefix: str) -> Path:
    """Land one chunk's rows atomically as rows/<prefix>-<hash of their ids>.jsonl.

    The hash in the name lets ``load_rows`` notice a file that lost or gained lines.
    """
    path = Path(run_dir) / "rows" / f"{prefix}-{ids_tag([r['id'] for r in rows])}.jsonl"
    atomic_write(path, dumps_rows(rows))
    return path


def write_params(run_dir: str | Path, ids: list[str], params, prefix: str) -> Path:
    """Land one chunk's trained parameters atomically as params/<prefix>-<hash of ids>.npz.

    ``params`` is a nested dict of arrays whose leading axis runs over ``ids`` (what the engine's
    program returns with keep_params, padded to the bucket's shape); leaves are stored under
    their "/"-joined paths, with an ``ids`` array naming the members.
    """
    arrays = {"ids": np.asarray(ids)}
    arrays.update({name: np.asarray(leaf) for name, leaf in _flat(params)})
    path = Path(run_dir) / "params" / f"{prefix}-{ids_tag(ids)}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_params(run_dir: str | Path, ids=None) -> dict[str, dict]:
    """Member id -> its trained parameters (nested dict of numpy arrays, as the kind's train
    returned them, padded to its bucket's shape) for every member stored with ``[run] keep_params``
    (only those in ``ids`` when given). Unreadable files are skipped: their members are missing."""
    wanted = None if ids is None else set(ids)
    out: dict[str, dict] = {}
    for path in sorted((Path(run_dir) / "params").glob("*.npz")):
        if path.name.startswith("."):
            continue
        try:
            with np.load(path) as z:  # each z[name] decompresses its array: read every one once
                stored = [str(x) for x in z["ids"]]
                keep = [i for i, mid in enumerate(stored) if wanted is None or mid in wanted]
                arrays = {n: z[n] for n in z.files if n != "ids"} if keep else {}
            for i in keep:
                out[stored[i]] = _nest({n: a[i] for n, a in arrays.items()})
        except (OSError, ValueError, KeyError):
            continue
    return out


def _flat(tree, prefix: str = ""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{prefix}{k}/")
    else:
        yield prefix.rstrip("/"), tree


def _nest(flat: dict) -> dict:
    out: dict = {}
    for name, leaf in flat.items():
        *path, last = name.split("/")
        node = out
        for k in path:
            node = node.setdefault(k, {})
        node[last] = leaf
    return out


def ids_tag(ids: list[str]) -> str:
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:12]


def dumps_rows(rows: list[dict]) -> str:
    """Rows as strict JSON lines (NaN -> null, +-inf -> "Infinity" / "-Infinity")."""
    return "".join(json.dumps(_encode(r), sort_keys=True, allow_nan=False) + "\n" for r in rows)


def _encode(value, in_list: bool = False):
    if isinstance(value, float) and not math.isfinite(value):
        if value != value:
            return None
        return ("Infinity" if value > 0 else "-Infinity") if in_list else None
    if isinstance(value, list):
        return [_encode(v, True) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v, in_list) for k, v in value.items()}
    return value


_FLOATS = {None: math.nan, "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode(value, in_list: bool = False):
    """Inverse of _encode inside metric lists (a member field may be None: left alone)."""
    if isinstance(value, list):
        return [_decode(v, True) for v in value]
    if in_list and (value is None or isinstance(value, str)) and value in _FLOATS:
        return _FLOATS[value]
    if isinstance(value, dict):
        return {k: _decode(v, in_list) for k, v in value.items()}
    return value


_REQUIRED = ("id", "status", "success")
_CHUNK_NAME = re.compile(r"^p\d+-b\d+-([0-9a-f]{12})$")


def read_rows_file(path: Path) -> list[dict]:
    """The rows of one file, checked line by line; raises DamagedRows naming the file and the fault."""
    def damaged(reason: str) -> DamagedRows:
        return DamagedRows(f"{path}: damaged rows file ({reason})")

    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise damaged(f"not UTF-8 text at byte {e.start}") from None
    if not text.strip():
        raise damaged("empty")
    if not text.endswith("\n"):
        raise damaged("truncated: the last line is incomplete")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise damaged(f"line {number} is not valid JSON: {e.msg}") from None
        if not isinstance(row, dict) or not all(k in row for k in _REQUIRED) or not isinstance(row["id"], str):
            raise damaged(f"line {number} is not a row (a row has {', '.join(_REQUIRED)})")
        rows.append(_decode(row))
    match = _CHUNK_NAME.match(path.stem)
    if match and ids_tag([r["id"] for r in rows]) != match.group(1):
        raise damaged("it does not hold the members its name records: lines were lost or added")
    return rows


def load_rows(run_dir: str | Path, *, repair: bool = False, check_spec: bool = True) -> list[dict]:
    """All rows of a run, one per member (the first landed copy wins if a chunk was retried).

    A damaged rows file raises DamagedRows, or with ``repair`` is moved to RUN_DIR/damaged/ (never
    deleted) so that its members train again. Rows made by another spec than run.json's raise
    RunDirMismatch (``check_spec=False``: not checked).
    """
    run_dir = Path(run_dir)
    digest = read_meta(run_dir).get("digest") if check_spec and (run_dir / "run.json").exists() else None
    rows, seen = [], set()
    files = sorted((run_dir / "rows").glob("*.jsonl")) if (run_dir / "rows").is_dir() else []
    if not files and (run_dir / "results.jsonl").is_file():
        files = [run_dir / "results.jsonl"]
    for path in files:
        try:
            landed = read_rows_file(path)
        except DamagedRows as e:
            if not repair or path.parent.name != "rows":
                raise DamagedRows(f"{e}; `lab run SPEC --out {run_dir}` moves it aside and retrains its members") from None
            aside = move_aside(path, run_dir / "damaged")
            print(f"lab: {e}; moved it to {aside}, its members will be trained again", file=sys.stderr)
            continue
        for row in landed:
            if digest is not None and row.get("spec", digest) != digest:
                raise RunDirMismatch(
                    f"{path}: rows of another spec (spec digest {row['spec']}; {run_dir}/run.json has {digest}); "
                    f"results are never mixed: move that file out of {run_dir}"
                )
            if row["id"] not in seen:
                seen.add(row["id"])
                rows.append(row)
    return rows


def move_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a name no other file there has."""
    folder.mkdir(parents=True, exist_ok=True)
    target, k = folder / path.name, 1
    while target.exists():
        target, k = folder / f"{path.name}.{k}", k + 1
    os.replace(path, target)
    return target


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


def done_ids(run_dir: str | Path, *, repair: bool = False) -> set[str]:
    return {r["id"] for r in load_rows(run_dir, repair=repair)}


def completeness(run_dir: str | Path) -> tuple[int, int]:
    """(members with a row, members of the grid) of a run directory."""
    meta = read_meta(run_dir)
    landed = len(load_rows(run_dir))
    total = meta.get("members")
    if total is None:  # a run.json older than the grid size it now records: results.jsonl means complete
        total = landed if (Path(run_dir) / "results.jsonl").exists() else landed + 1
    return landed, total


def require_complete(run_dir: str | Path, partial: bool = False, command: str = "fit") -> tuple[int, int]:
    """(landed, total); an incomplete run raises IncompleteRun unless ``partial``."""
    landed, total = completeness(run_dir)
    if landed < total and not partial:
        raise IncompleteRun(
            f"{run_dir} is incomplete: {landed} of {total} members have rows; finish it with "
            f"`lab run SPEC --out {run_dir}`, or {command} what is there with --partial"
        )
    return landed, total


@contextlib.contextmanager
def lock_run(run_dir: str | Path, process_index: int = 0):
    """Hold RUN_DIR/.lock-p<i> while training: a second `lab run` of the same process index is refused.

    The lock is an flock, which the kernel releases when its holder dies (kill -9 included), so it
    never goes stale. Where flock is unsupported (some network file systems) the pid written in the
    file is checked instead: a holder on this host that no longer runs is taken over; one on another
    host cannot be checked, so the message says which file to delete if that run is gone.
    """
    path = Path(run_dir) / f".lock-p{process_index}"
    me = f"{os.getpid()} {socket.gethostname()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    by_pid = False
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            raise RunDirLocked(_locked_message(run_dir, os.pread(fd, 200, 0).decode(errors="replace"))) from None
        except (ImportError, OSError):  # no flock here: fall back to the pid in the file
            by_pid = True
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            if len(holder) == 2 and holder[0].isdigit() and int(holder[0]) != os.getpid():
                here = holder[1] == socket.gethostname()
                if not here or _alive(int(holder[0])):
                    extra = "" if here else f"; if that run is gone, delete {path}"
                    raise RunDirLocked(_locked_message(run_dir, " ".join(holder)) + extra) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        yield path
    finally:
        if by_pid:
            os.ftruncate(fd, 0)  # released (an flock is released by closing)
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _locked_message(run_dir, holder: str) -> str:
    pid, _, host = holder.strip().partition(" ")
    who = f"process {pid} on {host}" if pid else "another process"
    return (f"{run_dir} is in use: another `lab run` ({who}) is training into it; wait for it to finish or "
            f"stop it, then run again (a killed run leaves no lock behind)")


def check_plan(run_dir: str | Path, process_index: int, plan: dict, *, resuming: bool) -> None:
    """Bind a run directory to the execution plan of process ``process_index`` (RUN_DIR/plan-p<i>.json).

    A member's floats depend on how many members share its program call (see lab.sweep), so a run
    that already has rows is resumed only with the plan that trained them. ``resuming``: this
    process has rows and members left to train.
    """
    path = Path(run_dir) / f"plan-p{process_index}.json"
    if path.exists() and resuming:
        try:
            old = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            old = None
        if old is not None and old != plan:
            changed = [k for k in plan if old.get(k) != plan[k]]
            detail = "; ".join(f"{k}: {_short(old.get(k))} -> {_short(plan[k])}" for k in changed)
            raise RunDirMismatch(
                f"{run_dir} was trained with another execution plan ({detail}); chunk sizes and device counts "
                f"change results in the last float bits, so a run resumes only with the plan it started with: "
                f"restore its [run] settings and device count (on a CPU, LAB_CPU_DEVICES=N gives N devices), or give another --out"
            )
        if old == plan:
            return
    atomic_write(path, json.dumps(plan, indent=1, sort_keys=True))


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def merge(run_dir: str | Path, order: list[str] | None = None) -> Path:
    """Write results.jsonl: every landed row once, in ``order`` (member ids, others left out) when given."""
    rows = load_rows(run_dir)
    if order is not None:  # the grid's members only, in grid order
        rank = {mid: i for i, mid in enumerate(order)}
        rows = sorted((r for r in rows if r["id"] in rank), key=lambda r: rank[r["id"]])
    path = Path(run_dir) / "results.jsonl"
    atomic_write(path, dumps_rows(rows))
    return path


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no run.json); make one with `lab run SPEC --out {run_dir}`")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict) or "kind" not in meta:
        raise RunDirError(f"{path} is damaged (not the JSON that `lab run` writes); restore it, or run the spec "
                          f"again into a new --out directory")
    return meta
