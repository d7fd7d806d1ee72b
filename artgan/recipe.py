"""Recipes: TOML files that name the plugins of each stage and their options."""
from __future__ import annotations

import difflib
import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from types import UnionType
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence, Union, get_args, get_origin

import tomli_w
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from artgan import plugins
from artgan.errors import ArtganError
from artgan.kinds import Context, GivenPath, NumbersNotBooleans, Options, Plugin, Seed
from artgan.portable import name_key, name_problem, read_stored
from artgan.runfolder import LOCK_FILE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # recipe names and sweep labels: safe in folder names
REQUIRED = "<required>"  # a value the recipe leaves to the user, who gives it with --set


def _portable(name: str) -> str:
    """``name``, if every OS takes it as a folder name (it names data/NAME and runs/NAME)."""
    if problem := name_problem(name):
        raise ValueError(f"{problem}; choose another name")
    return name


class TrainOptions(NumbersNotBooleans):
    """The [train] table: how the core trains any model."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(2000, ge=0, description="training steps (one batch each)")
    batch_size: int = Field(64, ge=1, description="real images per step")
    snapshot_every: int = Field(100, ge=1, description="steps between snapshots of the fixed sample grid")
    metrics_every: int = Field(10, ge=1, description="steps averaged into each line of metrics.jsonl; the losses "
                                                     "are read from the device this often (and before checkpoints)")
    checkpoint_every: int = Field(1000, ge=1, description="steps between checkpoints")
    keep_checkpoints: int = Field(5, ge=0, description="newest checkpoints kept (0 keeps all), the one "
                                                       "of the snapshot whose samples were most varied, "
                                                       "and those other runs started from")
    grid: int = Field(8, ge=1, le=32, description="snapshots show grid x grid fixed samples")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="where to train; auto picks CUDA, then MPS, then the CPU")
    nan_retries: int = Field(3, ge=0, description="rollbacks to the last checkpoint when a loss turns NaN/inf")
    log_every: float = Field(10.0, gt=0, description="seconds between plain progress lines")
    lr_ramp_down: float = Field(
        0.0, ge=0, le=1, description="fraction of the run, at its end, over which every learning rate falls "
                                     "linearly to zero: G settles instead of drifting, so its last samples "
                                     "spread like the data (0: constant rates)")
    init_from: GivenPath | None = Field(
        None, description="a checkpoint (.pt) of the same model kind and resolution whose weights the run "
                          "starts from instead of random ones (a starting point; see `artgan starting-points`)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="number format of the training passes: auto picks bf16 on GPUs of compute "
                            "capability 8.0 and up (fp16 with loss scaling on older ones) and on CPUs with native bf16 "
                            "(avx512_bf16 or AMX), fp32 elsewhere; weights, optimisers and losses stay fp32")
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="keep images channels-last in memory, which speeds up convolutions; "
                            "auto: on CPUs and CUDA GPUs")
    compile: bool = Field(False, description="compile the networks with torch.compile: minutes of start-up; "
                                             "off by default, as it did not pay off on a CPU; refused with "
                                             "penalties that take a gradient of a gradient (R1, path length)")
    threads: int | Literal["auto"] = Field(
        "auto", description="CPU threads of the training passes; auto: on the CPU, the first steps are timed "
                            "with 1, 2, 4… threads up to the cores, and the fastest is kept (on a busy "
                            "machine one thread can be several times faster than all of them)")

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, value):
        if isinstance(value, int) and value < 1:
            raise ValueError("threads must be 1 or more, or auto")
        return value


class Section(BaseModel):
    """A plugin section: ``use`` names the plugin, every other key is one of its options."""

    model_config = ConfigDict(extra="allow")
    use: str


class RecipeFile(NumbersNotBooleans):
    """The shape of a recipe file, before plugin options are checked."""

    model_config = ConfigDict(extra="forbid")
    # max_length: the folders named after it (data/.NAME.building…) stay within a file name's 255 bytes
    name: Annotated[str, AfterValidator(_portable)] = Field(
        pattern=NAME, max_length=128, description="names the dataset folder data/NAME and the run folder runs/NAME")
    seed: Seed = Field(0, description="seed of every random choice in the run")
    resolution: int = Field(64, ge=8, le=4096, description="side of the training images and of the model's output")
    workers: int = Field(1, ge=1, description="processes that run the preprocessors; 1 runs them in this process")
    source: list[Section] = Field(min_length=1, description="where images come from")
    preprocess: list[Section] = Field(default_factory=list, description="what is done to each image, in order")
    model: Section
    train: TrainOptions = Field(default_factory=TrainOptions)
    render: list[Section] = Field(default_factory=list, description="pictures and films made after training")
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict, description="run the recipe once per position in these lists: dotted keys as "
                                          "for --set, lists of equal length taken together; `labels` names "
                                          "the runs NAME-LABEL")


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
        return {"use": self.name, **_options_table(self.options)}

    def read_now(self, table: dict[str, Any]) -> dict[str, Any]:
        """``table``, this plugin's section as an older run recorded it (in a checkpoint), as the
        installed plugin reads it: with the options added to it since at their defaults. As given
        when it is another plugin's, or no longer validates (an option since removed)."""
        if table.get("use") != self.name:
            return table
        try:
            options = type(self.options).model_validate({k: v for k, v in table.items() if k != "use"})
        except ValidationError:
            return table
        return {"use": self.name, **_options_table(options)}


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: every plugin known, every option checked."""

    path: Path
    name: str
    dataset: str  # the folder data/DATASET; sweep runs share their recipe's when they can
    seed: int
    resolution: int
    sources: list[Step]
    preprocess: list[Step]
    model: Step
    train: TrainOptions
    render: list[Step]
    workers: int = 1  # processes running the preprocessors; the dataset does not depend on it
    sweep: dict[str, list[Any]] = field(default_factory=dict)  # the [sweep] table, keys dotted

    @contextmanager
    def blame(self, step: Step):
        """Errors raised inside ``step``'s plugin name the recipe, the section and the plugin: in
        the one-line message of an ArtganError, in a note under the traceback of any other."""
        try:
            yield
        except ArtganError as exc:
            raise ArtganError(f"{self.path}: {step.key} ({step.name}): {exc}") from None
        except Exception as exc:
            if sys.version_info >= (3, 11):  # add_note is new in 3.11; 3.10 shows the bare traceback
                exc.add_note(f"raised by the {step.plugin.kind} plugin {step.name!r} in {self.path}: {step.key}")
            raise

    def as_dict(self) -> dict[str, Any]:
        """The resolved recipe, defaults filled in, ready for TOML."""
        table = {
            "name": self.name, "seed": self.seed, "resolution": self.resolution, "workers": self.workers,
            "source": [s.as_table() for s in self.sources],
            "preprocess": [s.as_table() for s in self.preprocess],
            "model": self.model.as_table(),
            "train": _drop_none(self.train.model_dump(mode="json")),
            "render": [s.as_table() for s in self.render],
        }
        return {**table, "sweep": self.sweep} if self.sweep else table

    def as_toml(self) -> str:
        """The resolved recipe as a recipe file would say it (what ``artgan run --dry-run`` prints):
        every option on one line, arrays and tables inline; it loads back as this recipe."""
        table = self.as_dict()
        sections = {key: value for key, value in table.items() if isinstance(value, dict) or _is_tables(value)}
        lines = [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in table.items() if key not in sections]
        for key, value in sections.items():
            for entry in value if isinstance(value, list) else [value]:
                header = f"[[{key}]]" if isinstance(value, list) else f"[{key}]"
                lines += ["", header, *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items())]
        return "\n".join(lines) + "\n"

    def dataset_spec(self) -> dict[str, Any]:
        """Everything that shapes the dataset's images."""
        return {"resolution": self.resolution, "seed": self.seed,
                "source": [s.as_table() for s in self.sources],
                "preprocess": [s.as_table() for s in self.preprocess]}


