"""``ImageGAN``: the project's class-conditional image GAN.

A ResNet generator with class-conditional BatchNorm against a projection discriminator with
spectral norm (:mod:`augment.images.networks`), hinge loss, DiffAugment on real and generated
images in both steps (:mod:`augment.images.diffaugment`), a mode-seeking term on pairs of fakes of
one class (against within-class collapse), and an exponential moving average of the generator's
weights that is what samples. Run by the shared loop in :mod:`augment.core.training`,
which owns the device, precision, threads, seeds and progress.

The whole training set lives on the device as uint8 and batches are drawn there, so a step makes
no host copies; images are scaled to [-1, 1] on the device. Sampling conditions on the label:
image ``i`` is of class ``labels[i]``, by construction.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from augment.core import distributed
from augment.core.checkpoint import Checkpointing, data_digest, json_tensor, tensor_json
from augment.core.distributed import unwrap
from augment.core.modelfiles import load_network, open_model, save_model
from augment.core.models import checked_config
from augment.core.runtime import resolve_device, torch_generator
from augment.core.tracking import RunLog
from augment.core.training import (
    PRECISIONS,
    LoopConfig,
    cpu_thread_limit,
    train_gan,
)
from augment.errors import AugmentError
from augment.images.bundle import ImageSplit
from augment.images.diffaugment import DEFAULT_POLICY, diff_augment, parse_policy
from augment.images.grid import save_grid
from augment.images.networks import (
    Discriminator,
    Generator,
    default_channels,
    set_memory_format,
)
from augment.images.schema import ImageSchema
from augment.log import logger

if TYPE_CHECKING:
    from augment.images.pseudo_labels import PseudoLabels

SAMPLE_PIXELS = 2**20  # images x pixels per generator forward when sampling (bounds memory)
NOISE_BLOCK = 4096  # noise vectors drawn at a time when sampling
GRID_COLUMNS = 8  # images per class in a snapshot grid
GRID_MAX_CLASSES = 32  # rows in a snapshot grid; classes beyond are left out
STANDING_BATCHES = 16  # batches over which the sampling generator's BatchNorm stats are measured
SNAPSHOT_SEED_OFFSET = 7919  # the snapshot noise's stream: fixed per seed, apart from training's
# Settings that change how a run is watched or bounded, not what it computes: a checkpoint
# written under other values of these is still this run's.
RUN_ONLY = ("max_seconds", "threads", "log_every", "snapshot_every")
LECAM_DECAY = 0.99  # memory of LeCam's anchors (as in the paper's code)
ADA_INTERVAL = 4  # D-steps between ADA's adjustments of p (as in the paper)
ADA_RAMP = 0.1  # p can move from 0 to 1 within this share of the D-steps
CPU_STEPS = (2500, 3700)  # default_budget()'s range of steps on the CPU (see its docstring)
BUDGET_BASE_STEPS = 3200  # default_budget() at 250 images (3,700 at 500: see its docstring)
CUDA_STEPS_FACTOR, CUDA_WIDTH_FACTOR = 4, 2  # default_budget() on CUDA: longer and wider
EMA_SHARE = 0.05  # default EMA memory, as a share of the steps
# ImageGANConfig.pseudo_label_judge's choices (augment.images.pseudo_labels, imported lazily)
PSEUDO_LABEL_JUDGES = ("consistency", "supervised")
# The checkpoint's keys of the pseudo-labels (classes per unlabelled image, and the record)
PSEUDO_CLASSES, PSEUDO_SUMMARY = "pseudo_classes", "pseudo_summary"
MODE_SEEKING_DEFAULT = 0.3  # ImageGANConfig.mode_seeking (chosen on the validation split)
MODE_SEEKING_EPS = 1e-5  # keeps the mode-seeking term finite when a pair's images are equal


@dataclass
class ImageGANConfig:
    """Hyper-parameters (all JSON-serialisable; saved in ``config.json``).

    Training length is ``steps`` (each ``d_steps`` discriminator updates and one generator
    update on batches of ``batch_size``), not epochs: small datasets need a step budget, not a
    number of passes. ``steps``, ``channels`` and ``ema_decay`` left to their defaults follow the
    data and the device (:func:`default_budget`); the fitted model's config holds the values
    used.
    """

    steps: int | None = None  # None: default_budget() for the data and the device
    batch_size: int = 64
    # Two time-scale: D learns twice as fast as G (measured: more varied samples than equal
    # rates on 8x8 digits, and classes right sooner than lr_g=1e-4 on 28 px MNIST).
    lr_g: float = 2e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.99)
    d_steps: int = 1
    z_dim: int = 128
    # Width multiplier of both networks (networks.width); None: default_budget().
    channels: int | None = None
    # Sample from a moving average of the generator's weights (warm-up: short memory early).
    # "auto": a memory of EMA_SHARE of the steps (default_budget()); null: no average.
    ema_decay: float | str | None = "auto"
    diffaugment: str = DEFAULT_POLICY  # comma-separated subset of color,translation,cutout
    # Transitional conditioning (Shahbazi et al. 2022): the class enters G and D's projection
    # with a weight that ramps from 0 to 1 between these fractions of the steps; unconditional
    # before. None: conditional from the first step.
    class_transition: tuple[float, float] | None = None
    # Keep the unconditional objective after the class enters (as in Shahbazi et al.): D's
    # class-free term is trained on all real images (unlabelled too) and G optimises it, beside
    # the conditional objective weighted by the class weight.
    keep_unconditional: bool = False
    # The strength of D's class projection term at full conditioning (1: the usual projection
    # discriminator); below 1 the class-free term weighs more.
    projection_weight: float = 1.0
    # PacGAN: D judges packs of this many images of one class (real with real, fake with
    # fake), so a generator whose samples of a class look alike is easy to tell apart.
    pack: int = 1
    # Mode-seeking weight (Mao et al. 2019, MSGAN): the generator's loss gains this times
    # 1 / (mean over pairs of |G(z1, y) - G(z2, y)| / |z1 - z2|), pairs of fakes of one class, so
    # a generator that draws one shape per class whatever the noise pays for it. Measured on
    # 50 MNIST digits per class, validation split: recall 0.015 -> 0.56 at precision 0.88
    # with the default DiffAugment policy (BENCHMARKS.md). 0: off.
    mode_seeking: float = MODE_SEEKING_DEFAULT
    # LeCam regularisation weight (Tseng et al. 2021): keeps D's scores on real and fake images
    # near the moving averages of the other kind's. 0: off.
    lecam: float = 0.0
    # Adaptive augmentation strength (ADA, Karras et al. 2020): each DiffAugment transform hits
    # each image with a probability p, tuned so that the mean sign of D's scores on real
    # training images (ADA's r_t; 1 when D calls them all real) stays at this target (0.6 in
    # the paper). None: every transform on every image (p = 1).
    ada_target: float | None = None
    # Pseudo-labels (augment.images.pseudo_labels): a judge trained on the labelled images
    # gives each unlabelled image a class, and those it assigns with probability >= this join
    # their class for the conditional objective (the rest stay class-free). Measured on MNIST
    # + 5,000 unlabelled (BENCHMARKS.md): at 10 labelled per class FD 29.6 -> 9.8, and real +
    # classic + synthetic beat real + classic (+0.024 [+0.006, +0.043], test split); at 50,
    # recall 0.71 -> 0.75 at precision 0.87 -> 0.85 and no downstream change past noise
    # (validation split). None: unlabelled images are class-free. Without unlabelled images
    # nothing changes.
    pseudo_labels: float | None = 0.9
    # Which judge gives the pseudo-labels (PSEUDO_LABEL_JUDGES; augment.images.pseudo_labels):
    # "consistency" learns from the unlabelled images too (FixMatch) and labels them right more
    # often than "supervised", trained on the labelled images alone.
    pseudo_label_judge: str = "consistency"
    snapshot_every: int = 500  # steps between snapshot grids, when fit() is given a folder
    precision: str = "auto"  # "fp32", "bf16", or auto: bf16 where the hardware has it natively
    threads: int | None = None  # CPU threads; None: the free cores (core.training)
    max_seconds: float | None = None  # wall-clock training budget; stops after the step
    log_every: int = 50

    def __post_init__(self) -> None:
        try:
            self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        except (TypeError, ValueError):
            raise AugmentError(f"betas must be two numbers, got {self.betas!r}") from None
        if self.class_transition is not None:
            span = self.class_transition
            if not (
                isinstance(span, list | tuple)
                and len(span) == 2
                and all(_number(v) for v in span)
                and 0 <= span[0] <= span[1] <= 1
            ):
                raise AugmentError(
                    "class_transition must be two fractions of the steps, 0 <= start <= end <= 1,"
                    f" or null; got {span!r}"
                )
            self.class_transition = (float(span[0]), float(span[1]))
        if not isinstance(self.keep_unconditional, bool):
            raise AugmentError(
                f"keep_unconditional must be true or false, got {self.keep_unconditional!r}"
            )
        if not _number(self.projection_weight) or self.projection_weight < 0:
            raise AugmentError(
                f"projection_weight must be a number >= 0, got {self.projection_weight!r}"
            )
        if not _number(self.mode_seeking) or self.mode_seeking < 0:
            raise AugmentError(f"mode_seeking must be a number >= 0, got {self.mode_seeking!r}")
        if not _number(self.lecam) or self.lecam < 0:
            raise AugmentError(f"lecam must be a number >= 0, got {self.lecam!r}")
        if self.ada_target is not None and not (
            _number(self.ada_target) and 0 < self.ada_target < 1
        ):
            raise AugmentError(f"ada_target must be in (0, 1) or null, got {self.ada_target!r}")
        if self.pseudo_labels is not None and not (
            _number(self.pseudo_labels) and 0 < self.pseudo_labels <= 1
        ):
            raise AugmentError(
                f"pseudo_labels must be in (0, 1] or null, got {self.pseudo_labels!r}"
            )
        if self.pseudo_label_judge not in PSEUDO_LABEL_JUDGES:
            raise AugmentError(
                f"pseudo_label_judge must be one of {', '.join(PSEUDO_LABEL_JUDGES)},"
                f" got {self.pseudo_label_judge!r}"
            )
        if self.steps is not None:
            self.steps = _whole("steps", self.steps, 1)
        for name, minimum in (
            ("batch_size", 2),
            ("d_steps", 1),
            ("z_dim", 1),
            ("snapshot_every", 1),
            ("log_every", 1),
            ("pack", 1),
        ):
            setattr(self, name, _whole(name, getattr(self, name), minimum))
        if self.channels is not None:
            self.channels = _whole("channels", self.channels, 1)
        if self.batch_size % self.pack:
            raise AugmentError(
                f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack})"
            )
        if self.mode_seeking > 0 and self.batch_size % (2 * self.pack):
            raise AugmentError(
                f"with mode_seeking, batch_size ({self.batch_size}) must be a multiple of twice"
                f" pack ({2 * self.pack}): the fakes come in pairs of one class"
            )
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not _number(value) or value <= 0:
                raise AugmentError(f"{name} must be a positive number, got {value!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise AugmentError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        decay = self.ema_decay
        if decay not in (None, "auto") and not (_number(decay) and 0 <= decay < 1):
            raise AugmentError(f"ema_decay must be in [0, 1), auto or null, got {decay!r}")
        budget = self.max_seconds
        if budget is not None and not (_number(budget) and budget > 0):
            raise AugmentError(f"max_seconds must be positive or null, got {self.max_seconds!r}")
        if not isinstance(self.diffaugment, str):
            raise AugmentError(f"diffaugment must be a string, got {self.diffaugment!r}")
        parse_policy(self.diffaugment)
        if self.precision not in PRECISIONS:
            raise AugmentError(
                f"unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(name: str, value: Any, minimum: int) -> int:
    if not _number(value) or value != int(value) or value < minimum:
        raise AugmentError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


class ImageGAN:
    """Class-conditional image GAN: ``fit`` on uint8 images, ``sample`` images of chosen classes.

    Example:
        >>> gan = ImageGAN(steps=2000)  # doctest: +SKIP
        >>> gan.fit(bundle.train, bundle.schema, seed=0)  # doctest: +SKIP
        >>> gan.sample([0, 0, 3], seed=1).shape  # doctest: +SKIP
        (3, 1, 8, 8)
    """

    name = "imagegan"

    def __init__(self, **hyperparameters: Any) -> None:
        self.config = checked_config(ImageGANConfig, self.name, hyperparameters)
        self._requested = self.config  # fit() resolves its budget from this one each time
        self.schema: ImageSchema | None = None
        self.generator: Generator | None = None
        self.device = torch.device("cpu")
        self.summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        data: ImageSplit,
        schema: ImageSchema,
        *,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
        snapshots: str | Path | None = None,
        curves: RunLog | None = None,
        fidelity_every: int = 0,
        checkpoint: Checkpointing | None = None,
        unlabelled: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Train on ``data`` (images uint8 ``(N, C, H, W)``, labels indexing ``schema.classes``).

        With ``snapshots`` a folder, every ``snapshot_every`` steps and at the end a grid from
        the sampling generator, with the same noise each time, is written there as
        ``step_{step:06d}.png``: one row per class. ``curves`` logs the losses as training
        curves; with ``fidelity_every`` > 0 also the pixel-space Fréchet distance between 1,000
        images of the sampling generator and 1,000 real ones every that many steps (and at the
        end). ``checkpoint`` names a folder to checkpoint into and resume from (see
        :func:`augment.core.training.train_gan`). ``unlabelled`` (uint8 ``(M, C, H, W)``, the
        schema's shape) are images without a class: real images of the unconditional phase
        (class weight 0, see ``class_transition``), or of the class a judge gives them with
        ``pseudo_labels``. Returns the training summary.

        Under torchrun each process trains on every ``WORLD_SIZE``-th image (labelled and
        unlabelled) with batches of ``batch_size``; rank 0 alone writes snapshots.
        """
        _check_data(data, schema)
        if unlabelled is not None:
            unlabelled = _checked_unlabelled(unlabelled, schema)
        images = len(data) + (0 if unlabelled is None else len(unlabelled))
        cfg, budget = resolve_budget(self._requested, images, schema, resolve_device(device))
        self.config = cfg
        given = data_digest(data.images, data.labels, *([] if unlabelled is None else [unlabelled]))
        labelled = len(data)
        main = distributed.is_main_process()
        folder = Path(snapshots) if snapshots is not None and main else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        task = _ImageGANTask(cfg, data, schema, seed, folder, unlabelled)
        probe = task.pixel_fd if curves is not None and fidelity_every > 0 else None
        loop = LoopConfig(
            steps=cfg.steps,
            d_steps=cfg.d_steps,
            seed=seed,
            device=device,
            precision=cfg.precision,
            threads=cfg.threads,
            max_seconds=cfg.max_seconds,
            progress=progress,
            log_every=cfg.log_every,
            desc="imagegan",
            on_log=curves.curve if curves is not None else None,
            probe=probe,
            probe_every=fidelity_every,
            checkpoint=checkpoint or Checkpointing(),
            prepare=task.prepare,
            fingerprint={
                "model": self.name,
                "hyperparameters": {k: v for k, v in cfg.to_dict().items() if k not in RUN_ONLY},
                "data": given,
            },
        )
        summary = train_gan(task, loop)
        generator = task.final_generator()
        if folder is not None and task.last_snapshot != summary["steps"]:
            with cpu_thread_limit(task.device, cfg.threads):
                task.snapshot(summary["steps"], generator)
        seen = summary["steps"] * cfg.d_steps * cfg.batch_size * summary["processes"]
        summary.update(
            images=labelled,
            unlabelled_images=images - labelled,
            pseudo_labels=None if task.pseudo is None else task.pseudo.summary,
            classes=len(schema.classes),
            size=schema.size,
            channels=schema.channels,
            batch_size=cfg.batch_size,
            network_channels=network_channels(cfg, schema),
            budget=budget,
            # Real images through the discriminator per second (as many fakes go with them).
            images_per_second=round(seen / summary["seconds"], 1) if summary["seconds"] else None,
            epochs=round(seen / labelled, 2),
        )
        self.schema, self.summary = schema, summary
        self.generator, self.device = _for_sampling(generator, task.device), task.device
        return summary

    # --------------------------------------------------------------- sample
    def sample(self, labels: Sequence[int] | np.ndarray, *, seed: int = 0) -> np.ndarray:
        """One uint8 image ``(C, H, W)`` per entry of ``labels`` (class indices), of that class.

        Deterministic per ``seed`` on a given device, and prefix-stable: the first ``k`` images
        for ``labels`` are those for ``labels[:k]``. From the weight average, in eval mode.
        """
        if self.generator is None or self.schema is None:
            raise AugmentError("the synthesizer is not fitted: call fit() or load() first")
        codes = _label_codes(labels, len(self.schema.classes))
        chunks = list(self._generate(codes, seed))
        if not chunks:
            return np.zeros((0, *self.schema.shape), dtype=np.uint8)
        return np.concatenate(chunks, axis=0)

    @torch.inference_mode()
    def _generate(self, codes: np.ndarray, seed: int) -> Iterator[np.ndarray]:
        with cpu_thread_limit(self.device, self.config.threads):
            gen = torch_generator(seed, self.device)
            chunk = max(1, SAMPLE_PIXELS // (self.schema.size**2))
            shape = (NOISE_BLOCK, self.config.z_dim)
            for block in range(0, len(codes), NOISE_BLOCK):
                # Noise comes in whole blocks from one stream, so image i gets the same noise
                # whatever the chunk size and however many images follow it.
                noise = torch.randn(shape, device=self.device, generator=gen)
                stop = min(len(codes), block + NOISE_BLOCK)
                for start in range(block, stop, chunk):
                    end = min(stop, start + chunk)
                    y = torch.as_tensor(codes[start:end], device=self.device)
                    z = noise[start - block : end - block]
                    yield to_uint8(self.generator(z, y)).cpu().numpy()

    # ------------------------------------------------------------ save/load
    def save(self, directory: str | Path) -> None:
        """Write ``weights.safetensors`` (the sampling generator) and ``config.json`` atomically."""
        if self.generator is None or self.schema is None:
            raise AugmentError("the synthesizer is not fitted: nothing to save")
        config = {
            "model": self.name,
            "hyperparameters": self.config.to_dict(),
            "schema": self.schema.to_dict(),
            "training": self.summary,
        }
        save_model(directory, {"generator": self.generator}, config)

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> ImageGAN:
        """Rebuild a saved ImageGAN from JSON and safetensors only (no pickle, no code runs).

        ``config.json``'s hyper-parameters and schema are checked, then the weights' header
        against the network they imply, before anything is allocated
        (:func:`augment.core.modelfiles.load_network`).
        """
        files = open_model(directory, cls.name)
        where = str(files.config_path)
        gan = cls()
        # A model saved before mode_seeking or pseudo_labels existed was trained without them,
        # one saved before pseudo_label_judge with the supervised judge.
        hyperparameters = {
            "mode_seeking": 0.0,
            "pseudo_labels": None,
            "pseudo_label_judge": "supervised",
            **files.config.hyperparameters,
        }
        gan.config = checked_config(
            ImageGANConfig, cls.name, hyperparameters, f"{where}: hyperparameters"
        )
        schema = ImageSchema.from_dict(files.config.schema, f"{where}: schema")
        gan.schema = schema
        gan.summary = files.config.training
        gan.device = resolve_device(device)
        generator = load_network(lambda: make_generator(gan.config, schema), files.weights)
        gan.generator = _for_sampling(generator, gan.device)
        return gan


# ---------------------------------------------------------------------------- budget
def default_budget(images: int, size: int, device: torch.device | str) -> dict[str, Any]:
    """Steps, width and EMA decay for ``images`` training images (labelled and unlabelled) of
    ``size`` pixels on ``device``, when the config leaves them to their defaults.

    - steps: ``3200 + 500 * log2(images / 250)``, rounded to 100, within 2,500-3,700 on the
      CPU (100 images: 2,500; 250: 3,200; 500 and more: 3,700); four times that on CUDA, where
      a step costs milliseconds. Measured on 50 MNIST digits per class (500 images, validation
      split): 3,700 steps against the 2,000 of the earlier ``1500 + ...`` rule raised recall
      0.56 -> 0.75 at precision 0.88 -> 0.89, coverage 0.62 -> 0.78 and CAS 0.77 -> 0.89. The
      cap is the largest budget measured on validation: 5,000 steps on 5,100 images (10
      labelled per class + 5,000 unlabelled) were tried once, on the test split, and gained
      nothing downstream over 3,700 (BENCHMARKS.md), so the rule does not reach past it.
    - channels (networks.width's multiplier): 8 up to 16 px, 16 above on the CPU; twice that on
      CUDA. Measured on a 2-core CPU: 8 gives class-correct, varied 8x8 digits in a minute (16
      was no better for twice the time); at 28 px 8 was too narrow, 16 right. 32 at 28 px
      (with 7,400 steps) brought FD 38 -> 19 on 50 MNIST digits per class + 5,000 unlabelled,
      but no downstream gain past noise for 4.8x the CPU time, so the CPU keeps 16. CUDA's
      budget there (32 channels, 14,800 steps), trained on the CPU: FD 17.7, recall 0.83 at
      precision 0.94, downstream no better than 7,400 steps (BENCHMARKS.md).
    - ema_decay: a memory of :data:`EMA_SHARE` of the steps, ``1 - 1 / (EMA_SHARE * steps)``.
    """
    kind = torch.device(device).type
    steps = BUDGET_BASE_STEPS + 500 * math.log2(max(images, 1) / 250)
    steps = int(min(max(round(steps, -2), CPU_STEPS[0]), CPU_STEPS[1]))
    channels = default_channels(size)
    if kind == "cuda":
        steps, channels = steps * CUDA_STEPS_FACTOR, channels * CUDA_WIDTH_FACTOR
    return {"steps": steps, "channels": channels, "ema_decay": ema_decay_for(steps)}


def ema_decay_for(steps: int) -> float:
    """The EMA decay whose memory (``1 / (1 - decay)`` steps) is EMA_SHARE of ``steps``."""
    return round(1 - 1 / max(10.0, EMA_SHARE * steps), 6)


def resolve_budget(
    cfg: ImageGANConfig, images: int, schema: ImageSchema, device: torch.device
) -> tuple[ImageGANConfig, dict[str, Any]]:
    """``cfg`` with ``steps``, ``channels`` and an ``auto`` ema_decay filled in from
    :func:`default_budget`, and a record of what was chosen and why (the training summary's
    ``budget``)."""
    auto = default_budget(images, schema.size, device)
    chosen: dict[str, Any] = {}
    for name in ("steps", "channels"):
        if getattr(cfg, name) is None:
            chosen[name] = auto[name]
    steps = chosen.get("steps", cfg.steps)
    if cfg.ema_decay == "auto":
        chosen["ema_decay"] = ema_decay_for(steps)
    record = {
        **{name: getattr(cfg, name) for name in ("steps", "channels", "ema_decay")},
        **chosen,
        "auto": sorted(chosen),
        "for": f"{images} images of {schema.size} px on {device.type}",
    }
    return dataclasses.replace(cfg, **chosen), record


# ---------------------------------------------------------------------------- helpers
def transition_weight(step: int, steps: int, span: tuple[float, float] | None) -> float:
    """The class weight at ``step`` of ``steps``: 0 before ``span[0] * steps``, 1 from
    ``span[1] * steps``, linear in between; always 1 without a span."""
    if span is None:
        return 1.0
    start, end = span[0] * steps, span[1] * steps
    if step >= end:
        return 1.0
    if step <= start:
        return 0.0
    return (step - start) / (end - start)


def hinge_d(score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``."""
    return F.relu(1 - score_real).mean() + F.relu(1 + score_fake).mean()


def lecam_penalty(
    score_real: torch.Tensor,
    score_fake: torch.Tensor,
    anchor_real: torch.Tensor,
    anchor_fake: torch.Tensor,
) -> torch.Tensor:
    """LeCam regulariser (Tseng et al. 2021): ``mean(relu(D(real) - anchor_fake)^2) +
    mean(relu(anchor_real - D(fake))^2)``, anchors being moving averages of D's scores."""
    return (
        F.relu(score_real - anchor_fake).pow(2).mean()
        + F.relu(anchor_real - score_fake).pow(2).mean()
    )


def mode_seeking_penalty(images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN's term for a batch whose first and second halves are pairs of one class:
    ``1 / (mean over pairs of mean|x1 - x2| / mean|z1 - z2| + eps)``. Large when different
    noise gives alike images."""
    half = len(images) // 2
    pixels = (images[:half] - images[half:]).float().abs().flatten(1).mean(dim=1)
    noise = (z[:half] - z[half:]).float().abs().mean(dim=1)
    return 1 / ((pixels / noise).mean() + MODE_SEEKING_EPS)


def ada_adjust(
    p: torch.Tensor, real_share: torch.Tensor, target: float, amount: float
) -> torch.Tensor:
    """ADA's update: ``p + amount * sign(real_share - target)``, kept in [0, 1].
    ``real_share`` is the mean of sign(D(real)) over the last interval."""
    return (p + amount * torch.sign(real_share - target)).clamp(0, 1)


def network_channels(cfg: ImageGANConfig, schema: ImageSchema) -> int:
    """The width multiplier: ``cfg.channels``, or the default for the image size."""
    return cfg.channels or default_channels(schema.size)


def make_generator(cfg: ImageGANConfig, schema: ImageSchema) -> Generator:
    channels = network_channels(cfg, schema)
    return Generator(schema.size, schema.channels, len(schema.classes), cfg.z_dim, channels)


def make_discriminator(cfg: ImageGANConfig, schema: ImageSchema) -> Discriminator:
    # A pack of cfg.pack images enters D as one image of pack x channels.
    return Discriminator(
        schema.size, schema.channels * cfg.pack, len(schema.classes), network_channels(cfg, schema)
    )


def pack_images(
    images: torch.Tensor, labels: torch.Tensor, pack: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, C, H, W)`` images whose consecutive ``pack`` images share a class -> ``(N / pack,
    pack * C, H, W)`` packs and one label per pack (PacGAN, Lin et al. 2018)."""
    if pack == 1:
        return images, labels
    n, c, h, w = images.shape
    packed = images.reshape(n // pack, pack * c, h, w)
    return packed, labels[::pack]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], contiguous ``(N, C, H, W)``."""
    scaled = ((images.float() + 1) * 127.5).round_().clamp_(0, 255)
    return scaled.to(torch.uint8).contiguous()


def _for_sampling(generator: Generator, device: torch.device) -> Generator:
    # One layout after fit and after load, so both sample the very same pixels.
    return set_memory_format(generator.to(device), torch.channels_last).eval()


def _label_codes(labels: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    codes = np.asarray(labels).reshape(-1)
    if codes.size == 0:
        return codes.astype(np.int64)
    if not (np.issubdtype(codes.dtype, np.integer) or np.issubdtype(codes.dtype, np.bool_)):
        raise AugmentError(f"labels must be class indices (integers), got dtype {codes.dtype}")
    bad = (codes < 0) | (codes >= num_classes)
    if bad.any():
        raise AugmentError(
            f"label {codes[bad][0]} is not a class index: use 0 to {num_classes - 1}"
        )
    return codes.astype(np.int64)


def _saved_pseudo_labels(
    saved: dict[str, torch.Tensor], images: int, num_classes: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """The pseudo-labels a checkpoint kept (see ``_ImageGANTask.prepare``), checked."""
    try:
        classes = saved[PSEUDO_CLASSES].numpy().astype(np.int64)
        summary = tensor_json(saved[PSEUDO_SUMMARY])
        if classes.shape != (images,) or classes.min() < -1 or classes.max() >= num_classes:
            raise ValueError(f"{classes.shape[0]} classes in -1..{classes.max()}")
        if not isinstance(summary, dict) or summary.get("labelled") != int((classes >= 0).sum()):
            raise ValueError("their record does not match them")
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise AugmentError(
            f"the checkpoint's pseudo-labels do not fit these images ({exc}): train with"
            " --restart to start over"
        ) from None
    return classes, summary


def _check_data(data: ImageSplit, schema: ImageSchema) -> None:
    if len(data) == 0:
        raise AugmentError("cannot train on an empty image split")
    if data.images.shape[1:] != schema.shape:
        raise AugmentError(
            f"images have shape {data.images.shape[1:]}, the schema says {schema.shape}"
        )
    _label_codes(data.labels, len(schema.classes))


def _checked_unlabelled(images: np.ndarray, schema: ImageSchema) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != schema.shape or images.dtype != np.uint8:
        raise AugmentError(
            f"unlabelled images must be uint8 {(-1, *schema.shape)} like the labelled ones, got"
            f" {images.dtype} {images.shape}"
        )
    return np.ascontiguousarray(images)


def _adam(net: torch.nn.Module, lr: float, cfg: ImageGANConfig) -> torch.optim.Optimizer:
    # The fused kernel updates every parameter in one pass (many small tensors here).
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, betas=cfg.betas, fused=True)
    except RuntimeError:  # torch < 2.4 has no fused Adam on the CPU
        return torch.optim.Adam(net.parameters(), lr=lr, betas=cfg.betas)


class _ImageGANTask:
    """The GAN's side of :func:`augment.core.training.train_gan`: networks, D-step and G-step."""

    def __init__(
        self,
        cfg: ImageGANConfig,
        data: ImageSplit,
        schema: ImageSchema,
        seed: int,
        snapshots: Path | None,
        unlabelled: np.ndarray | None = None,
    ) -> None:
        if cfg.steps is None or cfg.ema_decay == "auto":
            raise AugmentError("the training task needs a resolved budget (resolve_budget)")
        self.cfg, self.schema, self.seed, self.folder = cfg, schema, seed, snapshots
        self._data = data
        self._unlabelled = unlabelled
        self.pseudo: PseudoLabels | None = None  # prepare()'s, under cfg.pseudo_labels
        self.policy = parse_policy(cfg.diffaugment)
        self.last_snapshot = 0

    def prepare(
        self, context: distributed.Context, saved: dict[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        """Pseudo-label the unlabelled images (``cfg.pseudo_labels``) before the networks are
        built: the confident ones join their class, the others stay class-free. Class-free
        images are drawn only in an unconditional phase (``class_transition``) or objective
        (``keep_unconditional``): without either they are left unused, and the log says how
        many.

        The judge trains once, on rank 0 under torchrun, which sends its classes to the other
        ranks (so all of them train on the same labels); a resumed run takes them from the
        checkpoint (``saved``) instead of training the judge again. Returns them for the
        checkpoints."""
        cfg, unlabelled = self.cfg, self._unlabelled
        if unlabelled is None or not len(unlabelled):
            return {}
        drawn = cfg.class_transition is not None or cfg.keep_unconditional
        if cfg.pseudo_labels is None:
            if not drawn and context.main:
                logger.warning(
                    "%d unlabelled images are not used: set pseudo_labels, class_transition or"
                    " keep_unconditional for the GAN to draw them",
                    len(unlabelled),
                )
            return {}
        # Imported here: the judge's evaluation code brings SciPy, a second of every train.
        from augment.images.pseudo_labels import PseudoLabels

        if saved and PSEUDO_CLASSES in saved:
            classes, summary = _saved_pseudo_labels(
                saved, len(unlabelled), len(self.schema.classes)
            )
            where = "from the checkpoint, the judge not trained again"
        else:
            parts = distributed.from_main(lambda: self._judge(context.device), context)
            classes, summary = np.frombuffer(parts[0], dtype=np.int64), json.loads(parts[1])
            where = f"in {summary['seconds']:.1f} s"
        self.pseudo = PseudoLabels.from_classes(self._data, unlabelled, classes, summary)
        self._data, self._unlabelled = self.pseudo.labelled, self.pseudo.unlabelled
        left = len(self._unlabelled)
        if context.main:
            logger.info(
                "pseudo-labelled %d of %d unlabelled images (p >= %g) %s%s",
                summary["labelled"],
                summary["of"],
                cfg.pseudo_labels,
                where,
                f"; the other {left} are not used" if left and not drawn else "",
            )
        return {
            PSEUDO_CLASSES: torch.from_numpy(classes.copy()),
            PSEUDO_SUMMARY: json_tensor(summary),
        }

    def _judge(self, device: torch.device) -> list[bytes]:
        """The judge's classes (int64 per unlabelled image) and record, as bytes."""
        from augment.images.pseudo_labels import pseudo_label

        pseudo = pseudo_label(
            self._data,
            self._unlabelled,
            self.schema.classes,
            threshold=self.cfg.pseudo_labels,
            seed=self.seed,
            device=device,
            threads=self.cfg.threads,
            judge=self.cfg.pseudo_label_judge,
            precision=self.cfg.precision,
        )
        return [pseudo.classes.tobytes(), json.dumps(pseudo.summary).encode()]

    def build(self, device: torch.device, shard: slice = slice(None)) -> None:
        cfg, schema = self.cfg, self.schema
        self.device = device
        # channels_last: the fast layout for convolutions on CUDA and, measured, on the CPU too
        # (28 px step 1.4-1.8x faster in bf16 and fp32; 8 px 1.05-1.25x).
        fmt = torch.channels_last
        # The whole split (this rank's shard of it) goes to the device once, as uint8;
        # batches are indexed there. Unlabelled images (if any) follow the labelled ones in one
        # tensor: labelled draws take indices below len(labels), unconditional draws any index.
        pixels = self._data.images[shard]
        if self._unlabelled is not None and len(self._unlabelled):
            pixels = np.concatenate([pixels, self._unlabelled[shard]])
        self.images = torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
        self.images = self.images.contiguous(memory_format=fmt)
        self.labels = torch.from_numpy(np.ascontiguousarray(self._data.labels[shard])).to(device)
        # Each class's images as a slice of class_order: for drawing packs of one class.
        counts = torch.bincount(self.labels, minlength=len(schema.classes))
        self.class_order = torch.argsort(self.labels, stable=True)
        self.class_count = counts
        self.class_start = torch.cumsum(counts, 0) - counts
        self.generator = set_memory_format(make_generator(cfg, schema).to(device), fmt)
        self.discriminator = set_memory_format(make_discriminator(cfg, schema).to(device), fmt)
        self.opt_g = _adam(self.generator, cfg.lr_g, cfg)
        self.opt_d = _adam(self.discriminator, cfg.lr_d, cfg)
        self.ema: Generator | None = None
        if cfg.ema_decay is not None:
            self.ema = copy.deepcopy(self.generator).requires_grad_(False)
        self._d_calls = 0
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.class_weight = 1.0
        # LeCam's moving averages of D's mean score on real and on fake images.
        self.lecam_anchors = torch.zeros(2, device=device)
        # ADA: the augmentation probability and the running sum of sign(D(real)), on the device
        # (no host sync); p starts at 0 and rises only when D starts to memorise.
        self.augment_p = torch.zeros((), device=device) if cfg.ada_target is not None else None
        self._ada_signs = torch.zeros((), device=device)
        # Snapshot noise and the noise that measures BatchNorm statistics come from private
        # streams, so writing snapshots never changes what training draws.
        self.grid_labels, self.grid_noise = self._grid_inputs()

    def networks(self) -> dict[str, torch.nn.Module]:
        nets = {"generator": unwrap(self.generator), "discriminator": unwrap(self.discriminator)}
        return nets if self.ema is None else {**nets, "generator_ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def schedulers(self) -> list[torch.optim.lr_scheduler.LRScheduler]:
        return []

    def parallel(self, wrap: Callable[[torch.nn.Module], torch.nn.Module]) -> None:
        # The steps call self.generator and self.discriminator: under torchrun those are the
        # DDP wrappers (a frozen D's forward runs the plain module; see core.distributed).
        self.generator = wrap(unwrap(self.generator))
        self.discriminator = wrap(unwrap(self.discriminator))

    def state_dict(self) -> dict[str, Any]:
        return {"d_calls": self._d_calls, "last_snapshot": self.last_snapshot}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._d_calls = int(state["d_calls"])
        self.last_snapshot = int(state["last_snapshot"])

    # -------------------------------------------------------------- steps
    def _real(self, n: int, unconditional: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        # Unconditional draws (class weight 0) take unlabelled images too; their label is a
        # placeholder that a zero class weight ignores.
        m = self.cfg.pack
        if m > 1 and not unconditional:
            # Packs of m images of one class (the class drawn with the data's mix).
            y = self.labels[torch.randint(len(self.labels), (n // m,), device=self.device)]
            offset = torch.rand(n // m, m, device=self.device) * self.class_count[y, None]
            index = self.class_order[self.class_start[y, None] + offset.long()].reshape(-1)
        else:
            pool = len(self.images) if unconditional else len(self.labels)
            index = torch.randint(pool, (n,), device=self.device)
        images = self.images[index].float().mul_(2 / 255).sub_(1)
        return images, self.labels[index.remainder_(len(self.labels))]

    def _fake_labels(self, n: int) -> torch.Tensor:
        # The classes of the data's own mix: real and fake batches then share one class prior,
        # which the projection term would otherwise learn to tell apart. One class per pack.
        # With mode seeking the second half repeats the first: fake i and i + n/2 are a pair.
        m, pairs = self.cfg.pack, 2 if self.cfg.mode_seeking > 0 else 1
        y = self.labels[torch.randint(len(self.labels), (n // (m * pairs),), device=self.device)]
        return y.repeat_interleave(m).repeat(pairs)

    def d_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        self._d_calls += 1
        last = self._d_calls % cfg.d_steps == 0
        weight = self._set_class_weight(step)
        n = cfg.batch_size
        real, y_real = self._real(n, unconditional=weight == 0)
        # With the class in and the unconditional objective kept, that objective gets its own
        # real batch from all images when there are unlabelled ones (else it shares the batch).
        keep = cfg.keep_unconditional and weight > 0
        pooled = keep and len(self.images) > len(self.labels)
        if pooled:
            extra, y_extra = self._real(n, unconditional=True)
            real, y_real = torch.cat([real, extra]), torch.cat([y_real, y_extra])
        y_fake = self._fake_labels(n)
        z = torch.randn(cfg.batch_size, cfg.z_dim, device=self.device)
        # The last D-step's fake batch is kept, graph and all, for the G-step: the same signal
        # for one generator forward less per step.
        with torch.set_grad_enabled(last):
            fake = self.generator(z, y_fake)
        if last:
            self._pending = (fake, y_fake, z)
        # One discriminator forward over real and fake (no BatchNorm in D, so this is exact).
        both = torch.cat([real, fake.detach().to(real.dtype)])
        images = diff_augment(both, self.policy, p=self.augment_p)
        images, labels = pack_images(images, torch.cat([y_real, y_fake]), cfg.pack)
        free, projection = self.discriminator(images, labels, split=True)
        d_weight = weight * cfg.projection_weight
        free, scores = free.float(), (free + d_weight * projection).float()
        k = n // cfg.pack  # packs per batch
        score_real, score_fake = scores[:k], scores[-k:]
        loss = hinge_d(score_real, score_fake)
        if keep:
            # L = L_unconditional + w * L_conditional: equal to the unconditional phase's loss
            # at w = 0, so the transition stays smooth.
            free_real = free[k : 2 * k] if pooled else free[:k]
            loss = hinge_d(free_real, free[-k:]) + weight * loss
        out = {"real": score_real.detach().mean(), "fake": score_fake.detach().mean()}
        if cfg.lecam > 0:
            self.lecam_anchors.lerp_(torch.stack([out["real"], out["fake"]]), 1 - LECAM_DECAY)
            penalty = lecam_penalty(score_real, score_fake, *self.lecam_anchors)
            loss = loss + cfg.lecam * penalty
            out["lecam"] = penalty.detach()
        if self.augment_p is not None:
            self._ada_update(score_real.detach())
            out["augment_p"] = self.augment_p
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"loss_d": loss.detach(), **out}

    def _set_class_weight(self, step: int) -> float:
        weight = transition_weight(step, self.cfg.steps, self.cfg.class_transition)
        self.class_weight = weight
        # On the module itself: under torchrun self.generator is its DDP wrapper.
        for net in (unwrap(self.generator), self.ema):
            if net is not None:
                net.class_weight = weight
        return weight

    def _ada_update(self, score_real: torch.Tensor) -> None:
        """Every ADA_INTERVAL D-steps move p by a fixed amount towards the target: up when D
        scores more real training images as real than ada_target (it is memorising them)."""
        self._ada_signs += torch.sign(score_real).sum()
        if self._d_calls % ADA_INTERVAL == 0:
            share = self._ada_signs / (ADA_INTERVAL * len(score_real))
            self.augment_p.copy_(
                ada_adjust(
                    self.augment_p,
                    share,
                    self.cfg.ada_target,
                    ADA_INTERVAL / (ADA_RAMP * self.cfg.steps * self.cfg.d_steps),
                )
            )
            self._ada_signs.zero_()

    def stats(self) -> dict[str, float]:
        """Schedule and regulariser state, for diagnostics (reads the device)."""
        out = {"class_weight": self.class_weight}
        if self.augment_p is not None:
            out["augment_p"] = float(self.augment_p)
        if self.cfg.lecam > 0:
            out["lecam_real"], out["lecam_fake"] = self.lecam_anchors.tolist()
        return out

    def g_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if self._pending is not None:
            (fake, y_fake, z), self._pending = self._pending, None
        else:
            y_fake = self._fake_labels(cfg.batch_size)
            z = torch.randn(cfg.batch_size, cfg.z_dim, device=self.device)
            fake = self.generator(z, y_fake)
        # D's weights need no gradients here: skipping them saves a third of the backward.
        self.discriminator.requires_grad_(False)
        images = diff_augment(fake, self.policy, p=self.augment_p)
        free, projection = self.discriminator(*pack_images(images, y_fake, cfg.pack), split=True)
        weight = self.class_weight
        loss = -(free + weight * cfg.projection_weight * projection).float().mean()
        if cfg.keep_unconditional and weight > 0:
            loss = -free.float().mean() + weight * loss
        out = {"loss_g": loss.detach()}
        if cfg.mode_seeking > 0:
            penalty = mode_seeking_penalty(fake, z)
            loss = loss + cfg.mode_seeking * penalty
            out["mode_seeking"] = penalty.detach()
        self.discriminator.requires_grad_(True)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return out

    def end_step(self, step: int) -> None:
        if self.ema is not None:
            # Short memory early on, so the average does not start from the random init.
            decay = min(self.cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(
                    list(self.ema.parameters()), list(self.generator.parameters()), 1 - decay
                )
        if self.folder is not None and step % self.cfg.snapshot_every == 0:
            self.snapshot(step, self._sampler())

    # --------------------------------------------------------- sampling net
    def _sampler(self) -> Generator:
        return unwrap(self.generator) if self.ema is None else self.ema

    @torch.no_grad()
    def final_generator(self) -> Generator:
        """The generator to keep: the EMA one (else the live one), with BatchNorm statistics
        measured on its own activations: the running ones belong to the live weights. It is
        fully conditional (class weight 1), whatever step training stopped at."""
        net = self._sampler()
        net.class_weight = 1.0
        with cpu_thread_limit(self.device, self.cfg.threads):
            return self._standing_stats(net).eval()

    @torch.no_grad()
    def _standing_stats(self, net: Generator) -> Generator:
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        gen = torch_generator(self.seed + SNAPSHOT_SEED_OFFSET + 1, self.device)
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the batches below
        net.train()
        n = self.cfg.batch_size
        for _ in range(STANDING_BATCHES):
            pick = torch.randint(len(self.labels), (n,), device=self.device, generator=gen)
            z = torch.randn(n, self.cfg.z_dim, device=self.device, generator=gen)
            net(z, self.labels[pick])
        for norm in norms:
            norm.momentum = 0.1
        return net

    def _grid_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        classes = min(len(self.schema.classes), GRID_MAX_CLASSES)
        labels = torch.arange(classes, device=self.device).repeat_interleave(GRID_COLUMNS)
        gen = torch_generator(self.seed + SNAPSHOT_SEED_OFFSET, self.device)
        noise = torch.randn(len(labels), self.cfg.z_dim, device=self.device, generator=gen)
        return labels, noise

    @torch.no_grad()
    def pixel_fd(self, step: int, n: int = 1000) -> dict[str, float]:
        """Fréchet distance between ``n`` images of the sampling generator and ``n`` real ones,
        on raw pixels: a cheap fidelity curve (lower is better), not the evaluation's FD."""
        from augment.images.evaluation.fidelity import frechet_distance

        net = self._standing_stats(self._sampler()).eval()
        gen = torch_generator(self.seed + SNAPSHOT_SEED_OFFSET + 2, self.device)
        pick = torch.randint(len(self.labels), (n,), device=self.device, generator=gen)
        z = torch.randn(n, self.cfg.z_dim, device=self.device, generator=gen)
        fake = to_uint8(net(z, self.labels[pick])).reshape(n, -1).float().cpu().numpy() / 255
        real = self.images[pick].reshape(n, -1).float().cpu().numpy() / 255
        return {"pixel_fd": frechet_distance(real, fake)}

    def snapshot(self, step: int, net: Generator) -> Path:
        """Write the grid of ``net`` at ``step``: the fixed noise, one row per class."""
        was_training = net.training
        self._standing_stats(net).eval()
        images = to_uint8(net(self.grid_noise, self.grid_labels)).cpu().numpy()
        net.train(was_training)
        self.last_snapshot = step
        return save_grid(images, self.folder / f"step_{step:06d}.png", nrow=GRID_COLUMNS)
