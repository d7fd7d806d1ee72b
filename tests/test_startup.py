"""Commands that neither train nor sample do not import torch (benchmarks/startup.py measures how
long they take; this checks only what they import, never a time)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "startup.py"


def startup():
    spec = importlib.util.spec_from_file_location("startup_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args", [["--version"], ["recipes"], ["new-plugin", "glitch", "--kind", "source"],
                                  ["studio", "--help"]])
def test_commands_that_do_not_train_do_not_import_torch(args):
    figures = startup().measure(args)
    assert figures["torch"] is False


def test_the_benchmark_sees_torch_when_a_command_imports_it():
    assert startup().measure(["run", "ellipses", "--dry-run"])["torch"] is True  # the dcgan plugin needs it
