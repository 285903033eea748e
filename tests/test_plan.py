"""The planner: bucket edges are optimal for the waste target, every member lands in exactly one
bucket that holds it, chunks fit the memory budget and the device count, and `lab plan` reports it."""

import dataclasses
import itertools
import math
import random
from pathlib import Path

import pytest

from lab.plan import MIN_LANES, chunk_size, describe, make_plan, merge_small_cells, split_axis
from lab.spec import RunOptions, load_spec

QUICK = Path(__file__).parent / "specs" / "grid.toml"  # a fixed grid (the shipped quick sweep gets tuned)
GIB = 1 << 30


def brute_force(values, max_waste, max_buckets, cost=float):
    """(fewest buckets reaching max_waste, or the cheapest split) by trying every split."""
    distinct = sorted(set(values))
    total = sum(cost(v) for v in values)
    best = {}
    for b in range(1, min(max_buckets, len(distinct)) + 1):
        for cuts in itertools.combinations(range(1, len(distinct)), b - 1):
            bounds = (0, *cuts, len(distinct))
            edges = [distinct[j - 1] for j in bounds[1:]]
            padded = sum(cost(next(e for e in edges if v <= e)) for v in values)
            best[b] = min(best.get(b, math.inf), padded)
    reaching = [b for b in sorted(best) if 1 - total / best[b] <= max_waste + 1e-12]
    b = reaching[0] if reaching else min(best, key=best.get)
    return b, best[b]


def padded_cost(values, edges, cost=float):
    return sum(cost(next(e for e in edges if v <= e)) for v in values)


def test_split_axis_matches_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        values = [rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55]) for _ in range(rng.randint(1, 12))]
        max_waste, max_buckets = rng.choice([0.0, 0.05, 0.15, 0.3, 0.6]), rng.randint(1, 4)
        affine = rng.random() < 0.5
        cost = (lambda v: 40.0 + v) if affine else float
        edges = split_axis(values, max_waste, max_buckets, cost=cost if affine else None)
        b, best = brute_force(values, max_waste, max_buckets, cost)
        assert len(edges) == b and edges == sorted(edges) and edges[-1] == max(values)
        assert padded_cost(values, edges, cost) == pytest.approx(best)


def test_split_axis_examples():
    assert split_axis([8, 16, 32, 64], 0.0, 4) == [8, 16, 32, 64]
    assert split_axis([8, 16, 32, 64], 0.55, 4) == [64]  # one bucket: waste 1 - 120/256 = 53%
    two = split_axis([8, 16, 32, 64], 0.5, 4)  # two buckets: waste 1 - 120/160 = 25%
    assert len(two) == 2 and padded_cost([8, 16, 32, 64], two) == 160
    assert split_axis([1, 1, 1, 100], 0.0, 1) == [100]  # capped by max_buckets
    # a cost dominated by a fixed part (e.g. the input width) needs no split
    assert split_axis([2, 4, 8], 0.15, 4, cost=lambda v: 64.0 + v) == [8]


def test_buckets_hold_every_member_once_tightly():
    spec = load_spec(QUICK)
    plan = make_plan(spec, devices=1, memory_bytes=GIB)
    members = spec.members()
    assert plan.n_members == len(members) == 40
    assert sorted(map(repr, (m for b in plan.buckets for m in b.members))) == sorted(map(repr, members))
    exp = spec.experiment
    for bucket in plan.buckets:
        shape = bucket.shape_dict
        for m in bucket.members:
            assert all(getattr(m, f) == shape[f] for f in exp.static_fields())
            assert all(getattr(m, a) <= shape[a] for a in exp.padded)
        for a in exp.padded:  # the bucket is no larger than its members need
            assert max(getattr(m, a) for m in bucket.members) == shape[a]
    used = sum(exp.cost({**b.shape_dict, **{a: getattr(m, a) for a in exp.padded}}) for b in plan.buckets for m in b.members)
    padded = sum(exp.cost(b.shape_dict) * len(b.members) for b in plan.buckets)
    assert plan.waste == pytest.approx(1 - used / padded)
    assert plan.waste <= spec.run.max_waste


def test_waste_target_trades_programs_for_padding():
    spec = load_spec(QUICK)
    exact = make_plan(dataclasses.replace(spec, run=RunOptions(max_waste=0.0, max_buckets_per_axis=8)), memory_bytes=GIB)
    loose = make_plan(dataclasses.replace(spec, run=RunOptions(max_waste=0.9, max_buckets_per_axis=1)), memory_bytes=GIB)
    assert exact.waste == 0.0 and exact.n_programs == 20  # every (n, m') its own program
    assert loose.n_programs == 1 and loose.waste > 0.5


def test_small_cells_join_their_upper_neighbour_along_the_last_axis():
    # cells keyed by (n edge, m' edge); work = members x m' edge
    cells = {(8, 2): ["a"], (8, 4): ["b", "c"], (16, 2): ["d"], (16, 64): ["e"]}
    work = lambda key, cell: len(cell) * key[-1]  # noqa: E731
    merged = merge_small_cells(cells, work, threshold=5.0)
    # (8, 2) (work 2) joins (8, 4): adds 4 - 2 = 2 <= 5; (16, 2) would add 62 > 5 and stays
    assert merged == {(8, 4): ["b", "c", "a"], (16, 2): ["d"], (16, 64): ["e"]}
    assert merge_small_cells(cells, work, threshold=0.0) == cells  # nothing is below no threshold
    # never across the first axis: (8, 4) has no neighbour above it at n = 8
    assert merge_small_cells({(8, 4): ["b"], (16, 8): ["e"]}, work, threshold=100.0) == {(8, 4): ["b"], (16, 8): ["e"]}


def test_min_program_share_merges_buckets_below_it():
    spec = load_spec(QUICK)
    base = make_plan(spec, memory_bytes=GIB)
    share = dataclasses.replace(spec, run=dataclasses.replace(spec.run, min_program_share=0.1))
    plan = make_plan(share, memory_bytes=GIB)
    assert plan.n_programs < base.n_programs
    assert sorted(map(repr, (m for b in plan.buckets for m in b.members))) == sorted(map(repr, spec.members()))
    exp = spec.experiment
    total = sum(exp.cost(b.shape_dict) * len(b.members) for b in base.buckets)
    for low, up in itertools.permutations(plan.buckets, 2):  # what is left could not merge within the share
        if low.shape_dict["n"] == up.shape_dict["n"] and low.shape_dict["m_out"] < up.shape_dict["m_out"]:
            own = exp.cost(low.shape_dict) * len(low.members)
            added = exp.cost(up.shape_dict) * len(low.members) - own
            assert own >= 0.1 * total or added > 0.1 * total
    for bucket in plan.buckets:
        assert all(getattr(m, a) <= bucket.shape_dict[a] for m in bucket.members for a in exp.padded)


def test_select_keeps_bucket_shapes():
    spec = load_spec(QUICK)
    full = make_plan(spec, memory_bytes=GIB)
    shape_of = {repr(m): b.shape for b in full.buckets for m in b.members}
    half = make_plan(spec, memory_bytes=GIB, select=lambda m: m.seed == 1)
    assert half.n_members == 20
    for bucket in half.buckets:
        assert all(m.seed == 1 and shape_of[repr(m)] == bucket.shape for m in bucket.members)


def test_chunk_size_fits_memory_and_devices():
    for n, per_member, devices, budget in itertools.product([1, 7, 100, 1000], [1000, 10**6], [1, 4, 8], [1e6, 1e8, 1e12]):
        chunk = chunk_size(n, per_member, devices, budget)
        lanes = max(MIN_LANES, int(budget // per_member))  # members a device may hold
        assert chunk % devices == 0 and chunk >= MIN_LANES * devices
        assert chunk // devices <= lanes  # a device's share fits its budget
        n_chunks = math.ceil(n / chunk)
        assert n_chunks == math.ceil(n / (lanes * devices))  # as few calls as memory allows
        if chunk > MIN_LANES * devices:
            assert chunk - n / n_chunks < devices  # balanced: the last chunk is (nearly) full
    assert chunk_size(10, 1, 1, 1e9, fixed=4) == 4  # 3 calls of 4, 4, 2 (padded)
    assert chunk_size(9, 1, 1, 1e9, fixed=4) == 3  # 3 balanced calls of 3 rather than 4, 4, 1
    assert chunk_size(10, 1, 4, 1e9, fixed=2) == 8  # raised to MIN_LANES members on each device
    assert chunk_size(1, 1, 1, 1e9) == MIN_LANES  # never a vmapped axis of size 1


def test_plan_chunks_follow_memory_and_devices():
    spec = load_spec(QUICK)
    big = make_plan(spec, devices=1, memory_bytes=64 * GIB)
    assert big.n_chunks == big.n_programs  # everything fits: one call per program
    exp = spec.experiment
    per_member = [exp.bytes_per_member(b.shape_dict, spec.train, spec.success) for b in big.buckets]
    memory = MIN_LANES * max(per_member)  # the least a device may have: MIN_LANES of the largest members
    small = make_plan(spec, devices=1, memory_bytes=memory)
    for bucket, size in zip(small.buckets, per_member):
        assert bucket.chunk <= max(MIN_LANES, memory * spec.run.memory_fraction // size)
    assert small.n_chunks > big.n_chunks
    four = make_plan(spec, devices=4, memory_bytes=GIB)
    assert all(b.chunk % 4 == 0 for b in four.buckets) and four.devices == 4
    for bucket in four.buckets:
        chunks = bucket.chunks()
        assert sum(len(c) for c in chunks) == len(bucket.members) and all(len(c) <= bucket.chunk for c in chunks)


def test_describe_reports_members_buckets_chunks_waste_and_programs():
    spec = load_spec(QUICK)
    plan = make_plan(spec, devices=2, memory_bytes=GIB)
    text = describe(plan, spec)
    lines = text.splitlines()
    assert lines[0] == (f"sweep grid (kind superposition): {plan.n_members} members, "
                        f"{plan.n_programs} programs to compile, {plan.n_chunks} chunks on 2 devices")
    assert plan.n_members == len(spec.members()) > 1 and plan.n_programs > 1
    assert "n = [8, 16, 32, 64]" in lines[1] and "m_out = [1*n, " in lines[1] and "seeds = [0, " in lines[1]
    assert f"padding waste {plan.waste:.1%}; filler lanes {plan.filler:.1%}" in lines[2]
    lanes = sum(b.n_chunks * b.chunk for b in plan.buckets)
    assert plan.filler == pytest.approx((lanes - 40) / lanes) and plan.filler > 0  # 2 devices x 2 lanes minimum
    assert "2000 steps x batch 256" in lines[3] and "epsilon 0.05" in lines[3]
    bucket_lines = [line for line in lines if line.lstrip().startswith("bucket ")]
    assert len(bucket_lines) == plan.n_programs
    for line, bucket in zip(bucket_lines, plan.buckets):
        shape = bucket.shape_dict
        assert f"{len(bucket.members)} members" in line and f"n<={shape['n']}, m_out<={shape['m_out']}" in line
        assert f"chunks {bucket.n_chunks} x {bucket.chunk}" in line and "waste" in line
