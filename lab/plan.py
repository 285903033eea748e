"""The planner: members -> buckets of one static shape -> equal-sized chunks that fit in memory.

Members that differ in a static field never share a program. Within a static group, the first
padded axis (e.g. width n) is split at value edges chosen by dynamic programming: the fewest
buckets (at most ``max_buckets_per_axis``) whose padding waste is at most ``max_waste``; each part
is then split the same way along the next padded axis (e.g. m'), so relative grids such as
m' = f·n stay tight. With ``[run] min_program_share`` a bucket doing less than that share of the
sweep's padded work joins its neighbour along the last axis (``merge_small_cells``): each program
costs a compile, which on a CPU can exceed a small bucket's training. A bucket takes each axis's maximum over its members. Waste is measured with the
kind's cost model: 1 - Σ cost(member) / Σ cost(bucket shape).

A bucket's members run in chunks of equal size (one compiled program per bucket; the last chunk is
padded with repeats of a member whose results are dropped), a multiple of the device count with at
least MIN_LANES members per device, as large as ``memory_fraction`` of device memory allows.
"""

from __future__ import annotations

import dataclasses

import math
import os
from dataclasses import dataclass
from typing import Any, Callable


from lab.spec import Spec, SpecError


@dataclass(frozen=True)
class Bucket:
    """Members sharing one compiled program; ``shape`` holds the static fields and padded maxima."""

    shape: tuple[tuple[str, Any], ...]
    members: tuple
    chunk: int  # members per program call (a multiple of the device count)

    @property
    def shape_dict(self) -> dict[str, Any]:
        return dict(self.shape)

    @property
    def n_chunks(self) -> int:
        return math.ceil(len(self.members) / self.chunk)

    def chunks(self) -> list[tuple]:
        return [self.members[i * self.chunk : (i + 1) * self.chunk] for i in range(self.n_chunks)]


@dataclass(frozen=True)
class Plan:
    buckets: tuple[Bucket, ...]
    waste: float  # padding waste over the whole sweep (fraction of compute spent on padding)
    devices: int
    memory_bytes: int  # the budget a chunk had to fit in (per device)

    @property
    def n_members(self) -> int:
        return sum(len(b.members) for b in self.buckets)

    @property
    def n_chunks(self) -> int:
        return sum(b.n_chunks for b in self.buckets)

    @property
    def n_programs(self) -> int:
        return len(self.buckets)

    @property
    def filler(self) -> float:
        """Fraction of program lanes that run filler members (chunks padded to equal size)."""
        lanes = sum(b.n_chunks * b.chunk for b in self.buckets)
        return 1.0 - self.n_members / lanes if lanes else 0.0


def make_plan(
    spec: Spec,
    members: list | None = None,
    *,
    devices: int = 1,
    memory_bytes: int | None = None,
    select: Callable[[Any], bool] | None = None,
) -> Plan:
    """Group ``members`` (default: the whole grid) into buckets and chunks.

    Bucket shapes depend on ``members`` alone; ``select`` then keeps the members to run (this
    process's share), which are chunked. So a member trains in the same bucket shape whichever
    process trains it and however much of the sweep is already done.
    """
    if devices < 1:
        raise ValueError(f"devices must be positive, got {devices}")
    exp = spec.experiment
    members = spec.members() if members is None else members
    memory_bytes = memory_bytes or default_memory_bytes()
    groups: dict[tuple, list] = {}
    for m in members:
        groups.setdefault(tuple((f, getattr(m, f)) for f in exp.static_fields()), []).append(m)

    split = {}
    for static, group in groups.items():
        cost = lambda values, static=static: exp.cost({**dict(static), **values})  # noqa: E731
        split[static] = (cost, _split_cells(group, exp.padded, cost, spec.run.max_waste, spec.run.max_buckets_per_axis))
    if spec.run.min_program_share > 0:
        total = sum(_cell_work(cost, exp.padded, maxima, cell) for cost, cells in split.values() for maxima, cell in cells.items())
        split = {static: (cost, merge_small_cells(cells, lambda key, cell, cost=cost: _cell_work(cost, exp.padded, key, cell),
                                                  spec.run.min_program_share * total))
                 for static, (cost, cells) in split.items()}

    buckets, used, padded_cost = [], 0.0, 0.0
    for static, (cost, cells) in split.items():
        for maxima, cell in sorted(cells.items()):
            cell = [m for m in cell if select is None or select(m)]
            if not cell:
                continue
            shape = static + tuple(zip(exp.padded, maxima))
            per_member = exp.bytes_per_member(dict(shape), spec.train, spec.success)
            _check_fits(spec, shape, per_member, memory_bytes)
            chunk = chunk_size(len(cell), per_member, devices, memory_bytes * spec.run.memory_fraction, spec.run.chunk)
            buckets.append(Bucket(shape=shape, members=tuple(cell), chunk=chunk))
            for m in cell:
                used += exp.cost({**dict(static), **{a: getattr(m, a) for a in exp.padded}})
                padded_cost += exp.cost(dict(shape))
    waste = 1.0 - used / padded_cost if padded_cost else 0.0
    return Plan(buckets=tuple(buckets), waste=waste, devices=devices, memory_bytes=memory_bytes)


