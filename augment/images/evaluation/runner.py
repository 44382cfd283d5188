"""``augment evaluate`` for images: does mixing synthetic images into the real training data help a
downstream CNN, by how much, at which mix, where real images are scarce, and versus classic
augmentation (crop / affine / flip)?

Protocol (DESIGN.md, "Evaluation protocol"), mirroring the tabular one:

* one downstream classifier (``classifier``: a small CNN up to 32 px, ResNet-18 above) is trained
  on every recipe with a fixed budget of optimizer steps and scored on the held-out real **test**
  split, which no synthesizer and no classifier ever trains on;
* recipes on the full training split: ``real``; ``real+classic`` (crop with padding, rotation,
  scale, a flip only if ``flip``); ``real+synth@r`` for each ratio r (r synthetic images per
  real image, class mix proportional to the real set); ``real+classic+synth@m`` (classic
  augmentation applied to real and synthetic images alike); ``synth`` (as many synthetic images
  as real ones: the classification accuracy score, CAS). ``m``, the *mix ratio*, is 1.0 when it is
  among the ratios, else the middle ratio;
* each seed varies the classifier's initialisation, batch order and augmentation draws, and which
  synthetic images are drawn; the same seed gives every recipe the same initialisation;
* gains are **paired**: recipe score minus real-only score with the same seed, summarised by the
  mean and a Student-t 95% interval over seeds; the primary metric is macro-F1 (as for tables;
  accuracy is reported beside it);
* low-data sweep: for each ``per_class`` k, one seeded stratified subset of k training images per
  class; the synthesizer is **retrained on that subset alone** (a model trained on all images
  would leak the ones the subset left out) and the recipes ``real``, ``real+classic``,
  ``real+synth@m`` and ``real+classic+synth@m`` run over the seeds. One subset and one GAN per k:
  the interval covers the classifier and the synthetic draws, not which real images happened to
  be kept. A k above the smallest class's training count is skipped with a note; the full
  training split is the sweep's last point (the main block);
* fidelity on the penultimate-layer features of the real-only classifier of the first seed (see
  :mod:`augment.images.evaluation.fidelity`): synthetic images (drawn with the labels of the real
  images they are compared with) against the real **test** images; the same scores for real
  training images against the test images are the reference a perfect generator would reach.
"""

from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.core.runtime import derive_seed, resolve_device
from augment.core.training import cpu_thread_limit
from augment.errors import AugmentError
from augment.evaluation.common import (
    StageTimer,
    check_ratios,
    fit_bar,
    format_ci,
    synthesizers_for,
)
from augment.evaluation.recipes import synth_recipe
from augment.evaluation.stats import (
    METRIC_LABELS,
    classification_scores,
    mean_ci,
    paired_gains,
)
from augment.images.bundle import ImageBundle, ImageSplit
from augment.images.evaluation import classifiers as clf_mod
from augment.images.evaluation.classifiers import (
    ImageClassifier,
    features,
    predict_proba,
    resolve_classifier,
)
from augment.images.evaluation.fidelity import (
    check_inception_weights,
    fidelity_scores,
    inception_features,
    load_inception,
)
from augment.images.evaluation.recipes import (
    CLASSIC,
    REAL,
    ImagePool,
    classic_synth_recipe,
    main_recipes,
    mix_ratio,
    parse_recipe,
    per_class_subset,
    recipe_split,
    sweep_recipes,
)
from augment.images.schema import ImageSchema
from augment.log import logger

PRIMARY_METRIC = "macro_f1"
IMAGE_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
FULL = "all"  # the key of the full-training-set block
DEFAULT_STEPS = 300
DEFAULT_BATCH_SIZE = 128
SAMPLE_CLASSES = 20  # rows of samples.png; classes beyond are left out
# A fitted synthesizer for a subset: factory(images, schema, seed) -> synthesizer.
ImageFactory = Callable[[ImageSplit, ImageSchema, int], Any]


