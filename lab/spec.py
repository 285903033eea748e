"""Sweep specs: declarative TOML files, validated on load, before anything trains.

A spec names an experiment kind, fixed member settings, swept axes, seeds, training settings and
the success criterion::

    kind = "superposition"          # a registered experiment kind (lab.experiment.kinds())
    description = "..."             # optional
    seeds = 4                       # 4 seeds (0..3), or an explicit list [0, 5, 9]

    [fixed]                         # member fields shared by every member
    m = 64
    op = "and"

    [sweep]                         # member fields swept; the grid is their cartesian product
    n = [8, 16, 32]                              # a list
    lr = {geom = [1e-3, 1e-1], num = 3}          # geometric grid (ints are rounded for int fields)
    s = {range = [2, 6, 2]}                      # start, stop (inclusive), step
    m_out = {per = "n", factors = [1, 2, 4]}     # relative to another axis: round(factor * n)

    [train]                         # lab.train_config.TrainConfig
    steps = 2000
    [success]                       # the kind's own settings (Experiment.success), e.g.
                                    # lab.experiments.superposition.criterion.Criterion
    epsilon = 0.05
    [run]                           # execution only (RunOptions): speed and memory, and the last
                                    # float bits (lab.sweep), so a run resumes only with the same
    max_waste = 0.15                # padding waste the bucket split aims below
    max_buckets_per_axis = 4
    min_program_share = 0.0         # merge buckets doing less than this share of the sweep's work
    chunk = 0                       # members per program call; 0 = as many as fit in memory
    memory_fraction = 0.4
    keep_params = false             # also store each member's trained parameters (RUN_DIR/params)

Any mistake (unknown key, wrong type, impossible value such as m' above the number of distinct
pairs) raises SpecError with one line naming the file, the key, the bad value and what is
allowed, e.g. ``sweeps/x.toml: [sweep] m_out = 32 (= 4*n with n=8) is impossible: m_out must be
in [1, 28] (and over m=8 has 28 distinct outputs), got 32 (member n=8, m_out=32)``. A member's own
validation (its ``__post_init__``) is blamed on the first field its message names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import experiment
from lab.train_config import TrainConfig

SECTIONS = ("kind", "description", "seeds", "fixed", "sweep", "train", "success", "run")

# Limits checked before anything is expanded, so that a typo (num = 1e9) fails at once instead of
# hanging: values per axis, members per grid (the paper sweeps have ~4000), and the integer range
# of the engine's int32 arrays. Seeds seed a 32-bit PRNG key: larger ones would alias seed mod 2^32.
MAX_AXIS_VALUES = 10_000
MAX_MEMBERS = 200_000
INT32_MAX = 2**31 - 1
SEED_LIMIT = 2**32


class SpecError(ValueError):
    """A sweep spec that cannot be run, with the file, key, value and what is allowed."""


@dataclass(frozen=True)
class RunOptions:
    """How a sweep is executed: speed and memory. Not part of the digest; chunk sizes can change the
    last float bits of a member (lab.sweep), so a run directory resumes only under its first plan."""

    max_waste: float = 0.15  # padding waste a bucket split should bring below
    max_buckets_per_axis: int = 4  # at most this many buckets along each padded axis
    # a bucket with less than this share of the sweep's padded work joins its neighbour along the
    # last padded axis (when that adds at most this share): a program must earn its compile (lab.plan)
    min_program_share: float = 0.0
    chunk: int = 0  # members per program call; 0 = as many as fit in memory (see lab.plan)
    memory_fraction: float = 0.4  # share of device (or host) memory a chunk may use
    keep_params: bool = False  # store each member's trained parameters next to its row (lab.store.write_params)

    def __post_init__(self):
        if not 0 <= self.max_waste < 1:
            raise ValueError(f"max_waste must be in [0, 1), got {self.max_waste}")
        if self.max_buckets_per_axis < 1:
            raise ValueError(f"max_buckets_per_axis must be positive, got {self.max_buckets_per_axis}")
        if not 0 <= self.min_program_share < 1:
            raise ValueError(f"min_program_share must be in [0, 1), got {self.min_program_share}")
        if self.chunk < 0:
            raise ValueError(f"chunk must be >= 0, got {self.chunk}")
        if not 0 < self.memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {self.memory_fraction}")


@dataclass(frozen=True)
class Spec:
    """A validated sweep: the experiment kind and the resolved grid."""

    kind: str
    name: str
    fixed: tuple[tuple[str, Any], ...]
    sweep: tuple[tuple[str, tuple], ...]
    seeds: tuple[int, ...]
    train: TrainConfig
    success: Any  # the kind's [success] settings (an instance of Experiment.success)
    run: RunOptions = RunOptions()
    description: str = ""
    source: str = ""  # where the spec came from (for messages)

    @property
    def experiment(self) -> experiment.Experiment:
        return experiment.get(self.kind)

    def members(self) -> list:
        """Every member of the grid, seeds innermost."""
        return expand(self, self.source or self.name)

    def identity(self) -> dict:
        """Everything that determines results (not execution options): what a run dir is bound to."""
        return {
            "kind": self.kind,
            "fixed": dict(self.fixed),
            "sweep": {k: [repr(x) if isinstance(x, _Relative) else x for x in v] for k, v in self.sweep},
            "seeds": list(self.seeds),
            "train": dataclasses.asdict(self.train),
            "success": dataclasses.asdict(self.success),
        }

    def digest(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML sweep spec."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: no such sweep spec")
    if not path.is_file():
        raise SpecError(f"{path}: is a directory, not a sweep spec (a TOML file)" if path.is_dir() else f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SpecError(f"{path}: cannot read it: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset {e.start}); "
                        "a spec is a TOML file saved as UTF-8") from None
    if "\x00" in text:
        raise SpecError(f"{path}: a binary file (it holds NUL bytes), not a TOML sweep spec")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    return parse_spec(raw, source=str(path), name=path.stem)


def parse_spec(raw: dict, *, source: str = "<spec>", name: str = "spec") -> Spec:
    """Validate a spec given as a dict (the parsed TOML)."""
    for key in raw:
        if key not in SECTIONS:
            raise SpecError(f"{source}: unknown key {key!r}; allowed top-level keys: {', '.join(SECTIONS)}")
    if "kind" not in raw:
        raise SpecError(f"{source}: missing 'kind'; one of {experiment.kinds()}")
    if not isinstance(raw["kind"], str) or raw["kind"] not in experiment.kinds():
        raise SpecError(f"{source}: kind = {raw['kind']!r} is unknown; allowed: {experiment.kinds()}")
    exp = experiment.get(raw["kind"])
    hints = typing.get_type_hints(exp.member)
    fields = [f for f in exp.fields() if f != "seed"]

    fixed = _table(raw, "fixed", source)
    sweep = _table(raw, "sweep", source)
    for section, table in (("fixed", fixed), ("sweep", sweep)):
        for key in table:
            if key == "seed":
                raise SpecError(f"{source}: [{section}] seed: give seeds with the top-level key 'seeds'")
            if key not in fields:
                raise SpecError(
                    f"{source}: [{section}] unknown key {key!r} for kind {exp.name!r}; allowed: {', '.join(fields)}"
                )
    for key in set(fixed) & set(sweep):
        raise SpecError(f"{source}: {key!r} is both in [fixed] and [sweep]; keep one")
    fixed = {key: _check_type(source, f"[fixed] {key}", value, hints[key]) for key, value in fixed.items()}

    axes = {}
    for key, value in sweep.items():
        axes[key] = _axis(source, key, value, hints[key], sweep)
    resolved = _resolve_relative(source, axes, fixed)

    if not isinstance(raw.get("description", ""), str):
        raise SpecError(f"{source}: description = {raw['description']!r} has the wrong type; expected a string")
    seeds = _seeds(source, raw.get("seeds", 1))
    train = _section_dataclass(source, raw, "train", TrainConfig)
    success = _section_dataclass(source, raw, "success", exp.success, kind=exp.name)
    run = _section_dataclass(source, raw, "run", RunOptions)
    size = math.prod(len(v) for v in resolved.values()) * len(seeds)
    if size > MAX_MEMBERS:
        shape = " x ".join([f"{len(v)} {k}" for k, v in resolved.items()] + [f"{len(seeds)} seeds"])
        raise SpecError(f"{source}: the grid has {size} members ({shape}); a sweep holds at most {MAX_MEMBERS} "
                        "(lab.spec.MAX_MEMBERS): split it into several specs")
    spec = Spec(
        kind=exp.name,
        name=name,
        fixed=tuple(sorted(fixed.items())),
        sweep=tuple((k, tuple(v)) for k, v in resolved.items()),
        seeds=seeds,
        train=train,
        success=success,
        run=run,
        description=str(raw.get("description", "")),
        source=source,
    )
    expand(spec, source)  # every member must be valid
    return spec


def expand(spec: Spec, source: str) -> list:
    """The members of the grid; relative axes are evaluated per combination."""
    exp = experiment.get(spec.kind)
    keys = [k for k, _ in spec.sweep]
    members, seen = [], set()
    for combo in itertools.product(*(v for _, v in spec.sweep)):
        values = dict(spec.fixed)
        for key, value in zip(keys, combo):
            values[key] = value
        for key, value in zip(keys, combo):
            if isinstance(value, _Relative):
                values[key] = value.resolve(values)
        for seed in spec.seeds:
            try:
                member = exp.member(**values, seed=seed)
            except (ValueError, TypeError) as e:
                raise SpecError(_impossible(source, spec, combo, values, str(e))) from None
            if member not in seen:
                seen.add(member)
                members.append(member)
    return members


def _impossible(source: str, spec: Spec, combo: tuple, values: dict, reason: str) -> str:
    """Name the key (and its section and value) that a member's own validation rejected."""
    swept = dict(zip((k for k, _ in spec.sweep), combo))
    key = _blame(reason, list(values))
    member = ", ".join(f"{k}={values[k]!r}" for k in swept)
    if key is None:
        return f"{source}: impossible member ({member or 'the [fixed] settings'}): {reason}"
    if key in swept:
        how = f" (= {swept[key]!r} with {swept[key].per}={values[swept[key].per]!r})" if isinstance(swept[key], _Relative) else ""
        where = f"[sweep] {key} = {values[key]!r}{how}"
    elif key in dict(spec.fixed):
        where = f"[fixed] {key} = {values[key]!r}"
    else:
        where = f"{key} = {values[key]!r} (the default; set it in [fixed] or [sweep])"
    return f"{source}: {where} is impossible: {reason}" + (f" (member {member})" if member else "")


