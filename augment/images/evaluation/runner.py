"""``augment evaluate`` for images: does mixing synthetic images into the real training data help a
downstream CNN, by how much, at which mix, where real images are scarce, and versus classic
augmentation (crop / affine / flip)?

Protocol (docs/architecture.md, "Evaluation protocol"), mirroring the tabular one:

* one downstream classifier (``classifier``: a small CNN up to 32 px, ResNet-18 above) is trained
  on every recipe and scored on the held-out real **test** split, which no synthesizer and no
  classifier ever trains on;
* each fit trains to convergence, so every recipe is judged at its best: its step budget grows
  with its training set (``epochs`` passes, at least ``steps``, at most ``max_steps``), it scores
  real **validation** images about once per pass and stops after ``patience`` scores without a
  better macro-F1 (never before ``steps``), keeping its best weights. The validation images are
  a seeded stratified subset of the bundle's validation split with at most
  ``max(k, VALIDATION_FLOOR)`` images per class, k the block's real training images of the
  class: a user with 10 images per class does not own hundreds of validation images. The same
  subset serves every recipe and seed of a block. The test split is only scored.
  ``patience: null`` and ``epochs: null`` restore a fixed budget of ``steps`` for every fit;
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
  ``real+synth@m`` and ``real+classic+synth@m`` run over the seeds. ``sweep_retrain="per_class"``
  (the default: a GAN retrain costs minutes on a CPU) keeps one subset and one GAN per k, so the
  interval covers the classifier and the synthetic draws, not which real images happened to be
  kept; ``"seed"`` draws a subset and retrains the GAN per k and seed, so it covers that too, at
  ``seeds`` times the GAN cost. A k above the smallest class's training count is skipped with a
  note; the full training split is the sweep's last point (the main block);
* fidelity on the penultimate-layer features of the real-only classifier of the first seed (see
  :mod:`augment.images.evaluation.fidelity`): synthetic images (drawn with the labels of the real
  images they are compared with) against the real **test** images; the same scores for real
  training images against the test images are the reference a perfect generator would reach;
* ``synthetic_weight``: each real + synthetic mix runs once per weight a synthetic image has in
  the cross-entropy (weight 1 always runs); ``curate`` adds ``real+curated@m`` and
  ``real+classic+curated@m`` on every block: synthetic images kept only where the CNN trained
  (with the defaults) on that block's real training images - never test - gives their class
  probability >= ``curate_threshold`` (:mod:`augment.evaluation.curation`);
* ``pretrain_steps`` (0: off) adds ``real+classic+pretrained`` on every block: the CNN first
  trains that many fixed steps on ``pretrain_images`` synthetic images (the real set's class
  mix, classic augmentation on them too, drawn per seed), then trains from those weights
  exactly as ``real+classic`` does. The synthetic images then start the network instead of
  joining the real batches: on MNIST with 10 labelled images per class (a GAN trained 3,700
  steps on them) this beat real + classic where mixing did not (BENCHMARKS.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.core.modalities import IMAGE
from augment.core.runtime import derive_seed, resolve_device
from augment.core.training import cpu_thread_limit
from augment.errors import AugmentError
from augment.evaluation.common import (
    StageTimer,
    SweepRetrains,
    check_ratios,
    check_threshold,
    check_weights,
    fit_bar,
    synthesizers_for,
)
from augment.evaluation.curation import CurationReport, shortfall_line
from augment.evaluation.parallel import FanOut, Task, run_fits
from augment.evaluation.recipes import mix_recipe, real_recipe
from augment.evaluation.results import (
    Block,
    BlockScores,
    Dataset,
    EvaluationResult,
    FeatureFidelity,
    ImageFidelity,
    ModelRecord,
)
from augment.evaluation.verdict import build_verdicts
from augment.images.bundle import ImageBundle, ImageSplit
from augment.images.evaluation.classifiers import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_STEPS,
    FitTask,
    ImageClassifier,
    TrainingLog,
    features,
    fit_and_score,
    resolve_classifier,
    steps_cap,
)
from augment.images.evaluation.curation import curate_images, describe_judge, fit_judge
from augment.images.evaluation.fidelity import (
    PRDC_K,
    check_inception_weights,
    fidelity_scores,
    inception_features,
    load_inception,
)
from augment.images.evaluation.recipes import (
    CLASSIC,
    REAL,
    ImagePool,
    cas_recipe,
    classic_recipe,
    combined_recipe,
    main_recipes,
    mix_ratio,
    parse_recipe,
    per_class_subset,
    pretrained_recipe,
    recipe_split,
    sweep_recipes,
    validation_subset,
)
from augment.images.figures import samples_png
from augment.images.schema import ImageSchema
from augment.log import logger

PRIMARY_METRIC = "macro_f1"
IMAGE_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
FULL = "all"  # the key of the full-training-set block
DEFAULT_EPOCHS = 100.0
DEFAULT_MAX_STEPS = 3000
DEFAULT_PATIENCE = 5
# Validation images per class used for early stopping are at most max(k, this), k the block's
# real training images per class. 20 per class x 10 classes: one image moves macro-F1 by
# about 0.5%, enough to see the plateau; a user who labelled 10 per class for training can
# label 20 more to check on.
VALIDATION_FLOOR = 20
SAMPLE_CLASSES = 20  # rows of samples.png; classes beyond are left out
INCEPTION_EXTRACTOR = (
    "Inception-v3 pool features: images upsampled to 299 px (bilinear), grey repeated to 3 "
    "channels, ImageNet-normalised"
)
SWEEP_RETRAIN = ("per_class", "seed")
# Synthetic pretraining (real+classic+pretrained), as measured on MNIST (BENCHMARKS.md): 1,000
# steps of 128 on 5,000 synthetic images, about 26 passes over them.
DEFAULT_PRETRAIN_STEPS = 1000
DEFAULT_PRETRAIN_IMAGES = 5000
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
    epochs: float | None = DEFAULT_EPOCHS,
    steps: int = DEFAULT_STEPS,
    max_steps: int = DEFAULT_MAX_STEPS,
    patience: int | None = DEFAULT_PATIENCE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sweep_hyperparameters: dict[str, Any] | None = None,
    sweep_retrain: str = "per_class",
    inception_weights: str | Path | None = None,
    fidelity_images: int | None = 2000,
    samples_per_class: int = 8,
    synthetic_weight: Sequence[float] = (1.0,),
    curate: bool = False,
    curate_threshold: float = 0.5,
    pretrain_steps: int = DEFAULT_PRETRAIN_STEPS,
    pretrain_images: int = DEFAULT_PRETRAIN_IMAGES,
    n_threads: int | None = 1,
    jobs: int | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    device: str = "auto",
    progress: bool = True,
    seed: int = 0,
    synthesizer: Any = None,
    factory: ImageFactory | None = None,
) -> EvaluationResult:
    """Train the downstream classifier on every recipe, score it on the real test split, and
    report paired gains over real only with 95% intervals, the low-data sweep, and fidelity.

    ``model_dir`` is a trained image model directory: its synthesizer serves the full training
    set and its ``config.json`` (model name and hyper-parameters, ``sweep_hyperparameters``
    merged over them, e.g. fewer steps) builds the synthesizers retrained in the sweep. A Python
    caller may pass ``synthesizer`` (fitted on the training split) and ``factory`` instead.

    Each classifier fit's budget is ``ceil(epochs x images / batch_size)`` optimizer steps on
    batches of ``batch_size`` (a set smaller than a batch gets one step per epoch), at least
    ``steps`` and at most ``max_steps``; ``epochs=None`` gives every fit ``steps``. With
    ``patience`` the fit scores the (capped, see the protocol) validation images about once per
    pass, stops after ``patience`` scores without improvement (not before ``steps``) and keeps
    its best weights;
    ``patience=None`` runs the whole budget and keeps the last (the behaviour before early
    stopping, with ``epochs=None``: 300 steps for every recipe). A bundle without validation
    images trains without early stopping, with a warning. Every fit's steps and seconds are in
    the result (:attr:`Block.costs`).
    ``fidelity_images`` caps the test images compared (None: all). ``inception_weights`` is a
    local torchvision Inception-v3 state dict (.pth or .safetensors) for FD/PRDC on Inception
    features too; never downloaded. ``n_threads`` caps torch's CPU threads (None: the idle
    cores); on a shared 2-core machine one thread is the safe choice (a 2-thread CNN step ran
    7x slower than a 1-thread one while another process used a core).

    The classifier fits run side by side (:mod:`augment.evaluation.parallel`): ``jobs`` joblib
    workers (None: the cores this process may use on the CPU, 1 on a GPU, which the fits would
    share; 1: one after the other in this process) of ``backend`` (``loky`` processes or
    ``threading``), or the workers of the Dask cluster at ``scheduler`` with
    ``backend="dask"``; in a pool each fit uses ``n_threads`` torch threads (None: 1). The sweep's
    GAN retrains fan out the same way with one thread each (in this process, one after the
    other, on a GPU); the synthetic draws stay here. The numbers are the same whatever the
    backend and job count.

    ``synthetic_weight`` lists the weights of a synthetic image in the loss; each real +
    synthetic mix runs once per weight (1 always). ``curate`` adds real + curated synthetic and
    real + classic + curated synthetic at the mix ratio, judged by the CNN trained on each
    block's real images with threshold ``curate_threshold``. ``pretrain_steps`` > 0 adds real +
    classic pretrained on ``pretrain_images`` synthetic images (see the protocol above).

    Returns the typed result; :func:`augment.images.evaluation.report.write_image_evaluation`
    writes the metrics, plot data, sample grid and summary.
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
    if sweep_retrain not in SWEEP_RETRAIN:
        raise AugmentError(
            f"sweep_retrain must be one of {', '.join(SWEEP_RETRAIN)}, got {sweep_retrain!r}"
        )
    arch = resolve_classifier(classifier, schema.size)
    if int(steps) < 1:
        raise AugmentError(f"steps must be at least 1, got {steps}")
    if int(max_steps) < int(steps):
        raise AugmentError(f"max_steps must be at least steps ({steps}), got {max_steps}")
    if patience is not None and int(patience) < 1:
        raise AugmentError(
            f"patience must be at least 1 (or null: no early stopping), got {patience}"
        )
    if epochs is not None and not float(epochs) > 0:
        raise AugmentError(f"epochs must be positive, got {epochs}")
    if int(batch_size) < 1:
        raise AugmentError(f"batch_size must be at least 1, got {batch_size}")
    if fidelity_images is not None and int(fidelity_images) < 2:
        raise AugmentError(f"fidelity_images must be at least 2, got {fidelity_images}")
    if int(samples_per_class) < 0:
        raise AugmentError(f"samples_per_class must be non-negative, got {samples_per_class}")
    inception_path = check_inception_weights(inception_weights)
    weights = check_weights([1.0, *check_weights(synthetic_weight)])
    threshold = check_threshold(curate_threshold)
    pretrain_steps, pretrain_images = int(pretrain_steps), int(pretrain_images)
    if pretrain_steps < 0:
        raise AugmentError(f"pretrain_steps must be non-negative (0: off), got {pretrain_steps}")
    if pretrain_steps and pretrain_images < 1:
        raise AugmentError(f"pretrain_images must be at least 1, got {pretrain_images}")
    pretrain = pretrain_steps > 0
    torch_device = resolve_device(device)
    if jobs is None and torch_device.type == "cuda":
        jobs = 1  # one GPU: fits in worker processes would queue for it, each with a context
    fanout = FanOut.of(jobs, backend, scheduler)
    num_classes = len(schema.classes)

    train = bundle.train
    test = bundle.test
    validation = None
    if patience is not None:
        validation = _validation_split(bundle)
        if validation is None:
            logger.warning(
                "%s has no validation images: every classifier trains its whole budget, "
                "without early stopping",
                bundle.path,
            )
            patience = None
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
    recipes = main_recipes(ratios, mix, weights, bool(curate), pretrain)
    low_recipes = sweep_recipes(mix, weights, bool(curate), pretrain)
    n_fits = seeds if sweep_retrain == "seed" else 1  # GAN retrains per point of the sweep
    total = seeds * len(recipes) + len(sweep) * (n_fits + seeds * len(low_recipes))
    timer = StageTimer()
    bar = fit_bar(total, progress)
    ctx = _Context(
        schema=schema,
        arch=arch,
        device=torch_device,
        test_images=test.images,
        y_test=test.labels,
        seeds=seeds,
        seed=seed,
        steps=int(steps),
        epochs=None if epochs is None else float(epochs),
        max_steps=int(max_steps),
        patience=None if patience is None else int(patience),
        validation=validation,
        batch_size=int(batch_size),
        flip=bool(flip),
        bar=bar,
        timer=timer,
        fanout=fanout,
        curate_ratio=mix if curate else None,
        threshold=threshold,
        pretrain_steps=pretrain_steps,
        pretrain_images=pretrain_images,
    )
    blocks: list[Block] = []
    logger.info("fitting %d classifiers in %s", total - len(sweep), fanout.describe())
    with cpu_thread_limit(torch_device, n_threads) as threads:
        ctx.threads = threads if fanout.in_process else (n_threads or 1)
        try:
            retrains = []  # per k: (subset, schema, fit seed) per seed
            for k in sweep:
                fits = []
                for s in range(n_fits):
                    # Per point the seeds are those of one subset per k, as before "seed" existed.
                    at = (k,) if sweep_retrain == "per_class" else (k, s)
                    rng = np.random.default_rng(derive_seed(seed, "subset", *at))
                    subset = per_class_subset(train, k, rng)
                    fits.append((subset, schema, derive_seed(seed, "fit", *at)))
                retrains.append(fits)
            sweep_models = SweepRetrains(factory, retrains, device)
            bar.set_postfix_str(f"all real images{sweep_models.note()}")
            scores, costs, extractor, retrained = _run_block(
                ctx,
                FULL,
                recipes,
                [train] * seeds,
                [synthesizer] * seeds,
                ahead=sweep_models.tasks(),
            )
            blocks.append(
                Block(
                    key=FULL,
                    label="all",
                    description="all real images",
                    size=len(train),
                    fraction=1.0,
                    full=True,
                    synthesizer="trained model",
                    scores=scores.test,
                    validation=scores.validation,
                    per_class=round(len(train) / num_classes, 1),
                    versus=(REAL, CLASSIC),
                    costs=costs,
                )
            )
            fitted = sweep_models.models(retrained, timer, bar, on_result=lambda _: bar.update(1))
            for k, fits, synths in zip(sweep, retrains, fitted, strict=True):
                subsets = [subset for subset, _, _ in fits]
                if sweep_retrain == "per_class":
                    subsets, synths = subsets * seeds, synths * seeds
                bar.set_postfix_str(f"{k} per class")
                scores, costs, _, _ = _run_block(ctx, str(k), low_recipes, subsets, synths)
                subset = subsets[0]
                blocks.append(
                    Block(
                        key=str(k),
                        label=f"{k} per class",
                        description=f"{k} real images per class",
                        size=len(subset),
                        fraction=len(subset) / len(train),
                        full=False,
                        synthesizer=f"retrained per {sweep_retrain}",
                        scores=scores.test,
                        validation=scores.validation,
                        per_class=k,
                        versus=(REAL, CLASSIC),
                        costs=costs,
                    )
                )
        finally:
            bar.close()

        with timer("fidelity"):
            fidelity, fid_sets = _fidelity(
                ctx, train, test, synthesizer, extractor, fidelity_images
            )
        if inception_path is None:
            fidelity.inception_skipped = "no inception_weights given; never downloaded"
        else:
            with timer("inception"):
                net = load_inception(inception_path, torch_device)
                feats = [inception_features(net, images, torch_device) for images in fid_sets]
                fidelity.inception = FeatureFidelity.from_scores(
                    INCEPTION_EXTRACTOR,
                    int(feats[0].shape[1]),
                    fidelity_scores(*feats),
                    weights=str(inception_path),
                )
        samples = _samples(train, synthesizer, schema, samples_per_class, seed)

    result = EvaluationResult(
        modality=IMAGE,
        dataset=Dataset(
            path=str(bundle.path),
            classes=list(schema.classes),
            unit="images",
            train=len(train),
            validation=_split_len(bundle, "validation"),
            test=len(test),
            image_size=int(schema.size),
            channels=int(schema.channels),
        ),
        model=ModelRecord.of(synthesizer, model_dir),
        settings={
            "ratios": list(ratios),
            "per_class": list(ks),
            "seeds": seeds,
            "classifier": arch,
            "flip": bool(flip),
            "steps": int(steps),
            "epochs": None if epochs is None else float(epochs),
            "max_steps": int(max_steps),
            "patience": None if patience is None else int(patience),
            "validation_floor": VALIDATION_FLOOR,
            "batch_size": int(batch_size),
            "sweep_hyperparameters": sweep_hyperparameters or {},
            "inception_weights": None if inception_path is None else str(inception_path),
            "fidelity_images": fidelity.images,
            "samples_per_class": int(samples_per_class),
            "synthetic_weight": weights,
            "curate": bool(curate),
            "curate_threshold": threshold,
            "pretrain_steps": pretrain_steps,
            "pretrain_images": pretrain_images,
            **({"curation": {k: r.to_dict() for k, r in ctx.curation.items()}} if curate else {}),
            "n_threads": threads,
            "device": str(torch_device),
            "seed": seed,
            "ci_level": 0.95,
        },
        metrics=list(IMAGE_METRICS),
        primary_metric=PRIMARY_METRIC,
        classifiers=[arch],
        recipes=[
            real_recipe("images"),
            classic_recipe(flip),
            *(mix_recipe(r, "images", w) for r in ratios for w in weights),
            *(mix_recipe(mix, "images", w, curated=True) for w in weights if curate),
            combined_recipe(mix),
            *([combined_recipe(mix, curated=True)] if curate else []),
            *([pretrained_recipe(pretrain_images, pretrain_steps)] if pretrain else []),
            cas_recipe(),
        ],
        blocks=blocks,
        fidelity=fidelity,
        sweep_ratio=mix,
        interval_covers=_interval_covers(bool(sweep), sweep_retrain),
        skipped=skipped,
        timings={**timer.totals, "total_s": round(time.perf_counter() - started, 2)},
        samples=samples,
    )
    result.verdicts = build_verdicts(result)
    logger.info("%s", result.verdict)
    if result.low_data_verdict is not None:
        logger.info("%s", result.low_data_verdict)
    scores = fidelity.classifier
    logger.info(
        "evaluated %d classifier fits and %d GAN retrains in %.0f s; FD %.3g (real train vs test "
        "%.3g), precision %.2f, recall %.2f",
        total - len(sweep),
        len(sweep),
        result.timings["total_s"],
        scores.synthetic["frechet_distance"],
        scores.reference["frechet_distance"],
        scores.synthetic["precision"],
        scores.synthetic["recall"],
    )
    return result


