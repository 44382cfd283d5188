"""Choose the image mix (synthetic ratio and weight) on the validation split, never the test.

Given a prepared image bundle and an image GAN trained on its training split (e.g. the data and
model ``images_mnist.py`` made), splits the **validation** images in two stratified halves: one
early-stops the downstream CNN, the other scores it. Then ``evaluate_images`` runs real,
real + classic and, per ratio and weight, real + synthetic and real + classic + synthetic, and
prints each recipe's paired macro-F1 gain over real only and over real + classic (a gain over
real + classic is only meaningful for the recipes with classic augmentation). The test split
is never read, so the mix chosen here can be scored on the test split afterwards.

Usage:
    python3 benchmarks/image_mix_validation.py --data DATA --model MODEL --ratios 1,3,10 \
        --weights 1 --out /tmp/mix.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.files import write_json
from augment.evaluation.stats import classification_scores
from augment.images.bundle import ImageBundle, write_image_bundle
from augment.images.evaluation.classifiers import predict_proba, steps_cap, train_classifier
from augment.images.evaluation.runner import evaluate_images

# The settings `augment evaluate` trains its CNN with (evaluate_images' defaults).
BATCH, EPOCHS, FLOOR, CEILING, PATIENCE = 128, 100, 300, 3000, 5


def validation_as_test(bundle: ImageBundle, out: Path, seed: int) -> ImageBundle:
    """``bundle`` with its validation split halved: one half stays validation (early
    stopping), the other becomes the scored split. The test split is left out."""
    validation = bundle.validation
    stop, score = train_test_split(
        np.arange(len(validation)), test_size=0.5, stratify=validation.labels, random_state=seed
    )
    splits = {
        "train": bundle.train,
        "validation": validation.subset(np.sort(stop)),
        "test": validation.subset(np.sort(score)),
    }
    return write_image_bundle(out, bundle.schema, splits)


@dataclass(frozen=True)
class Splits:
    """A bundle's images as the CNN scripts train on them: the training images and labels
    (tensors), the early-stopping images (tensors) and the scored ones (arrays)."""

    images: torch.Tensor
    labels: torch.Tensor
    stop: torch.Tensor
    stop_labels: torch.Tensor
    scored: np.ndarray
    scored_labels: np.ndarray
    num_classes: int

    def train(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        seed: int,
        *,
        steps: int | None = None,
        init: torch.nn.Module | None = None,
    ) -> torch.nn.Module:
        """The CNN as ``augment evaluate`` trains it on ``x`` / ``y`` (class indices, or a
        target distribution per image): classic augmentation, early-stopped on the stop images
        within EPOCHS passes; with ``steps``, that many fixed steps instead. ``init``: the
        weights to start from."""
        common: dict[str, Any] = {
            "arch": "cnn", "num_classes": self.num_classes, "batch_size": BATCH, "seed": seed,
            "augment": True, "init": init,
        }  # fmt: skip
        if steps is not None:
            return train_classifier(x, y, steps=steps, **common)
        return train_classifier(
            x, y, steps=steps_cap(len(x), BATCH, epochs=EPOCHS, floor=FLOOR, ceiling=CEILING),
            validation_images=self.stop, validation_labels=self.stop_labels, patience=PATIENCE,
            min_steps=FLOOR, **common,
        )  # fmt: skip

    def macro_f1(self, model: torch.nn.Module) -> float:
        """``model``'s macro-F1 on the scored images."""
        proba = predict_proba(model, torch.from_numpy(self.scored))
        return classification_scores(self.scored_labels, proba, minority=0)["macro_f1"]


def load_splits(data: Path, *, halve: bool, seed: int) -> Splits:
    """The bundle at ``data``; with ``halve`` its validation split halved as in
    :func:`validation_as_test` (the test split unread), else validation stops and test scores."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = ImageBundle.load(data)
        if halve:
            bundle = validation_as_test(bundle, Path(tmp) / "data", seed)
        return Splits(
            torch.tensor(bundle.train.images),
            torch.tensor(bundle.train.labels).long(),
            torch.tensor(bundle.validation.images),
            torch.tensor(bundle.validation.labels).long(),
            np.array(bundle.test.images),
            np.array(bundle.test.labels),
            len(bundle.schema.classes),
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    rows: dict[str, Any] = {}
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="augment-mix-") as tmp:
        bundle = validation_as_test(ImageBundle.load(args.data), Path(tmp) / "data", args.seed)
        # One run per ratio: evaluate_images adds classic + synthetic at a single ratio. The
        # real and classic fits repeat with the same seeds, so they score the same each time.
        for ratio in ratios:
            result = evaluate_images(
                bundle,
                args.model,
                ratios=[ratio],
                per_class=[],
                seeds=args.seeds,
                synthetic_weight=weights,
                fidelity_images=args.fidelity_images,
                device=args.device,
                seed=args.seed,
            )
            block, clf = result.full, result.primary_classifier
            seconds += result.timings.get("total_s", 0.0)
            for recipe in result.recipes_in(block, reference=False):
                rows[recipe.name] = {
                    versus: _interval(block.gain(recipe.name, clf, "macro_f1", versus))
                    for versus in ("real", "real+classic")
                }
            combined = rows[f"real+classic+synth@{ratio}"]["real+classic"]
            print(f"ratio {ratio:g}: classic + synthetic vs classic {combined}", file=sys.stderr)
    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "scored_on": "half of the validation split (the other half early-stops)",
        "real_only": block.score("real", clf, "macro_f1").mean,
        "gains_macro_f1": rows,
        "evaluate_seconds": round(seconds, 1),
    }
    if args.out:
        write_json(args.out, record)
    print(json.dumps(record, indent=1))
    return 0


def _interval(gain: Any) -> dict[str, float] | None:
    if gain is None:
        return None
    return {k: round(float(getattr(gain, k)), 4) for k in ("mean", "low", "high")}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="prepared image bundle")
    p.add_argument("--model", type=Path, required=True, help="image GAN trained on its train split")
    p.add_argument("--ratios", default="1,3,10", help="synthetic images per real image")
    p.add_argument("--weights", default="1", help="a synthetic image's weight in the loss")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--fidelity-images", type=int, default=500, help="scored images for FD/PRDC")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    return p


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
