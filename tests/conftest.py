"""Shared fixtures: recipe files in tmp_path and plugins that are always unregistered."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest
import torch

from artgan import plugins

# Under pytest-xdist each worker is a process: one torch thread each, or the workers' OpenMP
# threads wait on one another for cores and small models train many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def write_recipe(tmp_path):
    """``write_recipe(text, name="recipe.toml")`` writes a dedented recipe into tmp_path."""

    def write(text: str, name: str = "recipe.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def register_plugin():
    """``register_plugin(obj, name)`` registers an in-process plugin; unregistered after the test."""
    names: list[str] = []

    def register(obj, name: str) -> str:
        registered = plugins.register(obj, name=name)
        names.append(registered)
        return registered

    try:
        yield register
    finally:
        for name in names:
            if plugins.pm.get_plugin(name) is not None:
                plugins.unregister(name)


@pytest.fixture
def restore_plugins():
    """Unregister loose-file plugins loaded during the test, and forget their modules.

    Only ``file:`` plugins are removed: entry points may be loaded lazily mid-test and must stay.
    """
    before = {name for name, _ in plugins.pm.list_name_plugin()}
    modules = set(sys.modules)
    dirs = plugins.loaded_dirs()
    try:
        yield
    finally:
        plugins._loaded_dirs[:] = dirs
        for name, _ in plugins.pm.list_name_plugin():
            if name.startswith("file:") and name not in before:
                plugins.unregister(name)
        for module in set(sys.modules) - modules:
            if module.startswith("artgan_loose_"):
                del sys.modules[module]
