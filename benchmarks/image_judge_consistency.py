"""A pseudo-label judge that also learns from the unlabelled images: FixMatch-style consistency
(Sohn et al. 2020). How many of the unlabelled images does it label right, against the shipped
judge (``augment.images.pseudo_labels``: the labelled images alone, classic augmentation)?

Per step: a batch of labelled images (classic augmentation, cross-entropy) and ``--mu`` times as
many unlabelled ones. Each unlabelled image is seen twice: weakly augmented (classic
augmentation), whose prediction, where at least ``--tau`` sure, is the target for the same image
strongly augmented (a wider shift, rotation and scale, and a 10x10 cutout). An exploratory
benchmark for issue 11 (MNIST, 50 labelled per class): it reads the unlabelled images' true
MNIST labels only to score the judge. It writes each unlabelled image's class and confidence to
``--out`` (``.npz``), which ``image_synthetic_labels_validation.py --pseudo-labels`` reads.

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
import torch.nn.functional as F
from image_pseudo_labels import _true_labels

from augment.images.bundle import ImageBundle
from augment.images.evaluation.classifiers import (
    DEFAULT_LR,
    WEIGHT_DECAY,
    _normalise,
    build_classifier,
    classic_augment,
    predict_proba,
    to_input,
)

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
CUTOUT_HALF = 5  # the cutout square's half side, pixels


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    bundle = ImageBundle.load(args.data)
    if bundle.unlabelled is None:
        raise SystemExit(f"{args.data} has no unlabelled images")
    x = torch.from_numpy(np.asarray(bundle.train.images))
    y = torch.from_numpy(np.asarray(bundle.train.labels)).long()
    u = torch.from_numpy(np.asarray(bundle.unlabelled))
    gen = torch.Generator().manual_seed(args.seed)
    net = build_classifier("cnn", x.shape[1], x.shape[-1], int(y.max()) + 1)
    opt = torch.optim.AdamW(net.parameters(), lr=DEFAULT_LR, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=DEFAULT_LR, total_steps=args.steps, pct_start=0.15
    )
    started = time.perf_counter()
    net.train()
    for _ in range(args.steps):
        i = torch.randint(0, len(x), (args.batch_size,), generator=gen)
        j = torch.randint(0, len(u), (args.batch_size * args.mu,), generator=gen)
        unlabelled = to_input(u[j])
        with torch.no_grad():
            weak = F.softmax(net(_normalise(classic_augment(unlabelled, gen))), 1)
        confidence, guess = weak.max(1)
        labelled = classic_augment(to_input(x[i]), gen)
        logits = net(_normalise(torch.cat([labelled, _strong(unlabelled, gen)])))
        consistency = F.cross_entropy(logits[len(i) :], guess, reduction="none")
        loss = F.cross_entropy(logits[: len(i)], y[i])
        loss = loss + (consistency * (confidence >= args.tau)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    net.eval()
    proba = predict_proba(net, u)
    guess, confidence = proba.argmax(1), proba.max(1)
    truth = _true_labels(args.mnist, np.asarray(bundle.unlabelled))
    result = {
        "steps": args.steps,
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


def _strong(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A wider classic augmentation, then a square zeroed at a random place of each image."""
    x = classic_augment(x, gen, degrees=25.0, scale=(0.75, 1.25), shift_share=0.2)
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=gen)
    cx = torch.randint(0, w, (n, 1, 1), generator=gen)
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    square = ((rows - cy).abs() < CUTOUT_HALF) & ((cols - cx).abs() < CUTOUT_HALF)
    return x.masked_fill(square[:, None], 0.0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a prepared image bundle")
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="MNIST (to score it)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=64, help="labelled images per step")
    p.add_argument("--mu", type=int, default=3, help="unlabelled images per labelled one")
    p.add_argument("--tau", type=float, default=0.95, help="confidence for a consistency target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True, help=".npz of classes and confidences")
    return p


if __name__ == "__main__":
    sys.exit(main())
