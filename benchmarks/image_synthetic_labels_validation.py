"""Which labels and how many synthetic images beside real + classic? Chosen on the validation
split, never the test.

Given a prepared image bundle and an image GAN trained on its training split (e.g. the data and
model ``images_mnist.py --work`` keeps), the validation images are halved as in
``image_mix_validation.py`` (one half early-stops the CNN, the other scores it). Per seed:

* **real + classic**: the CNN as ``augment evaluate`` trains it (classic augmentation, early
  stopping, 100 passes at most). It is also the *teacher* of that seed: a network trained on
  the real training images only;
* one fit per ``--variants`` entry ``LABELS@RATIO``: real + classic with ``RATIO`` x as many
  class-balanced GAN images (classic augmentation on them too), labelled by

  - ``hard``: the class each image was generated for (what ``augment evaluate`` does);
  - ``soft``: the teacher's class probabilities for the image (distillation);
  - ``half``: half of each: the generated class's one-hot plus the teacher's probabilities,
    halved (an image the teacher reads as another class gets a split label);
  - ``argmax``: the teacher's most likely class;
  - ``mix``: images between two classes: each is generated from its class's embedding mixed
    with another class's, ``lam * e(a) + (1 - lam) * e(b)`` with ``lam`` uniform in [0.5, 1],
    and labelled ``lam`` of ``a`` and ``1 - lam`` of ``b`` (mixup in the generator's class
    space: images near a boundary, which class-conditional sampling rarely makes);
  - ``atypical``: the class each image was generated for, but the images are chosen: from a
    pool five times as large, per class the ones the teacher reads as their class (its most
    likely class) with the *lowest* probability. Class-conditional samples are typical of
    their class; a classifier already learns the typical ones from the real images;
  - ``true``: no GAN: the bundle's *unlabelled* images with their true MNIST labels (``RATIO``
    x as many, at most all of them): what a generator that had learnt exactly those images
    could add at most. A diagnostic ceiling, needs ``--mnist``.
  - ``pseudo``: no GAN either: the unlabelled images the GAN learnt its classes from, with the
    classes it learnt (the model's pseudo-label judge, retrained with its seed and threshold;
    ``RATIO`` x as many, at most all it kept). Beside ``true``, it splits the ceiling into what
    the labels lose and what the generator loses.
  - ``kept``: the images ``pseudo`` uses, with their true labels (needs ``--mnist``): beside
    ``pseudo`` and ``true`` it splits what the labels lose into the judge's wrong labels and
    the images it left out.
  With ``--pseudo-labels FILE`` both take their classes from another judge's file
  (``image_judge_consistency.py``) instead of the model's.

With ``--teacher judge`` the GAN's images for ``soft``, ``half`` and ``argmax`` are read by the
model's consistency judge instead (retrained once, with the model's seed, on the training
images and the bundle's unlabelled ones): a reader that learnt from the unlabelled images too.

Prints each seed's macro-F1 and each variant's paired gain over real + classic with a 95%
t-interval, and writes them as JSON.

Usage:
    python3 benchmarks/image_synthetic_labels_validation.py --data DATA --model MODEL \\
        --variants hard@1,soft@1,soft@4,half@4 --seeds 10 --out /tmp/labels.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_mix_validation import load_splits  # benchmarks/, beside this script
from machine import cpu_model

from augment.core.files import write_json
from augment.evaluation.stats import mean_ci
from augment.images.evaluation.classifiers import predict_proba
from augment.images.gan import to_uint8
from augment.registry import load_synthesizer

LABELS = ("hard", "soft", "half", "argmax", "mix", "atypical", "true", "pseudo", "kept")
POOL = 5  # candidates per image kept, for "atypical"
DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = [_variant(v) for v in args.variants.split(",")]
    splits = load_splits(args.data, halve=True, seed=args.split_seed)
    images, labels, num_classes = splits.images, splits.labels, splits.num_classes
    gan = load_synthesizer(args.model, "cpu")
    fit, macro_f1 = splits.train, splits.macro_f1  # fit's y: class indices or distributions
    kinds = {kind for _, kind, _ in variants}
    pools = {}  # the labelled images "true", "pseudo" and "kept" draw from
    if kinds & {"true", "pseudo", "kept"}:
        unlabelled = _unlabelled(args)
    if kinds & {"true", "kept"}:
        pools["true"] = _unlabelled_truth(args, unlabelled)
    if kinds & {"pseudo", "kept"}:
        kept, pools["pseudo"] = _pseudo_labelled(args, gan, images, labels, unlabelled)
        if "kept" in kinds:
            true_images, true_labels = pools["true"]
            pools["kept"] = true_images[kept], true_labels[kept]

    judge = None
    if args.teacher == "judge":  # the model's own judge reads the GAN's images
        judge = _model_judge(args, gan, images, labels, num_classes)

    real_targets = F.one_hot(labels, num_classes).float()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.perf_counter()
        teacher = fit(images, labels, seed)
        row: dict[str, float | int] = {"seed": seed, "real_classic": macro_f1(teacher)}
        drawn: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for name, kind, ratio in variants:
            count = round(ratio * len(images))
            if kind in EXTRAS:  # images of their own, not the seed's shared draw
                make = EXTRAS[kind]
                x_extra, y_extra = make(
                    gan, teacher, pools.get(kind), count, num_classes, 10_000 + seed
                )
                x, y = torch.cat([images, x_extra]), torch.cat([real_targets, y_extra])
                row[name] = macro_f1(fit(x, y, seed))
                continue
            if count not in drawn:  # variants of one ratio share the seed's images
                classes = np.arange(count) % num_classes
                synthetic = torch.from_numpy(gan.sample(classes, seed=10_000 + seed))
                generated = F.one_hot(torch.from_numpy(classes).long(), num_classes).float()
                reader = teacher if judge is None else judge
                read = torch.from_numpy(predict_proba(reader, synthetic)).float()
                drawn[count] = synthetic, generated, read
            synthetic, generated, read = drawn[count]
            targets = {
                "hard": generated,
                "soft": read,
                "half": 0.5 * generated + 0.5 * read,
                "argmax": F.one_hot(read.argmax(1), num_classes).float(),
            }[kind]
            x, y = torch.cat([images, synthetic]), torch.cat([real_targets, targets])
            row[name] = macro_f1(fit(x, y, seed))
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    gains = {name: mean_ci([r[name] - r["real_classic"] for r in rows]) for name, _, _ in variants}
    result = {
        "machine": cpu_model(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python3", *sys.argv]),
        "scored_on": "half of the validation split (the other half early-stops)",
        "gain_over_real_classic": gains,
        "real_classic": float(np.mean([r["real_classic"] for r in rows])),
        "seeds": rows,
    }
    print(json.dumps(gains, indent=1))
    if args.out:
        write_json(args.out, result)
    return 0


Extra = tuple[torch.Tensor, torch.Tensor]  # images (N, C, H, W) uint8, label distributions


@torch.inference_mode()
def _interpolated(gan, teacher, pool, count: int, num_classes: int, seed: int) -> Extra:
    """``count`` images, each between its class ``a`` (balanced) and another class ``b``."""
    rng = np.random.default_rng(seed)
    a = np.arange(count) % num_classes
    b = (a + rng.integers(1, num_classes, size=count)) % num_classes
    lam = torch.from_numpy(rng.uniform(0.5, 1.0, size=(count, 1))).float()
    net = gan.generator
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, count, 500):
        end = min(count, start + 500)
        z = torch.randn(end - start, net.z_dim, generator=gen)
        e = lam[start:end] * net.embed(torch.from_numpy(a[start:end]))
        e = e + (1 - lam[start:end]) * net.embed(torch.from_numpy(b[start:end]))
        out.append(to_uint8(net.from_embedding(z, e)))
    y = lam * F.one_hot(torch.from_numpy(a), num_classes).float()
    y = y + (1 - lam) * F.one_hot(torch.from_numpy(b), num_classes).float()
    return torch.cat(out), y


def _atypical(gan, teacher, pool, count: int, num_classes: int, seed: int) -> Extra:
    """``count`` images (balanced): per class, of ``POOL`` times as many candidates, those the
    teacher reads as that class with the lowest probability."""
    classes = np.arange(POOL * count) % num_classes
    candidates = torch.from_numpy(gan.sample(classes, seed=seed))
    read = predict_proba(teacher, candidates)
    own = read[np.arange(len(classes)), classes]
    agreed = read.argmax(1) == classes
    keep = []
    for k in range(num_classes):
        wanted = count // num_classes + (k < count % num_classes)
        mine = np.flatnonzero((classes == k) & agreed)
        keep.append(mine[np.argsort(own[mine])[:wanted]])
    keep = np.concatenate(keep)
    labels = torch.from_numpy(classes[keep]).long()
    return candidates[keep], F.one_hot(labels, num_classes).float()


def _labelled_pool(gan, teacher, pool, count: int, num_classes: int, seed: int) -> Extra:
    """``count`` of ``pool``'s images (at most all), drawn per seed, with its labels."""
    images, labels = pool
    keep = np.random.default_rng(seed).permutation(len(images))[:count]
    return images[keep], F.one_hot(labels[keep], num_classes).float()


