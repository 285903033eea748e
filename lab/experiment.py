"""Experiment kinds: everything the lab knows about a kind, in one object, and where kinds come from.

A kind is an ``Experiment``: a frozen dataclass of per-member settings (``member``), the type of its
``[success]`` settings, a ``make_train`` that builds, for one bucket (the static settings shared by
its members and the padded maxima), a pure ``train(member_key, hyper) -> (params, metrics)`` of ONE
member (lab.engine vmaps, jits and shards it), its cost and memory model, how its rows become
capacity thresholds and which laws are tested (``Analysis``), and optionally its verdicts, figures,
overlays (constructions and baselines measured at a run's settings) and the sweeps it ships.

Kinds are discovered, not listed here (``kinds()``):
- the modules of the package ``lab.experiments`` (the built-in kinds: one sub-package each);
- the entry points of group ``lab.kinds`` of installed distributions, so a kind can live in a
  user's own package: ``[project.entry-points."lab.kinds"] mykind = "mypkg.mykind:EXPERIMENT"``;
- modules named in the environment variable ``LAB_KINDS`` (comma-separated), for a kind that is
  not installed (e.g. ``LAB_KINDS=mykind lab run mykind-quick.toml`` with mykind.py on sys.path);
- ``register(exp)`` called by any code that has an Experiment at hand (e.g. a test).
A discovered module exposes its kind as the module attribute ``EXPERIMENT``.

This module imports neither jax nor a kind: the analysis (lab fit, lab report) stays light, and a
kind's module may keep its jax code behind functions that import it when training starts.

Field roles:
- ``traced``: scalars that vary inside one program (passed per member as arrays), e.g. lr;
- ``padded``: shape parameters handled by masks; the bucket holds their maxima (e.g. width n);
- ``identity``: fields that define the task instance; with the seed they give the member's keys,
  so that a member's result depends on its own config and seed alone;
- every other field is static: members differing in it never share a program.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from lab.fit import FitReport
    from lab.train_config import TrainConfig

ENTRY_POINTS = "lab.kinds"  # entry-point group of kinds in other packages
ENV = "LAB_KINDS"  # comma-separated modules to import as kinds
LEVELS = ("quick", "standard", "paper")  # the sweeps a kind ships, by size (lab reproduce)


@dataclass(frozen=True)
class Analysis:
    """How rows become capacity thresholds and which laws are tested against them."""

    resource: str  # the swept quantity whose threshold is measured (x axis of success)
    direction: str  # "decreasing": capacity = largest resource that works; "increasing": smallest
    series: tuple[str, ...]  # fields identifying one threshold series
    laws: tuple[str, ...]  # names of candidate laws (lab.laws.register), compared by QAIC
    covariates: tuple[str, ...]  # series fields that the laws take
    # series fields whose groups get laws of their own (e.g. model and heads): a law is fitted
    # across the series of one group, never across groups that the theory does not tie together
    fit_by: tuple[str, ...] = ()
    # capacity views (lab.capacity.VIEWS): each gives thresholds and law fits of its own; the
    # first is the headline one. "success" is the spec's [success] criterion.
    views: tuple[str, ...] = ("success",)

    def __post_init__(self):
        if self.direction not in ("increasing", "decreasing"):
            raise ValueError(f"direction must be 'increasing' or 'decreasing', got {self.direction!r}")
        missing = [c for c in self.covariates if c not in self.series]
        if missing:
            raise ValueError(f"covariates {missing} are not series fields {self.series}")


@dataclass(frozen=True)
class Experiment:
    """One experiment kind, whole (module docstring)."""

    name: str
    member: type  # frozen dataclass with a field ``seed``
    success: type  # frozen dataclass of the [success] settings (all fields defaulted); unknown keys are refused
    make_train: Callable[[Mapping[str, Any], TrainConfig, Any], Callable]  # (static, train, success) -> train
    cost: Callable[[Mapping[str, Any]], float]  # relative compute of a member (or padded maxima)
    bytes_per_member: Callable[[Mapping[str, Any], TrainConfig, Any], int]  # (shape, train, success) -> bytes
    row_metrics: Callable[[Any, dict], dict]  # (member, its metrics as numpy) -> JSON-able dict
    analysis: Analysis
    # FLOPs of one member's training step, forward and backward: (shape, train) -> float. It sizes
    # the CPU groups (lab.engine.group_size); None: the groups are sized by memory alone.
    step_flops: Callable[[Mapping[str, Any], TrainConfig], float] | None = None
    # field roles (module docstring); None: the member's class attributes TRACED, PADDED, IDENTITY
    traced: tuple[str, ...] | None = None
    padded: tuple[str, ...] | None = None
    identity: tuple[str, ...] | None = None
    description: str = ""
    # The success criterion in the kind's own words, from its success settings, for reports.
    success_text: Callable[[Any], str] | None = None
    # Sentences that set the fit against the theory: (lab.fit.FitReport) -> list of str.
    verdicts: Callable[[FitReport], list[str]] | None = None
    # Figures: (rows, fit dict, out_dir, overlay or None) -> written paths (PNG+PDF pairs); None: the
    # lab's generic figures only (lab.plots). ``captions``: figure stem -> caption for reports.
    figures: Callable[[list[dict], dict, Path, dict | None], list[Path]] | None = None
    captions: Mapping[str, str] = field(default_factory=dict)
    # Constructions and baselines measured at a run's own settings, for its figures: (rows,
    # success settings) -> JSON-able dict, handed to ``figures`` as ``overlay`` (cached per run).
    overlay: Callable[[list[dict], Any], dict] | None = None
    # Tables the report shows after the thresholds (e.g. measured numbers beside a paper's):
    # (rows, fit dict) -> [(title, header, body rows)], all text
    tables: Callable[[list[dict], dict], list[tuple[str, list[str], list[list[str]]]]] | None = None
    # Reading the trained networks (`lab interpret RUN_DIR`): (run_dir, rows, out_dir) -> dict with
    # "figures" (written paths), "summary" (JSON-able) and "text" (Markdown for the report); None:
    # the kind has no such reading.
    interpret: Callable[[Path, list[dict], Path], dict] | None = None
    # Sweep specs the kind ships, by level (LEVELS): file stems found in ``sweeps_dir``.
    sweeps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sweeps_dir: Path | None = None
    order: int = 100  # where the kind comes in `lab reproduce` and its report (then by name)

    def __post_init__(self):
        for role in ("traced", "padded", "identity"):
            if getattr(self, role) is None:
                object.__setattr__(self, role, tuple(getattr(self.member, role.upper(), ())))
        fields = set(self.fields())
        if "seed" not in fields:
            raise ValueError(f"kind {self.name!r}: its member {self.member.__name__} needs a field 'seed'")
        roles = [*self.traced, *self.padded, *self.identity, *self.analysis.series]
        unknown = sorted({f for f in roles if f not in fields} - set(self.derived_fields))
        if unknown:
            raise ValueError(f"kind {self.name!r}: fields {unknown} are not fields of {self.member.__name__}")
        bad = [level for level in self.sweeps if level not in LEVELS]
        if bad:
            raise ValueError(f"kind {self.name!r}: sweep levels {bad}; allowed: {LEVELS}")

    @property
    def derived_fields(self) -> tuple[str, ...]:
        """Series fields that rows carry beyond the member's own (its class attribute ``DERIVED``;
        row_metrics adds them to each row)."""
        return tuple(getattr(self.member, "DERIVED", ()))

    def fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.member))

    def static_fields(self) -> tuple[str, ...]:
        skip = set(self.traced) | set(self.padded) | {"seed"}
        return tuple(f for f in self.fields() if f not in skip)

    def success_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.success))

    def sweep_paths(self, level: str) -> list[Path]:
        """The spec files of the kind's ``level`` sweeps."""
        base = self.sweeps_dir if self.sweeps_dir is not None else packaged_sweeps_dir()
        return [Path(base) / f"{name}.toml" for name in self.sweeps.get(level, ())]