def _validation_split(bundle: ImageBundle) -> ImageSplit | None:
    """The bundle's validation images; None when it has none (a bundle written without that
    split, or an empty one). A damaged file is an error, as for any split."""
    if not bundle.has_split("validation"):
        return None
    data = bundle.split("validation")
    return data if len(data) else None


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
    test_images: np.ndarray
    y_test: np.ndarray
    seeds: int
    seed: int
    steps: int
    epochs: float | None
    max_steps: int
    patience: int | None
    validation: ImageSplit | None
    batch_size: int
    flip: bool
    bar: Any
    timer: StageTimer
    fanout: FanOut = FanOut()
    threads: int | None = 1
    curate_ratio: float | None = None  # the ratio of the curated recipes; None: no curation
    threshold: float = 0.5
    pretrain_steps: int = 0  # 0: no real+classic+pretrained recipe
    pretrain_images: int = 0
    curation: dict[str, CurationReport] = field(default_factory=dict)  # per block key
    # per block key, one judge per real training set (by identity)
    judges: dict[str, dict[int, ImageClassifier]] = field(default_factory=dict)

    def steps_for(self, n: int) -> int:
        """A fit's budget on ``n`` images (its cap when it stops early)."""
        if self.epochs is None:
            return self.steps
        return steps_cap(
            n, self.batch_size, epochs=self.epochs, floor=self.steps, ceiling=self.max_steps
        )

    def validation_for(self, key: str, real: ImageSplit) -> ImageSplit | None:
        """The validation images of a block training on ``real``: at most
        ``max(its images of the class, VALIDATION_FLOOR)`` per class, seeded by the block."""
        if self.patience is None or self.validation is None:
            return None
        counts = np.bincount(real.labels, minlength=len(self.schema.classes))
        rng = np.random.default_rng(derive_seed(self.seed, "validation", key))
        return validation_subset(self.validation, counts, VALIDATION_FLOOR, rng)


