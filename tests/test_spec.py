"""Sweep specs: every axis form expands as documented, configs are frozen, and every mistake is
refused on load with one message naming the file, the key, the bad value and what is allowed."""

import dataclasses
import math
import textwrap
from pathlib import Path

import pytest

from lab import experiment
from lab.spec import SpecError, load_spec, parse_spec

SWEEPS = Path(__file__).parent.parent / "sweeps"

BASE = """
kind = "superposition"
seeds = 2
[fixed]
m = 8
op = "and"
s = 2
[sweep]
n = [4, 8]
[train]
steps = 4
evals = 2
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_lines(base: str, section: str, *lines: str) -> str:
    """``base`` with ``lines`` added at the top of ``[section]`` (or at the top for section ""),
    replacing the lines of ``base`` that set the same keys."""
    keys = {line.split("=")[0].strip() for line in lines}
    base = "".join(line for line in base.splitlines(keepends=True) if line.split("=")[0].strip() not in keys)
    if not section:
        return "\n".join(lines) + "\n" + base
    if f"[{section}]" not in base:
        return base + f"\n[{section}]\n" + "\n".join(lines) + "\n"
    return base.replace(f"[{section}]\n", f"[{section}]\n" + "\n".join(lines) + "\n", 1)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_specs_load(path):
    spec = load_spec(path)
    assert spec.members() and spec.kind in experiment.kinds()


def test_relative_grid_and_frozen_configs():
    spec = load_spec(Path(__file__).parent / "specs" / "grid.toml")
    members = spec.members()
    assert len(members) == 4 * 5 * 2  # n x m'-factors x seeds
    assert {(m.n, m.m_out) for m in members} == {(n, f * n) for n in (8, 16, 32, 64) for f in (1, 2, 4, 8, 16)}
    assert [m.seed for m in members[:2]] == [0, 1]  # seeds innermost
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.kind = "attention"
    with pytest.raises(dataclasses.FrozenInstanceError):
        members[0].n = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.train.steps = 1
    assert isinstance(spec.fixed, tuple) and isinstance(spec.sweep, tuple)


def test_axis_forms(tmp_path):
    text = with_lines(BASE.replace("n = [4, 8]\n", ""), "sweep",
                      "n = {range = [4, 10, 3]}",
                      "lr = {geom = [0.001, 0.1], num = 3}",
                      "m_out = {geom = [1, 16], num = 5}")
    spec = load_spec(write(tmp_path, text))
    axes = dict(spec.sweep)
    assert axes["n"] == (4, 7, 10)
    assert all(math.isclose(a, b) for a, b in zip(axes["lr"], (1e-3, 1e-2, 1e-1)))
    assert axes["m_out"] == (1, 2, 4, 8, 16)  # an int field: the geometric grid is rounded
    assert len(spec.members()) == 3 * 3 * 5 * 2
    spec = load_spec(write(tmp_path, with_lines(BASE, "sweep", "m_out = {per = \"n\", factors = [0.5, 2]}")))
    assert {(m.n, m.m_out) for m in spec.members()} == {(4, 2), (4, 8), (8, 4), (8, 16)}
    spec = load_spec(write(tmp_path, BASE.replace("seeds = 2", "seeds = [3, 7]")))
    assert spec.seeds == (3, 7) and {m.seed for m in spec.members()} == {3, 7}


def test_an_int_given_for_a_float_field_is_the_same_member(tmp_path):
    one = load_spec(write(tmp_path, with_lines(BASE, "fixed", "lr = 1"), "a.toml")).members()
    other = load_spec(write(tmp_path, with_lines(BASE, "fixed", "lr = 1.0"), "b.toml")).members()
    assert one == other and isinstance(one[0].lr, float)
    assert [experiment.member_id(m) for m in one] == [experiment.member_id(m) for m in other]


def test_digest_covers_results_not_execution(tmp_path):
    base = load_spec(write(tmp_path, BASE, "a.toml"))
    faster = load_spec(write(tmp_path, BASE + "\n[run]\nchunk = 8\nmax_waste = 0.3\n", "b.toml"))
    longer = load_spec(write(tmp_path, BASE.replace("steps = 4", "steps = 8"), "c.toml"))
    stricter = load_spec(write(tmp_path, BASE + "\n[success]\nepsilon = 0.01\n", "d.toml"))
    assert base.digest() == faster.digest()
    assert len({base.digest(), longer.digest(), stricter.digest()}) == 3


# (what to add, section, substrings the message must contain: key, bad value, what is allowed)
BAD = {
    "unknown top-level key": ("", ["sweeps = 3"], ["unknown key 'sweeps'", "allowed top-level keys", "seeds"]),
    "unknown member key": ("fixed", ["width = 8"], ["[fixed] unknown key 'width'", "allowed: m, op"]),
    "unknown swept key": ("sweep", ["widths = [8]"], ["[sweep] unknown key 'widths'", "allowed: m, op"]),
    "unknown train key": ("train", ["step = 4"], ["[train] unknown key 'step'", "allowed: steps"]),
    "unknown success key": ("success", ["eps = 0.1"], ["[success] unknown key 'eps'", "allowed: epsilon"]),
    "unknown run key": ("run", ["chunks = 2"], ["[run] unknown key 'chunks'", "allowed: max_waste"]),
    "wrong type fixed": ("fixed", ["d = \"16\""], ["[fixed] d = '16'", "wrong type", "expected int or none"]),
    "float for an int": ("sweep", ["m_out = [2, 2.5]"], ["[sweep] m_out = 2.5", "wrong type", "expected int"]),
    "wrong type train": ("train", ["batch = 1.5"], ["[train] batch = 1.5", "wrong type", "expected int"]),
    "bool for a count": ("train", ["batch = true"], ["[train] batch = True", "wrong type", "expected int"]),
    "bool seeds": ("", ["seeds = true"], ["seeds = True", "positive count"]),
    "no seeds": ("", ["seeds = 0"], ["seeds = 0", "positive count"]),
    "repeated seed": ("", ["seeds = [1, 1]"], ["seeds = [1, 1]", "repeats"]),
    "m' above the distinct pairs": ("sweep", ["m_out = [4, 40]"], ["[sweep] m_out = 40", "impossible", "[1, 28]", "distinct outputs"]),
    "relative m' above the pairs": ("sweep", ["m_out = {per = \"n\", factors = [1, 4]}"],
                                    ["[sweep] m_out = 32", "4*n with n=8", "[1, 28]"]),
    "fixed m' above the pairs": ("fixed", ["m_out = 29"], ["[fixed] m_out = 29", "[1, 28]"]),
    "non-positive width": ("sweep", ["n = [0, 4]"], ["[sweep] n = 0", "impossible", "must be positive"]),
    "s above m": ("fixed", ["s = 9"], ["[fixed] s = 9", "[1, m=8]"]),
    "epsilon above 1": ("success", ["epsilon = 1.5"], ["[success] epsilon = 1.5", "(0, 1)"]),
    "epsilon zero": ("success", ["epsilon = 0"], ["[success] epsilon = 0.0", "(0, 1)"]),
    "steps not a multiple of evals": ("train", ["steps = 5"], ["[train] steps = 5", "multiple of evals"]),
    "unknown optimizer": ("train", ["optimizer = \"lion\""], ["[train] optimizer = 'lion'", "adam"]),
    "waste outside [0, 1)": ("run", ["max_waste = 1.0"], ["[run] max_waste = 1.0", "[0, 1)"]),
    "empty axis": ("sweep", ["lr = []"], ["[sweep] lr = []", "at least one value"]),
    "bad geometric grid": ("sweep", ["lr = {geom = [0, 1], num = 3}"], ["[sweep] lr.geom = [0, 1]", "0 < lo <= hi"]),
    "empty range": ("sweep", ["m_out = {range = [5, 2, 1]}"], ["[sweep] m_out.range = [5, 2, 1]", "empty"]),
    "relative to a missing axis": ("sweep", ["m_out = {per = \"width\", factors = [1]}"], ["[sweep] m_out.per = 'width'", "another [sweep] axis"]),
    "unknown axis form": ("sweep", ["lr = {log = [1, 2]}"], ["[sweep] lr", "unknown axis form", "geom"]),
    "scalar axis": ("sweep", ["lr = 0.1"], ["[sweep] lr = 0.1", "a swept axis is a list", "[fixed]"]),
    "unknown op": ("sweep", ["op = [\"and\", \"nand\"]"], ["[sweep] op = 'nand'", "impossible", "one of"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_mistakes_are_refused_with_file_key_value_and_allowed(tmp_path, case):
    section, lines, expected = BAD[case]
    path = write(tmp_path, with_lines(BASE, section, *lines))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)


def test_unknown_kind_and_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match=r"kind = 'mlp' is unknown; allowed: \['attention', 'superposition'\]|kind = 'mlp' is unknown"):
        load_spec(write(tmp_path, BASE.replace('kind = "superposition"', 'kind = "mlp"')))
    with pytest.raises(SpecError, match="missing 'kind'"):
        load_spec(write(tmp_path, BASE.replace('kind = "superposition"', "")))
    with pytest.raises(SpecError, match="no such sweep spec"):
        load_spec(tmp_path / "absent.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(write(tmp_path, "kind = \n"))
    with pytest.raises(SpecError, match=r"^x.toml: 'n' is both in \[fixed\] and \[sweep\]; keep one$"):
        parse_spec({"kind": "superposition", "fixed": {"n": 4}, "sweep": {"n": [4, 8]}}, source="x.toml")


def test_attention_dk_not_divisible_by_heads_names_dk():
    assert "attention" in experiment.kinds()
    raw = {"kind": "attention", "fixed": {"m": 16, "d_model": 16, "m_edges": 16, "context": 8, "h": 3},
           "sweep": {"dk": [6, 8]}}
    with pytest.raises(SpecError) as err:
        parse_spec(raw, source="attn.toml")
    message = str(err.value)
    assert message.startswith("attn.toml: [sweep] dk = 8 is impossible") and "divisible by h" in message, message


def test_a_kinds_own_validation_names_the_offending_key(monkeypatch):
    """Any kind: the key a member's validation message is about is the one reported."""

    @dataclasses.dataclass(frozen=True)
    class Heads:
        h: int = 1
        dk: int = 8
        seed: int = 0

        def __post_init__(self):
            if self.dk % self.h:
                raise ValueError(f"dk must be divisible by h, got dk={self.dk}, h={self.h}")

    sup = experiment.get("superposition")
    monkeypatch.setitem(experiment._REGISTRY, "heads", dataclasses.replace(
        sup, name="heads", member=Heads, traced=(), padded=(), identity=(),
        analysis=experiment.Analysis(resource="dk", direction="increasing", series=("h",), laws=(), covariates=("h",))))
    raw = {"kind": "heads", "fixed": {"dk": 10}, "sweep": {"h": [1, 2, 3]}}
    with pytest.raises(SpecError, match=r"^x\.toml: \[fixed\] dk = 10 is impossible: dk must be divisible by h, got dk=10, h=3 \(member h=3\)$"):
        parse_spec(raw, source="x.toml")
    assert len(parse_spec({"kind": "heads", "sweep": {"h": [1, 2, 4]}}, source="x.toml").members()) == 3


def test_success_settings_belong_to_the_kind():
    """[success] is validated by the kind's own settings type: attention has no `fraction`."""
    base = {"kind": "attention", "fixed": {"m": 16, "d_model": 16, "dk": 4, "context": 8}}
    with pytest.raises(SpecError, match=r"\[success\] unknown key 'fraction' for kind 'attention'; allowed: epsilon, samples"):
        parse_spec({**base, "success": {"fraction": 0.9}}, source="x.toml")
    spec = parse_spec({**base, "success": {"epsilon": 0.1}}, source="x.toml")
    assert spec.identity()["success"] == {"epsilon": 0.1, "samples": 1200}
    sup = parse_spec({"kind": "superposition", "fixed": {"m": 8, "n": 2, "m_out": 2}, "success": {"fraction": 0.9}}, source="y.toml")
    assert sup.success.fraction == 0.9