def _blame(reason: str, keys: list[str]) -> str | None:
    """The key that a validation message is about: the first of ``keys`` it mentions as a word."""
    found = [(m.start(), k) for k in keys if (m := re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", reason))]
    return min(found)[1] if found else None


@dataclass(frozen=True)
class _Relative:
    """An axis value defined relative to another axis: round(factor * values[per])."""

    per: str
    factor: float

    def resolve(self, values: dict) -> int:
        return max(1, round(self.factor * values[self.per]))

    def __repr__(self):
        return f"{self.factor:g}*{self.per}"


def _table(raw: dict, section: str, source: str) -> dict:
    table = raw.get(section, {})
    if not isinstance(table, dict):
        raise SpecError(f"{source}: [{section}] must be a table, got {table!r}")
    return table


def _allowed_types(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for t in typing.get_args(hint))
    return (hint,)


def _check_type(source: str, where: str, value, hint) -> Any:
    allowed = _allowed_types(hint)
    if isinstance(value, str) and value == "none" and type(None) in allowed:
        return None
    ok = any(
        (t is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (t is int and isinstance(value, int) and not isinstance(value, bool))
        or (t is not int and t is not float and t is not type(None) and isinstance(value, t))
        for t in allowed
    )
    if not ok:
        names = " or ".join("none" if t is type(None) else t.__name__ for t in allowed)
        raise SpecError(f"{source}: {where} = {value!r} has the wrong type; expected {names}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{source}: {where} = {value!r} is not a finite number (TOML reads 1e400 as inf)")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT32_MAX:
        raise SpecError(f"{source}: {where} = {value} is out of range: integers must be within +-{INT32_MAX} "
                        "(the engine's int32 arrays)")
    if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
        return float(value)  # lr = 1 and lr = 1.0 are the same member (same id, same row)
    return value


def _axis(source: str, key: str, value, hint, sweep: dict) -> list:
    where = f"[sweep] {key}"
    is_int = int in _allowed_types(hint) and float not in _allowed_types(hint)
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{source}: {where} = [] is empty; give at least one value")
        return [_check_type(source, where, v, hint) for v in value]
    if not isinstance(value, dict):
        raise SpecError(
            f"{source}: {where} = {value!r}: a swept axis is a list, {{geom = [lo, hi], num = k}}, "
            f"{{range = [start, stop, step]}} or {{per = \"axis\", factors = [...]}} (single values go in [fixed])"
        )
    form = set(value)
    if form == {"geom", "num"}:
        lo, hi = value["geom"] if isinstance(value["geom"], list) and len(value["geom"]) == 2 else (None, None)
        num = value["num"]
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo <= hi and math.isfinite(hi)):
            raise SpecError(f"{source}: {where}.geom = {value['geom']!r}: needs [lo, hi] with 0 < lo <= hi")
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise SpecError(f"{source}: {where}.num = {num!r}: needs a positive integer")
        if num > MAX_AXIS_VALUES:
            raise SpecError(f"{source}: {where}.num = {num}: an axis holds at most {MAX_AXIS_VALUES} values (lab.spec.MAX_AXIS_VALUES)")
        grid = [lo * (hi / lo) ** (i / max(num - 1, 1)) for i in range(num)]
        grid = sorted({round(g) for g in grid}) if is_int else grid
        return [_check_type(source, where, g, hint) for g in grid]
    if form == {"range"}:
        r = value["range"]
        if not (isinstance(r, list) and len(r) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                            and math.isfinite(v) for v in r) and r[2] > 0):
            raise SpecError(f"{source}: {where}.range = {r!r}: needs [start, stop, step] with finite numbers and step > 0")
        count = int(math.floor((r[1] - r[0]) / r[2] + 1e-9)) + 1
        if count < 1:
            raise SpecError(f"{source}: {where}.range = {r!r} is empty (stop < start)")
        if count > MAX_AXIS_VALUES:
            raise SpecError(f"{source}: {where}.range = {r!r} has {count} values; an axis holds at most "
                            f"{MAX_AXIS_VALUES} (lab.spec.MAX_AXIS_VALUES)")
        return [_check_type(source, where, r[0] + i * r[2], hint) for i in range(count)]
    if form == {"per", "factors"}:
        per, factors = value["per"], value["factors"]
        if per not in sweep or per == key:
            raise SpecError(f"{source}: {where}.per = {per!r}: must name another [sweep] axis ({', '.join(sweep)})")
        if not (isinstance(factors, list) and factors and all(isinstance(f, (int, float)) and f > 0 for f in factors)):
            raise SpecError(f"{source}: {where}.factors = {factors!r}: needs a list of positive numbers")
        return [_Relative(per, float(f)) for f in factors]
    raise SpecError(
        f"{source}: {where} = {value!r}: unknown axis form with keys {sorted(form)}; use "
        f"{{geom = [lo, hi], num = k}}, {{range = [start, stop, step]}} or {{per = \"axis\", factors = [...]}}"
    )


def _resolve_relative(source: str, axes: dict, fixed: dict) -> dict:
    for key, values in axes.items():
        for v in values:
            if isinstance(v, _Relative) and any(isinstance(u, _Relative) for u in axes[v.per]):
                raise SpecError(f"{source}: [sweep] {key}: relative to {v.per!r}, which is itself relative")
            if isinstance(v, _Relative):
                bad = [u for u in axes[v.per] if isinstance(u, bool) or not isinstance(u, (int, float))]
                if bad:
                    raise SpecError(f"{source}: [sweep] {key}.per = {v.per!r}: {v.per} is not a numeric axis "
                                    f"(it holds {bad[0]!r}); factors multiply a number")
    return axes


def _seeds(source: str, value) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        if value > MAX_MEMBERS:
            raise SpecError(f"{source}: seeds = {value}: a sweep holds at most {MAX_MEMBERS} members (lab.spec.MAX_MEMBERS)")
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        if len(set(value)) != len(value):
            raise SpecError(f"{source}: seeds = {value!r} repeats a seed")
        if max(value) >= SEED_LIMIT:
            raise SpecError(f"{source}: seeds: {max(value)} is too large: seeds must be below 2^32 = {SEED_LIMIT} "
                            "(the PRNG key is 32-bit; a larger seed would repeat seed mod 2^32)")
        return tuple(value)
    raise SpecError(f"{source}: seeds = {value!r}: a positive count or a list of distinct non-negative integers")


def _section_dataclass(source: str, raw: dict, section: str, cls, kind: str | None = None):
    table = _table(raw, section, source)
    types_ = typing.get_type_hints(cls)
    hints = {f.name: types_[f.name] for f in dataclasses.fields(cls)}  # fields only (no ClassVars)
    values = {}
    for key, value in table.items():
        if key not in hints:
            owner = f" for kind {kind!r}" if kind else ""
            raise SpecError(f"{source}: [{section}] unknown key {key!r}{owner}; allowed: {', '.join(hints)}")
        values[key] = _check_type(source, f"[{section}] {key}", value, hints[key])
    try:
        return cls(**values)
    except ValueError as e:
        key = _blame(str(e), list(values)) or _blame(str(e), list(hints))
        shown = f" {key} = {values.get(key, getattr(cls(), key, None))!r}" if key else ""
        raise SpecError(f"{source}: [{section}]{shown}: {e}") from None