def _run_block(
    ctx: _Context,
    key: str,
    recipes: list[str],
    reals: list[ImageSplit],
    synths: list[Any],
    ahead: Sequence[Task] = (),
) -> tuple[BlockScores, dict[str, dict[str, list[float]]], ImageClassifier, list[Any]]:
    """Seed ``s`` trains on ``reals[s]`` and draws from ``synths[s]`` (the same subset of k per
    class for every seed unless the sweep retrains per seed). Every recipe's scores for each
    seed on test and validation (one classifier:
    ``scores.test[recipe][arch][metric]``), what each fit cost
    (``costs[recipe]["steps" | "seconds"]``, per seed), seed 0's real-only classifier, and the
    results of the ``ahead`` tasks (the sweep's retrains), run in the same fan-out first.

    Synthetic draws and the recipes' images are built in this process, lazily (joblib asks for
    the next fits as workers free up); the fits run where ``ctx.fanout`` says."""
    parsed = [parse_recipe(r) for r in recipes]
    needs = [1.0 if p.ratio is None else p.ratio for p in parsed]
    real = reals[0]  # every seed's real set has the same size and class counts
    max_images = int(math.ceil(max(needs) * len(real)))
    num_classes = len(ctx.schema.classes)
    order = [recipe.name for _ in range(ctx.seeds) for recipe in parsed]
    validation = ctx.validation_for(key, real)
    val_images = None if validation is None else validation.images
    val_labels = None if validation is None else validation.labels

    # The judge and the curated images are made before the fan-out starts: made lazily inside
    # joblib's dispatch of a loky pool, curation left the pool's executor shut down (tables).
    curated_pools: list[ImagePool | None] = [None] * ctx.seeds
    if ctx.curate_ratio is not None:
        with ctx.timer("curation"):
            curated_pools = [
                _curated_pool(ctx, key, s, reals[s], synths[s]) for s in range(ctx.seeds)
            ]

    def draw(s: int, images: int, stream: str) -> ImagePool:
        """Seed ``s``'s synthetic images in the real class mix, from their own random stream."""
        with ctx.timer("sampling"):
            seed = derive_seed(ctx.seed, stream, key, s)
            return ImagePool(
                synths[s], reals[s].labels, num_classes, ctx.schema.shape, images, seed=seed
            )

    def fits() -> Iterator[tuple[Any, ...]]:
        for s in range(ctx.seeds):
            real = reals[s]
            pool = None
            if max_images > 0 and any(p.ratio != 0 for p in parsed):
                pool = draw(s, max_images, "sample")
            curated = curated_pools[s]
            pretrain_set = None
            if any(p.pretrained for p in parsed):
                pretrain_set = draw(s, ctx.pretrain_images, "pretrain").take(ctx.pretrain_images)
            for recipe in parsed:
                data = recipe_split(recipe, real, pool, curated)
                on = pretrain_set if recipe.pretrained else None
                on_images, on_labels = (None, None) if on is None else (on.images, on.labels)
                task = FitTask(
                    arch=ctx.arch,
                    num_classes=num_classes,
                    steps=ctx.steps_for(len(data)),
                    batch_size=ctx.batch_size,
                    seed=derive_seed(ctx.seed, "classifier", s),
                    augment=recipe.classic,
                    flip=ctx.flip,
                    device=str(ctx.device),
                    keep_model=s == 0 and recipe.name == REAL,
                    patience=None if validation is None else ctx.patience,
                    min_steps=ctx.steps,
                    synthetic_weight=recipe.weight,
                    n_real=len(real),
                    pretrain_steps=ctx.pretrain_steps if on is not None else 0,
                )
                yield (
                    task, data.images, data.labels, ctx.test_images, ctx.y_test, val_images,
                    val_labels, on_images, on_labels,
                )  # fmt: skip

    def arrived(_: Any) -> None:
        ctx.bar.update(1)  # a classifier fit or a retrain: the bar counts both

    results = run_fits(
        fit_and_score, fits(), ctx.fanout, threads=ctx.threads, on_result=arrived, ahead=ahead
    )
    ahead_results, results = results[: len(ahead)], results[len(ahead) :]
    scores: dict[str, dict[str, list[float]]] = {r: {m: [] for m in IMAGE_METRICS} for r in recipes}
    on_validation: dict[str, dict[str, list[float]]] = {
        r: {m: [] for m in IMAGE_METRICS} for r in recipes
    }
    costs: dict[str, dict[str, list[float]]] = {r: {"steps": [], "seconds": []} for r in recipes}
    first: ImageClassifier | None = None
    log: TrainingLog
    for name, (got, got_validation, seconds, model, log) in zip(order, results, strict=True):
        for m in IMAGE_METRICS:
            scores[name][m].append(got[m])
            if got_validation is not None:
                on_validation[name][m].append(got_validation[m])
        costs[name]["steps"].append(log.steps)
        costs[name]["seconds"].append(round(seconds, 3))
        ctx.timer.add("classifiers", seconds)
        if model is not None:
            first = model.to(ctx.device)
    assert first is not None
    if ctx.curate_ratio is not None and ctx.curation[key].short:
        logger.warning("%s: %s", key, shortfall_line(ctx.curation[key]))
    per_arch = BlockScores(
        {recipe: {ctx.arch: per} for recipe, per in scores.items()},
        {recipe: {ctx.arch: per} for recipe, per in on_validation.items() if per[IMAGE_METRICS[0]]},
    )
    return per_arch, costs, first, ahead_results


