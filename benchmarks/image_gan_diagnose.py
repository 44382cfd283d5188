"""Diagnose one image-GAN setting on MNIST with k labelled images per class.

Trains the GAN on the k-per-class subset (optionally with unlabelled MNIST training images that
are in no other split), then reports on the features of a real-only CNN (the evaluation's
extractor: trained on the k-per-class subset, 300 steps):

- PRDC (precision / recall / density / coverage) and Fréchet distance of synthetic images vs
  ``--images`` validation images, overall and per class; the same for as many other validation
  images (same class counts) as the ceiling a perfect generator would reach;
- CAS: macro-F1 on the validation images of the CNN trained on synthetic images only;

The test split is never read: settings are chosen here, so they may not see it (the benchmark
``images_mnist.py`` scores the chosen ones on the test split).
- the discriminator over training: its mean score and accuracy (score > 0 for real, < 0 for
  fake, no augmentation) on its own training images, on held-out real images and on fakes. A
  widening gap between the first two is the discriminator memorising its training set;
- ``noise_grid.png`` in ``--out``: per class one row of ``--columns`` samples, each from other
  noise (within-class variety at a glance), and the training snapshots.

One JSON line on stdout. The prepared data and the extractor are cached in ``--cache``.

Usage:
    python3 benchmarks/image_gan_diagnose.py --steps 1500 --out /tmp/diag/defaults
    python3 benchmarks/image_gan_diagnose.py --steps 1500 --gan '{"lecam": 0.3}' --out /tmp/x
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safetensors.torch import load_file, save_file

from augment.core.training import LoopConfig, train_gan
from augment.evaluation.stats import classification_scores
from augment.images import gan as gan_mod
from augment.images.bundle import ImageBundle, ImageSplit
from augment.images.evaluation import classifiers as clf
from augment.images.evaluation.fidelity import frechet_distance, prdc
from augment.images.grid import save_grid
from augment.images.ingest import ingest_images
from augment.images.readers import read_idx_pair

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
EXTRACTOR_STEPS, EXTRACTOR_BATCH = 300, 128  # the image evaluation's defaults


def main() -> int:
    args = _parser().parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    bundle = prepared(args)
    validation = bundle.validation
    unlabelled = bundle.unlabelled
    extractor = feature_extractor(bundle, args.cache)

    params = {"steps": args.steps, "threads": args.threads, **json.loads(args.gan)}
    started = time.perf_counter()
    synth, live, free, curve = fit_with_probe(params, bundle, unlabelled, args)
    fit_seconds = time.perf_counter() - started

    rng = np.random.default_rng(0)
    pick = rng.permutation(len(validation))
    real = validation.subset(np.sort(pick[: args.images]))
    fake = synth.sample(real.labels, seed=1)
    held_out = _matching(validation.subset(np.sort(pick[args.images :])), real.labels, rng)

    def feats(images: np.ndarray) -> np.ndarray:
        return clf.features(extractor, torch.from_numpy(np.ascontiguousarray(images)))

    f_real, f_fake, f_held = feats(real.images), feats(fake), feats(held_out.images)
    row: dict[str, Any] = {
        "gan": params,
        "unlabelled": 0 if unlabelled is None else len(unlabelled),
        "unlabelled_dropped": (bundle.schema.source.get("unlabelled") or {}).get("dropped_copies"),
        "fit_s": round(fit_seconds),
        "steps_per_s": synth.summary.get("steps_per_second"),
        **_scores(f_real, f_fake, real.labels),
        "cas": cas(fake, real.labels, validation, args.threads),
        "held_out_real": _scores(f_real, f_held, real.labels, per_class=False),
        # The generator's live weights (not the moving average), BatchNorm re-measured: is the
        # average what loses the variety?
        "live": _scores(f_real, feats(live.sample(real.labels, seed=1)), real.labels, False),
        # The sampling generator with BatchNorm on batch statistics (500 mixed-class images a
        # batch) instead of its measured running ones: do eval statistics cost variety?
        "batch_stats": _scores(
            f_real, feats(batch_stat_sample(synth, real.labels)), real.labels, False
        ),  # fmt: skip
        "d_curve": curve,
    }
    grid = np.repeat(np.arange(len(bundle.schema.classes)), args.columns)
    save_grid(synth.sample(grid, seed=2), args.out / "noise_grid.png", nrow=args.columns)
    save_grid(live.sample(grid, seed=2), args.out / "noise_grid_live.png", nrow=args.columns)
    if free is not None:
        # The generator without its class (weight 0): what the unconditional phase learnt.
        row["unconditional"] = _scores(f_real, feats(free.sample(real.labels, seed=1)),
                                       real.labels, False)  # fmt: skip
        save_grid(free.sample(grid, seed=2), args.out / "noise_grid_unconditional.png",
                  nrow=args.columns)  # fmt: skip
        (args.out / "result.json").write_text(json.dumps(row, indent=1))
        print(json.dumps(row["unconditional"]), flush=True)
    (args.out / "result.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row), flush=True)
    return 0


# ---------------------------------------------------------------- data and extractor
def prepared(args: argparse.Namespace) -> ImageBundle:
    """MNIST with ``per_class`` labelled training images (cached); official t10k as test. With
    ``--unlabelled N``: the same splits plus N unlabelled MNIST training images that are in no
    split, through ``ingest --unlabelled`` (an .npz of them is written to the cache first)."""
    folder = args.cache / f"mnist_{args.per_class}"
    if not (folder / "schema.json").is_file():
        ingest_images(args.mnist, folder, per_class=args.per_class, progress=False)
    if not args.unlabelled:
        return ImageBundle.load(folder)
    plain = ImageBundle.load(folder)
    mixed = args.cache / f"mnist_{args.per_class}_unlabelled_{args.unlabelled}"
    if not (mixed / "schema.json").is_file():
        images, _, _ = read_idx_pair(next(args.mnist.glob("train-images*")))
        used = {_digest(x) for name in ("train", "validation") for x in plain.split(name).images}
        free = np.array([i for i, x in enumerate(images) if _digest(x[None]) not in used])
        keep = np.random.default_rng(0).permutation(free)[: args.unlabelled]
        pool = args.cache / f"mnist_free_{args.per_class}_{args.unlabelled}.npz"
        np.savez(pool, x=images[np.sort(keep)])
        ingest_images(args.mnist, mixed, per_class=args.per_class, unlabelled=pool, progress=False)
    return ImageBundle.load(mixed)


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def feature_extractor(bundle: ImageBundle, cache: Path) -> clf.ImageClassifier:
    """The evaluation's extractor: the real-only CNN (seed 0), cached as safetensors."""
    schema, train = bundle.schema, bundle.train
    net = clf.build_classifier("cnn", schema.channels, schema.size, len(schema.classes))
    file = cache / f"extractor_{len(train)}.safetensors"
    if file.is_file():
        net.load_state_dict(load_file(str(file)))
        return net.eval()
    net = _train_cnn(train)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(file))
    return net