def split_axis(values: list, max_waste: float, max_buckets: int, cost: Callable[[Any], float] | None = None) -> list:
    """Upper edges of the fewest buckets (<= max_buckets) whose padding waste <= max_waste.

    Cost of a bucket = (its members) * cost(its max), against Σ cost(member's value); ``cost``
    defaults to the value itself. DP over the sorted distinct values for each bucket count,
    keeping the cheapest split when no count reaches the target.
    """
    cost = cost or float
    distinct = sorted(set(values))
    counts = [sum(1 for v in values if v == d) for d in distinct]
    unit = [cost(d) for d in distinct]
    total = sum(c * u for c, u in zip(counts, unit))
    u = len(distinct)
    below = [0]  # below[j]: members with one of the first j values
    for c in counts:
        below.append(below[-1] + c)
    inf = float("inf")
    # best[b][j]: min padded cost of the first j values in b buckets; arg for back-tracking
    best = [[inf] * (u + 1) for _ in range(max_buckets + 1)]
    arg = [[0] * (u + 1) for _ in range(max_buckets + 1)]
    best[0][0] = 0.0
    chosen = None
    for b in range(1, max_buckets + 1):
        for j in range(1, u + 1):
            for i in range(j):
                if best[b - 1][i] < inf:
                    cost_ij = best[b - 1][i] + (below[j] - below[i]) * unit[j - 1]
                    if cost_ij < best[b][j]:
                        best[b][j], arg[b][j] = cost_ij, i
        if best[b][u] < inf and 1 - total / best[b][u] <= max_waste + 1e-12:
            chosen = b
            break
    if chosen is None:
        chosen = min(range(1, max_buckets + 1), key=lambda b: best[b][u])
    edges, j = [], u
    for b in range(chosen, 0, -1):
        edges.append(distinct[j - 1])
        j = arg[b][j]
    return sorted(edges)


def _split_cells(group: list, axes: tuple[str, ...], cost, max_waste: float, max_buckets: int, fixed=None) -> dict[tuple, list]:
    """Split along the first padded axis, then each part along the next (nested, not a product).

    Along an axis, a value's cost is the kind's cost with the axes already split at their bucket
    edge and the later ones at the group's maximum (so e.g. m' is weighed against the input width).
    """
    fixed = fixed or {}
    if not axes:
        return {(): group}
    axis, rest = axes[0], axes[1:]
    later = {a: max(getattr(m, a) for m in group) for a in rest}
    edges = split_axis([getattr(m, axis) for m in group], max_waste, max_buckets,
                       cost=lambda v: cost({**fixed, **later, axis: v}))
    parts: dict = {}
    for m in group:
        parts.setdefault(_edge_of(getattr(m, axis), edges), []).append(m)
    cells = {}
    for edge, part in parts.items():
        for sub, members in _split_cells(part, rest, cost, max_waste, max_buckets, {**fixed, axis: edge}).items():
            cells[(edge,) + sub] = members
    return cells


def _cell_work(cost, axes: tuple[str, ...], maxima: tuple, cell: list) -> float:
    """Padded work of a cell: its members times the cost of its bucket shape."""
    return len(cell) * cost(dict(zip(axes, maxima)))


def merge_small_cells(cells: dict[tuple, list], work: Callable[[tuple, list], float], threshold: float) -> dict[tuple, list]:
    """Merge each cell whose padded work is below ``threshold`` into the next cell up along the
    last padded axis (same edges on the others), smallest first, when the merge adds at most
    ``threshold`` of padded work. A program costs a compile whatever its size: on a CPU a quick
    sweep's smallest buckets train in less time than their programs take to compile."""
    cells = dict(cells)
    while True:
        for key in sorted(cells, key=lambda k: (work(k, cells[k]), k)):
            if work(key, cells[key]) >= threshold:
                return cells
            up = sorted(k for k in cells if k[:-1] == key[:-1] and k[-1] > key[-1])
            if not up:
                continue
            merged = cells[up[0]] + cells[key]
            if work(up[0], merged) - work(up[0], cells[up[0]]) - work(key, cells[key]) <= threshold:
                del cells[key]
                cells[up[0]] = merged
                break
        else:
            return cells