def _interval_covers(sweep: bool, sweep_retrain: str) -> str:
    varies = (
        "what each seed varies: the classifier's initialisation, batch order and augmentation "
        "draws, and which synthetic images are drawn"
    )
    if not sweep:
        return varies
    if sweep_retrain == "seed":
        return varies + " (in the low-data sweep also which real images were kept)"
    return varies + (
        " (not which real images the low-data sweep kept: one subset and one synthesizer per point)"
    )


def _curated_pool(ctx: _Context, key: str, s: int, real: ImageSplit, synth: Any) -> ImagePool:
    """Seed ``s``'s curated synthetic images, as many as the curated recipes need. The judge
    is trained once per real training set of the block (one, unless the sweep draws a subset
    per seed), on those images only (never a test image)."""
    assert ctx.curate_ratio is not None
    num_classes = len(ctx.schema.classes)
    judges = ctx.judges.setdefault(key, {})
    if id(real) not in judges:
        at = (key,) if not judges else (key, len(judges))
        judge_seed = derive_seed(ctx.seed, "curation-judge", *at)
        judges[id(real)] = fit_judge(
            real.images, real.labels, num_classes, seed=judge_seed, device=ctx.device,
            threads=ctx.threads,
        )  # fmt: skip
    judge = judges[id(real)]
    report = ctx.curation.setdefault(
        key,
        CurationReport(
            ctx.threshold, describe_judge(judge).replace("split", "images of the block")
        ),
    )

    def curator(labels: np.ndarray, seed: int) -> Any:
        got = curate_images(
            synth, judge, labels, classes=list(ctx.schema.classes), seed=seed,
            threshold=ctx.threshold, warn=False,
        )  # fmt: skip
        report.add(got.report)
        return got

    return ImagePool(
        synth,
        real.labels,
        num_classes,
        ctx.schema.shape,
        int(math.ceil(ctx.curate_ratio * len(real))),
        seed=derive_seed(ctx.seed, "curated", key, s),
        curator=curator,
    )


