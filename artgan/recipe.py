"""Recipes: TOML files that name the plugins of each stage and their options."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from artgan import plugins
from artgan.errors import ArtganError
from artgan.kinds import Context, Options, Plugin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class TrainOptions(BaseModel):
    """The [train] table: how the core trains any model."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(2000, ge=0, description="training steps (one batch each)")
    batch_size: int = Field(64, ge=1, description="real images per step")
    snapshot_every: int = Field(100, ge=1, description="steps between snapshots of the fixed sample grid")
    metrics_every: int = Field(10, ge=1, description="steps averaged into each line of metrics.jsonl")
    checkpoint_every: int = Field(1000, ge=1, description="steps between checkpoints")
    keep_checkpoints: int = Field(5, ge=0, description="newest checkpoints kept (0 keeps all)")
    grid: int = Field(8, ge=1, le=32, description="snapshots show grid x grid fixed samples")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="where to train; auto picks CUDA, then MPS, then the CPU")
    nan_retries: int = Field(3, ge=0, description="rollbacks to the last checkpoint when a loss turns NaN/inf")
    log_every: float = Field(10.0, gt=0, description="seconds between plain progress lines")


class Section(BaseModel):
    """A plugin section: ``use`` names the plugin, every other key is one of its options."""

    model_config = ConfigDict(extra="allow")
    use: str


class RecipeFile(BaseModel):
    """The shape of a recipe file, before plugin options are checked."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="names the dataset folder data/NAME and the run folder runs/NAME")
    seed: int = Field(0, description="seed of every random choice in the run")
    resolution: int = Field(64, ge=8, le=4096, description="side of the training images and of the model's output")
    source: list[Section] = Field(min_length=1, description="where images come from")
    preprocess: list[Section] = Field(default_factory=list, description="what is done to each image, in order")
    model: Section
    train: TrainOptions = Field(default_factory=TrainOptions)
    render: list[Section] = Field(default_factory=list, description="pictures and films made after training")


@dataclass(frozen=True)
class Step:
    """One plugin section of a recipe, resolved to its plugin and validated options."""

    key: str  # where it sits in the recipe: "source[0]", "model"…
    name: str
    plugin: type[Plugin]
    options: Options

    def build(self, context: Context) -> Plugin:
        return self.plugin(self.options, context)

    def as_table(self) -> dict[str, Any]:
        return {"use": self.name, **_drop_none(self.options.model_dump(mode="json"))}


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: every plugin known, every option checked."""

    path: Path
    name: str
    seed: int
    resolution: int
    sources: list[Step]
    preprocess: list[Step]
    model: Step
    train: TrainOptions
    render: list[Step]

    @contextmanager
    def blame(self, step: Step):
        """Errors raised inside ``step``'s plugin name the recipe, the section and the plugin."""
        try:
            yield
        except ArtganError as exc:
            raise ArtganError(f"{self.path}: {step.key} ({step.name}): {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """The resolved recipe, defaults filled in, ready for TOML."""
        return {
            "name": self.name, "seed": self.seed, "resolution": self.resolution,
            "source": [s.as_table() for s in self.sources],
            "preprocess": [s.as_table() for s in self.preprocess],
            "model": self.model.as_table(),
            "train": self.train.model_dump(mode="json"),
            "render": [s.as_table() for s in self.render],
        }


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read, override and validate a recipe; any problem is one ArtganError naming file and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtganError(f"{path}: recipe not found; check the path") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArtganError(f"{path}: not valid TOML: {exc}") from None
    return parse_recipe(data, path, overrides)


def parse_recipe(data: dict[str, Any], path: Path, overrides: list[str] = ()) -> Recipe:
    """Validate recipe ``data`` (as read from ``path``) after applying ``key=value`` overrides."""
    for override in overrides:
        apply_override(data, override, path)
    _type_overrides(data, RecipeFile)
    try:
        shape = RecipeFile.model_validate(data)
    except ValidationError as exc:
        raise ArtganError(f"{path}: {_describe(exc)}") from None

    def resolve(kind: str, key: str, section: Section) -> Step:
        try:
            info = plugins.get(kind, section.use)
        except ArtganError as exc:
            raise ArtganError(f"{path}: {key}.use: {exc}") from None
        extra = _type_overrides(dict(section.model_extra or {}), info.cls.Options)
        try:
            options = info.cls.Options.model_validate(extra)
        except ValidationError as exc:
            raise ArtganError(f"{path}: {_describe(exc, prefix=key)}") from None
        return Step(key, section.use, info.cls, options)

    return Recipe(
        path=path, name=shape.name, seed=shape.seed, resolution=shape.resolution,
        sources=[resolve("source", f"source[{i}]", s) for i, s in enumerate(shape.source)],
        preprocess=[resolve("preprocessor", f"preprocess[{i}]", s) for i, s in enumerate(shape.preprocess)],
        model=resolve("model", "model", shape.model),
        train=shape.train,
        render=[resolve("renderer", f"render[{i}]", s) for i, s in enumerate(shape.render)],
    )


def apply_override(data: dict[str, Any], override: str, path: Path) -> None:
    """Set ``a.b.c=value`` in ``data``; list tables take an index (``source.0.count``),
    which may be left out when the list has one entry."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ArtganError(f"--set {override}: expected KEY=VALUE, e.g. --set train.steps=3000")
    parts = key.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        node = _descend(node, part, ".".join(parts[: i + 1]), path)
    last = parts[-1]
    if isinstance(node, list):
        node = _descend(node, None, key, path)
    node[last] = _Override(text)


class _Override(str):
    """A --set value, typed once the schema of its table is known."""


def _type_overrides(table: dict[str, Any], schema: type[BaseModel]) -> dict[str, Any]:
    """Give each --set value in ``table`` the type its field wants: text fields keep the text
    as written (``--set name=2024`` is the name "2024"), others read it as a TOML value."""
    for key, value in table.items():
        field = schema.model_fields.get(key)
        annotation = field.annotation if field else None
        if isinstance(value, _Override):
            parsed = _parse_value(value)
            table[key] = parsed if not _takes_text(annotation) or isinstance(parsed, str) else str(value)
        elif isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _type_overrides(value, annotation)
    return table


def _takes_text(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, (str, PurePath))
    if get_origin(annotation) is Literal:
        return any(isinstance(arg, str) for arg in get_args(annotation))
    return get_origin(annotation) in (Union, UnionType) and any(map(_takes_text, get_args(annotation)))


def _descend(node: Any, part: str | None, where: str, path: Path) -> Any:
    if isinstance(node, list):
        if part is not None and part.isdigit():
            if int(part) >= len(node):
                raise ArtganError(f"{path}: --set {where}: the list has {len(node)} entries")
            return node[int(part)]
        if len(node) != 1:
            raise ArtganError(f"{path}: --set {where}: {len(node)} entries; add the index, e.g. .0.")
        node = node[0]
    if part is None:
        return node
    if not isinstance(node, dict):
        raise ArtganError(f"{path}: --set {where}: not a table")
    return node.setdefault(part, {})


def _parse_value(text: str) -> Any:
    """A TOML value (number, bool, array, quoted string) or, failing that, the bare text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _describe(exc: ValidationError, prefix: str = "") -> str:
    """The first validation error as ``key.path: message``, counting any others."""
    errors = exc.errors()
    first = errors[0]
    loc = _loc(first["loc"], prefix)
    message = "unknown key; remove it or check its spelling" if first["type"] == "extra_forbidden" else first["msg"]
    if "input" in first and first["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {message}{more}"


def _loc(parts: tuple, prefix: str) -> str:
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "recipe"


def _drop_none(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None}