def packaged_sweeps_dir() -> Path:
    """The lab's sweep specs: sweeps/ of a source checkout, else the copy installed with the package.

    pyproject.toml ships sweeps/*.toml as package data in lab/sweeps/, so an installed wheel finds
    them there; a checkout (editable install) reads the sweeps/ folder beside lab/.
    """
    here = Path(__file__).resolve().parent
    installed = here / "sweeps"
    return installed if installed.is_dir() else here.parent / "sweeps"


_REGISTRY: dict[str, Experiment] = {}
_BROKEN: dict[str, str] = {}  # kind modules or entry points that failed to load -> the error
_DISCOVERED = False


def register(exp: Experiment) -> Experiment:
    """Add (or replace) a kind; returns it, so a module can write ``EXPERIMENT = register(...)``."""
    if not isinstance(exp, Experiment):
        raise TypeError(f"register() takes an Experiment, got {type(exp).__name__}")
    _REGISTRY[exp.name] = exp
    return exp


def unregister(name: str) -> None:
    """Remove a kind (tests that register a temporary one)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Experiment:
    discover()
    if name not in _REGISTRY:
        broken = "".join(f"; {where} failed to load: {error}" for where, error in _BROKEN.items())
        raise KeyError(f"unknown experiment kind {name!r}; known: {sorted(_REGISTRY)} (lab.experiment: "
                       f"kinds come from lab.experiments, the {ENTRY_POINTS!r} entry points and ${ENV}){broken}")
    return _REGISTRY[name]


def kinds() -> list[str]:
    """Names of every known kind, in the order of ``Experiment.order``, then by name."""
    discover()
    return sorted(_REGISTRY, key=lambda k: (_REGISTRY[k].order, k))


def discover(refresh: bool = False) -> None:
    """Import every kind module (module docstring); each registers its ``EXPERIMENT``."""
    global _DISCOVERED
    if _DISCOVERED and not refresh:
        return
    _DISCOVERED = True
    import lab.experiments

    modules = [f"lab.experiments.{m.name}" for m in pkgutil.iter_modules(lab.experiments.__path__)]
    modules += [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    for module in modules:
        _adopt(lambda module=module: importlib.import_module(module), module)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINTS):
        _adopt(ep.load, f"entry point {ep.name} = {ep.value}")


def _adopt(load: Callable[[], Any], where: str) -> None:
    """Register what ``load()`` gives (a kind's module or its Experiment). A kind that fails to load
    is reported (a warning now, and in the error of ``get`` for an unknown kind) without taking the
    other kinds down with it."""
    import warnings

    try:
        obj = load()
        exp = getattr(obj, "EXPERIMENT", obj)
        if not isinstance(exp, Experiment):
            raise TypeError("not an experiment kind (expected an Experiment or a module with EXPERIMENT)")
    except Exception as e:  # noqa: BLE001  (any error of someone else's kind module)
        _BROKEN[where] = f"{type(e).__name__}: {e}"
        warnings.warn(f"lab: experiment kind {where} failed to load ({type(e).__name__}: {e}); skipped", stacklevel=3)
        return
    _REGISTRY.setdefault(exp.name, exp)


def levels_paths(level: str, names: Sequence[str] | None = None) -> list[Path]:
    """The sweep specs of ``level`` of every kind (or of ``names``), in kind order."""
    return [p for k in (names or kinds()) for p in get(k).sweep_paths(level)]


# What ``define`` finds in a kind's package by name: module-level functions of the package itself,
# and functions of its sub-modules (imported only when called, so jax and matplotlib stay out of
# discovery and of the analysis).
OWN = ("cost", "bytes_per_member", "step_flops", "row_metrics", "success_text")
CONSTANTS = {"analysis": "ANALYSIS", "captions": "CAPTIONS", "sweeps": "SWEEPS"}
SUBMODULES = {"make_train": "train:make_train", "figures": "figures:figures", "overlay": "overlays:overlay",
              "interpret": "interpret:interpret_run", "verdicts": "verdicts:verdicts", "tables": "tables:tables"}


def define(package: str, namespace: Mapping[str, Any], **fields) -> Experiment:
    """Register the kind of ``package`` (its ``__name__``), filling in what it defines by convention.

    ``namespace`` is the package's ``globals()``: its functions named in ``OWN`` (cost, ...) and its
    constants ``ANALYSIS``, ``CAPTIONS`` and ``SWEEPS`` become the Experiment's fields; sub-modules
    named in ``SUBMODULES`` (train.py with make_train, figures.py with figures, overlays.py with
    overlay, interpret.py with interpret_run, verdicts.py with verdicts, tables.py with tables) become
    lazy fields when they
    exist. The field roles come from the member's TRACED, PADDED and IDENTITY. Fields given
    explicitly win.
    """
    import importlib.util

    for name in OWN:
        if name not in fields and callable(namespace.get(name)):
            fields[name] = namespace[name]
    for name, constant in CONSTANTS.items():
        if name not in fields and constant in namespace:
            fields[name] = namespace[constant]
    is_package = "__path__" in namespace  # a single-module kind has no sub-modules to find
    for name, target in SUBMODULES.items():
        module, _, function = target.partition(":")
        if name not in fields and is_package and importlib.util.find_spec(f"{package}.{module}") is not None:
            fields[name] = lazy(f"{package}.{module}:{function}")
    return register(Experiment(**fields))


def lazy(target: str) -> Callable:
    """The function ``"package.module:name"``, imported when first called.

    A kind's plain module hands these to its Experiment (make_train, figures, overlay), so that
    discovering the kind (and `lab fit`, `lab report`) imports neither jax nor matplotlib.
    """
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"lazy({target!r}): expected 'package.module:function'")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{target} (imported when called)"
    return call


def stable_hash(text: str) -> int:
    """A 31-bit hash that is the same on every machine and Python process."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def member_id(member) -> str:
    """Stable identifier of a member (hex digest of its full config)."""
    items = ",".join(f"{k}={v!r}" for k, v in sorted(dataclasses.asdict(member).items()))
    return f"{stable_hash(items):08x}{stable_hash(items[::-1]):08x}"