# -- fidelity and the sample grid ---------------------------------------------------------------
def _fidelity(
    ctx: _Context,
    train: ImageSplit,
    test: ImageSplit,
    synth: Any,
    extractor: ImageClassifier,
    cap: int | None,
) -> tuple[ImageFidelity, tuple[np.ndarray, np.ndarray, np.ndarray]]:
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
    name = (
        f"penultimate layer ({extractor.n_features} features) of the {ctx.arch} trained on "
        "the real training split (real-only recipe, first seed)"
    )
    out = ImageFidelity(
        images=n,
        real_split="test",
        prdc_k=PRDC_K,
        classifier=FeatureFidelity.from_scores(name, extractor.n_features, scores),
    )
    return out, (real.images, fake, reference)


def _samples(
    train: ImageSplit, synth: Any, schema: ImageSchema, per: int, seed: int
) -> bytes | None:
    """A PNG grid: per class, ``per`` real training images, a grey cell, then ``per`` synthetic
    ones. At most :data:`SAMPLE_CLASSES` classes."""
    if per <= 0:
        return None
    rng = np.random.default_rng(derive_seed(seed, "samples"))
    classes = list(range(min(len(schema.classes), SAMPLE_CLASSES)))
    fake = np.asarray(synth.sample(np.repeat(classes, per), seed=derive_seed(seed, "samples")))
    real = []
    for c in classes:
        idx = np.flatnonzero(train.labels == c)
        real.append(train.images[np.sort(rng.choice(idx, min(per, len(idx)), replace=False))])
    return samples_png(real, [fake[i * per : (i + 1) * per] for i in range(len(classes))], per)


# -- checks --------------------------------------------------------------------------------------
def _check_per_class(per_class: Sequence[int]) -> list[int]:
    values = list(per_class or [])
    bad = [v for v in values if not float(v).is_integer() or int(v) < 1]
    if bad:
        raise AugmentError(f"per_class values must be whole numbers of at least 1, got {bad[0]!r}")
    return sorted({int(v) for v in values})


__all__ = ["FULL", "IMAGE_METRICS", "PRIMARY_METRIC", "evaluate_images"]