EXTRAS = {
    "mix": _interpolated,
    "atypical": _atypical,
    "true": _labelled_pool,
    "pseudo": _labelled_pool,
    "kept": _labelled_pool,
}


def _unlabelled(args: argparse.Namespace) -> np.ndarray:
    """The bundle's unlabelled images (uint8 ``(M, C, H, W)``), for the variants without a GAN."""
    from augment.images.bundle import ImageBundle

    unlabelled = ImageBundle.load(args.data).unlabelled
    if unlabelled is None:
        raise SystemExit(f"{args.data} has no unlabelled images for 'true', 'pseudo' or 'kept'")
    return np.asarray(unlabelled)


def _unlabelled_truth(
    args: argparse.Namespace, unlabelled: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    from image_pseudo_labels import _true_labels

    labels = _true_labels(args.mnist, unlabelled)
    return torch.from_numpy(unlabelled), torch.from_numpy(labels).long()


def _pseudo_labelled(
    args: argparse.Namespace,
    gan,
    images: torch.Tensor,
    labels: torch.Tensor,
    unlabelled: np.ndarray,
) -> tuple[torch.Tensor, Extra]:
    """Which unlabelled images the model's judge kept (bool), and those images with its
    classes: what the GAN learnt from (the same judge up to the last bits of its threads' float
    sums; the count kept is printed beside the model's)."""
    from augment.images.bundle import ImageSplit
    from augment.images.pseudo_labels import pseudo_label

    threshold = gan.config.pseudo_labels
    if threshold is None:
        raise SystemExit(f"{args.model} learnt no pseudo-labels for the 'pseudo' variant")
    if args.pseudo_labels:  # another judge's classes, at the model's threshold
        given = np.load(args.pseudo_labels)
        if len(given["classes"]) != len(unlabelled):
            raise SystemExit(
                f"{args.pseudo_labels} labels {len(given['classes'])} images, the bundle has"
                f" {len(unlabelled)} unlabelled ones"
            )
        kept = given["confidence"] >= threshold
        print(f"pseudo-labels: {kept.sum()} kept from {args.pseudo_labels}", file=sys.stderr)
        return torch.from_numpy(kept), (
            torch.from_numpy(unlabelled[kept]),
            torch.from_numpy(given["classes"][kept]).long(),
        )
    pseudo = pseudo_label(
        ImageSplit(images.numpy(), labels.numpy()),
        unlabelled,
        [str(k) for k in range(int(labels.max()) + 1)],
        threshold=threshold,
        seed=gan.summary.get("seed", 0),
        device=torch.device("cpu"),
        threads=args.threads,
        judge=gan.config.pseudo_label_judge,
    )
    learnt = gan.summary.get("pseudo_labels", {}).get("labelled")
    print(
        f"pseudo-labels: {pseudo.summary['labelled']} kept now, {learnt} when the GAN was trained",
        file=sys.stderr,
        flush=True,
    )
    appended = slice(len(images), None)
    return torch.from_numpy(pseudo.kept), (
        torch.from_numpy(pseudo.labelled.images[appended]),
        torch.from_numpy(pseudo.labelled.labels[appended]).long(),
    )


def _model_judge(args, gan, images, labels, num_classes):
    """The model's consistency judge, retrained with its seed on the bundle's training images
    and unlabelled ones (what chose the GAN's pseudo-labels)."""
    from augment.images.bundle import ImageSplit
    from augment.images.pseudo_labels import fit_consistency_judge

    started = time.perf_counter()
    judge = fit_consistency_judge(
        ImageSplit(images.numpy(), labels.numpy()),
        _unlabelled(args),
        num_classes,
        seed=gan.summary.get("seed", 0),
        device=torch.device("cpu"),
        threads=args.threads,
    )
    print(f"judge trained in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return judge


def _variant(text: str) -> tuple[str, str, float]:
    kind, _, ratio = text.partition("@")
    if kind not in LABELS or not ratio:
        raise SystemExit(f"a variant is LABELS@RATIO with LABELS one of {LABELS}, got {text!r}")
    return text, kind, float(ratio)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a prepared image bundle")
    p.add_argument("--model", type=Path, required=True, help="an image GAN trained on its train")
    p.add_argument("--variants", default="hard@1,soft@1,soft@4,half@4", help="LABELS@RATIO,...")
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="MNIST (for 'true')")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0, help="seed of the validation halves")
    p.add_argument(
        "--pseudo-labels",
        type=Path,
        help="for 'pseudo' and 'kept': classes and confidences (.npz, image_judge_consistency.py)"
        " instead of the model's judge, kept at the model's threshold",
    )
    p.add_argument(
        "--teacher",
        choices=("real", "judge"),
        default="real",
        help="who reads the GAN's images for soft, half and argmax: each seed's real-only CNN,"
        " or the model's consistency judge (trained once, on the labelled and unlabelled images)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=None, help="JSON results")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
