"""`lab --help`, `lab --version` and every subcommand's help: fast (no jax import), with defaults."""

import subprocess
import sys

import pytest

from lab import cli

COMMANDS = ["run", "plan", "fit", "report", "reproduce", "interpret", "construct", "bench"]

PROBE = """
import sys
from lab import cli
for argv in {argvs!r}:
    try:
        cli.main(argv)
    except SystemExit as e:
        assert e.code == 0, (argv, e.code)
print("JAX_IMPORTED", "jax" in sys.modules)
"""


def test_help_and_version_do_not_import_jax():
    argvs = [["--help"], ["--version"]] + [[c, "--help"] for c in COMMANDS]
    out = subprocess.run([sys.executable, "-c", PROBE.format(argvs=argvs)], capture_output=True, text=True, check=True).stdout
    assert "JAX_IMPORTED False" in out
    assert out.count("usage: lab") == len(argvs) - 1


def test_version(capsys):
    import lab

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"lab {lab.__version__}"


def test_every_construct_option_has_help_and_default():
    parser = cli.add_construct_arguments(cli.argparse.ArgumentParser())
    for action in parser._actions:
        if action.dest != "help":
            assert action.help and "default" in action.help, action.dest


def test_cli_copies_of_library_defaults_agree():
    from benchmarks import harness as bench
    from lab.experiments.superposition import construction

    assert cli.BENCHMARKS == bench.BENCHMARKS
    scheme = next(a for a in cli.add_construct_arguments(cli.argparse.ArgumentParser())._actions if a.dest == "scheme")
    assert set(scheme.choices) == set(construction.SCHEMES)


def test_python_dash_m_lab_runs_the_command_line():
    import lab

    proc = subprocess.run([sys.executable, "-m", "lab", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"lab {lab.__version__}"
