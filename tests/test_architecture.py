"""The package's shape: no import cycles, a light analysis layer, kinds that own themselves."""

import ast
import subprocess
import sys
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """lab modules that ``path`` imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("lab"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lab"))
    return found


def graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in LAB.rglob("*.py")}
    return {m: {i for i in imports(p, top_level_only) if i in modules and i != m} for m, p in modules.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search (each reported once per entry point)."""
    found, state = [], {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(g[m]):
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    return found


def test_the_module_level_import_graph_has_no_cycles():
    g = graph(top_level_only=True)
    assert "lab.experiment" in g and "lab.experiments.superposition" in g
    assert cycles(g) == []


def test_generic_modules_do_not_import_a_kind():
    """Only lab.experiment discovers kinds (by package scan); nothing else names one."""
    g = graph(top_level_only=False)
    for m, deps in g.items():
        # `lab construct` is the superposition kind's command: the CLI imports it when that command runs
        if m.startswith("lab.experiments") or m in ("lab.cli",):
            continue
        assert not {d for d in deps if d.startswith("lab.experiments.")}, m


def test_the_analysis_layer_does_not_import_jax():
    code = (
        "import sys, lab.fit, lab.report, lab.analysis, lab.experiment, lab.planted\n"
        "from lab import fit, planted\n"
        "rows = planted.simulate('superposition', 'n2_over_log', {'c': 1.0}, {'n': [8, 16, 32]}, "
        "lambda c: planted.geometric(8, 600, 10), seeds=2)\n"
        "fit.fit_rows('superposition', rows, n_boot=0, pipeline_boot=0, law_interval='wald')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'optax')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lab_fit_and_lab_report_do_not_import_jax(tmp_path):
    """`lab fit` and `lab report` on a run directory (planted rows, and a saved reading of its networks)
    stay in numpy/scipy/matplotlib."""
    code = (
        "import json, sys\n"
        "from lab import cli, interpretation, planted, store\n"
        f"run = {str(tmp_path / 'run')!r}\n"
        "rows = planted.simulate('superposition', 'n2_over_log', {'c': 1.0}, {'n': [8, 16, 32]}, "
        "lambda c: planted.geometric(8, 600, 10), seeds=2)\n"
        "store.ensure_writable_dir(run + '/rows')\n"
        "store.atomic_write(__import__('pathlib').Path(run) / 'run.json', json.dumps({'kind': 'superposition', 'name': 'planted'}))\n"
        "store.write_rows(run, rows, 'planted')\n"
        "assert cli.main(['fit', run, '--partial']) == 0\n"
        "interpretation.save(store.ensure_writable_dir(run + '/interpret'), {'figures': [], 'summary': {}, 'text': 'Read.'}, "
        "rows=rows, meta=store.read_meta(run), options={})\n"
        "assert cli.main(['report', run, '--partial']) == 0\n"
        "assert 'Read.' in open(run + '/report.md').read()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'optax')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
