"""Fixtures of the hostile tests (bad input and faults, as a hostile user or a failing machine
would bring them); their helper functions are in hostile_helpers.py. Every test here is marked
``hostile``: ``pytest -m hostile`` runs them all."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostile_helpers import TINY


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/hostile/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.hostile)


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A tiny recipe file (shapes -> an 8-wide DCGAN at 32 px, 4 steps on the CPU) in tmp_path."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path
