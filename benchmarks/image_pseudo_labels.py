"""Pseudo-labels for unlabelled images (ImageGAN's ``pseudo_labels``): how right are they, and
what does the GAN make of them? Scored on the validation split only.

On MNIST with ``--per-class K`` labelled training images per class and ``--unlabelled N``
training images in no split (the data ``images_mnist.py`` prepares, same seed):

1. **the judge**: for each budget in ``--judge-steps``, with and without classic augmentation,
   the CNN trained on the labelled images labels the unlabelled ones. Their true labels (MNIST's
   training file) score it: accuracy, and the share kept and right at each threshold;
2. **the GANs**: one per entry of ``--gan-configs`` (hyper-parameters as JSON, e.g. the
   pseudo-labels off and on), trained on the same images and seed, kept in ``--work`` and reused
   on a rerun (as are the downstream results of step 4);
3. **fidelity** of each GAN on 2,000 validation images: FD and PRDC on the features of one CNN
   trained on the labelled images, the same extractor for every GAN, beside real training
   images;
4. **downstream** (unless ``--seeds 0``): ``image_mix_validation.py`` for each GAN. One half of
   the validation split early-stops the CNN, the other half scores it.

The test split is never read.

Usage:
    python3 benchmarks/image_pseudo_labels.py --per-class 50 --unlabelled 5000 --seeds 5 \\
        --work /tmp/pseudo --out benchmarks/results/images_pseudo_labels_50.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import image_mix_validation  # benchmarks/, beside this script
from images_mnist import DEFAULT_MNIST, unlabelled_pool
from machine import cpu_model

from augment.core.files import write_json
from augment.images.bundle import ImageBundle, ImageSplit
from augment.images.evaluation.classifiers import (
    features,
    predict_proba,
    resolve_classifier,
    train_classifier,
)
from augment.images.evaluation.fidelity import fidelity_scores
from augment.images.ingest import ingest_images
from augment.registry import load_synthesizer, make_synthesizer

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)
FIDELITY_IMAGES = 2000
DEFAULT_CONFIGS = '{"unlabelled unused": {"pseudo_labels": null}, "pseudo-labels 0.9": {}}'


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    bundle = _data(args.mnist, work, args.per_class, args.unlabelled)
    truth = _true_labels(args.mnist, bundle.unlabelled)
    results: dict[str, Any] = {
        "machine": cpu_model(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "per_class": args.per_class,
        "unlabelled": len(bundle.unlabelled),
        "judge": [
            _judge(bundle.train, bundle.unlabelled, truth, steps, augment)
            for steps in map(int, args.judge_steps.split(","))
            for augment in (False, True)
        ],
        "gans": {},
    }
    for row in results["judge"]:
        print(json.dumps(row), file=sys.stderr)
    extractor = _train(bundle.train, steps=1000, augment=True)
    for name, params in json.loads(args.gan_configs).items():
        model, training = _gan(bundle, work, name, params)
        entry: dict[str, Any] = {"params": params, "training": training}
        entry["fidelity"] = _fidelity(bundle, extractor, model)
        out = work / f"mix_{_slug(name)}.json"  # kept, and reused on a rerun
        if args.seeds and not out.is_file():
            image_mix_validation.main(
                ["--data", str(work / _data_name(args.per_class, args.unlabelled)),
                 "--model", str(model), "--ratios", "1", "--seeds", str(args.seeds),
                 "--device", "cpu", "--out", str(out)]
            )  # fmt: skip
        if args.seeds:
            entry["downstream"] = json.loads(out.read_text())
        results["gans"][name] = entry
        write_json(args.out, results)
    print(json.dumps({k: v["fidelity"] for k, v in results["gans"].items()}, indent=1))
    return 0


def _data_name(k: int, n: int) -> str:
    return f"data_{k}_{n}u"


def _data(mnist: Path, work: Path, k: int, n: int) -> ImageBundle:
    """The labelled images and the unlabelled pool, as ``images_mnist.py`` prepares them."""
    labelled = work / f"data_{k}"
    if not (labelled / "schema.json").is_file():
        ingest_images(mnist, labelled, per_class=k, seed=0, progress=False)
    both = work / _data_name(k, n)
    if (both / "schema.json").is_file():
        return ImageBundle.load(both)
    pool = unlabelled_pool(mnist, ImageBundle.load(labelled), n, work, 0)
    return ingest_images(mnist, both, per_class=k, seed=0, unlabelled=pool, progress=False)


def _true_labels(mnist: Path, unlabelled: np.ndarray) -> np.ndarray:
    """The MNIST training file's label of each unlabelled image (found by its pixels)."""
    from augment.images.readers import read_idx_pair

    images, labels, _ = read_idx_pair(next(mnist.glob("train-images*")))
    index = {hashlib.sha1(x.tobytes()).hexdigest(): i for i, x in enumerate(images)}
    return np.array([labels[index[hashlib.sha1(x[0].tobytes()).hexdigest()]] for x in unlabelled])


