"""The consistency pseudo-label judge (``augment.images.pseudo_labels.fit_consistency_judge``,
FixMatch-style; ImageGAN's default judge): how many of the unlabelled images does it label right?

Trained on a prepared bundle's labelled training images and its unlabelled ones, it is scored
against the unlabelled images' true MNIST labels (read only to score it): accuracy, and the
images kept and wrong at p >= 0.9 and 0.99. It writes each unlabelled image's class and
confidence to ``--out`` (``.npz``), which ``image_synthetic_labels_validation.py
--pseudo-labels`` reads. ``image_pseudo_labels.py`` scores the supervised judge.

Usage:
    python3 benchmarks/image_judge_consistency.py --data WORK/data_50_5000u --steps 3000 \
        --out /tmp/judge.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from image_pseudo_labels import _true_labels
from images_mnist import DEFAULT_MNIST

from augment.core.training import PRECISIONS, resolve_precision
from augment.images.bundle import ImageBundle
from augment.images.evaluation.classifiers import predict_proba
from augment.images.pseudo_labels import CONSISTENCY_STEPS, fit_consistency_judge


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    bundle = ImageBundle.load(args.data)
    if bundle.unlabelled is None:
        raise SystemExit(f"{args.data} has no unlabelled images")
    unlabelled = np.asarray(bundle.unlabelled)
    started = time.perf_counter()
    net = fit_consistency_judge(
        bundle.train,
        unlabelled,
        len(bundle.schema.classes),
        seed=args.seed,
        device=torch.device("cpu"),
        threads=args.threads,
        steps=args.steps,
        precision=args.precision,
    )
    torch.set_num_threads(args.threads)
    proba = predict_proba(net, torch.from_numpy(unlabelled))
    guess, confidence = proba.argmax(1), proba.max(1)
    truth = _true_labels(args.mnist, unlabelled)
    result = {
        "steps": args.steps,
        "precision": resolve_precision(args.precision, torch.device("cpu")),
        "seconds": round(time.perf_counter() - started, 1),
        "accuracy": float((guess == truth).mean()),
    }
    for threshold in (0.9, 0.99):
        kept = confidence >= threshold
        wrong = int((guess[kept] != truth[kept]).sum())
        result[f"p>={threshold}"] = {"kept": int(kept.sum()), "wrong": wrong}
    print(json.dumps(result))
    np.savez(args.out, classes=guess, confidence=confidence)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a prepared image bundle")
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="MNIST (to score it)")
    p.add_argument("--steps", type=int, default=CONSISTENCY_STEPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the GAN's")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True, help=".npz of classes and confidences")
    return p


if __name__ == "__main__":
    sys.exit(main())