def evaluate_images(
    bundle: ImageBundle | str | Path,
    model_dir: str | Path | None = None,
    *,
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
    per_class: Sequence[int] = (10, 50),
    seeds: int = 5,
    classifier: str = "auto",
    flip: bool = False,
    epochs: float | None = None,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sweep_hyperparameters: dict[str, Any] | None = None,
    inception_weights: str | Path | None = None,
    fidelity_images: int | None = 2000,
    samples_per_class: int = 8,
    n_threads: int | None = 1,
    device: str = "auto",
    progress: bool = True,
    seed: int = 0,
    synthesizer: Any = None,
    factory: ImageFactory | None = None,
) -> dict[str, Any]:
    """Train the downstream classifier on every recipe, score it on the real test split, and
    report paired gains over real only with 95% intervals, the low-data sweep, and fidelity.

    ``model_dir`` is a trained image model directory: its synthesizer serves the full training
    set and its ``config.json`` (model name and hyper-parameters, ``sweep_hyperparameters``
    merged over them, e.g. fewer steps) builds the synthesizers retrained in the sweep. A Python
    caller may pass ``synthesizer`` (fitted on the training split) and ``factory`` instead.

    The classifier trains for ``steps`` optimizer steps on batches of ``batch_size`` whatever the
    recipe's size; ``epochs``, when given, replaces that with ``ceil(epochs x images /
    batch_size)`` steps per recipe (more steps for bigger recipes; a set smaller than a batch
    gets one step per epoch).
    ``fidelity_images`` caps the test images compared (None: all). ``inception_weights`` is a
    local torchvision Inception-v3 state dict (.pth or .safetensors) for FD/PRDC on Inception
    features too; never downloaded. ``n_threads`` caps torch's CPU threads (None: the idle
    cores); on a shared 2-core machine one thread is the safe choice (a 2-thread CNN step ran
    7x slower than a 1-thread one while another process used a core).

    Returns a JSON-ready dict; :func:`augment.images.evaluation.write_image_evaluation` writes
    the metrics, plot data, sample grid and summary.
    """
    started = time.perf_counter()
    if not isinstance(bundle, ImageBundle):
        bundle = ImageBundle.load(bundle)
    schema = bundle.schema
    ratios = check_ratios(ratios)
    ks = _check_per_class(per_class)
    if int(seeds) < 1:
        raise AugmentError(f"seeds must be at least 1, got {seeds}")
    seeds = int(seeds)
    arch = resolve_classifier(classifier, schema.size)
    if int(steps) < 1:
        raise AugmentError(f"steps must be at least 1, got {steps}")
    if epochs is not None and not float(epochs) > 0:
        raise AugmentError(f"epochs must be positive, got {epochs}")
    if int(batch_size) < 1:
        raise AugmentError(f"batch_size must be at least 1, got {batch_size}")
    if fidelity_images is not None and int(fidelity_images) < 2:
        raise AugmentError(f"fidelity_images must be at least 2, got {fidelity_images}")
    if int(samples_per_class) < 0:
        raise AugmentError(f"samples_per_class must be non-negative, got {samples_per_class}")
    inception_path = check_inception_weights(inception_weights)
    torch_device = resolve_device(device)
    num_classes = len(schema.classes)

    train = bundle.train
    test = _known_labels(bundle.test, num_classes)
    counts = np.bincount(train.labels, minlength=num_classes)
    if (counts == 0).any():
        missing = [schema.classes[i] for i in np.flatnonzero(counts == 0)]
        raise AugmentError(f"the training split has no image of class(es) {missing}")
    sweep, skipped = [], []
    for k in ks:
        if k > counts.min():
            note = (
                f"{k} images per class skipped: class {schema.classes[int(counts.argmin())]!r} "
                f"has only {int(counts.min())} training images"
            )
        elif k >= counts.max():
            note = f"{k} images per class skipped: that is the whole training split"
        else:
            sweep.append(k)
            continue
        logger.warning("%s", note)
        skipped.append({"per_class": k, "reason": note})

    synthesizer, factory = synthesizers_for(
        model_dir, synthesizer, factory, bool(sweep), device, sweep_hyperparameters
    )

    mix = mix_ratio(ratios)
    recipes = main_recipes(ratios, mix)
    low_recipes = sweep_recipes(mix)
    total = seeds * len(recipes) + len(sweep) * (1 + seeds * len(low_recipes))
    timer = StageTimer()
    bar = fit_bar(total, progress)
    ctx = _Context(
        schema=schema,
        arch=arch,
        device=torch_device,
        test_images=torch.from_numpy(test.images).to(torch_device),
        y_test=test.labels,
        seeds=seeds,
        seed=seed,
        steps=int(steps),
        epochs=None if epochs is None else float(epochs),
        batch_size=int(batch_size),
        flip=bool(flip),
        bar=bar,
        timer=timer,
    )
    blocks: dict[str, dict[str, Any]] = {}
    with cpu_thread_limit(torch_device, n_threads) as threads:
        try:
            bar.set_postfix_str("all real images")
            full, extractor = _run_block(ctx, FULL, recipes, train, synthesizer)
            blocks[FULL] = {
                **full,
                "images": len(train),
                "per_class": round(len(train) / num_classes, 1),
                "synthesizer": "trained model",
            }
            for k in sweep:
                rng = np.random.default_rng(derive_seed(seed, "subset", k))
                subset = per_class_subset(train, k, rng)
                bar.set_postfix_str(f"{k} per class: fitting synthesizer")
                with timer("retrain"):
                    assert factory is not None
                    synth_k = factory(subset, schema, derive_seed(seed, "fit", k))
                bar.update(1)
                bar.set_postfix_str(f"{k} per class")
                block, _ = _run_block(ctx, str(k), low_recipes, subset, synth_k)
                blocks[str(k)] = {
                    **block,
                    "images": len(subset),
                    "per_class": k,
                    "synthesizer": "retrained on the subset",
                }
        finally:
            bar.close()

        with timer("fidelity"):
            fidelity, fid_sets = _fidelity(
                ctx, train, test, synthesizer, extractor, fidelity_images
            )
        if inception_path is None:
            fidelity["inception"] = {"skipped": "no inception_weights given; never downloaded"}
        else:
            with timer("inception"):
                net = load_inception(inception_path, torch_device)
                feats = [inception_features(net, images, torch_device) for images in fid_sets]
                fidelity["inception"] = {
                    "weights": str(inception_path),
                    "features": int(feats[0].shape[1]),
                    **fidelity_scores(*feats),
                }
        samples = _samples(train, synthesizer, schema, samples_per_class, seed)

    result: dict[str, Any] = {
        "modality": "image",
        "dataset": {
            "path": str(bundle.path),
            "classes": list(schema.classes),
            "size": int(schema.size),
            "channels": int(schema.channels),
            "images": {
                "train": len(train),
                "validation": _split_len(bundle, "validation"),
                "test": len(test),
            },
        },
        "model": {
            "name": getattr(synthesizer, "name", type(synthesizer).__name__),
            "dir": None if model_dir is None else str(model_dir),
        },
        "settings": {
            "ratios": list(ratios),
            "per_class": list(ks),
            "seeds": seeds,
            "classifier": arch,
            "flip": bool(flip),
            "steps": int(steps),
            "epochs": None if epochs is None else float(epochs),
            "batch_size": int(batch_size),
            "sweep_hyperparameters": sweep_hyperparameters or {},
            "inception_weights": None if inception_path is None else str(inception_path),
            "fidelity_images": fidelity["images"],
            "samples_per_class": int(samples_per_class),
            "n_threads": threads,
            "device": str(torch_device),
            "seed": seed,
            "ci_level": 0.95,
        },
        "primary_metric": PRIMARY_METRIC,
        "classifier": arch,
        "mix_ratio": mix,
        "recipes": recipes,
        "sweep_recipes": low_recipes,
        "per_class": blocks,
        "skipped": skipped,
        "fidelity": fidelity,
        "samples": samples,
        "timings": {**timer.totals, "total_s": round(time.perf_counter() - started, 2)},
    }
    result["verdict"] = verdict(result)
    result["low_data_verdict"] = low_data_verdict(result)
    logger.info("%s", result["verdict"])
    if result["low_data_verdict"]:
        logger.info("where real images are scarce: %s", result["low_data_verdict"])
    logger.info(
        "evaluated %d classifier fits and %d GAN retrains in %.0f s; FD %.3g (real train vs test "
        "%.3g), precision %.2f, recall %.2f",
        total - len(sweep),
        len(sweep),
        result["timings"]["total_s"],
        fidelity["frechet_distance"],
        fidelity["reference"]["frechet_distance"],
        fidelity["precision"],
        fidelity["recall"],
    )
    return result


