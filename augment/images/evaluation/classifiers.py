"""Downstream image classifiers: what the image evaluation trains on each recipe and scores on the
real test split, and whose penultimate layer serves as the feature extractor for fidelity.

* ``cnn`` (``auto`` up to 32 px): three 3x3 conv + BatchNorm + ReLU stages (16, 32, 64 channels),
  the first two followed by 2x2 max-pooling, then a 128-unit fully connected layer with ReLU (the
  penultimate features) and a linear head. ~0.19 MMAC per 8x8 image and ~2.3 MMAC per 28x28 one,
  so a fit is seconds on one CPU core. A global-average-pooled head instead of the 128-unit layer
  was as good on the 8x8 digits but much weaker on MNIST at the same budget (macro-F1 0.955 vs
  0.989 on all 60k images, 0.72 vs 0.87 with 10 per class; 300 steps of 128).
* ``resnet18`` (``auto`` above 32 px): torchvision's ``resnet18(weights=None)`` from scratch, its
  stem adapted to small inputs: a 3x3 convolution taking the dataset's channels (stride 1 up to
  32 px, 2 above), no max-pool. 512 features. About 0.56 GMAC per image at 32 or 64 px: a step
  of 128 images takes 3-4 s on one CPU core, so it is for a GPU.

Training trains to convergence (:func:`train_classifier` with ``patience``), so that every
recipe is judged at its best: a recipe with more or harder images (synthetic ones, classic
augmentation) is not cut short by a budget sized for the smallest one.

* The step budget grows with the training set: ``ceil(epochs x n / batch)`` steps
  (:func:`steps_cap`; the evaluation's ``epochs`` is 100), at least ``steps`` (300, the former
  fixed budget, which 10 images per class need whatever their number) and at most
  ``max_steps`` (3,000, which bounds the cost of a big recipe; early stopping usually ends it
  sooner). 100 passes are 391 steps for 500 images (MNIST, 50 per class), where classic
  augmentation's fits stopped on their own at 340 in 2 of 3 seeds, and 983 for all 1,258
  digits, where no fit of real or classic images went past 450. Real-only MNIST with 50 per
  class was not starved at 300 steps either: 1,000 fixed steps scored 0.950 against 0.948.
* Every ``eval_every`` steps, about one pass over the training set but at least
  ``EVAL_EVERY_MIN`` (10: scoring after every step of a one-batch set would cost more than
  training) and at most ``EVAL_EVERY_MAX`` (100: a large set is still checked often), the
  network scores the validation images. The criterion is macro-F1, the metric every recipe is
  scored by; cross-entropy only breaks ties (frequent on a small validation set), since alone it
  keeps creeping down long after the predictions stopped changing and rises with
  over-confidence while macro-F1 still improves. The best weights are kept as a copy on the
  device; only these scores reach the host, never the per-step loss.
* After ``patience`` (5) scores without a better macro-F1 the rate decays (cosine, over as
  many steps as ran before it, :class:`_PlateauSchedule`) and the fit stops; the best weights
  come back. The decay ends no sooner than ``min_steps`` (the evaluation passes its ``steps``,
  300). Both measured on MNIST with 50 images per class (BENCHMARKS.md): with plain early
  stopping and a decay over a fifth of the steps, classic augmentation's fits ended at 213-338
  steps and its gain over real only fell from +0.025 [+0.021, +0.029] (300 fixed one-cycle
  steps) to +0.021 [+0.017, +0.025] (5 seeds), its scores spread 0.960-0.975 instead of
  0.972 +- 0.001; a short decay settles the weights less than one-cycle's long anneal. As
  shipped, classic's gain was at least the fixed budget's (MNIST +0.027 vs +0.025, 3 seeds; all
  digits +0.008 [+0.003, +0.014] vs +0.005 [-0.009, +0.019], 5 seeds). Warm-up: 45 steps. A
  fixed budget (``patience=None``) keeps the one-cycle cosine schedule.

Batches are drawn without replacement within a pass over the training set, from uint8 tensors
kept on the device; classic augmentation runs on the device, per batch, with its own random
parameters per image. Everything random (weights, batch order, augmentation) comes from the
fit's seed, and the validation scores draw nothing, so a fit on the CPU is reproducible.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from augment.core.runtime import torch_generator
from augment.errors import AugmentError
from augment.evaluation.stats import classification_scores

CLASSIFIERS: tuple[str, ...] = ("auto", "cnn", "resnet18")
SMALL_MAX_SIZE = 32  # ``auto``: the CNN up to this size, ResNet-18 above
CNN_WIDTH = 16
CNN_FEATURES = 128  # the penultimate layer: the fidelity features
DEFAULT_LR = 3e-3
DEFAULT_STEPS = 300  # the evaluation's training budget per fit (optimizer steps)
DEFAULT_BATCH_SIZE = 128
WEIGHT_DECAY = 5e-4
EVAL_BATCH = 1024
EVAL_EVERY_MIN = 10
EVAL_EVERY_MAX = 100
WARMUP_STEPS = 45  # early stopping's warm-up: one-cycle's 15% of the former 300 fixed steps
DECAY_SHARE = 0.5  # early stopping's final decay: this share of the steps run
# A network's initial weights come from torch's global RNG: fits running in threads of one
# process (the ``threading`` backend) seed and draw it one at a time.
_INIT_LOCK = threading.Lock()

# Classic augmentation (crop, flip, affine): a random shift of up to 1/16 of the
# size each way (a crop of the zero-padded image, at sub-pixel positions), a rotation of up to
# 10 degrees and a scale in [0.9, 1.1]; a horizontal flip only when asked (a mirrored digit is
# another symbol or none). Why 1/16 and sub-pixel, not RandomCrop's whole pixels with padding 1/8:
# on the 8x8 digits (already cropped to their box) a whole-pixel shift of up to 1 px cut macro-F1
# from 0.995 to 0.980 on all images and gave nothing with 10 per class (0.925 vs 0.924 real only),
# while shifts of up to 0.5 px kept 0.994 and raised 10 per class to 0.942 (4 seeds, 300 steps).
# At 28 px the shift is up to 1.75 px, at 32 px 2 px.
AUG_DEGREES = 10.0
AUG_SCALE = (0.9, 1.1)
AUG_SHIFT_SHARE = 1 / 16


def resolve_classifier(name: str, size: int) -> str:
    """``auto`` -> ``cnn`` up to 32 px, ``resnet18`` above; an unknown name is a user error."""
    if name not in CLASSIFIERS:
        raise AugmentError(f"unknown classifier {name!r}: use one of {', '.join(CLASSIFIERS)}")
    if name == "auto":
        return "cnn" if size <= SMALL_MAX_SIZE else "resnet18"
    return name


class ImageClassifier(nn.Module):
    """``body`` maps images to features (the penultimate layer), ``head`` features to logits."""

    def __init__(self, body: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.training_log: TrainingLog | None = None  # set by train_classifier

    @property
    def n_features(self) -> int:
        return int(self.head.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _conv_block(c_in: int, c_out: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


def build_classifier(name: str, channels: int, size: int, num_classes: int) -> ImageClassifier:
    """A freshly initialised network (uses torch's global RNG: seed it first), its weights laid
    out channels_last (see :func:`normalise`)."""
    return _build(resolve_classifier(name, size), channels, size, num_classes).to(
        memory_format=torch.channels_last
    )


def _build(name: str, channels: int, size: int, num_classes: int) -> ImageClassifier:
    if name == "cnn":
        w = CNN_WIDTH
        side = size // 4  # after two 2x2 max-pools
        body = nn.Sequential(
            *_conv_block(channels, w, pool=True),
            *_conv_block(w, 2 * w, pool=True),
            *_conv_block(2 * w, 4 * w, pool=False),
            nn.Flatten(),
            nn.Linear(4 * w * side * side, CNN_FEATURES),
            nn.ReLU(inplace=True),
        )
        return ImageClassifier(body, nn.Linear(CNN_FEATURES, num_classes))
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    stride = 1 if size <= SMALL_MAX_SIZE else 2
    net.conv1 = nn.Conv2d(channels, 64, 3, stride=stride, padding=1, bias=False)
    net.maxpool = nn.Identity()
    body = nn.Sequential(
        net.conv1,
        net.bn1,
        net.relu,
        net.layer1,
        net.layer2,
        net.layer3,
        net.layer4,
        net.avgpool,
        nn.Flatten(),
    )
    return ImageClassifier(body, net.fc)


def seeded_classifier(
    arch: str, channels: int, size: int, num_classes: int, *, seed: int, device: torch.device
) -> ImageClassifier:
    """A fresh ``arch`` network on ``device`` whose initial weights follow ``seed`` alone (torch's
    global RNG is used under a lock and restored)."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return build_classifier(arch, channels, size, num_classes).to(device)


# -- classic augmentation --------------------------------------------------------------------
def classic_augment(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    flip: bool = False,
    degrees: float = AUG_DEGREES,
    scale: tuple[float, float] = AUG_SCALE,
    shift_share: float = AUG_SHIFT_SHARE,
) -> torch.Tensor:
    """Random shift (crop of the zero-padded image), small rotation and scale (and a horizontal
    flip if ``flip``), each image of the batch with its own random parameters; ``x`` is float
    ``(B, C, H, W)`` in [0, 1] and the result has the same shape.

    torchvision's ``transforms.v2`` draws one set of parameters per call, so applied to a batch
    tensor it would move every image of the batch the same way, and per-image calls cost a Python
    loop per batch. Instead the transforms are composed into one affine map per image and applied
    with ``affine_grid`` / ``grid_sample`` (bilinear, zero fill like RandomCrop's padding),
    vectorised on the device. The shift is uniform in ``+-shift_share`` of the size on each axis.
    """
    b, _, h, w = x.shape
    dev = x.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, generator=generator, device=dev)

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = uniform(*scale)
    # Shifts in pixels, then in affine_grid's normalised units (2 / size per pixel).
    shift_x = uniform(-shift_share * w, shift_share * w) * 2 / w
    shift_y = uniform(-shift_share * h, shift_share * h) * 2 / h
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates to input coordinates (normalised to [-1, 1]).
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin, shift_x
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, shift_y
    if flip:
        mirror = torch.rand(b, generator=generator, device=dev) < 0.5
        theta[:, :, 0] = torch.where(mirror[:, None], -theta[:, :, 0], theta[:, :, 0])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# -- training and inference --------------------------------------------------------------------
