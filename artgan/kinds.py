"""The values that flow between stages and the base class of each plugin kind."""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from types import UnionType
from typing import (TYPE_CHECKING, Annotated, Any, Callable, ClassVar, Iterable, Iterator, Literal, Union, get_args,
                    get_origin)

from PIL import Image
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationInfo, field_validator,
                      model_validator)

from artgan.errors import ArtganError
from artgan.portable import stored

if TYPE_CHECKING:
    from artgan.recipe import Recipe


@dataclass
class Item:
    """One image on its way into a dataset, with where it came from."""

    image: Image.Image
    origin: str  # a file path, URL, "episode.mp4@12.50s", "shapes#3"…
    info: dict[str, Any] = field(default_factory=dict)  # provenance: source, license, creator…
    steps: list[dict[str, Any]] = field(default_factory=list)  # preprocessors applied, in order

    def derive(self, image: Image.Image, **info: Any) -> Item:
        """A copy holding ``image``, with ``info`` merged into the provenance."""
        return replace(self, image=image, info={**self.info, **info}, steps=list(self.steps))


@dataclass(frozen=True)
class Skipped:
    """An input a source or preprocessor left out, and why (reported, never fatal); ``preview``,
    a small picture of what was left out, goes on the contact sheet of skipped inputs."""

    origin: str
    reason: str
    preview: Image.Image | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Context:
    """What a plugin learns about the run it serves."""

    resolution: int = 64  # side of every training image and of the model's output
    seed: int = 0
    cache_dir: Path | None = None  # a folder kept between runs, keyed by the plugin's options
    device: str = "cpu"
    precision: str = "fp32"  # what a model trains in: fp32, bf16 or fp16 (see artgan.toolkit.precision)

# A seed option: the range torch's generator takes, so a typo of a seed is an option error, not an overflow.
Seed = Annotated[int, Field(ge=-2**63, lt=2**64)]
# A colour option: each channel 0-255, where Pillow would clip a typo such as 300 without a word.
Channel = Annotated[int, Field(ge=0, le=255)]
RGB = tuple[Channel, Channel, Channel]


def _given(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty (an unset variable, as in --set source.0.path=$PICS?); give a path")
    if isinstance(value, (str, PurePath)):
        return type(value)(os.path.expanduser(value))  # as a shell would: a recipe or notebook has no shell
    return value


# A file, folder or pattern the user gives, ~ expanded: an empty text is refused, not read as the
# current folder. Written out (a lock file, a cache key) with "/", so it reads the same on every OS.
GivenPath = Annotated[Path, BeforeValidator(_given), PlainSerializer(stored, return_type=str, when_used="json")]
GivenPattern = Annotated[str, BeforeValidator(_given)]


class NumbersNotBooleans(BaseModel):
    """A schema whose number fields refuse true and false, which pydantic would take as 1 and 0
    (``--set train.steps=true`` is a slip, not one step)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and _numbers_only(cls.model_fields[info.field_name].annotation):
            raise ValueError("expected a number, not true or false")
        return value


def _numbers_only(annotation: Any) -> bool:
    """Whether a field of type ``annotation`` takes numbers and no boolean."""
    kinds = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    kinds = [get_args(kind)[0] if get_origin(kind) is Annotated else kind for kind in kinds]
    takes_bool = any(kind is bool or (get_origin(kind) is Literal and any(isinstance(a, bool) for a in get_args(kind)))
                     for kind in kinds)
    return not takes_bool and any(kind in (int, float) for kind in kinds)


class Options(NumbersNotBooleans):
    """Base of every plugin's options: a recipe section is validated against it. TOML has no
    null, so the text "none" (``--set source.0.every=none``) stands for None in a field that
    takes None and no text."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # TOML's inf and nan: slips, not settings

    @model_validator(mode="before")
    @classmethod
    def _none_from_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: None if value == "none" and _none_not_text(cls.model_fields.get(key)) else value
                for key, value in data.items()}


def _none_not_text(field: Any) -> bool:
    """Whether a field takes None and no text (its "none" can only mean None)."""
    if field is None or get_origin(field.annotation) not in (Union, UnionType):
        return False
    kinds = get_args(field.annotation)
    return type(None) in kinds and not any(
        get_origin(kind) is Literal or (isinstance(kind, type) and issubclass(kind, (str, PurePath))) for kind in kinds)


class Plugin:
    """Shared by all kinds: validated options and the run context."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options

    @staticmethod
    def implementation() -> type[Plugin] | None:
        """For a plugin whose own module must stay light: import and return the subclass that
        holds the code needing heavy imports (torch). Listing plugins and checking recipes touch
        only this class and its Options; building it (or a subclass of it) builds the
        implementation. None (the default): the class is its own implementation."""
        return None

    def __new__(cls, *args, **kwargs):
        return super().__new__(_implemented(cls))

    def __init__(self, options: Options | None = None, context: Context | None = None):
        self.options = options if options is not None else self.Options()
        self.context = context or Context()

    def _missing(self, method: str) -> NotImplementedError:
        """The error of a plugin without ``method``, which its kind needs."""
        return NotImplementedError(f"{described(self)} does not implement "
                                   f"{method}, which every {self.kind} needs")


@functools.cache
def _implemented(cls: type[Plugin]) -> type[Plugin]:
    """The class to build for ``cls``: its implementation, or, for a subclass of the light class
    (a test's or another plugin's variant), that subclass with the implementation mixed in."""
    implementation = cls.implementation()
    if implementation is None or issubclass(cls, implementation):
        return cls
    if issubclass(implementation, cls):
        return implementation
    return type(cls.__name__, (cls, implementation),
                {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})


class Source(Plugin):
    """Yields the images of a dataset."""

    kind = "source"

    def items(self) -> Iterator[Item | Skipped]:
        """Every image as an :class:`Item`; every unusable input as a :class:`Skipped`."""
        raise self._missing("items()")

    def fingerprint(self) -> str | None:
        """A text that changes when the source's input files are added, removed or replaced (a
        built dataset is then rebuilt), cheap to make (stat the files, read none); None, the
        default, when the source has no input files of the user's or cannot see them."""
        return None