def load_recipe(path: str | Path, overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None) -> Recipe:
    """Read, override and validate a recipe; any problem is one ArtganError naming file and key.
    ``overrides`` are --set texts (``train.steps=3000``); ``values`` the same as Python values
    (``{"train.steps": 3000}``), applied after them."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a file Notepad saved with a BOM
    except FileNotFoundError:
        raise ArtganError(f"{path}: recipe not found; check the path") from None
    except IsADirectoryError:
        raise ArtganError(f"{path}: a folder, not a recipe; give a recipe .toml file or a bundled recipe's name") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArtganError(f"{path}: not valid TOML: {exc}") from None
    # A run's lock is its recipe, resolved, and a [lock] table naming the dataset folder it trained
    # on (a sweep run's is its recipe's, not one of its own name).
    locked = data.pop("lock", None) if path.name == LOCK_FILE else None
    trained_on = locked.get("dataset") if isinstance(locked, dict) else None
    recipe = parse_recipe(data, path, overrides, values)
    return replace(recipe, dataset=read_stored(trained_on).name) if isinstance(trained_on, str) else recipe


def parse_recipe(data: dict[str, Any], path: Path, overrides: Sequence[str] = (),
                 values: Mapping[str, Any] | None = None) -> Recipe:
    """Validate recipe ``data`` (as read from ``path``) after applying ``key=value`` overrides
    and ``values`` (dotted key: Python value). An error in a key given with --set (or set=)
    blames that --set, not the file."""
    overrides = [overrides] if isinstance(overrides, str) else overrides  # one --set text, not its letters
    given = {apply_override(data, override, path): f"--set {override}" for override in overrides}
    given |= {set_key(data, key, value, path, "set"): f"set {key}={value!r}" for key, value in _set_items(values)}

    def blame(loc: tuple) -> str:
        """Who gave the value at ``loc``: the --set that covers it, else the file."""
        # the --set of that key or of one inside it (--set source.x.count=5 made source[0].x)
        covering = [origin for where, origin in given.items() if where[:len(loc)] == loc[:len(where)]]
        return covering[-1] if covering else str(path)

    _type_overrides(data, RecipeFile)
    if isinstance(data.get("sweep"), dict):  # keys written unquoted (train.steps = [...]) nest in TOML
        data["sweep"] = _flatten(data["sweep"])
    _check_required(data, path)
    try:
        shape = RecipeFile.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, RecipeFile, (), blame) from None
    _check_sweep(shape.sweep, path)

    def resolve(kind: str, key: str, section: Section) -> Step:
        loc = _loc_of(key)
        try:
            info = plugins.get(kind, section.use)
        except ArtganError as exc:
            raise ArtganError(f"{blame(loc + ('use',))}: {key}.use: {exc}") from None
        try:
            options = plugin_options(info.cls, section.model_extra or {}, loc, blame)
        except ArtganError as exc:
            changed_by = blame(loc + ("use",))
            if changed_by != str(path) and "unknown key" in str(exc):  # another plugin than the file's
                raise ArtganError(f"{exc}; {changed_by} chose another plugin than the file's, whose {key} "
                                  f"keys are for its own: copy the recipe and rewrite its {key} for "
                                  f"{section.use} (`artgan plugins {section.use}` lists its options)") from None
            raise
        return Step(key, section.use, info.cls, options)

    recipe = Recipe(
        path=path, name=shape.name, dataset=shape.name, seed=shape.seed, resolution=shape.resolution,
        sources=[resolve("source", f"source[{i}]", s) for i, s in enumerate(shape.source)],
        preprocess=[resolve("preprocessor", f"preprocess[{i}]", s) for i, s in enumerate(shape.preprocess)],
        model=resolve("model", "model", shape.model),
        train=shape.train,
        render=[resolve("renderer", f"render[{i}]", s) for i, s in enumerate(shape.render)],
        workers=shape.workers,
        sweep=shape.sweep,
    )
    if not recipe.sweep:  # a sweep's runs are checked each, as expand_sweep parses them
        for step in recipe.render:  # options that cannot work on the run stop it now, not after training
            with recipe.blame(step):
                step.plugin.check_recipe(step.options, recipe)
    expand_sweep(recipe)  # a swept key or value its runs would refuse stops the load, not a run
    return recipe


def plugin_options(cls: type[Plugin], table: dict[str, Any], loc: tuple, blame: Callable[[tuple], str]) -> Options:
    """The options of plugin ``cls`` from a recipe section's keys ``table`` (at location ``loc``;
    text from --set typed by the schema); an error is one line naming ``blame(location)``, who
    gave the value, and the key."""
    try:
        return cls.Options.model_validate(_type_overrides(dict(table), cls.Options))
    except ValidationError as exc:
        raise _invalid(exc, cls.Options, loc, blame) from None


def apply_override(data: dict[str, Any], override: str, path: Path) -> tuple:
    """Set ``a.b.c=value`` in ``data``; list tables take an index (``source.0.count``),
    which may be left out when the list has one entry. Returns where it went, as a
    validation error's location: ``("source", 0, "count")``."""
    key, sep, text = override.partition("=") if isinstance(override, str) else ("", "", "")
    if not sep or not key.strip():
        raise ArtganError(f"--set {override}: expected KEY=VALUE, e.g. --set train.steps=3000")
    return set_key(data, key.strip(), _Override(text), path, "--set")


