"""Curated synthetic images: the image side of :mod:`augment.evaluation.curation`.

The judge is the evaluation's downstream network (``auto``: the small CNN up to 32 px) trained
with the evaluation's defaults (:data:`DEFAULT_STEPS` steps of :data:`DEFAULT_BATCH_SIZE`) on
real training images only; a synthetic image is kept when it gives its conditioned class
probability at least the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from augment.core.training import cpu_thread_limit
from augment.errors import AugmentError
from augment.evaluation.curation import DEFAULT_THRESHOLD, Curated, curate
from augment.images.evaluation.classifiers import (
    CNN_FEATURES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_STEPS,
    ImageClassifier,
    predict_proba,
    resolve_classifier,
    train_classifier,
)

JUDGE = "auto"


def fit_judge(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    augment: bool = False,
) -> ImageClassifier:
    """The curation network trained on ``images`` / ``labels`` (real training images, uint8
    ``(N, C, H, W)``; never the test split); ``threads``: torch's CPU threads (None: the
    idle cores); ``augment``: classic augmentation of its batches."""
    device = torch.device(device)
    arch = resolve_classifier(JUDGE, int(images.shape[-1]))
    # Threads as the GAN's training picks them: a busy core makes extra threads wait (a 300-step
    # judge took 36 s at torch's default threads on a loaded 2-core machine).
    with cpu_thread_limit(device, threads):
        return train_classifier(
            torch.from_numpy(np.ascontiguousarray(images)).to(device),
            torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device),
            arch=arch,
            num_classes=num_classes,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            augment=augment,
        )


def judge_confidence(judge: ImageClassifier) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``confidence(images, class_indices)``: each image's probability of its own class."""

    def confidence(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if not len(images):
            return np.zeros(0)
        proba = predict_proba(judge, torch.from_numpy(np.ascontiguousarray(images)))
        return proba[np.arange(len(images)), labels]

    return confidence


def curate_images(
    synthesizer: Any,
    judge: ImageClassifier,
    labels: np.ndarray,
    *,
    classes: list[str],
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
    warn: bool = True,
) -> Curated[np.ndarray]:
    """Synthetic images for the class indices ``labels``, kept only where ``judge`` is
    confident of their class; see :func:`curate`."""

    def draw(wanted: np.ndarray, draw_seed: int) -> np.ndarray:
        images = np.asarray(synthesizer.sample(wanted, seed=draw_seed))
        if len(images) != len(wanted):
            raise AugmentError(f"synthesizer returned {len(images)} images for {len(wanted)}")
        return images

    return curate(
        draw,
        judge_confidence(judge),
        labels,
        classes=classes,
        seed=seed,
        threshold=threshold,
        classifier=describe_judge(judge),
        take=lambda images, index: images[index],
        concat=lambda parts: np.concatenate(parts),
        warn=warn,
    )


def describe_judge(judge: ImageClassifier) -> str:
    arch = "cnn" if judge.n_features == CNN_FEATURES else "resnet18"
    return (
        f"{arch} ({DEFAULT_STEPS} steps of {DEFAULT_BATCH_SIZE}, the evaluation's defaults) "
        "trained on the real training split"
    )
