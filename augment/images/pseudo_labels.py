"""Pseudo-labels for unlabelled images, so the image GAN learns each class from more than its
labelled images.

With few labelled images per class, the GAN's conditional objective sees only those: its samples
of a class vary no more than they do. A judge network trained on the labelled **training**
images (classic augmentation, a fixed step budget: no validation or test image is read) gives
each unlabelled image a class; those it assigns with probability at least the threshold join
their class for the GAN, the others stay class-free (unconditional phase only). The images
themselves never reach the downstream classifiers: ``augment evaluate`` trains on the labelled
split and on the GAN's samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from augment.core.training import cpu_thread_limit
from augment.images.bundle import ImageSplit
from augment.images.evaluation.classifiers import predict_proba
from augment.images.evaluation.curation import fit_judge

# The judge is curation's network (fit_judge) with classic augmentation. Its budget: on 50
# labelled MNIST digits per class, 1,000 steps label 5,000 unlabelled ones 97.1% right (300
# steps: 96.1%; without the augmentation 93-94%); at p >= 0.9 it keeps 97% of them, 98.1% right
# (BENCHMARKS.md).
JUDGE_STEPS = 1000


@dataclass
class PseudoLabels:
    """The labelled images with the confidently pseudo-labelled ones appended, what stays
    unlabelled, and the numbers the training summary records."""

    labelled: ImageSplit
    unlabelled: np.ndarray
    summary: dict[str, Any]
    kept: np.ndarray  # bool per unlabelled image: it joined a class


def pseudo_label(
    data: ImageSplit,
    unlabelled: np.ndarray,
    classes: list[str],
    *,
    threshold: float,
    seed: int,
    device: torch.device,
    threads: int | None = None,
) -> PseudoLabels:
    """Give ``unlabelled`` (uint8 ``(M, C, H, W)``) the classes a judge trained on ``data``
    assigns with probability >= ``threshold``; deterministic per ``seed`` on the CPU."""
    started = time.perf_counter()
    judge = fit_judge(
        data.images,
        data.labels,
        len(classes),
        seed=seed,
        device=device,
        steps=JUDGE_STEPS,
        threads=threads,
        augment=True,
    )
    with cpu_thread_limit(device, threads):
        proba = predict_proba(judge, torch.from_numpy(np.ascontiguousarray(unlabelled)))
    guess, confidence = proba.argmax(axis=1), proba.max(axis=1)
    kept = confidence >= threshold
    labelled = ImageSplit(
        np.concatenate([data.images, unlabelled[kept]]),
        np.concatenate([data.labels, guess[kept]]),
    )
    counts = np.bincount(guess[kept], minlength=len(classes))
    summary = {
        "threshold": threshold,
        "judge_steps": JUDGE_STEPS,
        "labelled": int(kept.sum()),
        "of": len(unlabelled),
        "per_class": {name: int(n) for name, n in zip(classes, counts, strict=True)},
        "seconds": round(time.perf_counter() - started, 2),
    }
    return PseudoLabels(labelled, np.ascontiguousarray(unlabelled[~kept]), summary, kept)