def _set_items(values: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """The (dotted key, value) pairs of a ``set=`` mapping, checked: a list or a key that is not text
    is an ArtganError saying the form it takes."""
    form = 'a dict of dotted keys and values, e.g. set={"train.steps": 300}'
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise ArtganError(f"set={values!r}: expected {form}")
    for key in values:
        if not isinstance(key, str) or not key.strip():
            raise ArtganError(f"set key {key!r}: expected {form}")
    # {"train": {"steps": 5}} sets train.steps, as TOML nesting would: it does not replace [train]
    return list(_flatten(dict(values)).items())


def set_key(data: dict[str, Any], key: str, value: Any, path: Path, origin: str) -> tuple:
    """Set the dotted ``key`` of recipe ``data`` to ``value``, as ``--set`` does; ``origin``
    ("--set", "sweep") says in errors where the key came from. Returns the key's location,
    list indexes included."""
    parts = key.split(".")
    node: Any = data
    loc: list = []
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            loc.append(int(part) if part.isdigit() else 0)
        if not (isinstance(node, list) and part.isdigit()):
            loc.append(part)
        node = _descend(node, part, f"{origin} {'.'.join(parts[: i + 1])}", path)
    if isinstance(node, list):
        loc.append(0)
        node = _descend(node, None, f"{origin} {key}", path)
    node[parts[-1]] = value
    return tuple(loc + [parts[-1]])


class _Override(str):
    """A --set value, typed once the schema of its table is known."""


def _type_overrides(table: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Give each --set value in ``table`` (of type ``schema``: a model, a ``dict[K, V]``, or
    None for any) the type its place wants: text fields keep the text as written (``--set
    name=2024`` is the name "2024"), others read it as a TOML value."""
    for key, value in table.items():
        annotation = _value_type(schema, key)
        if isinstance(value, _Override):
            table[key] = typed_value(str(value), annotation)
        elif isinstance(value, dict):
            _type_overrides(value, annotation)
    return table


def _value_type(schema: Any, key: str) -> Any:
    """The type of the value at ``key`` in a table of type ``schema`` (None: any)."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        field = schema.model_fields.get(key)
        return field.annotation if field else None
    return get_args(schema)[1] if get_origin(schema) is dict else None


def typed_value(text: str, annotation: Any) -> Any:
    """``text`` as a field of type ``annotation`` wants it: a text field keeps the text as
    written (a file named 2024), any other reads it as a TOML value."""
    parsed = _parse_value(text)
    return text if _takes_text(annotation) and not isinstance(parsed, str) else parsed


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
                raise ArtganError(f"{path}: {where}: the list has {len(node)} entries")
            return node[int(part)]
        if len(node) != 1:
            raise ArtganError(f"{path}: {where}: {len(node)} entries; add the index, e.g. .0.")
        node = node[0]
    if part is None:
        return node
    if not isinstance(node, dict):
        raise ArtganError(f"{path}: {where}: not a table")
    inner = node.setdefault(part, {})
    if not isinstance(inner, (dict, list)):
        raise ArtganError(f"{where}: is a value ({inner!r}), not a table; set it as a whole")
    return inner


def expand_sweep(recipe: Recipe) -> list[tuple[str, Recipe]]:
    """The runs of ``recipe``'s [sweep]: for each position i, (label, the recipe with value i of
    every swept key set as --set would, named NAME-LABEL). Runs whose images would be the same as
    the recipe's share its dataset folder. Empty without a sweep."""
    if not recipe.sweep:
        return []
    keys = {key: values for key, values in recipe.sweep.items() if key != "labels"}
    labels = recipe.sweep.get("labels") or _labels(keys)
    variants = []
    for i, label in enumerate(labels):
        data = recipe.as_dict()
        del data["sweep"]
        for key, values in keys.items():
            set_key(data, key, values[i], recipe.path, "sweep")
        data["name"] = f"{recipe.name}-{label}"
        try:
            variant = parse_recipe(data, recipe.path)
        except ArtganError as exc:
            raise ArtganError(f"{exc} (in sweep run {label})") from None
        if variant.dataset_spec() == recipe.dataset_spec():
            variant = replace(variant, dataset=recipe.dataset)
        variants.append((label, variant))
    return variants


def _labels(keys: dict[str, list[Any]]) -> list[str]:
    """Run labels when [sweep] has none: the swept values joined by "-" (a file by its stem), or
    the positions 0, 1… when those are not distinct names."""
    count = len(next(iter(keys.values())))
    labels = ["-".join(_label(values[i]) for values in keys.values()) for i in range(count)]
    if len(set(map(name_key, labels))) == count and all(re.fullmatch(NAME, label) for label in labels):
        return labels
    return [str(i) for i in range(count)]


def _label(value: Any) -> str:
    if isinstance(value, str):
        return read_stored(value).stem  # "runs/cats/checkpoints/step-0004000.pt" -> "step-0004000"
    return json.dumps(value) if isinstance(value, (bool, int, float)) else ""


def required_keys(data: Any, prefix: str = "") -> dict[str, Any]:
    """The dotted keys (as --set takes them) of recipe ``data`` whose value is REQUIRED, or
    [REQUIRED] for a list the user gives, each with that value."""
    if data == REQUIRED or data == [REQUIRED]:
        return {prefix: data}
    entries = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    found: dict[str, Any] = {}
    for key, value in entries:
        found.update(required_keys(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def _check_required(data: dict[str, Any], path: Path) -> None:
    """Stop, naming the --set keys, when values the recipe leaves to the user are not given."""
    missing = required_keys(data)
    if missing:
        hints = " ".join(f"--set '{key}=[\"...\"]'" if isinstance(marker, list) else f"--set {key}=..."
                         for key, marker in missing.items())
        verb = "is" if len(missing) == 1 else "are"
        raise ArtganError(f"{path}: {' and '.join(missing)} {verb} for you to give: add {hints}")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"steps": [...]}} -> {"train.steps": [...]}."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_sweep(sweep: dict[str, list[Any]], path: Path) -> None:
    if not sweep:
        return
    keys = [key for key in sweep if key != "labels"]
    if not keys:
        raise ArtganError(f'{path}: sweep: no key to sweep; add one, e.g. "model.aug" = ["none", "ada"]')
    for key in keys:
        if key.split(".")[0] in ("name", "sweep"):
            raise ArtganError(f"{path}: sweep.{key}: cannot be swept; runs are named NAME-LABEL (see labels)")
    lengths = {key: len(values) for key, values in sweep.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        counts = ", ".join(f"{key} has {n}" for key, n in lengths.items())
        raise ArtganError(f"{path}: sweep: every list needs the same number of values, one per run ({counts})")
    labels = sweep.get("labels")
    if labels is not None:
        bad = [label for label in labels if not isinstance(label, str) or not re.fullmatch(NAME, label)]
        if bad:
            raise ArtganError(f"{path}: sweep.labels: {bad[0]!r} cannot be part of a run name; use letters, "
                              "digits, '.', '_' and '-'")
        if len(set(map(name_key, labels))) != len(labels):  # runs/NAME-A and runs/NAME-a: one folder on macOS and Windows
            raise ArtganError(f"{path}: sweep.labels: two runs have the same label (letter case aside, as macOS "
                              "and Windows see names); make them differ")


def _parse_value(text: str) -> Any:
    """A TOML value (number, bool, array, quoted string) or, failing that, the bare text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _invalid(exc: ValidationError, schema: type[BaseModel], prefix: tuple, blame) -> ArtganError:
    """The first validation error as ``FILE or --set: key.path: message``, counting any others;
    a misspelt key gets the closest known one. ``schema`` was validated at ``prefix``."""
    errors = exc.errors()
    # a misspelt key also leaves the key it meant missing: name the misspelling, which says both
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    at = _field_loc(schema, first["loc"])
    loc = prefix + at
    if first["type"] == "extra_forbidden":
        known = _keys_at(schema, first["loc"][:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        message = f'unknown key; did you mean "{close[0]}"?' if close else \
            "unknown key; remove it or check its spelling"
    else:  # a field of several types fails once per type: one message, "or" between them
        message = " or ".join(dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errors
                                            if _field_loc(schema, e["loc"]) == at))
    if "input" in first and first["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {first['input']!r})"
    others = len({_field_loc(schema, e["loc"]) for e in errors}) - 1
    more = f" (and {others} more)" if others else ""
    return ArtganError(f"{blame(loc)}: {_loc(loc)}: {message}{more}")


def _field_loc(schema: type[BaseModel], loc: tuple) -> tuple:
    """A validation error's location without the name of the type it tried, which pydantic
    appends for a field of several types (``train.threads.int``)."""
    loc = tuple(loc)
    if len(loc) > 1 and isinstance(loc[-1], str) and not _keys_at(schema, loc[:-1]) \
            and loc[-2] in _keys_at(schema, loc[:-2]):
        return loc[:-1]
    return loc


def _keys_at(schema: Any, parts: tuple) -> list[str]:
    """The option names of the table at ``parts`` inside model ``schema``."""
    for part in parts:
        if isinstance(part, int):
            continue
        field = schema.model_fields.get(part) if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        if field is None:
            return []
        schema = field.annotation
        if get_origin(schema) is list:
            schema = get_args(schema)[0]
    return list(schema.model_fields) if isinstance(schema, type) and issubclass(schema, BaseModel) else []


def _loc(parts: tuple) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "recipe"


def _options_table(options: Options) -> dict[str, Any]:
    """Plugin options as a TOML table: None left out where it is the default, written "none"
    elsewhere (TOML has no null; Options reads "none" back as None)."""
    fields = type(options).model_fields
    return {key: "none" if value is None else value for key, value in options.model_dump(mode="json").items()
            if value is not None or fields[key].default is not None}


def _loc_of(key: str) -> tuple:
    """``source[0]`` as a location: ``("source", 0)``."""
    name, _, index = key.partition("[")
    return (name, int(index.rstrip("]"))) if index else (name,)


def _is_tables(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of tables ([[source]]…); an empty one is written ``[]``."""
    return isinstance(value, list) and bool(value) and all(isinstance(entry, dict) for entry in value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    """``value`` as inline TOML on one line: ``[1.0, 1.0]``, ``{}``, ``{ "a.mp4" = [0.0, 5.0] }``."""
    if isinstance(value, dict):
        pairs = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{ {pairs} }}" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):-1]  # a string, number or boolean, escaped as TOML wants


def _drop_none(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None}
