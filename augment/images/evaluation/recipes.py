"""Training sets of the image recipes: real only, real + classic augmentation, real + synthetic at a
ratio, real + classic + synthetic, synthetic only; the seeded per-class subsets of the low-data
sweep.

Recipe names (also the keys of the metrics): ``real``, ``real+classic``, ``real+synth@<ratio>``,
``real+classic+synth@<ratio>``, ``synth``; with curation ``real+curated@<ratio>`` and
``real+classic+curated@<ratio>``; a synthetic weight w other than 1 appends ``w<w>``
(``real+synth@1.0w0.5``); with synthetic pretraining ``real+classic+pretrained`` (the CNN
trains on synthetic images first, then on real + classic). The ``real+synth@r`` names are the
tabular ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from augment.core.labels import proportional_counts
from augment.errors import AugmentError
from augment.evaluation.curation import Curated
from augment.evaluation.recipes import (
    BASELINE,
    COMBINED,
    Recipe,
    parse_mix,
    synth_recipe,
    synthetic_only_recipe,
)
from augment.images.bundle import ImageSplit
from augment.images.evaluation.classifiers import AUG_DEGREES, AUG_SCALE, AUG_SHIFT_SHARE

REAL = "real"
CLASSIC = "real+classic"
SYNTH = "synth"
PRETRAINED = "real+classic+pretrained"
_CLASSIC_SYNTH_PREFIX = "real+classic+synth@"
_CLASSIC_CURATED_PREFIX = "real+classic+curated@"


def classic_synth_recipe(ratio: float, *, curated: bool = False) -> str:
    prefix = _CLASSIC_CURATED_PREFIX if curated else _CLASSIC_SYNTH_PREFIX
    return f"{prefix}{float(ratio)}"


def classic_synth_ratio(name: str) -> float | None:
    """The ratio of a ``real+classic+synth@r`` (or ``+curated@r``) recipe, else None."""
    parsed = parse_mix(name, prefix="real+classic+")
    return None if parsed is None else parsed.ratio


# -- what the recipes are, for the results and the reports --------------------------------------
def classic_recipe(flip: bool) -> Recipe:
    """Real images with classic augmentation per batch: the line synthetic images must beat."""
    return Recipe(
        CLASSIC,
        "real + classic augmentation",
        BASELINE,
        family=CLASSIC,
        description=f"classic augmentation per batch: {classic_text(flip)}",
    )


def combined_recipe(ratio: float, *, curated: bool = False) -> Recipe:
    """Classic augmentation on real and ``ratio`` x as many (curated) synthetic images alike."""
    what = "curated synthetic" if curated else "synthetic"
    prefix = _CLASSIC_CURATED_PREFIX if curated else _CLASSIC_SYNTH_PREFIX
    return Recipe(
        classic_synth_recipe(ratio, curated=curated),
        f"real + classic + {ratio:g}× {what}",
        COMBINED,
        float(ratio),
        family=f"{prefix}r",
        description=f"both: classic augmentation on real and {what} images alike",
        curated=curated,
    )


def pretrained_recipe(images: int, steps: int) -> Recipe:
    """Pretrain on synthetic images, then fine-tune on real + classic: the synthetic images
    start the network instead of joining the real batches."""
    return Recipe(
        PRETRAINED,
        "real + classic, pretrained on synthetic",
        COMBINED,
        family=PRETRAINED,
        description=(
            f"the CNN first trains {steps:,} steps on {images:,} synthetic images (classic "
            "augmentation on them too), then from those weights on the real images with "
            "classic augmentation, as real + classic trains"
        ),
    )


def cas_recipe() -> Recipe:
    """Synthetic images only: their classification accuracy score (CAS)."""
    only = synthetic_only_recipe("images")
    return Recipe(
        only.name,
        only.label,
        only.role,
        description=only.description + "; its score is the classification accuracy score, CAS",
    )


def classic_text(flip: bool) -> str:
    text = (
        f"random shift (crop of the zero-padded image) of up to 1/{1 / AUG_SHIFT_SHARE:.0f} of "
        f"the size each way, rotation up to {AUG_DEGREES:g}°, scale "
        f"{AUG_SCALE[0]:g}–{AUG_SCALE[1]:g}"
    )
    return text + (", horizontal flip" if flip else ", no flip")


# -- how each recipe's training set is made ------------------------------------------------------
@dataclass(frozen=True)
class TrainingSet:
    """How a recipe's training set is made: ``ratio`` synthetic images per real image (0: none;
    ``None``: synthetic only, as many as real), whether classic augmentation runs per batch,
    what a synthetic image weighs in the loss, whether the synthetic images are curated, and
    whether the network first trains on synthetic images alone (``pretrained``)."""

    name: str
    ratio: float | None
    classic: bool
    weight: float = 1.0
    curated: bool = False
    pretrained: bool = False


def parse_recipe(name: str) -> TrainingSet:
    if name == REAL:
        return TrainingSet(name, 0.0, False)
    if name == CLASSIC:
        return TrainingSet(name, 0.0, True)
    if name == SYNTH:
        return TrainingSet(name, None, False)
    if name == PRETRAINED:
        return TrainingSet(name, 0.0, True, pretrained=True)
    for prefix, classic in (("", False), ("real+classic+", True)):
        parsed = parse_mix(name, prefix=prefix)
        if parsed is not None:
            return TrainingSet(name, parsed.ratio, classic, parsed.weight, parsed.curated)
    raise AugmentError(f"unknown recipe {name!r}")


def main_recipes(
    ratios: Sequence[float],
    mix_ratio: float,
    weights: Sequence[float] = (1.0,),
    curate: bool = False,
    pretrain: bool = False,
) -> list[str]:
    """The recipes on the full training set: each real + synthetic mix once per weight, with
    ``curate`` the curated mixes at ``mix_ratio``, with ``pretrain`` synthetic pretraining."""
    curated = [synth_recipe(mix_ratio, w, curated=True) for w in weights] if curate else []
    return [
        REAL,
        CLASSIC,
        *(synth_recipe(r, w) for r in ratios for w in weights),
        *curated,
        classic_synth_recipe(mix_ratio),
        *([classic_synth_recipe(mix_ratio, curated=True)] if curate else []),
        *([PRETRAINED] if pretrain else []),
        SYNTH,
    ]


def sweep_recipes(
    mix_ratio: float,
    weights: Sequence[float] = (1.0,),
    curate: bool = False,
    pretrain: bool = False,
) -> list[str]:
    """The recipes at each images-per-class point of the low-data sweep."""
    return [
        REAL,
        CLASSIC,
        *(synth_recipe(mix_ratio, w) for w in weights),
        *([synth_recipe(mix_ratio, w, curated=True) for w in weights] if curate else []),
        classic_synth_recipe(mix_ratio),
        *([classic_synth_recipe(mix_ratio, curated=True)] if curate else []),
        *([PRETRAINED] if pretrain else []),
    ]


def mix_ratio(ratios: Sequence[float]) -> float:
    """The ratio of the classic + synthetic recipe and of the sweep: 1.0 when it is among the
    ratios, else the middle of the sorted list (the lower middle for an even count)."""
    ordered = sorted(float(r) for r in ratios)
    return 1.0 if 1.0 in ordered else ordered[(len(ordered) - 1) // 2]


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)


class ImagePool:
    """Synthetic images drawn once per seed and cut into nested, class-proportional prefixes.

    One ``sample`` call draws about ``max_images`` images in the real set's class proportions;
    ``take(n)`` returns the first images of each class block, so the images for ratio 0.5 are a
    subset of those for ratio 1.0 (as the tabular ``SyntheticPool``).
    """

    def __init__(
        self,
        synthesizer: Any,
        real_labels: np.ndarray,
        num_classes: int,
        shape: tuple[int, int, int],
        max_images: int,
        *,
        seed: int,
        curator: Callable[[np.ndarray, int], Curated[np.ndarray]] | None = None,
    ) -> None:
        """``curator(class_indices, seed)``, when given, draws the images instead of the
        synthesizer and keeps only those it trusts: a class may then hold fewer images than
        asked, and :meth:`take` gives what it has."""
        self.curated = curator is not None
        self.weights = class_counts(real_labels, num_classes).astype(np.float64)
        total = float(self.weights.sum())
        # ceil(share x max) + 1 per class covers any take(n <= max): its largest-remainder
        # count is at most floor(share x n) + 1.
        self.sizes = [
            int(math.ceil(w / total * max_images)) + 1 if w > 0 else 0 for w in self.weights
        ]
        labels = np.repeat(np.arange(num_classes, dtype=np.int64), self.sizes)
        if curator is not None and len(labels):
            got = curator(labels, seed)
            images, labels = got.samples, got.labels
            self.sizes = [int(k) for k in np.bincount(labels, minlength=num_classes)]
        else:
            images = synthesizer.sample(labels, seed=seed) if len(labels) else None
        images = np.zeros((0, *shape), np.uint8) if images is None else np.asarray(images)
        if images.shape != (len(labels), *shape):
            raise AugmentError(
                f"synthesizer returned images of shape {images.shape} for {len(labels)} labels"
                f" of shape {shape}"
            )
        if images.dtype != np.uint8:
            raise AugmentError(f"synthesizer returned {images.dtype} images, expected uint8")
        self.split = ImageSplit(images, labels)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    def take(self, n: int) -> ImageSplit:
        """``n`` images in the real set's class proportions."""
        if n <= 0:
            return self.split.subset(np.zeros(0, dtype=np.int64))
        counts = proportional_counts(n, self.weights)
        if self.curated:  # a class curation left short gives what it kept
            counts = [min(c, s) for c, s in zip(counts, self.sizes, strict=True)]
        if any(c > s for c, s in zip(counts, self.sizes, strict=True)):
            raise AugmentError(f"the synthetic pool holds fewer than the {n} images requested")
        index = np.concatenate(
            [np.arange(st, st + c) for st, c in zip(self.starts, counts, strict=True)]
        )
        return self.split.subset(index)


