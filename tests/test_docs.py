"""Every hook has a heading in docs/plugin-hooks.md and a test that calls it."""
import inspect
import re
from pathlib import Path

import pytest

from artgan import hookspecs

ROOT = Path(__file__).parents[1]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "artgan_spec")]


def test_hookspecs_are_found():
    assert "register_sources" in HOOKS and "on_run_end" in HOOKS and len(HOOKS) == 9


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_a_heading_with_its_signature(hook):
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "plugin-hooks.md").read_text(), re.M)
    assert f"{hook}({args})" in headings


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_a_test(hook):
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_docs.py"]
    assert any(re.search(rf"\b{hook}\b", p.read_text()) for p in tests), f"no test mentions {hook}"
