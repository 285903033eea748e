"""The docs stay honest: every `lab` command they show parses, every sweep, file and Python name they
mention exists, their Python compiles (and the blocks marked runnable run), and no path of a
developer's machine leaks into README.md, docs/, examples/ or sweeps/.

Commands are checked against the real argparse parser of lab.cli (built, never run), so a renamed
or removed option fails here. Python names (``lab.fit.common``) are imported, module by module,
then looked up attribute by attribute. A fenced ``python`` block is compiled; one preceded by the
line ``<!-- doctest: run -->`` is also run, with the page's other such blocks, in a fresh process
in an empty directory (only cheap blocks are marked). Nothing is assumed about what README.md
says: it is scanned like every page of docs/.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p for p in [ROOT / "README.md", *(ROOT / "docs").glob("**/*.md"), *(ROOT / "examples").glob("**/*.md")]
               if p.is_file())
SPECS = sorted((ROOT / "sweeps").glob("*.toml"))

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
COMMAND = re.compile(r"^(?:\./)?(?:\.venv/bin/)?lab(?:\s|$)")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")  # VAR=value before a command
SHELL_STOP = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # COMMAND, SPEC: a word standing for any value
SWEEP_PATH = re.compile(r"sweeps/([A-Za-z0-9_.-]+\.toml)")
MACHINE_PATH = re.compile(r"(?<![\w.~$-])/(?:tmp|work|root|home)/")
PY_NAME = re.compile(r"(?<![\w./-])lab(?:\.[A-Za-z_][A-Za-z0-9_]*)+")  # lab.fit.common, lab.TrainConfig
# a file of the repository: lab/fit.py, examples/lab-xor-kind/lab_xor.py (not lab/plots/<kind>.py or lab/sweeps/*.toml)
REPO_PATH = re.compile(r"(?<![\w./-])(?:lab|benchmarks|examples|tests)/[\w./-]*[\w/](?![\w*<{/-]|\.\w)")
RUN_MARK = "<!-- doctest: run -->"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line inside a fenced code block."""
    out, fence = [], None
    for i, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m and fence is None:
            fence = m.group(1)
        elif m and line.strip().startswith(fence):
            fence = None
        elif fence is not None:
            out.append((i, line))
    return out


def inline_spans(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every inline code span outside fenced blocks."""
    inside = {i for i, _ in fenced_lines(text)}
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if i in inside or FENCE.match(line):
            continue
        out += [(i, m.group(1)) for m in INLINE.finditer(line)]
    return out


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(first line number, code, marked runnable) of every fenced ``python`` block."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), lines[i].strip()[len(m.group(1)):].strip().split()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if info[:1] == ["python"]:
            marked = i > 0 and lines[i - 1].strip() == RUN_MARK
            indent = len(lines[i]) - len(lines[i].lstrip())
            out.append((i + 2, "\n".join(line[indent:] for line in lines[i + 1:j]), marked))
        i = j + 1
    return out


def imported(code: str) -> set[str]:
    """The lab names a Python block imports (``from lab.fit import common`` -> lab.fit.common)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()  # test_python_blocks_compile reports it
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "lab":
            out |= {f"{node.module}.{a.name}" for a in node.names if a.name != "*"}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "lab"}
    return out