def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to the network's float input in [0, 1]."""
    return images.float().div_(255.0)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """The network's input: ``x`` in [0, 1] scaled to [-1, 1], laid out channels_last like the
    network's weights. That layout is the fast one for convolutions on CUDA, and on the CPU
    too: the digits CNN's step took 23% less time (max-pooling 8x, BatchNorm 2.7x faster than
    on NCHW tensors; 2-core AMD EPYC, one thread)."""
    return (x.contiguous(memory_format=torch.channels_last) - 0.5) / 0.5


def _batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> Iterator:
    """Index batches drawn without replacement within each pass, forever."""
    while True:
        perm = torch.randperm(n, generator=gen, device=device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield perm[start : start + batch_size]


def steps_cap(n: int, batch_size: int, *, epochs: float, floor: int, ceiling: int) -> int:
    """The step budget of an early-stopped fit on ``n`` images: ``epochs`` passes over them
    (``ceil(epochs x n / batch)``, at least one step per pass when a batch holds them all),
    clamped to ``[floor, ceiling]``. The floor lets tiny sets train; the ceiling bounds the
    cost of a large recipe (early stopping usually ends it sooner)."""
    per_pass = n / min(batch_size, n) if n > 0 else 1.0
    return int(min(max(math.ceil(epochs * per_pass), floor), max(ceiling, floor)))


def evaluation_interval(n: int, batch_size: int) -> int:
    """Steps between two validation scores: about one pass over the ``n`` training images,
    bounded to ``[EVAL_EVERY_MIN, EVAL_EVERY_MAX]``."""
    per_pass = max(1, n // max(1, min(batch_size, n)))
    return int(min(max(per_pass, EVAL_EVERY_MIN), EVAL_EVERY_MAX))


@dataclass(frozen=True)
class TrainingLog:
    """What a fit did: ``steps`` run, the step whose weights it returned (``best_step``; the
    last one without early stopping), how many validation scores it took, the best validation
    macro-F1 (NaN without validation) and whether it stopped before its budget."""

    steps: int
    best_step: int
    evaluations: int = 0
    best_macro_f1: float = math.nan
    stopped_early: bool = False


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    arch: str,
    num_classes: int,
    steps: int,
    batch_size: int,
    seed: int,
    augment: bool = False,
    flip: bool = False,
    lr: float = DEFAULT_LR,
    validation_images: torch.Tensor | None = None,
    validation_labels: torch.Tensor | None = None,
    patience: int | None = None,
    eval_every: int | None = None,
    min_steps: int = 0,
    weights: torch.Tensor | None = None,
    init: ImageClassifier | None = None,
) -> ImageClassifier:
    """Train a fresh ``arch`` network (a copy of ``init``, to fine-tune one) on ``images``
    (uint8 ``(N, C, H, W)`` on the device) and
    ``labels`` (int64 class indices); returned in eval mode, with what the fit did in its
    ``training_log`` (:class:`TrainingLog`).

    Without ``patience`` it runs exactly ``steps`` optimizer steps. With ``patience`` (and the
    ``validation_images`` / ``validation_labels``, on the device) ``steps`` is the cap: every
    ``eval_every`` steps (None: :func:`evaluation_interval`) the network scores the validation
    images, the best weights so far are kept (a copy on the device), and the fit stops after
    ``patience`` scores without improvement (and the final decay, which ends no sooner than
    ``min_steps``) and returns the best weights, not the last. Only
    those scores bring a number to the host. A training set smaller than ``batch_size`` is used
    whole at every step.

    ``weights`` (one per image, >= 0, on the device) weigh each image's cross-entropy: the
    batch loss is ``sum(w_i * ce_i) / sum(w_i)``, a weighted mean, so a weight of 0 takes an
    image out of the loss exactly and weight w makes a synthetic image count w times a real one
    in its batch (a batch whose weights are all 0 gives no gradient). None: the plain mean.
    """
    if len(images) == 0:
        raise AugmentError("a classifier needs at least one training image")
    early = patience is not None
    if early and (validation_images is None or validation_labels is None):
        raise ValueError("early stopping (patience) needs validation images and labels")
    if early and int(patience) < 1:  # type: ignore[arg-type]
        raise ValueError(f"patience must be at least 1, got {patience}")
    device = images.device
    _, channels, size, _ = images.shape
    if init is None:
        model = seeded_classifier(arch, channels, size, num_classes, seed=seed, device=device)
    else:
        model = deepcopy(init).to(device)
    gen = torch_generator(seed, device)
    # fused: one kernel over all parameters; the per-tensor loop was ~10% of a digits CNN step.
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY, fused=True)
    bs = min(batch_size, len(images))
    every = int(eval_every) if eval_every else evaluation_interval(len(images), batch_size)
    # Fixed budget: one-cycle over it. Early stopping: warm-up, a constant rate until the
    # validation score plateaus, then a cosine decay (_PlateauSchedule).
    plateau = _PlateauSchedule(lr, steps, every, min_steps) if early else None
    sched = (
        None
        if early
        else torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, total_steps=max(steps, 2), pct_start=0.15
        )
    )
    autocast = device.type == "cuda"
    batches = _batches(len(images), bs, gen, device)
    best: dict[str, torch.Tensor] | None = None
    best_key, best_step, since_best, evaluations = (-math.inf, -math.inf), 0, 0, 0
    step = 0
    model.train()
    while step < (plateau.end if plateau else steps):
        if plateau is not None:
            for group in opt.param_groups:
                group["lr"] = plateau.rate(step)
        idx = next(batches)
        x = to_input(images[idx])
        if augment:
            x = classic_augment(x, gen, flip=flip)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(normalise(x))
            if weights is None:
                loss = F.cross_entropy(logits, labels[idx])
            else:
                loss = weighted_cross_entropy(logits, labels[idx], weights[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        step += 1
        if plateau is not None and (step % every == 0 or step == plateau.end):
            f1, ce = _validation_scores(model, validation_images, validation_labels, num_classes)
            evaluations += 1
            model.train()
            # Macro-F1 is what every recipe is scored by: patience counts the scores since it
            # last rose. On a small validation set it ties often; the weights kept are then
            # those with the lower cross-entropy (which alone would keep creeping down long
            # after the predictions stopped changing, so it does not reset the patience).
            since_best = 0 if f1 > best_key[0] else since_best + 1
            if (f1, -ce) > best_key:
                best_key, best_step = (f1, -ce), step
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if since_best >= int(patience) and step >= plateau.earliest:  # type: ignore[arg-type]
                plateau.decay_from(step)
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    model.training_log = TrainingLog(
        steps=step,
        best_step=best_step if early else step,
        evaluations=evaluations,
        best_macro_f1=best_key[0] if early else math.nan,
        stopped_early=step < steps,
    )
    return model


class _PlateauSchedule:
    """The learning rate of an early-stopped fit of at most ``cap`` steps: a linear warm-up
    from ``lr / 25`` over ``WARMUP_STEPS`` (at most 15% of the cap), then ``lr`` until
    :meth:`decay_from` is called (the validation score has stopped improving, at ``earliest``
    or later, so that the fit runs at least ``min_steps``) or the last
    ``DECAY_SHARE`` of the cap begins, then a cosine decay to 0 over ``DECAY_SHARE`` of the
    steps run (with 0.5: as many steps as ran before it; at least two evaluation intervals), at
    whose end the fit stops (``end``).

    Why not stop at the plateau itself: the weights there were trained at the full rate, and
    annealing settles them. On the 8x8 digits (seed 1, validation 180 images) stopping at the
    plateau at full rate scored macro-F1 0.986 on the test split after 200 steps; one-cycle over
    1,000 fixed steps 0.989."""

    def __init__(self, lr: float, cap: int, every: int, min_steps: int = 0) -> None:
        self.lr = lr
        self.cap = max(1, int(cap))
        self.every = every
        # The decay starting here ends at min_steps: no fit stops sooner.
        self.earliest = math.ceil((1 - DECAY_SHARE) * min(int(min_steps), self.cap))
        self.warmup = max(1, min(WARMUP_STEPS, round(0.15 * self.cap)))
        self.latest = self.cap - math.ceil(DECAY_SHARE * self.cap)
        self.start: int | None = None
        self.end = self.cap

    def decay_from(self, step: int) -> None:
        if self.start is not None:
            return
        length = max(math.ceil(DECAY_SHARE / (1 - DECAY_SHARE) * step), 2 * self.every)
        self.start, self.end = step, min(self.cap, step + length)

    def rate(self, step: int) -> float:
        """The rate of the step after ``step`` steps."""
        if self.start is None and step >= self.latest:
            self.start, self.end = step, self.cap
        if self.start is not None:
            done = (step - self.start) / max(1, self.end - self.start)
            return self.lr * 0.5 * (1 + math.cos(math.pi * done))
        if step < self.warmup:
            return self.lr * (1 / 25 + (1 - 1 / 25) * step / self.warmup)
        return self.lr


@torch.no_grad()
def _validation_scores(
    model: ImageClassifier, images: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[float, float]:
    """(macro-F1, mean cross-entropy) of ``model`` on the validation images, computed on the
    device; the one host sync of an evaluation point."""
    model.eval()
    logits = torch.cat(
        [
            model(normalise(to_input(images[start : start + EVAL_BATCH]))).float()
            for start in range(0, len(images), EVAL_BATCH)
        ]
    )
    ce = F.cross_entropy(logits, labels)
    pred = logits.argmax(dim=1)
    confusion = torch.bincount(labels * num_classes + pred, minlength=num_classes**2)
    confusion = confusion.view(num_classes, num_classes).double()
    tp = confusion.diagonal()
    support, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
    f1 = 2 * tp / (support + predicted).clamp(min=1)
    # As scikit-learn's macro average: over the classes present in the labels or predictions.
    present = (support + predicted) > 0
    macro = f1[present].mean()
    got = torch.stack([macro, ce.double()]).tolist()
    return float(got[0]), float(got[1])


def weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``sum(w_i * ce_i) / sum(w_i)`` (0 when every weight is 0), in float32."""
    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    w = weights.float()
    return (w * ce).sum() / w.sum().clamp_min(torch.finfo(torch.float32).tiny)


@dataclass(frozen=True)
class FitTask:
    """One fit of the evaluation, complete enough for any worker to run it: the network, its
    budget (``steps``; the cap when ``patience`` stops it early on the validation images),
    seed and augmentation, the device; ``keep_model`` returns the trained network too (on the
    CPU); ``pretrain_steps`` fixed steps on synthetic images (with the same seed and
    augmentation) come first when the fit is given them. The images are
    :func:`fit_and_score`'s other arguments, so that a Dask cluster receives the test and
    validation images, shared by every fit, once."""

    arch: str
    num_classes: int
    steps: int
    batch_size: int
    seed: int
    augment: bool
    flip: bool
    device: str
    keep_model: bool = False
    patience: int | None = None
    eval_every: int | None = None
    min_steps: int = 0
    # The images after the first ``n_real`` are synthetic and weigh ``synthetic_weight`` each.
    synthetic_weight: float = 1.0
    n_real: int = 0
    pretrain_steps: int = 0

    def weights(self, n: int) -> np.ndarray | None:
        """Per-image weights: 1 for real images, ``synthetic_weight`` after; None if all 1."""
        if self.synthetic_weight == 1 or n <= self.n_real:
            return None
        weight = np.ones(n, dtype=np.float32)
        weight[self.n_real :] = self.synthetic_weight
        return weight


def fit_and_score(
    task: FitTask,
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray,
    y_test: np.ndarray,
    validation_images: np.ndarray | None = None,
    y_validation: np.ndarray | None = None,
    pretrain_images: np.ndarray | None = None,
    pretrain_labels: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, float] | None, float, ImageClassifier | None, TrainingLog]:
    """Train ``task``'s network on ``images`` / ``labels`` (uint8 ``(N, C, H, W)``, class
    indices), stopping early on the validation images when the task has a ``patience``, and
    score it on the test and validation images: (test scores, validation scores or None without
    validation images, seconds spent, the network if kept, what the fit did). With
    ``pretrain_images`` / ``pretrain_labels`` (and ``task.pretrain_steps``) the network first
    trains on those, then from those weights on ``images``; the log's steps count both."""
    started = time.perf_counter()
    device = torch.device(task.device)
    early = task.patience is not None and validation_images is not None
    weights = task.weights(len(images))
    network = {  # what the pretraining and the fit share
        "arch": task.arch,
        "num_classes": task.num_classes,
        "batch_size": task.batch_size,
        "seed": task.seed,
        "augment": task.augment,
        "flip": task.flip,
    }
    init = None
    if task.pretrain_steps > 0:
        if pretrain_images is None or pretrain_labels is None:
            raise AugmentError("a pretrained fit needs the images to pretrain on")
        init = train_classifier(
            torch.from_numpy(pretrain_images).to(device),
            torch.from_numpy(pretrain_labels).to(device),
            steps=task.pretrain_steps,
            **network,
        )
    model = train_classifier(
        torch.from_numpy(images).to(device),
        torch.from_numpy(labels).to(device),
        steps=task.steps,
        **network,
        validation_images=torch.from_numpy(validation_images).to(device) if early else None,
        validation_labels=torch.from_numpy(y_validation).to(device) if early else None,
        patience=task.patience if early else None,
        eval_every=task.eval_every,
        min_steps=task.min_steps,
        weights=None if weights is None else torch.from_numpy(weights).to(device),
        init=init,
    )
    proba = predict_proba(model, torch.from_numpy(test_images).to(device))
    scores = classification_scores(y_test, proba, minority=0)
    validation = None
    if validation_images is not None and y_validation is not None:
        proba = predict_proba(model, torch.from_numpy(validation_images).to(device))
        validation = classification_scores(y_validation, proba, minority=0)
    log = model.training_log or TrainingLog(steps=task.steps, best_step=task.steps)
    if init is not None:
        extra = task.pretrain_steps
        log = replace(log, steps=log.steps + extra, best_step=log.best_step + extra)
    kept = model.cpu() if task.keep_model else None
    return scores, validation, time.perf_counter() - started, kept, log


@torch.no_grad()
def predict_proba(model: ImageClassifier, images: torch.Tensor) -> np.ndarray:
    """Class probabilities ``(N, K)`` as float64 numpy."""
    return _run(model, images, lambda m, x: torch.softmax(m(x).float(), dim=1))


@torch.no_grad()
def features(model: ImageClassifier, images: torch.Tensor) -> np.ndarray:
    """Penultimate-layer features ``(N, D)`` as float64 numpy."""
    return _run(model, images, lambda m, x: m.body(x).float())


def _run(model: ImageClassifier, images: torch.Tensor, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), EVAL_BATCH):
        x = normalise(to_input(images[start : start + EVAL_BATCH].to(device)))
        out.append(fn(model, x).cpu().numpy().astype(np.float64))
    if not out:
        return np.zeros((0, 0), dtype=np.float64)
    return np.concatenate(out)