def _split_len(bundle: ImageBundle, name: str) -> int | None:
    try:
        return len(bundle.split(name))
    except AugmentError:
        return None


# -- one block: one training set (all images or k per class), all seeds ---------------------------
@dataclass
class _Context:
    schema: ImageSchema
    arch: str
    device: torch.device
    test_images: torch.Tensor
    y_test: np.ndarray
    seeds: int
    seed: int
    steps: int
    epochs: float | None
    batch_size: int
    flip: bool
    bar: Any
    timer: StageTimer

    def steps_for(self, n: int) -> int:
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n / min(self.batch_size, n)))


def _run_block(
    ctx: _Context, key: str, recipes: list[str], real: ImageSplit, synth: Any
) -> tuple[dict[str, Any], ImageClassifier]:
    """Scores of every recipe for each seed, their means and intervals, the paired gains over
    real only and over real + classic. Also returns seed 0's real-only classifier."""
    parsed = [parse_recipe(r) for r in recipes]
    needs = [1.0 if p.ratio is None else p.ratio for p in parsed]
    max_images = int(math.ceil(max(needs) * len(real)))
    num_classes = len(ctx.schema.classes)
    scores: dict[str, dict[str, list[float]]] = {r: {m: [] for m in IMAGE_METRICS} for r in recipes}
    first: ImageClassifier | None = None
    for s in range(ctx.seeds):
        pool = None
        if max_images > 0 and any(p.ratio != 0 for p in parsed):
            with ctx.timer("sampling"):
                pool = ImagePool(
                    synth,
                    real.labels,
                    num_classes,
                    ctx.schema.shape,
                    max_images,
                    seed=derive_seed(ctx.seed, "sample", key, s),
                )
        clf_seed = derive_seed(ctx.seed, "classifier", s)
        for recipe in parsed:
            data = recipe_split(recipe, real, pool)
            with ctx.timer("classifiers"):
                model = clf_mod.train_classifier(
                    torch.from_numpy(data.images).to(ctx.device),
                    torch.from_numpy(data.labels).to(ctx.device),
                    arch=ctx.arch,
                    num_classes=num_classes,
                    steps=ctx.steps_for(len(data)),
                    batch_size=ctx.batch_size,
                    seed=clf_seed,
                    augment=recipe.classic,
                    flip=ctx.flip,
                )
                proba = predict_proba(model, ctx.test_images)
            got = classification_scores(ctx.y_test, proba, minority=0)
            for m in IMAGE_METRICS:
                scores[recipe.name][m].append(got[m])
            if s == 0 and recipe.name == REAL:
                first = model
            ctx.bar.update(1)
    assert first is not None
    summary = {r: {m: mean_ci(v) for m, v in per.items()} for r, per in scores.items()}
    gains = {
        r: {m: mean_ci(paired_gains(v, scores[REAL][m])) for m, v in per.items()}
        for r, per in scores.items()
        if r != REAL
    }
    vs_classic = {
        r: {m: mean_ci(paired_gains(v, scores[CLASSIC][m])) for m, v in per.items()}
        for r, per in scores.items()
        if r not in (REAL, CLASSIC) and CLASSIC in scores
    }
    return {"scores": scores, "summary": summary, "gains": gains, "vs_classic": vs_classic}, first