def resolve(name: str) -> str | None:
    """What is wrong with the dotted Python name ``name`` (None: it imports, or is an attribute)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        module = ".".join(parts[:k])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name) and e.name.startswith("lab"):
                continue  # not a module: try the shorter prefix, the rest as attributes
            return f"{module} does not import: {e}"
        for i in range(k, len(parts)):
            if not hasattr(obj, parts[i]):
                return f"{'.'.join(parts[:i])} has no attribute {parts[i]!r}"
            obj = getattr(obj, parts[i])
        return None
    return "no such module"


def command_tokens(line: str) -> list[str] | None:
    """The arguments after `lab` when ``line`` is a `lab` command (prompt and VAR=value allowed)."""
    text = line.strip()
    if text.startswith("$ "):
        text = text[2:].lstrip()
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in prose: fall back to whitespace
        tokens = text.split()
    while tokens and ENV.match(tokens[0]):
        tokens = tokens[1:]
    if not tokens or not COMMAND.match(tokens[0] + " "):
        return None
    args = []
    for tok in tokens[1:]:
        if tok in SHELL_STOP:
            break
        args.append(tok)
    return args


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def problems(args: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """What is wrong with `lab ARGS`: an unknown subcommand or an option its parser does not take."""
    commands = subparsers(parser)
    if not args:
        return []
    if args[0].endswith(":"):  # "lab run: error: ..." is a message lab prints, not a command
        return []
    target, known = parser, set(parser._option_string_actions)
    if PLACEHOLDER.match(args[0]):  # `lab COMMAND --help`: options every subcommand takes
        target = argparse.ArgumentParser(prog=f"lab {args[0]}")
        known = set.intersection(*(set(p._option_string_actions) for p in commands.values()))
        args = args[1:]
    elif not args[0].startswith("-"):
        if args[0] not in commands:
            return [f"no subcommand {args[0]!r} (lab has {', '.join(sorted(commands))})"]
        target, args = commands[args[0]], args[1:]
        known = set(target._option_string_actions)
    out = []
    for tok in args:
        opt = tok.strip("[]()")
        if not opt.startswith("-") or opt == "-" or set(opt) <= {"-", "."}:
            continue
        name = opt.split("=", 1)[0].rstrip(",|")
        if name not in known:
            out.append(f"option {name} is not accepted by `{target.prog}`")
    return out


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


def test_pages_found():
    assert (ROOT / "docs" / "README.md") in PAGES and len(PAGES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_commands_parse(page: Path, parser):
    text = page.read_text(encoding="utf-8")
    bad = []
    for lineno, line in fenced_lines(text) + inline_spans(text):
        args = command_tokens(line)
        if args is not None:
            bad += [f"{rel(page)}:{lineno}: `{line.strip()}`: {p}" for p in problems(args, parser)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_sweep_paths_exist(page: Path):
    text = page.read_text(encoding="utf-8")
    missing = sorted({m.group(0) for m in SWEEP_PATH.finditer(text) if not (ROOT / "sweeps" / m.group(1)).is_file()})
    assert not missing, f"{rel(page)} names sweep specs that do not exist: {', '.join(missing)}"


@pytest.mark.parametrize("path", PAGES + SPECS, ids=rel)
def test_no_machine_paths(path: Path):
    bad = [f"{rel(path)}:{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
           if MACHINE_PATH.search(line)]
    assert not bad, "absolute paths of a particular machine:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_python_names_exist(page: Path):
    text = page.read_text(encoding="utf-8")
    names = sorted({m.group(0) for m in PY_NAME.finditer(text)} | {n for _, code, _ in python_blocks(text) for n in imported(code)})
    bad = [f"{name}: {problem}" for name in names if (problem := resolve(name))]
    assert not bad, f"{rel(page)} names Python that does not exist:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_repository_paths_exist(page: Path):
    text = page.read_text(encoding="utf-8")
    missing = sorted({m.group(0) for m in REPO_PATH.finditer(text) if not (ROOT / m.group(0).rstrip("/")).exists()})
    assert not missing, f"{rel(page)} names files that do not exist: {', '.join(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_python_blocks_compile(page: Path):
    bad = []
    for lineno, code, _ in python_blocks(page.read_text(encoding="utf-8")):
        try:
            compile(code, f"{rel(page)}:{lineno}", "exec")
        except SyntaxError as e:
            bad.append(f"{rel(page)}:{lineno + (e.lineno or 1) - 1}: {e.msg}")
    assert not bad, "\n".join(bad)


RUNNABLE = [p for p in PAGES if any(marked for _, _, marked in python_blocks(p.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("page", RUNNABLE, ids=rel)
def test_runnable_blocks_run(page: Path, tmp_path):
    """The page's blocks marked runnable, in order, in one fresh process (they may build on each other)."""
    blocks = [(lineno, code) for lineno, code, marked in python_blocks(page.read_text(encoding="utf-8")) if marked]
    script = "\n".join(f"# {rel(page)}:{lineno}\n{code}" for lineno, code in blocks)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{rel(page)}: a runnable block failed:\n{done.stderr[-3000:]}"


def test_checker_catches_mistakes(parser):
    """The checks themselves: a wrong subcommand, a wrong option and a machine path are caught."""
    assert problems(command_tokens("lab run SPEC --out DIR --max-members 3"), parser) == []
    assert problems(command_tokens("$ CUDA_VISIBLE_DEVICES=0 .venv/bin/lab fit RUN [--where F=V] --partial"), parser) == []
    assert problems(command_tokens("lab --version"), parser) == []
    assert problems(command_tokens("lab bench --only peak,population  # comment --bogus"), parser) == []
    assert problems(command_tokens("lab COMMAND --help"), parser) == []
    assert problems(command_tokens("lab COMMAND --out X"), parser)
    assert problems(command_tokens("lab run: error: runs/x is in use"), parser) == []
    assert problems(command_tokens("lab fitt RUN"), parser)
    assert problems(command_tokens("lab fit RUN --quick"), parser)
    assert problems(command_tokens("lab reproduce --quick=1 --no-such"), parser) == ["option --no-such is not accepted by `lab reproduce`"]
    assert command_tokens("lab.load_rows('runs/x')") is None
    assert command_tokens("python -m lab run") is None
    assert fenced_lines("a\n```sh\nlab run X\n```\nlab run Y\n") == [(3, "lab run X")]
    assert [s for _, s in inline_spans("use `lab plan X` and\n```\n`lab y`\n```\n")] == ["lab plan X"]
    assert MACHINE_PATH.search("see /tmp/run") and MACHINE_PATH.search("`/home/me/x`")
    assert not MACHINE_PATH.search("https://example.org/home/x") and not MACHINE_PATH.search("runs/tmp/x")
    assert resolve("lab.fit.common") is None and resolve("lab.TrainConfig") is None and resolve("lab.experiments.superposition.task") is None
    assert "no attribute 'VERDICTS'" in resolve("lab.fit.VERDICTS") and resolve("lab.boolean_task") == "lab has no attribute 'boolean_task'"
    assert [m.group(0) for m in PY_NAME.finditer("use lab.fit.law_fit(r), not mylab.x or https://lab.example or lab. Then")] == ["lab.fit.law_fit"]
    found = REPO_PATH.finditer("see lab/fit.py. lab/plots/<kind>.py, lab/sweeps/*.toml, ../lab/x.py, `examples/a-b/`, tests/<x>.py")
    assert [m.group(0) for m in found] == ["lab/fit.py", "examples/a-b/"]
    blocks = python_blocks("```python\nx = 1\n```\n<!-- doctest: run -->\n```python\ny = (\n```\n```sh\nz\n```\n")
    assert blocks == [(2, "x = 1", False), (6, "y = (", True)]
    assert imported("import lab, lab_xor\nfrom lab import construction as C\nfrom lab.fit import common") == {
        "lab", "lab.construction", "lab.fit.common"}
