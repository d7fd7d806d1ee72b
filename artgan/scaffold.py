"""`artgan new-plugin`: a plugin distribution of one's own, copied from the bundled template.

The template (examples/plugin-template) is a working distribution, artgan-example, with one module
per plugin kind, each registering a plugin named "example" (the model's torch code is in a second
module, model_torch.py). A copy is renamed throughout and keeps the modules, tests, entry points
and README rows of the kinds asked for.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from artgan import plugins
from artgan.bundled import plugin_template
from artgan.errors import ArtganError
from artgan.files import ensure_writable_folder
from artgan.kinds import KINDS  # the template has <kind>.py (maybe <kind>_*.py) and tests/test_<kind>.py per kind

NAME = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
LEFT_BEHIND = {"__pycache__", "build", "dist"}  # what using the template leaves in it (and .hidden folders)


def new_plugin(name: str, kinds: list[str], out: Path) -> list[Path]:
    """Write the distribution artgan-NAME into the new folder ``out``, with a plugin named NAME
    of each of ``kinds`` (none of which may have an installed plugin of that name); returns the
    files written."""
    if not re.fullmatch(NAME, name):
        raise ArtganError(f'"{name}": a plugin name starts with a letter and is lower-case letters and digits, '
                          'words joined by "-" (e.g. glitch-faces)')
    for kind in kinds:
        installed = plugins.collect(kind).get(name)
        if installed is not None:
            raise ArtganError(f'"{name}": a {kind} plugin of that name is already installed '
                              f"({installed.distribution}); a second would make every artgan command fail, so "
                              f"choose another name, e.g. my-{name}")
    if out.exists():
        raise ArtganError(f"{out}: already exists; choose a new folder with --out")
    ensure_writable_folder(out)
    renames = {"artgan-example": f"artgan-{name}", "artgan_example": f"artgan_{name.replace('-', '_')}",
               '"example"': f'"{name}"'}
    dropped = [kind for kind in KINDS if kind not in kinds]
    template = plugin_template()
    written = []
    for path in sorted(template.rglob("*")):
        relative = PurePosixPath(path.relative_to(template).as_posix())
        if not path.is_file() or _left_out(relative, dropped):
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        text = "".join(line for line in lines if not any(_mentions(line, kind) for kind in dropped))
        target = out / _renamed(str(relative), renames)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_renamed(text, renames), encoding="utf-8")
        written.append(target)
    return written


def _left_out(relative: PurePosixPath, dropped: list[str]) -> bool:
    """Whether a template file stays behind: one of a dropped kind, or left by building or testing."""
    if any(part in LEFT_BEHIND or part.endswith(".egg-info") or part.startswith(".") for part in relative.parts):
        return True
    kind = relative.stem.removeprefix("test_").split("_")[0]  # model_torch.py and test_model.py: "model"
    return kind in dropped


def _mentions(line: str, kind: str) -> bool:
    """Whether ``line`` is about the module of ``kind``: its entry point or its README row."""
    return f'artgan_example.{kind}"' in line or f"`{kind}.py`" in line


def _renamed(text: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        text = text.replace(old, new)
    return text
