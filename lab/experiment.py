"""The registry of experiment kinds: what the sweep engine needs to know about a kind.

A kind is a frozen dataclass of per-member settings plus a ``make_train`` that builds, for one
bucket (the static settings shared by its members and the padded maxima), a pure
``train(member_key, hyper) -> (params, metrics)`` of ONE member. The engine (lab.engine) vmaps,
jits and shards it. Adding a kind = one module defining an ``Experiment`` and calling ``register``.

Field roles:
- ``traced``: scalars that vary inside one program (passed per member as arrays), e.g. lr;
- ``padded``: shape parameters handled by masks; the bucket holds their maxima (e.g. width n);
- ``identity``: fields that define the task instance; with the seed they give the member's keys,
  so that a member's result depends on its own config and seed alone;
- every other field is static: members differing in it never share a program.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jax

from lab.criterion import Criterion
from lab.training import TrainConfig


@dataclass(frozen=True)
class Analysis:
    """How rows become capacity thresholds and which laws are tested against them."""

    resource: str  # the swept quantity whose threshold is measured (x axis of success)
    direction: str  # "decreasing": capacity = largest resource that works; "increasing": smallest
    series: tuple[str, ...]  # fields identifying one threshold series
    laws: tuple[str, ...]  # lab.laws registry names
    covariates: tuple[str, ...]  # series fields that the laws take
    # series fields whose groups get laws of their own (e.g. model and heads): a law is fitted
    # across the series of one group, never across groups that the theory does not tie together
    fit_by: tuple[str, ...] = ()
    # capacity views (lab.capacity.VIEWS): each gives thresholds and law fits of its own; the
    # first is the headline one. "success" is the spec's [success] criterion.
    views: tuple[str, ...] = ("success",)


@dataclass(frozen=True)
class Experiment:
    name: str
    member: type  # frozen dataclass with a field ``seed``
    traced: tuple[str, ...]
    padded: tuple[str, ...]
    identity: tuple[str, ...]
    make_train: Callable[[Mapping[str, Any], TrainConfig, Criterion], Callable]
    cost: Callable[[Mapping[str, Any]], float]  # relative compute of a member (or padded maxima)
    bytes_per_member: Callable[[Mapping[str, Any], TrainConfig, Criterion], int]
    row_metrics: Callable[[Any, dict], dict]  # (member, its metrics as numpy) -> JSON-able dict
    analysis: Analysis
    description: str = ""
    # The success criterion in the kind's own words, from the spec's [success] settings (a dict:
    # epsilon, fraction, ...), for reports; None: a generic sentence (lab.report.success_text).
    success_text: Callable[[Mapping[str, Any]], str] | None = None

    def fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.member))

    def static_fields(self) -> tuple[str, ...]:
        skip = set(self.traced) | set(self.padded) | {"seed"}
        return tuple(f for f in self.fields() if f not in skip)


_REGISTRY: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    _REGISTRY[exp.name] = exp
    return exp


def get(name: str) -> Experiment:
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown experiment kind {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def kinds() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    import lab.attention  # noqa: F401  (each built-in kind registers itself)
    import lab.superposition  # noqa: F401


def stable_hash(text: str) -> int:
    """A 31-bit hash that is the same on every machine and Python process."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def member_key(exp: Experiment, member) -> jax.Array:
    """The member's root PRNG key: its seed folded with its task identity."""
    ident = ",".join(f"{f}={getattr(member, f)!r}" for f in exp.identity)
    return jax.random.fold_in(jax.random.key(member.seed), stable_hash(f"{exp.name}:{ident}"))


def member_id(member) -> str:
    """Stable identifier of a member (hex digest of its full config)."""
    items = ",".join(f"{k}={v!r}" for k, v in sorted(dataclasses.asdict(member).items()))
    return f"{stable_hash(items):08x}{stable_hash(items[::-1]):08x}"