def concat(*splits: ImageSplit) -> ImageSplit:
    return ImageSplit(
        np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits])
    )


def recipe_split(
    recipe: TrainingSet,
    real: ImageSplit,
    pool: ImagePool | None,
    curated: ImagePool | None = None,
) -> ImageSplit:
    """The training images of a recipe (real and/or synthetic, real first; never a test
    image)."""
    if recipe.ratio == 0:
        return real
    if recipe.curated:
        pool = curated
    if pool is None:
        raise AugmentError(f"recipe {recipe.name!r} needs synthetic images")
    if recipe.ratio is None:
        return pool.take(len(real))
    return concat(real, pool.take(round(recipe.ratio * len(real))))


def per_class_subset(data: ImageSplit, k: int, rng: np.random.Generator) -> ImageSplit:
    """``k`` images of every class present in ``data``, drawn without replacement, in the
    original order."""
    if k < 1:
        raise AugmentError(f"images per class must be at least 1, got {k}")
    picks = []
    for c in np.unique(data.labels):
        idx = np.flatnonzero(data.labels == c)
        if len(idx) < k:
            raise AugmentError(f"class {int(c)} has {len(idx)} training images, fewer than {k}")
        picks.append(rng.choice(idx, size=k, replace=False))
    return data.subset(np.sort(np.concatenate(picks)))


def validation_subset(
    validation: ImageSplit, train_counts: np.ndarray, floor: int, rng: np.random.Generator
) -> ImageSplit:
    """The validation images a block stops its fits on: of each class c at most
    ``max(train_counts[c], floor)`` images of the validation split, drawn without replacement
    (all of them when it holds fewer), in the original order."""
    picks = []
    for c in np.unique(validation.labels):
        idx = np.flatnonzero(validation.labels == c)
        own = int(train_counts[c]) if c < len(train_counts) else 0
        keep = min(len(idx), max(own, int(floor)))
        picks.append(idx if keep == len(idx) else rng.choice(idx, size=keep, replace=False))
    index = np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)
    return validation.subset(index)