# -- fidelity and the sample grid ---------------------------------------------------------------
def _fidelity(
    ctx: _Context,
    train: ImageSplit,
    test: ImageSplit,
    synth: Any,
    extractor: ImageClassifier,
    cap: int | None,
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """FD and PRDC of synthetic vs real test images, and of real training vs real test images
    (the reference), on the extractor's penultimate features. All three sets have the same size
    and class counts: the test images' (a random subset of ``cap`` when there are more)."""
    rng = np.random.default_rng(derive_seed(ctx.seed, "fidelity"))
    n = len(test) if cap is None else min(int(cap), len(test))
    pick = np.sort(rng.choice(len(test), n, replace=False)) if n < len(test) else np.arange(n)
    real = test.subset(pick)
    fake = synth.sample(real.labels, seed=derive_seed(ctx.seed, "fidelity-sample"))
    fake = np.asarray(fake, dtype=np.uint8)
    ref_index = np.empty(n, dtype=np.int64)
    for c in np.unique(real.labels):
        where = np.flatnonzero(real.labels == c)
        pool = np.flatnonzero(train.labels == c)
        ref_index[where] = rng.choice(pool, len(where), replace=len(pool) < len(where))
    reference = train.images[ref_index]

    def feats(images: np.ndarray) -> np.ndarray:
        return features(extractor, torch.from_numpy(np.ascontiguousarray(images)).to(ctx.device))

    scores = fidelity_scores(feats(real.images), feats(fake), feats(reference))
    out = {
        "extractor": (
            f"penultimate layer ({extractor.n_features} features) of the {ctx.arch} trained on "
            "the real training split (real-only recipe, first seed)"
        ),
        "features": extractor.n_features,
        "real_split": "test",
        "images": n,
        "prdc_k": 5,
        **scores,
    }
    return out, (real.images, fake, reference)


def _samples(
    train: ImageSplit, synth: Any, schema: ImageSchema, per: int, seed: int
) -> dict[str, Any] | None:
    """A PNG grid (base64, so the result stays JSON): per class, ``per`` real training images,
    a grey cell, then ``per`` synthetic ones. At most :data:`SAMPLE_CLASSES` classes."""
    if per <= 0:
        return None
    from PIL import Image

    from augment.images.grid import PAD_VALUE, make_grid

    rng = np.random.default_rng(derive_seed(seed, "samples"))
    classes = list(range(min(len(schema.classes), SAMPLE_CLASSES)))
    fake = np.asarray(synth.sample(np.repeat(classes, per), seed=derive_seed(seed, "samples")))
    blank = np.full((1, *schema.shape), PAD_VALUE, dtype=np.uint8)  # a grey separator cell
    rows = []
    for i, c in enumerate(classes):
        idx = np.flatnonzero(train.labels == c)
        chosen = np.sort(rng.choice(idx, min(per, len(idx)), replace=False))
        real = train.images[chosen]
        if len(real) < per:
            real = np.concatenate([real, np.repeat(blank, per - len(real), axis=0)])
        rows += [real, blank, fake[i * per : (i + 1) * per]]
    sheet = make_grid(np.concatenate(rows), nrow=2 * per + 1)
    picture = Image.fromarray(sheet[:, :, 0] if sheet.shape[2] == 1 else sheet)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return {
        "classes": [schema.classes[c] for c in classes],
        "per_class": per,
        "layout": "one row per class: real training images, a grey cell, synthetic images",
        "png_base64": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


# -- verdicts -----------------------------------------------------------------------------------
def best_ratio(gains: dict[str, Any], ratios: Sequence[float], metric: str) -> float:
    """The ratio whose mean paired gain is highest (ties: the smaller ratio)."""
    return float(max(ratios, key=lambda r: (gains[synth_recipe(r)][metric]["mean"], -r)))


def _significance(ci: dict[str, float]) -> str:
    if math.isnan(ci["low"]):
        return ""
    if ci["low"] > 0:
        return "synthetic images help: "
    if ci["high"] < 0:
        return "synthetic images hurt: "
    return "no significant gain: "


def verdict(result: dict[str, Any]) -> str:
    """One line: the best ratio's paired gain on the primary metric at the full training set,
    classic augmentation's, and classic + synthetic's."""
    metric = result["primary_metric"]
    block = result["per_class"][FULL]
    gains = block["gains"]
    ratios = result["settings"]["ratios"]
    r = best_ratio(gains, ratios, metric)
    ci = gains[synth_recipe(r)][metric]
    seeds = result["settings"]["seeds"]
    best_of = f", best of {len(ratios)} ratios" if len(ratios) > 1 else ""
    mix = result["mix_ratio"]
    label = METRIC_LABELS.get(metric, metric)
    return (
        f"{_significance(ci)}real + {r:g}× synthetic: {label} {format_ci(ci)} vs real only "
        f"({result['classifier']}, 95% CI, {seeds} seed{'s' if seeds != 1 else ''}{best_of}); "
        f"classic augmentation: {format_ci(gains[CLASSIC][metric])}; classic + {mix:g}× synthetic: "
        f"{format_ci(gains[classic_synth_recipe(mix)][metric])}"
    )


def low_data_verdict(result: dict[str, Any]) -> str:
    """The same comparison at the smallest images-per-class point of the sweep, if it ran."""
    keys = sorted((k for k in result["per_class"] if k != FULL), key=int)
    if not keys:
        return ""
    block = result["per_class"][keys[0]]
    metric = result["primary_metric"]
    mix = result["mix_ratio"]
    ci = block["gains"][synth_recipe(mix)][metric]
    label = METRIC_LABELS.get(metric, metric)
    return (
        f"with {keys[0]} real images per class ({block['images']} images): {_significance(ci)}"
        f"real + {mix:g}× synthetic: {label} {format_ci(ci)}; classic augmentation: "
        f"{format_ci(block['gains'][CLASSIC][metric])}; classic + {mix:g}× synthetic: "
        f"{format_ci(block['gains'][classic_synth_recipe(mix)][metric])}"
    )


# -- checks --------------------------------------------------------------------------------------
def _check_per_class(per_class: Sequence[int]) -> list[int]:
    values = list(per_class or [])
    bad = [v for v in values if not float(v).is_integer() or int(v) < 1]
    if bad:
        raise AugmentError(f"per_class values must be whole numbers of at least 1, got {bad[0]!r}")
    return sorted({int(v) for v in values})


def _known_labels(data: ImageSplit, num_classes: int) -> ImageSplit:
    ok = (data.labels >= 0) & (data.labels < num_classes)
    if not ok.all():
        logger.warning(
            "test split: ignoring %d images whose label is not a class index", int((~ok).sum())
        )
        data = data.subset(np.flatnonzero(ok))
    return data


__all__ = [
    "FULL",
    "IMAGE_METRICS",
    "PRIMARY_METRIC",
    "best_ratio",
    "evaluate_images",
    "low_data_verdict",
    "verdict",
]
