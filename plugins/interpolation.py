"""Renderer "interpolation": a film walking through a trained model's latent space.

torch is imported inside the functions that sample (listing plugins and --help stay free of it).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator, Literal

import numpy as np
from pydantic import Field, model_validator

import artgan
from artgan import film
from artgan.credits import end_card
from artgan.kinds import Model, Seed

if TYPE_CHECKING:
    from artgan.sampling import CoreShare

DEFAULT_FRAMES = 60  # per transition, when neither frames nor seconds is given
FILM_SIZE = 512  # pixels: a size people watch on a screen, not a 32 px model's thumbnail
DAY = 86_400  # seconds: the longest film asked for at once; a number beyond it is a slip of the keyboard
DAY_AT_120_FPS = DAY * 120  # frames: the most one transition may have


class InterpolationOptions(film.FilmOptions):
    size: int = Field(FILM_SIZE, ge=16, le=film.MAX_FILM,
                      description=f"side of the film in pixels ({FILM_SIZE} by default, whatever the model's "
                                  f"resolution): the picture of all grid x grid walks is scaled to it; "
                                  f"for a small model, grid 2 to 4 fills it with walks instead of a few "
                                  f"big pixels")
    smooth: bool = Field(True, description="scale smoothly (Lanczos); no: show the model's pixels as crisp "
                                           "blocks (nearest neighbour)")
    mode: Literal["slerp", "lerp", "noise-loop"] = Field(
        "slerp", description="slerp or lerp: from keyframe to keyframe along an arc or a straight line; "
                             "noise-loop: a smooth closed random curve")
    seeds: list[Seed] | None = Field(
        None, min_length=2, max_length=1000, description="keyframes: the latents of these seeds, the pictures "
                                        "`artgan sample --seed S --n G*G` writes (default: random)")
    keyframes: int = Field(4, ge=2, le=1000, description="how many random keyframes when seeds are not given "
                                                         "(noise-loop: how many circles make its curve)")
    seed: Seed = Field(0, description="seed of the random keyframes and of the noise loop")
    loop: bool = Field(False, description="end by going back to the first keyframe, so the film loops "
                                          "seamlessly (noise-loop always loops)")
    easing: Literal["linear", "ease-in-out"] = Field(
        "linear", description="speed between keyframes: constant, or slowing into and out of each one")
    frames: int | None = Field(None, ge=1, le=DAY_AT_120_FPS, description=f"frames per transition between keyframes "
                                                       f"(default {DEFAULT_FRAMES}); or give seconds")
    seconds: float | None = Field(None, gt=0, le=DAY, description="length of the whole film; or give frames")
    grid: int = Field(1, ge=1, le=16, description="show grid x grid walks at once, each through its own "
                                                  "latents")
    truncation: float = Field(1.0, gt=0, description="pull samples toward the average (below 1), for models "
                                                     "that support it")
    batch_size: int = Field(32, ge=1, le=4096, description="samples generated at once; memory grows with this, "
                                                  "not with the film's length")
    out: film.FilmPath | None = Field(None, description="mp4 to write (default: interpolation.mp4 in the run folder)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.frames is not None and self.seconds is not None:
            raise ValueError("give frames (per transition) or seconds (whole film), not both")
        if self.seeds is not None and self.mode == "noise-loop":
            raise ValueError("noise-loop draws its own random curve from seed; leave out seeds")
        return self


class Interpolation(artgan.Renderer):
    """A film that walks through the latent space of a checkpoint (or a run's newest one)."""

    Options = InterpolationOptions

    def render(self, target):
        from artgan import sampling  # torch: imported when sampling, not when plugins are listed

        o = self.options
        payload, path, folder = sampling.open_checkpoint(target)
        out = o.out or sampling.default_out(path, folder, "interpolation.mp4")
        cores = sampling.CoreShare(self.context.device)

        def made() -> Iterator[np.ndarray]:  # the model is built while ffmpeg starts
            model = sampling.model_of(payload, path, self.context.device)
            yield from self.frames(model, Walk.build(model, o), cores)

        side = payload["resolution"] * o.grid
        with cores:
            return film.write_film(made(), out, o.fps, gif=o.gif, hold=o.hold_frames, total=frame_count(o),
                                   label="interpolation", size=o.size, smooth=o.smooth, shape=(side, side),
                                   **end_card([folder], o))

    def frames(self, model: Model, walk: Walk, cores: CoreShare) -> Iterator[np.ndarray]:
        """Every frame at the model's resolution (the film writer scales them), generated
        ``batch_size`` samples at a time on the cores ``cores`` gives."""
        for images in cores.paced(self._batches(model, walk)):
            yield from tiled(images, self.options.grid)

    def _batches(self, model: Model, walk: Walk) -> Iterator[np.ndarray]:
        """The samples of every frame's walks, frame after frame, about ``batch_size`` at a time."""
        import torch

        from artgan import sampling

        o = self.options
        step = max(1, o.batch_size // (o.grid * o.grid))
        for start in range(0, walk.length, step):
            times = torch.arange(start, min(start + step, walk.length))
            z = walk.latents(times).reshape(-1, model.z_dim)  # (frames * walks, z_dim), frame-major
            [images] = sampling.generate(model, z, o.truncation, batch_size=len(z))
            yield images


class Walk:
    """A path through latent space: frame number -> one latent per walk of the grid."""

    def __init__(self, anchors: torch.Tensor, length: int, mode: str, loop: bool, easing: str):
        self.anchors = anchors  # (K, walks, z_dim): keyframes, or noise-loop directions
        self.length, self.mode, self.loop, self.easing = length, mode, loop, easing

    @classmethod
    def build(cls, model: Model, o: InterpolationOptions) -> Walk:
        import torch

        from artgan import sampling

        walks = o.grid * o.grid
        if o.mode == "noise-loop":
            seeds = [o.seed + i for i in range(2 * o.keyframes)]  # a cosine and a sine direction per circle
        else:
            seeds = o.seeds or [o.seed + i for i in range(o.keyframes)]
        # (K, walks, z_dim): keyframe k of walk w is sample w of `artgan sample --seed seeds[k] --n walks`
        anchors = torch.stack([sampling.latents(model, walks, seed) for seed in seeds])
        return cls(anchors, frame_count(o), o.mode, o.loop or o.mode == "noise-loop", o.easing)

    def latents(self, times: torch.Tensor) -> torch.Tensor:
        """Latents (len(times), walks, z_dim) at frame numbers ``times``."""
        import torch

        if self.mode == "noise-loop":
            return noise_loop(self.anchors, 2 * math.pi * times / self.length)
        keys = torch.cat([self.anchors, self.anchors[:1]]) if self.loop else self.anchors
        transitions = len(keys) - 1
        # A closed film stops one frame short of its start, which the next loop shows.
        position = times.double() * transitions / (self.length if self.loop else self.length - 1)
        index = position.floor().long().clamp(max=transitions - 1)
        u = ease((position - index).float(), self.easing)[:, None, None]
        blend = slerp if self.mode == "slerp" else torch.lerp
        return blend(keys[index], keys[index + 1], u)


def tiled(images: np.ndarray, side: int) -> np.ndarray:
    """Frames of side x side walks, as :func:`artgan.images.grid` tiles them, from the samples
    (frames * side * side, H, W, 3) of every frame's walks, frame after frame: one copy a batch."""
    _, height, width, _ = images.shape
    rows = images.reshape(-1, side, side, height, width, 3).swapaxes(2, 3)
    return rows.reshape(-1, side * height, side * width, 3)


def frame_count(o: InterpolationOptions) -> int:
    """The film's length in frames: ``seconds`` at ``fps``, or ``frames`` per transition."""
    closed = o.loop or o.mode == "noise-loop"
    if o.seconds is not None:
        return max(2, round(o.seconds * o.fps))
    if o.mode == "noise-loop":
        transitions = o.keyframes
    else:
        keyframes = len(o.seeds) if o.seeds else o.keyframes
        transitions = keyframes if o.loop else keyframes - 1
    return (o.frames or DEFAULT_FRAMES) * transitions + (0 if closed else 1)


def ease(u: torch.Tensor, easing: str) -> torch.Tensor:
    """Progress 0..1 between two keyframes, reshaped by the easing curve."""
    import torch

    return (1 - torch.cos(math.pi * u)) / 2 if easing == "ease-in-out" else u


def slerp(a: torch.Tensor, b: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between ``a`` and ``b`` (along the last axis) at fractions ``u``.

    Where ``a`` and ``b`` are (nearly) parallel the arc is undefined and numerically unstable,
    so those pairs fall back to a straight line, which is then indistinguishable from it.
    """
    import torch

    unit_a, unit_b = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    cos = (unit_a * unit_b).sum(-1, keepdim=True)
    omega = torch.acos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    arc = sin.abs() > 1e-4
    safe = torch.where(arc, sin, torch.ones_like(sin))
    weight_a = torch.where(arc, torch.sin((1 - u) * omega) / safe, 1 - u)
    weight_b = torch.where(arc, torch.sin(u * omega) / safe, u)
    return weight_a * a + weight_b * b


def noise_loop(directions: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Points of a closed smooth curve: circles of frequency 1..K through pairs of ``directions``
    (2K, walks, z_dim), at ``angles`` (radians). Weights 1/k make slow circles dominate; their
    squares sum to one, so every point is distributed like the Gaussian prior of the directions.
    """
    import torch

    circles = len(directions) // 2
    k = torch.arange(1, circles + 1, dtype=torch.float64)
    weights = (1 / k) / (1 / k).square().sum().sqrt()  # (K,)
    phase = angles.double()[:, None] * k  # (T, K)
    cos = (weights * torch.cos(phase)).float()[:, :, None, None]  # (T, K, 1, 1)
    sin = (weights * torch.sin(phase)).float()[:, :, None, None]
    return (cos * directions[0::2] + sin * directions[1::2]).sum(1)  # (T, walks, z_dim)


@artgan.hookimpl
def register_renderers(register):
    register("interpolation", Interpolation)
