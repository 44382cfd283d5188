"""Pretrain the downstream CNN on synthetic images, then fine-tune it on real + classic: does it
beat real + classic alone? Chosen on the validation split; ``--score test`` scores it once.

Given a prepared image bundle and an image GAN trained on its training split (e.g. the data and
model ``images_mnist.py --work`` keeps), the validation images are halved as in
``image_mix_validation.py`` (one half early-stops, the other scores; with ``--score test`` the
whole validation split early-stops and the test split scores, for a choice already made on
validation). Per seed:

* **real + classic**: the CNN as ``augment evaluate`` trains it (classic augmentation, early
  stopping, 100 passes at most);
* **synthetic, then real + classic**: the CNN first trains ``--pretrain-steps`` fixed steps on
  ``--synthetic`` class-balanced GAN images (classic augmentation too), then fine-tunes on the
  real images exactly like the recipe above, from those weights.

Prints each seed's macro-F1 and the paired gain's mean with a 95% t-interval, and writes them
as JSON.

Usage:
    python3 benchmarks/image_pretrain_validation.py --data DATA --model MODEL \
        --synthetic 5000 --pretrain-steps 1000 --seeds 5 --out /tmp/pretrain.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_mix_validation import load_splits  # benchmarks/, beside this script

from augment.core.files import write_json
from augment.evaluation.stats import mean_ci
from augment.registry import load_synthesizer


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_splits(args.data, halve=args.score == "validation", seed=args.seed)
    gan = load_synthesizer(args.model, "cpu")
    macro_f1 = splits.macro_f1

    def real_classic(seed: int, init: torch.nn.Module | None = None) -> torch.nn.Module:
        return splits.train(splits.images, splits.labels, seed, init=init)

    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        classes = np.arange(args.synthetic) % splits.num_classes
        synthetic = torch.from_numpy(gan.sample(classes, seed=10_000 + seed))
        pretrained = splits.train(
            synthetic, torch.from_numpy(classes), seed, steps=args.pretrain_steps
        )
        tuned = real_classic(seed, init=pretrained)
        row = {
            "seed": seed,
            "real_classic": macro_f1(real_classic(seed)),
            "pretrained_then_real_classic": macro_f1(tuned),
            "synthetic_only": macro_f1(pretrained),
            "fine_tune_steps": tuned.training_log.steps,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    gains = [r["pretrained_then_real_classic"] - r["real_classic"] for r in rows]
    result = {
        "gain_over_real_classic": mean_ci(gains),
        "means": {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"},
        "seeds": rows,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "command": shlex.join(["python3", *sys.argv]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "scored_on": (
            "half of the validation split (the other half early-stops)"
            if args.score == "validation"
            else "the test split (the whole validation split early-stops)"
        ),
    }
    print(json.dumps({"gain": result["gain_over_real_classic"], "means": result["means"]}))
    if args.out:
        write_json(args.out, result)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a prepared image bundle")
    p.add_argument("--model", type=Path, required=True, help="an image GAN trained on its train")
    p.add_argument("--synthetic", type=int, default=5000, help="synthetic images to pretrain on")
    p.add_argument("--pretrain-steps", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument(
        "--score",
        choices=("validation", "test"),
        default="validation",
        help="validation: choose (halves of the validation split); test: score a choice once",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON results")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