def _train_cnn(data: ImageSplit) -> clf.ImageClassifier:
    return clf.train_classifier(
        torch.from_numpy(data.images),
        torch.from_numpy(data.labels),
        arch="cnn",
        num_classes=int(data.labels.max()) + 1,
        steps=EXTRACTOR_STEPS,
        batch_size=EXTRACTOR_BATCH,
        seed=0,
    )


def _matching(pool: ImageSplit, labels: np.ndarray, rng: np.random.Generator) -> ImageSplit:
    """Images of ``pool`` with the class counts of ``labels`` (without replacement)."""
    index = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        index[where] = rng.choice(np.flatnonzero(pool.labels == c), len(where), replace=False)
    return pool.subset(index)


# ---------------------------------------------------------------- training with a D probe
def fit_with_probe(
    params: dict[str, Any],
    bundle: ImageBundle,
    unlabelled: np.ndarray | None,
    args: argparse.Namespace,
) -> tuple[gan_mod.ImageGAN, gan_mod.ImageGAN, gan_mod.ImageGAN | None, list[dict[str, float]]]:
    """``ImageGAN.fit`` with a probe of the discriminator every ``--probe-every`` steps; also
    returns the live generator (no weight average) as a second sampler."""
    synth = gan_mod.ImageGAN(**params)
    schema = bundle.schema
    images = len(bundle.train) + (0 if unlabelled is None else len(unlabelled))
    cfg, budget = gan_mod.resolve_budget(synth.config, images, schema, torch.device("cpu"))
    synth.config = cfg
    print(json.dumps({"budget": budget}), file=sys.stderr, flush=True)
    extra = {} if unlabelled is None else {"unlabelled": unlabelled}
    task = gan_mod._ImageGANTask(cfg, bundle.train, schema, 0, args.out / "snapshots", **extra)
    (args.out / "snapshots").mkdir(exist_ok=True)
    held = bundle.validation
    curve: list[dict[str, float]] = []

    def probe(step: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(step)
        rng = np.random.default_rng(step)
        n, m = 500, cfg.pack
        d = task.discriminator

        def score(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            weight = task.class_weight * cfg.projection_weight  # as training scores them
            return d(*gan_mod.pack_images(images, labels, m), weight).float()

        def real_scores(split: ImageSplit) -> torch.Tensor:
            # n images in packs of m of one class, as training draws them.
            y = rng.choice(split.labels, n // m)
            index = np.concatenate([rng.choice(np.flatnonzero(split.labels == c), m) for c in y])
            x = torch.from_numpy(split.images[index]).float() / 127.5 - 1
            return score(x, torch.from_numpy(split.labels[index]))

        y_fake = torch.from_numpy(rng.choice(bundle.train.labels, n // m)).repeat_interleave(m)
        fake = task.generator(torch.randn(len(y_fake), cfg.z_dim, generator=gen), y_fake).float()
        s_train, s_hold, s_fake = real_scores(bundle.train), real_scores(held), score(fake, y_fake)
        row = {
            "step": step,
            "d_train": s_train.mean().item(),
            "d_held": s_hold.mean().item(),
            "d_fake": s_fake.mean().item(),
            "acc_train": (s_train > 0).float().mean().item(),
            "acc_held": (s_hold > 0).float().mean().item(),
            "acc_fake": (s_fake < 0).float().mean().item(),
        }
        row.update({k: float(v) for k, v in getattr(task, "stats", lambda: {})().items()})
        curve.append({k: round(v, 3) for k, v in row.items()})
        print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
        return {}

    loop = LoopConfig(
        steps=cfg.steps,
        d_steps=cfg.d_steps,
        seed=0,
        device="cpu",
        precision=cfg.precision,
        threads=cfg.threads,
        progress=False,
        log_every=cfg.log_every,
        on_log=lambda step, values: None,
        probe=probe,
        probe_every=args.probe_every,
    )
    summary = train_gan(task, loop)
    live = gan_mod.ImageGAN(**cfg.to_dict())
    live.schema, live.summary, live.device = schema, summary, task.device
    net = task.generator
    net.class_weight = 1.0
    live.generator = gan_mod._for_sampling(task._standing_stats(net), task.device)
    free = None
    if args.unconditional:
        free = gan_mod.ImageGAN(**cfg.to_dict())
        free.schema, free.summary, free.device = schema, summary, task.device
        net = copy.deepcopy(task._sampler())
        net.class_weight = 0.0  # BatchNorm statistics measured without the class, too
        free.generator = gan_mod._for_sampling(task._standing_stats(net), task.device)
    generator = task.final_generator()
    task.snapshot(summary["steps"], generator)
    synth.schema, synth.summary = schema, summary
    synth.generator, synth.device = gan_mod._for_sampling(generator, task.device), task.device
    return synth, live, free, curve


@torch.no_grad()
def batch_stat_sample(synth: gan_mod.ImageGAN, labels: np.ndarray) -> np.ndarray:
    net = copy.deepcopy(synth.generator).train()
    gen = torch.Generator().manual_seed(1)
    out = []
    for start in range(0, len(labels), 500):
        y = torch.from_numpy(labels[start : start + 500])
        z = torch.randn(len(y), synth.config.z_dim, generator=gen)
        out.append(gan_mod.to_uint8(net(z, y)).numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------- scores
def _scores(
    real: np.ndarray, fake: np.ndarray, labels: np.ndarray, per_class: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"fd": round(frechet_distance(real, fake), 2)}
    out.update({k: round(v, 3) for k, v in prdc(real, fake).items()})
    if per_class:
        rows = [prdc(real[labels == c], fake[labels == c]) for c in np.unique(labels)]
        for metric in ("recall", "coverage", "precision"):
            out[f"class_{metric}"] = [round(r[metric], 2) for r in rows]
    return out


def cas(fake: np.ndarray, labels: np.ndarray, judge: ImageSplit, threads: int) -> float:
    """Macro-F1 on ``judge`` (the validation split) of the CNN trained on synthetic images."""
    model = _train_cnn(ImageSplit(fake, labels))
    proba = clf.predict_proba(model, torch.from_numpy(judge.images))
    return round(classification_scores(judge.labels, proba, minority=0)["macro_f1"], 4)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--unlabelled", type=int, default=0, help="unlabelled MNIST images to add")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--gan", default="{}", help="JSON: GAN hyper-parameters")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--images", type=int, default=2000, help="validation images for PRDC and FD")
    p.add_argument("--probe-every", type=int, default=250)
    p.add_argument("--columns", type=int, default=16, help="samples per class in the grid")
    p.add_argument(
        "--unconditional", action="store_true", help="also score the generator at class weight 0"
    )
    p.add_argument("--cache", type=Path, default=Path("/tmp/augment-diagnose"))
    p.add_argument("--out", type=Path, required=True)
    return p


if __name__ == "__main__":
    sys.exit(main())