def _edge_of(value, edges: list):
    return next(e for e in edges if value <= e)


MIN_LANES = 2  # members per device and call, at least: see chunk_size


def _check_fits(spec: Spec, shape: tuple, per_member: int, memory_bytes: int) -> None:
    """Refuse, before anything is allocated, a bucket whose MIN_LANES members cannot fit one device."""
    need = MIN_LANES * per_member
    if need > memory_bytes:
        sizes = ", ".join(f"{k}={v}" for k, v in shape if isinstance(v, int) and not isinstance(v, bool))
        raise SpecError(
            f"{spec.source or spec.name}: members of size {sizes} need about {need / 2**30:.3g} GiB "
            f"({MIN_LANES} members per call, lab's estimate for batch {spec.train.batch} and the [success] settings "
            f"{_settings(spec.success)}), more than the {memory_bytes / 2**30:.3g} GiB of one device: make them smaller"
        )


def _settings(obj) -> str:
    """A settings dataclass as "name value, ..." (the [success] section of a plan)."""
    return ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(obj).items())


def chunk_size(n_members: int, bytes_per_member: int, devices: int, budget_bytes: float, fixed: int = 0) -> int:
    """Members per call: fits the per-device budget, a multiple of ``devices``, balanced chunks.

    Each device gets at least MIN_LANES members (fillers if need be): XLA drops a vmapped axis of
    size 1, which changes float rounding. Other widths can still change a member's last float bits
    (lab.sweep says precisely what a result depends on), so a run dir resumes only under its plan.
    """
    if fixed:
        cap = fixed
    else:
        cap = max(1, int(budget_bytes // max(bytes_per_member, 1))) * devices
    cap = max(MIN_LANES * devices, cap - cap % devices)
    n_chunks = math.ceil(n_members / cap)
    per_chunk = math.ceil(n_members / n_chunks)
    return max(MIN_LANES, math.ceil(per_chunk / devices)) * devices


def default_memory_bytes() -> int:
    """Memory of one local device: the accelerator's limit, or the host's RAM on CPU."""
    import jax

    dev = jax.local_devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # CPU devices have no memory stats
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        host = 8 << 30
    return int(host // max(len(jax.local_devices()), 1))


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" + ("" if k == 1 else "s")


def describe(plan: Plan, spec: Spec) -> str:
    """The human summary printed by `lab plan`."""
    exp = spec.experiment
    lines = [
        f"sweep {spec.name} (kind {spec.kind}): {_count(plan.n_members, 'member')}, {_count(plan.n_programs, 'program')} to compile, "
        f"{_count(plan.n_chunks, 'chunk')} on {_count(plan.devices, 'device')}",
        "grid: " + "; ".join([f"{k} = {list(v)}" for k, v in spec.sweep] + [f"seeds = {list(spec.seeds)}"])
        + ("; fixed: " + ", ".join(f"{k}={v!r}" for k, v in spec.fixed) if spec.fixed else ""),
        f"padding waste {plan.waste:.1%}; filler lanes {plan.filler:.1%}; chunk memory budget {plan.memory_bytes * spec.run.memory_fraction / 2**30:.1f} GiB per device",
        f"training: {spec.train.steps} steps x batch {spec.train.batch}, {spec.train.evals} evaluation points, "
        f"{spec.train.optimizer}; success: {_settings(spec.success)}",
    ]
    for i, b in enumerate(plan.buckets):
        shape = b.shape_dict
        padded = ", ".join(f"{a}<={shape[a]}" for a in exp.padded)
        static = ", ".join(f"{k}={v}" for k, v in b.shape if k not in exp.padded)
        used = sum(exp.cost({**shape, **{a: getattr(m, a) for a in exp.padded}}) for m in b.members)
        waste = 1 - used / (exp.cost(shape) * len(b.members))
        lines.append(
            f"  bucket {i}: {len(b.members):5d} members  {padded:28s} chunks {b.n_chunks} x {b.chunk}  "
            f"waste {waste:5.1%}  [{static}]"
        )
    return "\n".join(lines)


__all__ = ["Bucket", "Plan", "make_plan", "split_axis", "merge_small_cells", "chunk_size", "describe"]
