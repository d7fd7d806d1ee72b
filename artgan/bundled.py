"""The examples bundled with artgan: recipes to run by name, and the plugin template.

They are the repository's examples/ folder, shipped in the wheel as the package artgan_examples,
so an installed artgan has them too.
"""
from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from artgan.errors import ArtganError
from artgan.recipe import required_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def folder() -> Path:
    """The folder of the bundled examples."""
    return Path(str(resources.files("artgan_examples")))


def plugin_template() -> Path:
    """The plugin template: a complete plugin distribution to copy."""
    return folder() / "plugin-template"


@dataclass(frozen=True)
class BundledRecipe:
    """A bundled recipe: its name, its file, the first line of its opening comment, and the
    keys it leaves to the user (to give with --set)."""

    name: str
    path: Path
    summary: str
    needs: list[str]


def bundled_recipes() -> list[BundledRecipe]:
    """Every bundled recipe, by name."""
    return [_describe(path) for path in sorted(folder().glob("*.toml"))]


def _describe(path: Path) -> BundledRecipe:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    summary = first.removeprefix("#").strip() if first.startswith("#") else ""
    return BundledRecipe(path.stem, path, summary, list(required_keys(tomllib.loads(text))))


def find_recipe(path: Path) -> Path:
    """``path`` as given, or, when it is a bare name and no file (``ellipses``), the bundled
    recipe of that name."""
    if path.is_file() or path.suffix or len(path.parts) != 1:
        if not path.exists() and path.suffix == ".toml" and (folder() / path.name).is_file():
            # examples/ellipses.toml, as the docs name it, run from outside the repository
            raise ArtganError(f'{path}: no such recipe file; the bundled recipe of that name is "{path.stem}" '
                              "(give the name alone)")
        return path
    bundled = folder() / f"{path}.toml"
    if bundled.is_file():
        return bundled
    if path.is_dir():
        raise ArtganError(f"{path}: a folder, not a recipe; give a recipe .toml file or a bundled recipe's name")
    close = difflib.get_close_matches(str(path), [p.stem for p in folder().glob("*.toml")], n=1, cutoff=0.6)
    here = path.with_name(f"{path.name}.toml")
    hint = f'did you mean "{here}"?' if here.is_file() else f'did you mean "{close[0]}"?' if close else \
        "see `artgan recipes`"
    raise ArtganError(f"{path}: no such recipe file, and no bundled recipe of that name; {hint}")
