"""How varied a snapshot's fixed samples are, against the dataset: a number that falls toward 0
when a GAN's samples collapse toward one picture (mode collapse), and the terminal warning that
says so with the step of the best snapshot and the command that samples from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

THUMBNAIL = 16  # pixels a side: pictures compared as wholes; a GAN's early pixel noise averages out
REFERENCE_IMAGES = 256  # dataset images the reference spread is measured on (spread evenly over it)
COLLAPSED = 0.5  # a snapshot this far below the best one (as a fraction of it) is worth a warning
# A dataset spread below this is copies of one picture (black-square, an unjittered single photo):
# there is no variety to measure samples against, and samples converging on it are the aim.
ALIKE = 1e-3


def spread(images: np.ndarray) -> float:
    """Mean distance between every two of ``images`` (uint8, (N, H, W, 3)) seen as small colour
    thumbnails, in [0, 1] per pixel; 0 when they are all alike (or fewer than two)."""
    if len(images) < 2:
        return 0.0
    thumbs = np.stack([np.asarray(Image.fromarray(image).resize((THUMBNAIL, THUMBNAIL), Image.BOX))
                       for image in images]).reshape(len(images), -1).astype(np.float64) / 255  # (N, 768)
    squares = (thumbs ** 2).sum(axis=1)
    distances = np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * thumbs @ thumbs.T, 0))
    count = len(images)
    return float(distances.sum() / (count * (count - 1) * np.sqrt(thumbs.shape[1])))


def reference(dataset_images: np.ndarray) -> float:
    """The spread of a fixed, even sample of the dataset: what varied samples reach."""
    count = len(dataset_images)
    pick = np.unique(np.linspace(0, count - 1, min(REFERENCE_IMAGES, count)).round().astype(int))
    return spread(np.asarray(dataset_images[pick])) if count else 0.0


def diversity(samples: np.ndarray, reference_spread: float) -> float:
    """The samples' spread over the dataset's: about 1 for samples as varied as the dataset,
    toward 0 as they collapse onto one picture."""
    return spread(samples) / reference_spread if reference_spread > 0 else 0.0


@dataclass
class CollapseWatch:
    """Follows the diversity of a run's snapshots: remembers the best one, and says once (until it
    recovers) when a snapshot falls far below it. ``say`` prints a line; ``how_to_sample(step)``
    is the command that samples the model as it was at ``step``."""

    reference_spread: float
    say: Callable[[str], None]
    how_to_sample: Callable[[int], str]
    best: float = 0.0
    best_step: int = 0
    warned: bool = False

    def remember(self, step: int, value: float) -> None:
        """Take in a value measured before (a resumed run's earlier snapshots). Variety beyond the
        dataset's own (above 1: an untrained generator's noise, against a dataset of little
        variety) counts as 1: falling from there to the data's variety is learning, not collapse."""
        if min(value, 1.0) > self.best:
            self.best, self.best_step = min(value, 1.0), step

    def check(self, step: int, samples: np.ndarray) -> float:
        """Measure a snapshot's samples, warn if they collapsed; returns their diversity."""
        value = diversity(samples, self.reference_spread)
        self.remember(step, value)
        collapsed = value < COLLAPSED * self.best
        if collapsed and not self.warned:
            self.say(f"warning: the samples at step {step} are much less varied than at step {self.best_step} "
                     f"(diversity {value:.2f} against {self.best:.2f}): they may be collapsing toward one "
                     f"picture; {self.how_to_sample(self.best_step)}")
        self.warned = collapsed
        return value