class Preprocessor(Plugin):
    """Maps one item to zero or more items. Must be pure and picklable: with ``workers`` > 1 it
    is pickled into spawned worker processes (make heavy resources such as detectors lazily).

    A preprocessor that compares each item with the ones before it (such as dedupe) sets
    ``in_order = True``: the core then gives it every item, in source order, in one process (the
    main one), and the preprocessors after it run there too."""

    kind = "preprocessor"
    in_order: bool = False

    def process(self, item: Item) -> Iterable[Item | Skipped]:
        """The items that ``item`` becomes; an empty result drops it silently."""
        raise self._missing("process(item)")


class Model(Plugin):
    """A GAN: builds its networks for ``context.resolution`` and owns its losses.

    Images are float tensors (B, 3, H, W) in [-1, 1] on ``context.device``.
    """

    kind = "model"
    z_dim: int = 0

    def wrap(self, wrap: Callable[[Any], Any]) -> None:
        """Called by the core once before training. ``wrap(network)`` readies a network for
        training (channels-last, compiled, as [train] asks) and returns the module to train it
        through: DistributedDataParallel when several processes train together (which averages
        its gradients across them), else the network itself. train_step must run every forward pass
        whose gradients update a network's weights through what ``wrap`` returned for it, and
        the others (such as D's during G's update, with D's weights frozen) through the plain
        network; sample() and state_dict() use the plain networks. The default wraps
        ``self.generator`` and ``self.discriminator`` into ``self.g`` and ``self.d``."""
        self.g, self.d = wrap(self.generator), wrap(self.discriminator)

    def train_step(self, real) -> dict[str, Any]:
        """One optimisation step on a batch of real images; returns the losses, as numbers or as
        one-element tensors left on the device (better: the core reads them every
        ``train.metrics_every`` steps, in one copy, while reading a number from a GPU tensor here
        would make every step wait for the device)."""
        raise self._missing("train_step(real)")

    def double_backward(self) -> list[str]:
        """The names of the options, as set, that make training back-propagate through a
        gradient (R1, path length): torch.compile cannot, so the core refuses train.compile with
        them."""
        return []

    def sample(self, z, truncation: float = 1.0):
        """Images (B, 3, H, W), H = W = ``context.resolution``, for latents ``z`` (B, z_dim), without gradients."""
        raise self._missing("sample(z, truncation)")

    def state_dict(self) -> dict[str, Any]:
        """Weights and optimiser state as plain tensors and numbers (no pickled code)."""
        raise self._missing("state_dict()")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        raise self._missing("load_state_dict(state)")

    def init_from(self, state: dict[str, Any]) -> None:
        """Start a new run from the weights in ``state`` (what :meth:`state_dict` returned for a
        model of the same kind and resolution, maybe trained on other data): load the networks
        and any averaged copy, keep fresh optimisers and counters. ``train.init_from`` calls it.
        Weights of other shapes raise torch's RuntimeError; the core explains which options differ.
        """
        raise ArtganError("this model cannot start from a checkpoint (it does not implement init_from)")

    def optimizers(self) -> list[Any]:
        """The model's torch optimisers, whose learning rates the core ramps down at the end of a
        run when ``train.lr_ramp_down`` asks for it."""
        raise ArtganError("this model cannot ramp its learning rates down (it does not implement "
                          "optimizers); leave train.lr_ramp_down at 0")


class Renderer(Plugin):
    """Turns a run folder or a checkpoint into pictures or films."""

    kind = "renderer"
    # Whether it runs a model. Only then does the core pick ``context.device``, which imports
    # torch (1.6 s): renderers of snapshots, metrics or text set False and start without it.
    uses_model: ClassVar[bool] = True

    @classmethod
    def check_recipe(cls, options: Options, recipe: Recipe) -> None:
        """Raise an ArtganError when ``options``, a [[render]] step of ``recipe``, cannot render the
        run the recipe trains (timelapse's ``samples`` past ``train.grid`` squared): the recipe then
        stops as it loads, not after training. The default accepts any options."""

    def render(self, target: Path) -> list[Path]:
        """Write files for ``target`` (a run folder or a checkpoint); return their paths."""
        raise self._missing("render(target)")


def described(plugin: object) -> str:
    """A plugin object's class and the file that defines it, as errors name it: ``Greedy (/x/greedy.py)``."""
    return f"{type(plugin).__qualname__} ({defined_in(type(plugin))})"


def defined_in(cls: type) -> str:
    """The file that defines plugin class ``cls``, or its module."""
    try:
        return inspect.getsourcefile(cls) or cls.__module__
    except (TypeError, OSError):  # a class made at a prompt or in a notebook cell
        return cls.__module__


KINDS: dict[str, type[Plugin]] = {
    cls.kind: cls for cls in (Source, Preprocessor, Model, Renderer)
}
