"""Running one renderer by name with its options given as text, as `artgan render` does."""
from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from artgan import plugins
from artgan.errors import ArtganError, PluginError
from artgan.kinds import Context, Options, defined_in
from artgan.recipe import typed_value  # read exactly as recipe --set values are


def targets_option(cls: type) -> str | None:
    """The option of renderer ``cls`` that takes every target after the first (compare's ``runs``).

    A renderer opts in with a class attribute ``targets_option = "NAME"``; others take one target.
    """
    return getattr(cls, "targets_option", None)


def is_flag(field: FieldInfo) -> bool:
    """Whether an option is a yes/no switch (``--loop`` / ``--no-loop`` on the command line)."""
    return _unwrap(field.annotation) is bool


def metavar(field: FieldInfo) -> str:
    """How an option's value looks in help: INT, NUMBER, PATH, TEXT, a|b|c or INT,..."""
    kind = _unwrap(field.annotation)
    if typing.get_origin(kind) is typing.Literal:
        return "|".join(map(str, typing.get_args(kind)))
    if typing.get_origin(kind) in (list, tuple, set):
        items = typing.get_args(kind)
        return f"{metavar(FieldInfo(annotation=items[0] if items else str))},..."
    return {int: "INT", float: "NUMBER", Path: "PATH"}.get(kind, "TEXT")


def flag(name: str) -> str:
    """The command-line spelling of option ``name``: ``strip_size`` -> ``--strip-size``; an option
    named ``help`` is ``--help-option``, as ``--help`` always shows the help."""
    return "--help-option" if name == "help" else "--" + name.replace("_", "-")


def command_line(name: str, target: Path, options: Options) -> list[str]:
    """The `artgan render` command that runs renderer ``name`` on ``target`` with the options a
    recipe gave it (the others keep their defaults)."""
    words = ["artgan", "render", name, str(target)]
    extra = targets_option(plugins.get("renderer", name).cls)
    for key, value in options.model_dump(mode="json", include=options.model_fields_set).items():
        if key == extra:  # more targets, after the first
            words[4:4] = map(str, value)
        elif isinstance(value, bool):
            words.append(flag(key) if value else f"--no-{flag(key)[2:]}")
        elif isinstance(value, list):
            words += [flag(key), ",".join(map(str, value))]
        elif value is not None:
            words += [flag(key), str(value)]
    return words


def options_from_text(cls: type[Options], given: dict[str, Any]) -> Options:
    """Validate options typed on the command line: values are TOML literals or bare text, and
    list options also take comma-separated values (``3,17,42``). ``None`` means not given."""
    fields = cls.model_fields
    data = {name: _from_text(fields[name].annotation, value) if isinstance(value, str) else value
            for name, value in given.items() if value is not None}
    return validate_options(cls, data, flag)


def validate_options(cls: type[Options], data: dict[str, Any], spell: Callable[[str], str] = str) -> Options:
    """``cls`` validated from ``data``; a bad value is an ArtganError naming the option as
    ``spell`` writes it (``--strip-size`` on the command line, ``strip_size`` in Python)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule about several options names them itself
            raise ArtganError(message) from None
        got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
        raise ArtganError(f"{spell(str(error['loc'][0]))}: {message}{got}") from None


def render(name: str, targets: list[Path], given: dict[str, Any], device: str = "auto") -> list[Path]:
    """Run renderer ``name`` on ``targets`` with command-line options ``given``; returns its files."""
    info = plugins.get("renderer", name)
    first, *rest = targets
    extra = targets_option(info.cls)
    if rest and extra is None:
        raise ArtganError(f"{name} renders one target at a time; got {len(targets)}")
    if extra is not None:
        given = {**given, extra: [str(path) for path in rest]}
    return files_written(name, info.cls, _render(info.cls, first, options_from_text(info.cls.Options, given), device))


def render_typed(name: str, target: Path, options: dict[str, Any], device: str = "auto") -> list[Path]:
    """Run renderer ``name`` on ``target`` with ``options`` given as Python values (the API's
    ``Run.render``, a recipe's [[render]] step); returns its files."""
    cls = plugins.get("renderer", name).cls
    return files_written(name, cls, _render(cls, target, validate_options(cls.Options, options), device))


def files_written(name: str, cls: type, returned: Any) -> list[Path]:
    """The files renderer ``name`` (class ``cls``) returned from ``render``, as paths; a
    PluginError naming it unless they are a list of paths of files that exist."""
    if not isinstance(returned, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in returned):
        shown = repr(returned) if isinstance(returned, (str, os.PathLike)) else f"{returned!r:.80}"  # a path whole
        raise PluginError(f"the renderer plugin {name!r} ({defined_in(cls)}) returned {shown} "
                          "from render(); return a list of the paths of the files it wrote, as [out]")
    missing = [str(path) for path in returned if not Path(path).exists()]
    if missing:
        raise PluginError(f"the renderer plugin {name!r} ({defined_in(cls)}) returned files that do "
                          f"not exist: {', '.join(missing)}; return the paths of the files it wrote")
    return [Path(path) for path in returned]


def _render(cls: type, target: Path, options: Options, device: str) -> list[Path]:
    if not cls.uses_model:
        return cls(options, Context()).render(target)
    from artgan.device import pick_device  # here: torch only when a model runs, not for --help

    return cls(options, Context(device=pick_device(device))).render(target)


def _from_text(annotation: Any, text: str) -> Any:
    kind = _unwrap(annotation)
    if typing.get_origin(kind) in (list, tuple, set) and not text.lstrip().startswith("["):
        items = typing.get_args(kind)
        return [_from_text(items[0] if items else Any, part.strip()) for part in text.split(",")]
    return typed_value(text, annotation)


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation
