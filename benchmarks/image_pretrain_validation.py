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
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_mix_validation import validation_as_test  # benchmarks/, beside this script

from augment.core.files import write_json
from augment.evaluation.stats import classification_scores, mean_ci
from augment.images.bundle import ImageBundle
from augment.images.evaluation.classifiers import predict_proba, steps_cap, train_classifier
from augment.registry import load_synthesizer

# The settings `augment evaluate` trains its CNN with (evaluate_images' defaults).
BATCH, EPOCHS, FLOOR, CEILING, PATIENCE = 128, 100, 300, 3000, 5


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = ImageBundle.load(args.data)
        if args.score == "validation":
            bundle = validation_as_test(bundle, Path(tmp) / "data", args.seed)
        images = torch.tensor(bundle.train.images)
        labels = torch.tensor(bundle.train.labels).long()
        stop = torch.tensor(bundle.validation.images)
        stop_labels = torch.tensor(bundle.validation.labels).long()
        scored, scored_labels = np.array(bundle.test.images), np.array(bundle.test.labels)
        num_classes = len(bundle.schema.classes)
    gan = load_synthesizer(args.model, "cpu")
    cap = steps_cap(len(images), BATCH, epochs=EPOCHS, floor=FLOOR, ceiling=CEILING)

    def fit(x: torch.Tensor, y: torch.Tensor, seed: int, **kw: object) -> torch.nn.Module:
        return train_classifier(
            x, y, arch="cnn", num_classes=num_classes, batch_size=BATCH, seed=seed, augment=True,
            **kw,
        )  # fmt: skip

    def real_classic(seed: int, init: torch.nn.Module | None = None) -> torch.nn.Module:
        return fit(
            images, labels, seed, steps=cap, validation_images=stop,
            validation_labels=stop_labels, patience=PATIENCE, min_steps=FLOOR, init=init,
        )  # fmt: skip

    def macro_f1(model: torch.nn.Module) -> float:
        proba = predict_proba(model, torch.from_numpy(scored))
        return classification_scores(scored_labels, proba, minority=0)["macro_f1"]

    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        classes = np.arange(args.synthetic) % num_classes
        synthetic = torch.from_numpy(gan.sample(classes, seed=10_000 + seed))
        pretrained = fit(synthetic, torch.from_numpy(classes), seed, steps=args.pretrain_steps)
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