def _train(split: ImageSplit, steps: int, augment: bool) -> Any:
    return train_classifier(
        torch.from_numpy(split.images),
        torch.from_numpy(split.labels),
        arch=resolve_classifier("auto", split.images.shape[-1]),
        num_classes=int(split.labels.max()) + 1,
        steps=steps,
        batch_size=128,
        seed=0,
        augment=augment,
    )


def _judge(
    train: ImageSplit, unlabelled: np.ndarray, truth: np.ndarray, steps: int, augment: bool
) -> dict[str, Any]:
    started = time.perf_counter()
    proba = predict_proba(_train(train, steps, augment), torch.from_numpy(unlabelled))
    guess, confidence = proba.argmax(1), proba.max(1)
    row: dict[str, Any] = {
        "steps": steps,
        "classic_augmentation": augment,
        "seconds": round(time.perf_counter() - started, 1),
        "accuracy": round(float(np.mean(guess == truth)), 4),
    }
    for t in THRESHOLDS:
        kept = confidence >= t
        right = float(np.mean(guess[kept] == truth[kept])) if kept.any() else None
        row[f"p>={t}"] = {
            "kept": round(float(kept.mean()), 4),
            "right": None if right is None else round(right, 4),
        }
    return row


def _gan(bundle: ImageBundle, work: Path, name: str, params: dict) -> tuple[Path, dict]:
    folder = work / f"model_{_slug(name)}"
    if (folder / "config.json").is_file():
        return folder, json.loads((folder / "config.json").read_text())["training"]
    synth = make_synthesizer("imagegan", params)
    training = synth.fit(
        bundle.train, bundle.schema, seed=0, device="cpu", unlabelled=bundle.unlabelled,
        progress=False,
    )  # fmt: skip
    synth.save(folder)
    return folder, training


def _fidelity(bundle: ImageBundle, extractor: Any, model: Path) -> dict[str, Any]:
    """FD and PRDC on FIDELITY_IMAGES validation images (seeded), beside real training images
    of the same classes."""
    train, validation = bundle.train, bundle.validation
    rng = np.random.default_rng(0)
    real = validation.subset(np.sort(rng.choice(len(validation), FIDELITY_IMAGES, replace=False)))
    reference = np.empty(len(real), dtype=np.int64)
    for c in np.unique(real.labels):
        where, pool = np.flatnonzero(real.labels == c), np.flatnonzero(train.labels == c)
        reference[where] = rng.choice(pool, len(where), replace=len(pool) < len(where))
    fake = np.asarray(load_synthesizer(model, "cpu").sample(real.labels, seed=7), dtype=np.uint8)

    def feats(images: np.ndarray) -> np.ndarray:
        return features(extractor, torch.from_numpy(np.ascontiguousarray(images)))

    scores = fidelity_scores(feats(real.images), feats(fake), feats(train.images[reference]))
    return json.loads(json.dumps(scores, default=lambda o: getattr(o, "__dict__", str(o))))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="folder of the IDX files")
    p.add_argument("--per-class", type=int, default=50, help="labelled training images per class")
    p.add_argument("--unlabelled", type=int, default=5000)
    p.add_argument("--judge-steps", default="300,1000")
    p.add_argument("--gan-configs", default=DEFAULT_CONFIGS, help="name -> GAN params, JSON")
    p.add_argument("--seeds", type=int, default=5, help="downstream seeds (0: no downstream)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, required=True, help="data and GANs, reused on a rerun")
    p.add_argument("--out", type=Path, required=True)
    return p


if __name__ == "__main__":
    sys.exit(main())
