"""``TabGAN``: the project's conditional tabular GAN (CTGAN-class, written from the paper).

Mode-specific normalisation (:mod:`augment.tabular.encoder`), a conditional generator trained by
sampling (:mod:`augment.tabular.conditions`), a PacGAN critic with WGAN-GP
(:mod:`augment.tabular.networks`), run by the shared loop in :mod:`augment.core.training`. Sampling
conditions on the label, so the label column equals what was asked, row for row.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import augment
from augment.core import distributed
from augment.core.checkpoint import Checkpointing, data_digest
from augment.core.files import read_json, scratch_dir
from augment.core.modelfiles import load_network, open_model, save_model
from augment.core.models import checked_config
from augment.core.runtime import derive_seed, resolve_device, torch_generator
from augment.core.tracking import RunLog
from augment.core.training import (
    PRECISIONS,
    LoopConfig,
    cpu_thread_limit,
    resolve_precision,
    train_gan,
)
from augment.errors import AugmentError
from augment.tabular.batches import ParquetRows, rows_in
from augment.tabular.calibration import MarginalCalibration
from augment.tabular.conditions import ConditionSampler
from augment.tabular.encoder import EncodedRows, SpanLayout, TableEncoder
from augment.tabular.networks import (
    Discriminator,
    Generator,
    LabelClassifier,
    SamplingNetwork,
    activate,
    condition_loss,
    draw_spans,
    drop_casts_on_step,
)
from augment.tabular.schema import TableSchema
from augment.tabular.tilting import CategoryTilt, RakingTargets

SAMPLE_CHUNK = 50_000  # rows per generator forward when sampling
# Rows the final generator draws, in equal shares per class (at least 1,000 each), for the
# marginal calibration's quantiles: sampling them takes about 0.2 s on Adult on two cores.
CALIBRATION_ROWS = 100_000
# Rows the encoder is fitted on when the table is read in batches; the Gaussian mixtures see
# ``fit_sample`` of them per column either way.
ENCODER_SAMPLE_ROWS = 100_000
ENCODER = "encoder.json"
# The auxiliary classifier's hidden widths: on Adult as good as (256, 256) and cheaper per step
# (14.9 against 16.3 ms for (128, 128)): its dropout noise is much of its cost on the CPU.
CLASSIFIER_DIMS = (64, 64)
# Settings that change how a run is watched or bounded, not what it computes: a checkpoint
# written under other values of these is still this run's.
RUN_ONLY = ("max_seconds", "threads", "log_every")
# Settings of what is done after training (the checkpointed state does not depend on them).
AFTER_TRAINING = (
    "calibrate_marginals",
    "calibration_knots",
    "calibration_steps",
    "tilt_categories",
    "tilt_prior_rows",
)


@dataclass
class TabGANConfig:
    """Hyper-parameters (all JSON-serialisable; saved in ``config.json``).

    Defaults were tuned on UCI Adult (32,561 rows) on a 2-core CPU, on a validation split: 35
    epochs (2,310 steps of batch 500) fit in about 25 s to SDMetrics quality about 0.95 and
    train-on-synthetic macro-F1 about 0.79 with the categorical tilt, which is flat from about
    1,600 steps on (seeds 0-3: 0.782 at 1,300 steps, 0.787 at 1,600, 0.790 at 1,900, 0.789 at
    2,300, 0.785 at 2,650; seeds 0-1, 7,950: 0.789) while quality rises (0.950 -> 0.977), so the
    default is the shortest budget at the top (BENCHMARKS.md, "Tilting"). The CTGAN paper's
    values are kept where tuning did not beat them.

    Training length is a step budget: ``epochs`` passes over the rows, but never fewer than
    ``min_steps`` optimiser steps, and a batch is at most half the rows (rounded down to a
    multiple of ``pac``). Epochs alone starve small tables: 200 rows made 150 steps, and on four
    tables with 200 real rows (validation split, 3 seeds) ``min_steps=1500`` (batch 100) raised
    train-on-synthetic macro-F1 from 0.46 to 0.61 and real + synthetic from -0.047 to -0.000
    against real only (BENCHMARKS.md, "Small tables"); the eight-table benchmark's 200-row
    results (BENCHMARKS.md, "Efficacy over tables") were measured with this floor. Tables of
    more than about ``min_steps * batch_size / epochs`` rows (21,400 with the defaults) never
    reach it.
    """

    epochs: int = 35  # passes over the rows (in batches drawn by training-by-sampling)
    batch_size: int = 500  # at most half the rows, see run_budget()
    min_steps: int = 1500  # the step budget's floor, for small tables (0: epochs alone)
    max_steps: int | None = None  # cap on optimiser steps, whatever ``epochs`` says
    max_seconds: float | None = None  # wall-clock training budget; stops after the step
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-6
    lr_decay: bool = False  # cosine decay to 10% over the run (measured: no better with EMA)
    noise_dim: int = 128
    generator_dims: tuple[int, ...] = (256, 256)
    discriminator_dims: tuple[int, ...] = (256, 256)
    pac: int = 10
    dropout: float = 0.5
    discriminator_steps: int = 1
    gp_weight: float = 10.0
    # Lazy gradient penalty: every k-th D step, weighted by k. k=4 was as good per step as k=1
    # and a quarter faster (the penalty's double backward is the costliest part of a step).
    gp_every: int = 4
    # Gumbel-softmax temperature of the categorical outputs the critic sees (the paper's is
    # 0.2). Adult, validation split, seeds 0-7 (BENCHMARKS.md, "Gumbel-softmax temperature"):
    # quality 0.952 -> 0.957 (higher on every seed), pair trends 0.909 -> 0.918,
    # train-on-synthetic macro-F1 0.789 -> 0.790 (+0.001 +- 0.003); eight tables of 200 rows
    # unchanged. 0.1, 0.5 and 1.0 cost macro-F1 (seeds 0-3: 0.787, 0.787, 0.779 against 0.791
    # at 0.2 and 0.792 at 0.3).
    tau: float = 0.3
    log_frequency: bool = True  # pick condition categories by log-frequency (rare ones more)
    # Also condition on each numeric column of a few values (every value a point mass) as on a
    # categorical one, so training-by-sampling reaches its rare values: in 5,000 steps Adult's
    # education-num 1 (0.14% of rows) was never generated without it. Adult, validation split,
    # seeds 0-3: train-on-synthetic macro-F1 0.776 -> 0.781 at 7,950 steps (BENCHMARKS.md).
    condition_discrete: bool = True
    # Set a column from the categorical column that determines it in the training rows, as
    # education-num from education (augment/tabular/dependencies.py): a generated code then
    # always matches its meaning, where 27% of Adult's rows did not.
    derive_columns: bool = True
    # Map each numeric column's generated values, within each class, onto the training rows'
    # quantiles (augment/tabular/calibration.py): the generator's marginals lag its joint
    # structure. Adult, validation split, same fits (BENCHMARKS.md): quality 0.908 -> 0.925 at
    # 5,000 steps, 0.929 -> 0.945 at 7,950; train-on-synthetic macro-F1 -0.004 and -0.007;
    # eight tables of 200 rows: real + synthetic to balance +0.039 -> +0.044. Fewer knots
    # gave less quality (100: +0.010-0.012 at the full budget) and cost as much macro-F1.
    calibrate_marginals: bool = True
    calibration_knots: int = 1000
    # A numeric column of few distinct training values (at most ``calibration_knots``, each in
    # ten rows on average) takes only values the training rows hold: the nearest knot's, not a
    # line between two. Interpolated, Adult's capital-gain came out in 701 values where the rows
    # hold 116. Adult, validation split, seeds 0-7, the same fits (BENCHMARKS.md, "Stepped
    # calibration"): train-on-synthetic macro-F1 0.789 -> 0.795 (higher on every seed), ROC-AUC
    # 0.905 -> 0.911, quality unchanged; adult.test, seeds 0-2: +0.005.
    calibration_steps: bool = True
    # Tilt each categorical column's logits per class (a per-class bias fitted after training)
    # so that its expected shares match the training rows' (augment/tabular/tilting.py):
    # given its class the generator draws that class's typical categories (Adult: P(>50K |
    # Masters) 0.565 real, 0.985 generated). The targets are shrunk towards the generator's own
    # shares by ``tilt_prior_rows`` rows. Adult, validation split, same fits (seeds 0-7):
    # train-on-synthetic macro-F1 0.760 -> 0.787, quality 0.910 -> 0.962, at no sampling cost
    # (BENCHMARKS.md, "Tilting").
    tilt_categories: bool = True
    tilt_prior_rows: float = 500.0
    # Sample from an exponential moving average of the generator's weights: the last iterate
    # oscillates (quality and F1 swung by 0.02-0.04 between checkpoints); the average less so.
    # Its warm-up, (1 + step) / (10 + step), stays below 0.999 until step 8,990: runs shorter
    # than that (Adult's 2,065 steps) average over about the last ninth of their steps whatever
    # this says.
    ema_decay: float | None = 0.999
    # P(a training condition is on the label). The paper picks columns uniformly (1/9 for Adult);
    # sampling always conditions on the label, so training on it more often pays. Mean macro-F1
    # over 2-5 seeds: 0.754 at 0.5, 0.768 at 0.7, 0.746 at 0.85, 0.763 at 1.0 (quality 0.91).
    label_weight: float | None = 0.7
    # Weight of an auxiliary classifier's loss on the generator (as in CTAB-GAN, Zhao et al.
    # 2021): a classifier trained on the real rows reads each fake row's label off its other
    # columns, and the generator pays where it reads another. Validation splits, 0.5 against 0:
    # Adult train-on-synthetic macro-F1 0.764 -> 0.780 at equal quality (1 cost quality, 3 more);
    # eight tables of 200 rows, real + synthetic to balance +0.018 -> +0.036 (BENCHMARKS.md).
    # While it trains (see classifier_steps) a step is about 10% slower (Adult, 2 CPU cores:
    # 9.1 against 8.3 ms). 0 turns it off.
    classifier_weight: float = 0.5
    # Steps the classifier trains for (on the real rows, in the D-steps' backward); then its
    # weights are frozen and only the generator's term is paid. Adult (validation split, seeds
    # 0-3): frozen after 2,000 steps, fits were 4-20% faster at the same train-on-synthetic
    # macro-F1 (mean 0.777 both); frozen without its dropout, 0.008 lower. None: throughout.
    classifier_steps: int | None = 2000
    max_modes: int = 10
    mode_assignment: str = "argmax"  # or "sample" (the paper's); see TableEncoder
    fit_sample: int = 5000  # rows per column the Gaussian mixtures are fitted on
    max_point_masses: int = 20
    point_mass_fraction: float = 0.05
    # "fp32", "bf16", or auto: bf16 where the hardware has it natively; training and sampling
    precision: str = "auto"
    threads: int | None = None  # CPU threads; None: the free cores (core.training)
    log_every: int = 50

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        self.generator_dims = tuple(self.generator_dims)
        self.discriminator_dims = tuple(self.discriminator_dims)
        for name in ("pac", "noise_dim", "max_modes", "fit_sample", "log_every"):
            if getattr(self, name) < 1:
                raise AugmentError(f"{name} must be at least 1, got {getattr(self, name)}")
        if min((*self.generator_dims, *self.discriminator_dims), default=1) < 1:
            raise AugmentError("generator_dims and discriminator_dims must be widths of at least 1")
        if self.threads is not None and self.threads < 1:
            raise AugmentError(f"threads must be at least 1 or null, got {self.threads}")
        for name, value in (("lr_g", self.lr_g), ("lr_d", self.lr_d), ("tau", self.tau)):
            if value <= 0:
                raise AugmentError(f"{name} must be positive, got {value}")
        if not 0 <= self.dropout < 1:
            raise AugmentError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.batch_size < self.pac or self.batch_size % self.pac:
            raise AugmentError(
                f"batch_size ({self.batch_size}) must be a positive multiple of pac ({self.pac})"
            )
        if self.epochs < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise AugmentError("epochs and max_steps must be at least 1")
        if self.min_steps < 0:
            raise AugmentError(f"min_steps must be at least 0, got {self.min_steps}")
        if self.max_seconds is not None and not self.max_seconds > 0:  # the image GAN's rule
            raise AugmentError(f"max_seconds must be positive or null, got {self.max_seconds!r}")
        if self.label_weight is not None and not 0 <= self.label_weight <= 1:
            raise AugmentError(f"label_weight must be in [0, 1], got {self.label_weight}")
        if self.classifier_weight < 0:
            raise AugmentError(
                f"classifier_weight must be at least 0, got {self.classifier_weight}"
            )
        if self.classifier_steps is not None and self.classifier_steps < 0:
            raise AugmentError(
                f"classifier_steps must be at least 0 or null, got {self.classifier_steps}"
            )
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise AugmentError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.calibration_knots < 2:
            raise AugmentError(
                f"calibration_knots must be at least 2, got {self.calibration_knots}"
            )
        if not self.tilt_prior_rows >= 0 or not math.isfinite(self.tilt_prior_rows):
            raise AugmentError(
                f"tilt_prior_rows must be a finite number >= 0, got {self.tilt_prior_rows!r}"
            )
        if self.gp_every < 1 or self.discriminator_steps < 1:
            raise AugmentError("gp_every and discriminator_steps must be at least 1")
        if self.mode_assignment not in ("sample", "argmax"):
            raise AugmentError(
                f"mode_assignment must be 'sample' or 'argmax', got {self.mode_assignment!r}"
            )
        if self.precision not in PRECISIONS:
            raise AugmentError(
                f"unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


class TabGAN:
    """Conditional tabular GAN implementing :class:`augment.registry.GenerativeModel`.

    Example:
        >>> gan = TabGAN(epochs=10)  # doctest: +SKIP
        >>> gan.fit(frame, schema, seed=0)  # doctest: +SKIP
        >>> gan.sample(["<=50K", ">50K"], seed=1)["income"].tolist()  # doctest: +SKIP
        ['<=50K', '>50K']
    """

    name = "tabgan"

    def __init__(self, **hyperparameters: Any) -> None:
        self.config = checked_config(TabGANConfig, self.name, hyperparameters)
        self.schema: TableSchema | None = None
        self.encoder: TableEncoder | None = None
        self.generator: Generator | None = None
        self.layout: SpanLayout | None = None
        self.device = torch.device("cpu")
        self.summary: dict[str, Any] = {}
        self.calibration: MarginalCalibration | None = None
        self.tilt: CategoryTilt | None = None
        self._sampler: tuple[Generator, CategoryTilt | None, SamplingNetwork] | None = None

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        data: pd.DataFrame | ParquetRows,
        schema: TableSchema,
        *,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
        curves: RunLog | None = None,
        fidelity_every: int = 0,
        checkpoint: Checkpointing | None = None,
    ) -> dict[str, Any]:
        """Fit the encoder and train the GAN on ``data``; returns the training summary.

        ``curves`` logs the losses as training curves; with ``fidelity_every`` > 0 it also gets
        the SDMetrics-style quality of 1,000 rows sampled from the EMA generator every that many
        steps (and at the end), a fidelity curve. ``checkpoint`` names a folder to checkpoint
        into and resume from (see :func:`augment.core.training.train_gan`).

        Under torchrun each process trains on every ``WORLD_SIZE``-th row with batches of
        ``batch_size``, so an epoch takes ``WORLD_SIZE`` times fewer steps.

        ``data`` read in batches (:class:`ParquetRows`, a table larger than memory) is never
        loaded whole: the encoder is fitted on a seeded sample of ``ENCODER_SAMPLE_ROWS``
        rows, and the rows are encoded once into memory-mapped files beside
        ``data.scratch``, removed when training ends. Under torchrun each process encodes only
        the rows it trains on.
        """
        if schema.column(schema.label).kind != "categorical":
            raise AugmentError(f"the label column {schema.label!r} must be categorical")
        cfg = self.config
        started = time.perf_counter()
        with (
            contextlib.ExitStack() as scratch,  # a streamed table's encoded copy lives here
            distributed.session(device) as context,  # the torchrun job, kept for training
        ):
            encoder, rows, sample = self._encode(data, schema, seed, scratch, context)
            encode_seconds = time.perf_counter() - started

            processes = context.world_size
            # A streamed table's rows are this process's share already (see _encode).
            sharded = isinstance(data, ParquetRows) and processes > 1
            digest = data_digest(rows.values, rows.choices)
            if sharded:  # one digest of every rank's share, the same on every rank
                shares = distributed.gather_bytes(digest.encode(), context)
                digest = hashlib.blake2b(b"/".join(shares), digest_size=16).hexdigest()
            run_cfg, steps = run_budget(cfg, len(data), processes)
            layout = encoder.layout(condition_discrete=cfg.condition_discrete)
            task = _TabGANTask(run_cfg, rows, layout, steps, sharded=sharded)
            unchecked = (*RUN_ONLY, *AFTER_TRAINING)
            settings = {k: v for k, v in cfg.to_dict().items() if k not in unchecked}
            probe = None
            if curves is not None and fidelity_every > 0:
                probe = self._fidelity_probe(task, encoder, sample, schema, seed)
            loop = LoopConfig(
                steps=steps,
                d_steps=cfg.discriminator_steps,
                seed=seed,
                device=device,
                max_seconds=cfg.max_seconds,
                progress=progress,
                log_every=cfg.log_every,
                precision=cfg.precision,
                threads=cfg.threads,
                desc="tabgan",
                on_log=curves.curve if curves is not None else None,
                probe=probe,
                probe_every=fidelity_every,
                checkpoint=checkpoint or Checkpointing(),
                fingerprint={
                    "model": self.name,
                    "hyperparameters": settings,
                    "data": digest,
                },
            )
            summary = train_gan(task, loop)
            summary.update(
                rows=len(data),
                epochs=round(summary["steps"] * run_cfg.batch_size * processes / len(data), 2),
                batch_size=run_cfg.batch_size,
                encode_seconds=round(encode_seconds, 3),
            )
            self.schema, self.encoder, self.summary = schema, encoder, summary
            with cpu_thread_limit(task.device, cfg.threads):  # the EMA re-norm runs many small ops
                generator = task.final_generator()
                # A streamed table's encoded rows are on disk: its sample stands for them.
                encoded = None if isinstance(data, ParquetRows) else rows
                self.calibration, self.tilt = _corrections(
                    encoder, task.layout, generator, sample, encoded, cfg, seed
                )
            self.generator, self.layout, self.device = generator, task.layout, task.device
            return summary

    def _encode(
        self,
        data: pd.DataFrame | ParquetRows,
        schema: TableSchema,
        seed: int,
        scratch: contextlib.ExitStack,
        context: distributed.Context,
    ) -> tuple[TableEncoder, EncodedRows, pd.DataFrame]:
        """The fitted encoder, the encoded rows, and real rows for the fidelity probe.

        Under torchrun rank 0 fits the encoder and sends it to the others (see
        :func:`_shared_encoder`). A streamed table's processes then each encode only their own
        share of the rows (every ``WORLD_SIZE``-th), so ``N`` processes encode the table once
        between them, not ``N`` times, and hold ``1/N`` of it on disk each."""
        if isinstance(data, ParquetRows):
            sample = data.sample(ENCODER_SAMPLE_ROWS, seed)
            encoder = _shared_encoder(
                lambda: make_encoder(self.config, seed).fit(sample, schema), context
            )
            folder = scratch.enter_context(scratch_dir(data.scratch))
            share = rows_in(data.batches(), context.shard)
            size = len(range(len(data))[context.shard])
            return encoder, encoder.encode_batches(share, size, folder), sample
        encoder = _shared_encoder(
            lambda: make_encoder(self.config, seed).fit(data, schema), context
        )
        return encoder, encoder.encode(data), data

    def _fidelity_probe(
        self,
        task: _TabGANTask,
        encoder: TableEncoder,
        data: pd.DataFrame,
        schema: TableSchema,
        seed: int,
        rows: int = 1000,
    ) -> Callable[[int], dict[str, float]]:
        """Quality of ``rows`` rows from the current EMA generator against as many real ones."""
        from augment.tabular.evaluation.fidelity import quality_report

        real = data.sample(min(rows, len(data)), random_state=seed)
        codes = label_codes(encoder, schema, real[schema.label])

        def probe(step: int) -> dict[str, float]:
            network = sampling_network(task.final_generator(), task.layout, self.config.precision)
            synthetic = decode_rows(encoder, generate_rows(network, task.layout, codes, seed))
            report = quality_report(real, synthetic, schema)
            return {"fidelity": report["overall"], "column_shapes": report["column_shapes"]}

        return probe

    # --------------------------------------------------------------- sample
    def sample(
        self, labels: Sequence[Any] | np.ndarray, *, seed: int = 0, categorical: bool = False
    ) -> pd.DataFrame:
        """One row per entry of ``labels``, with exactly that label; same seed, same rows.

        ``categorical``: string columns with categories come as pandas Categoricals of the
        same values (:meth:`TableEncoder.decode`), which ``augment generate`` writes faster."""
        codes = self._label_codes(labels)
        return decode_rows(
            self.encoder,
            self._generate(codes, seed),
            categorical=categorical,
            calibration=self.calibration,
            rng=np.random.default_rng(derive_seed(seed, "calibration ties")),
        )

    def _label_codes(self, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
        if self.generator is None or self.encoder is None:
            raise AugmentError("the synthesizer is not fitted: call fit() or load() first")
        return label_codes(self.encoder, self.schema, labels)

    @torch.inference_mode()
    def _generate(self, codes: np.ndarray, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        sampler = self._sampler
        if sampler is None or sampler[:2] != (self.generator, self.tilt):
            # Built once per generator and tilt (fit and load set new ones), not per call.
            # Threads sampling at once may each build it: the same network, whichever is kept.
            network = sampling_network(
                self.generator, self.layout, self.config.precision, self.tilt
            )
            sampler = self._sampler = (self.generator, self.tilt, network)
        with cpu_thread_limit(self.device, self.config.threads):
            yield from generate_rows(sampler[2], self.layout, codes, seed)

    def without_tilt(self) -> TabGAN:
        """This model, sampling as its generator draws (no categorical tilt), as a model
        trained with ``tilt_categories`` false would; the networks are shared, not copied."""
        other = copy.copy(self)
        other.tilt = None
        return other

    @property
    def samples_concurrently(self) -> bool:
        """Whether :meth:`sample` calls may run in several threads at once, to use more cores
        than one call's products do: on the CPU, where each call draws from its own seeded
        generator and, with ``threads`` unset, keeps the torch thread count its caller set."""
        return self.device.type == "cpu" and self.config.threads is None

    # ------------------------------------------------------------ save/load
    def save(self, directory: str | Path) -> None:
        """Write ``weights.safetensors``, ``config.json`` and ``encoder.json`` atomically."""
        if self.generator is None or self.encoder is None:
            raise AugmentError("the synthesizer is not fitted: nothing to save")
        config = {
            "model": self.name,
            "augment_version": augment.__version__,
            "torch_version": torch.__version__,
            "hyperparameters": self.config.to_dict(),
            "schema": self.schema.to_dict(),
            "training": self.summary,
        }
        encoder = {ENCODER: self.encoder.to_dict()}
        networks: dict[str, torch.nn.Module] = {"generator": self.generator}
        if self.calibration is not None:
            networks["calibration"] = self.calibration
        if self.tilt is not None:
            networks["tilt"] = self.tilt
        save_model(directory, networks, config, extra_json=encoder)

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> TabGAN:
        """Rebuild a saved TabGAN from JSON and safetensors only (no pickle, no code runs).

        Every file is checked before anything is allocated: ``config.json``'s hyper-parameters
        and schema, ``encoder.json`` against that schema, and the weights' header against the
        network they imply (:func:`augment.core.modelfiles.load_network`).
        """
        files = open_model(directory, cls.name)
        where = str(files.config_path)
        gan = cls()
        # A model saved before these settings existed was trained and saved without them.
        before = {
            "condition_discrete": False,
            "calibrate_marginals": False,
            "calibration_steps": False,
            "tilt_categories": False,
        }
        hyperparameters = {**before, **files.config.hyperparameters}
        raked = _from_raking(hyperparameters)
        gan.config = checked_config(
            TabGANConfig, cls.name, hyperparameters, f"{where}: hyperparameters"
        )
        gan.schema = TableSchema.from_dict(files.config.schema, f"{where}: schema")
        encoder_path = files.directory / ENCODER
        gan.encoder = TableEncoder.from_dict(read_json(encoder_path, "encoder"), str(encoder_path))
        _check_same_table(gan.schema, gan.encoder.schema, where, encoder_path)
        gan.summary = files.config.training
        gan.device = resolve_device(device)
        layout = gan.encoder.layout(condition_discrete=gan.config.condition_discrete)
        generator = load_network(lambda: _make_generator(gan.config, layout), files.weights)
        gan.layout = layout.to(gan.device)
        gan.generator = generator.to(gan.device).eval()
        if gan.config.calibrate_marginals:
            classes = _class_count(gan.encoder)
            columns, knots = gan.encoder.calibrated_columns(), gan.config.calibration_knots
            steps = gan.config.calibration_steps
            gan.calibration = load_network(
                lambda: MarginalCalibration(columns, classes, knots, steps),
                files.weights,
                "calibration",
            )
            gan.calibration.check(str(files.weights))

        def tilt() -> CategoryTilt:
            return CategoryTilt.for_encoder(gan.encoder, _class_count(gan.encoder))

        if gan.config.tilt_categories and tilt().active:  # saved only where there is any
            if raked:
                gan.tilt = _tilt_from_raking(gan, tilt(), files.weights)
            else:
                gan.tilt = load_network(tilt, files.weights, "tilt")
            gan.tilt.check(str(files.weights))
        return gan


def _from_raking(hyperparameters: dict[str, Any]) -> bool:
    """Rename, in place, the settings of a model saved with the categorical raking that
    tilting replaced (each row kept from ``rake_pool`` candidates): its targets are then tilted
    to instead. Whether it was saved raked."""
    if "rake_categories" not in hyperparameters:
        return False
    raked = hyperparameters.pop("rake_categories")
    hyperparameters.pop("rake_pool", None)
    hyperparameters["tilt_categories"] = raked
    if "rake_prior_rows" in hyperparameters:
        hyperparameters["tilt_prior_rows"] = hyperparameters.pop("rake_prior_rows")
    return raked is True


def _tilt_from_raking(gan: TabGAN, blank: CategoryTilt, weights: Path) -> CategoryTilt:
    """The tilt of a model saved with the raking that tilting replaced: solved onto the
    targets it saved (``raking.target``, checked), on a seeded draw of its generator."""
    saved = load_network(lambda: RakingTargets(blank), weights, "raking")
    saved.check(str(weights))
    network = sampling_network(gan.generator, gan.layout, gan.config.precision)
    logits = class_logits(network, _rows_per_class(blank.classes), derive_seed(0, "tilt"))
    return blank.from_targets(logits, gan.layout, saved.target)


def _check_same_table(
    schema: TableSchema, encoded: TableSchema, config_path: str, encoder_path: Path
) -> None:
    """config.json's schema (what is written) and encoder.json's (what is generated) agree."""
    names, encoded_names = schema.names, encoded.names
    lacking = [n for n in encoded_names if n not in names]
    if lacking:
        raise AugmentError(
            f"{config_path}: the schema lacks column {lacking[0]!r}, which {encoder_path}"
            " encodes; the model files do not belong together"
        )
    extra = [n for n in names if n not in encoded_names]
    if extra or names != encoded_names:
        which = f"column {extra[0]!r}" if extra else "its column order"
        raise AugmentError(
            f"{config_path}: the schema's {which} does not match {encoder_path}; the model"
            " files do not belong together"
        )
    for mine, theirs in zip(schema.columns, encoded.columns, strict=True):
        if mine.kind != theirs.kind or mine.categories != theirs.categories:
            raise AugmentError(
                f"{config_path}: column {mine.name!r} differs from {encoder_path}"
                f" ({mine.kind} vs {theirs.kind}, or other categories)"
            )
    if schema.label != encoded.label or schema.classes != encoded.classes:
        raise AugmentError(f"{config_path}: the label or classes differ from {encoder_path}")


def label_codes(
    encoder: TableEncoder, schema: TableSchema, labels: Sequence[Any] | np.ndarray
) -> np.ndarray:
    """Positions of ``labels`` among the label's categories; an unknown label is an error."""
    categories = encoder.category_index(schema.label)["categories"]
    values = pd.Index(list(np.asarray(labels, dtype=object).reshape(-1)), dtype=object)
    codes = pd.Index(categories, dtype=object).get_indexer(values)
    if (codes < 0).any():
        bad = values[int(np.flatnonzero(codes < 0)[0])]
        raise AugmentError(
            f"unknown label {bad!r} for {schema.label!r}: the classes are "
            + ", ".join(repr(c) for c in categories)
        )
    return codes


def sampling_network(
    generator: Generator,
    layout: SpanLayout,
    precision: str = "fp32",
    tilt: CategoryTilt | None = None,
) -> SamplingNetwork:
    """An eval-mode ``generator`` rewritten for sampling, conditioned on the label, in the
    training ``precision`` resolved for its device (a model trained in bf16 samples in bf16),
    its categorical logits offset by ``tilt``."""
    label = layout.label_span
    start = int(layout.cond_offset[label])
    slots = torch.arange(start, start + int(layout.cond_width[label]))
    device = next(generator.parameters()).device
    bf16 = resolve_precision(precision, device) == "bf16"
    dtype = torch.bfloat16 if bf16 else torch.float32
    bias = None if tilt is None else tilt.output_offsets(layout)
    return SamplingNetwork(generator, slots, dtype, bias).to(device)


@torch.inference_mode()
def generate_rows(
    network: SamplingNetwork, layout: SpanLayout, codes: np.ndarray, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Rows of the classes ``codes`` in chunks, as decoded spans (``TableEncoder.decode``'s
    ``values`` and ``choices``); the label's category is the condition's, so every row has
    exactly the class asked for."""
    device = network.input_output.device
    gen = torch_generator(seed, device)
    for start in range(0, len(codes), SAMPLE_CHUNK):
        classes = torch.as_tensor(codes[start : start + SAMPLE_CHUNK], device=device)
        noise = torch.randn(len(classes), network.noise_dim, device=device, generator=gen)
        values, choices = draw_spans(network(noise, classes), layout, classes, gen)
        yield values.cpu().numpy(), choices.cpu().numpy()


def class_logits(network: SamplingNetwork, rows: int, seed: int) -> Callable[[int], torch.Tensor]:
    """``logits(c)``: the raw outputs ``(data_dim, rows)`` of ``rows`` fresh draws of class
    ``c`` (on the CPU), one seeded stream across calls."""
    device = network.input_output.device
    gen = torch_generator(seed, device)

    def logits(c: int) -> torch.Tensor:
        with torch.inference_mode():
            classes = torch.full((rows,), c, dtype=torch.int64, device=device)
            noise = torch.randn(rows, network.noise_dim, device=device, generator=gen)
            return network(noise, classes).cpu()

    return logits


def _rows_per_class(classes: int) -> int:
    """Draws per class the corrections are fitted on: ``CALIBRATION_ROWS`` in equal shares,
    at least 1,000."""
    return max(1000, CALIBRATION_ROWS // classes)


def decode_rows(
    encoder: TableEncoder,
    chunks: Iterator[tuple[np.ndarray, np.ndarray]],
    *,
    categorical: bool = False,
    calibration: MarginalCalibration | None = None,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """One table from :func:`generate_rows`' chunks (empty, with the schema's columns, if none);
    the other arguments as in :meth:`TableEncoder.decode`."""
    values, choices = _joined(encoder, chunks)
    return encoder.decode(
        values, choices, categorical=categorical, calibration=calibration, rng=rng
    )


def _corrections(
    encoder: TableEncoder,
    layout: SpanLayout,
    generator: Generator,
    real: pd.DataFrame,
    encoded: EncodedRows | None,
    cfg: TabGANConfig,
    seed: int,
) -> tuple[MarginalCalibration | None, CategoryTilt | None]:
    """The corrections the config asks for, fitted on the training rows ``real`` (a streamed
    table's: the encoder's sample) and ``CALIBRATION_ROWS`` rows of ``generator`` in equal
    shares per class (each correction its own draw): the numeric quantile maps and the
    categorical tilt. The tilt counts ``encoded``, the training rows already encoded, or else
    ``real`` encoded here."""
    if not (cfg.calibrate_marginals or cfg.tilt_categories):
        return None, None
    label, classes = encoder.schema.label, _class_count(encoder)
    network = sampling_network(generator, layout, cfg.precision)
    calibration = None
    if cfg.calibrate_marginals:
        codes = np.repeat(np.arange(classes), _rows_per_class(classes))
        values, choices = _joined(
            encoder, generate_rows(network, layout, codes, derive_seed(seed, "calibration"))
        )
        drawn = encoder.raw_columns(values, choices)
        names = encoder.calibrated_columns()
        observed = encoder.raw_frame(real, [*names, label])
        calibration = MarginalCalibration.fit(
            {name: observed[name] for name in names},
            observed[label],
            {name: drawn[name] for name in names},
            drawn[label],
            classes,
            cfg.calibration_knots,
            cfg.calibration_steps,
        )
    tilt = CategoryTilt.for_encoder(encoder, classes)
    if not (cfg.tilt_categories and tilt.active):  # a table without categorical columns
        return calibration, None
    real_choices = (encoder.encode(real) if encoded is None else encoded).choices.T
    logits = class_logits(network, _rows_per_class(classes), derive_seed(seed, "tilt"))
    tilt.fit(logits, layout, real_choices, real_choices[layout.label_choice], cfg.tilt_prior_rows)
    return calibration, tilt


def _class_count(encoder: TableEncoder) -> int:
    """How many classes the label has (the calibration's first dimension)."""
    return len(encoder.category_index(encoder.schema.label)["categories"])


def _joined(
    encoder: TableEncoder, chunks: Iterator[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`generate_rows`' chunks as one ``(values, choices)`` pair."""
    parts = list(chunks)
    if not parts:
        kinds = [span.kind for span in encoder.spans]
        values = np.zeros((kinds.count("tanh"), 0), dtype=np.float32)
        choices = np.zeros((kinds.count("softmax"), 0), dtype=np.int64)
    elif len(parts) == 1:
        values, choices = parts[0]
    else:
        values, choices = (np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
    return values, choices


def _shared_encoder(fit: Callable[[], TableEncoder], context: distributed.Context) -> TableEncoder:
    """``fit()``'s encoder; under torchrun rank 0's, sent to every rank as its JSON. Fitting the
    Gaussian mixtures on each rank would cost each its time, and their floats could differ
    between machines of different kinds: the ranks would then train on differently encoded
    rows, and the model would keep rank 0's encoder. A user error on rank 0 (data it cannot
    encode) is raised on every rank (:func:`augment.core.distributed.from_main`)."""
    if not context.launched:
        return fit()
    (sent,) = distributed.from_main(lambda: [json.dumps(fit().to_dict()).encode()], context)
    return TableEncoder.from_dict(json.loads(sent), "the encoder rank 0 sent")


def make_encoder(cfg: TabGANConfig, seed: int = 0) -> TableEncoder:
    """An unfitted encoder with the config's encoding settings."""
    return TableEncoder(
        max_modes=cfg.max_modes,
        fit_sample=cfg.fit_sample,
        mode_assignment=cfg.mode_assignment,
        max_point_masses=cfg.max_point_masses,
        point_mass_fraction=cfg.point_mass_fraction,
        derive_columns=cfg.derive_columns,
        seed=seed,
    )


def _make_generator(cfg: TabGANConfig, layout: SpanLayout) -> Generator:
    return Generator(cfg.noise_dim, layout.cond_dim, layout.data_dim, cfg.generator_dims)


def _adam(net: torch.nn.Module, lr: float, cfg: TabGANConfig) -> torch.optim.Optimizer:
    # The fused kernel updates all parameters in one pass: 3x faster than foreach on the CPU,
    # where the critic's wide first layer (pac x row width x hidden) makes the update costly.
    kwargs = {"lr": lr, "betas": cfg.betas, "weight_decay": cfg.weight_decay}
    try:
        optimizer = torch.optim.Adam(net.parameters(), fused=True, **kwargs)
    except RuntimeError:  # torch < 2.4 has no fused Adam on the CPU
        optimizer = torch.optim.Adam(net.parameters(), **kwargs)
    drop_casts_on_step(optimizer, net)  # bf16 weight copies kept between steps are now stale
    return optimizer


def run_budget(cfg: TabGANConfig, rows: int, processes: int = 1) -> tuple[TabGANConfig, int]:
    """The config a run trains with (its batch bounded by the data) and its number of steps.

    A batch is at most half the rows, so even a small table is seen in several batches per
    epoch; the steps are ``epochs`` passes over the rows (per process under torchrun), at least
    ``min_steps`` and at most ``max_steps``.
    """
    half = (rows // 2) // cfg.pac * cfg.pac
    batch = min(cfg.batch_size, max(cfg.pac, half))
    run_cfg = dataclasses.replace(cfg, batch_size=batch) if batch != cfg.batch_size else cfg
    steps = max(cfg.epochs * math.ceil(rows / (batch * processes)), cfg.min_steps)
    if cfg.max_steps is not None:
        steps = min(steps, cfg.max_steps)
    return run_cfg, steps


class _TabGANTask:
    """The GAN's side of :func:`augment.core.training.train_gan`: networks, D-step and G-step.

    Under torchrun G and D train through their DDP wrappers (``_g``, ``_d``): G's forward and
    D's forward over real and fake together, so their gradients are averaged over the ranks.
    The gradient penalty's forward and the G-step's (D frozen) use the plain critic: their
    gradients reach D's DDP hooks through the one backward of the D-step, or none reach D.
    """

    def __init__(
        self,
        cfg: TabGANConfig,
        rows: EncodedRows,
        layout: SpanLayout,
        steps: int,
        *,
        sharded: bool = False,
    ) -> None:
        self.cfg, self.steps = cfg, steps
        self._rows, self._layout = rows, layout
        self._sharded = sharded  # rows are this process's share already: build() keeps all

    def build(self, device: torch.device, shard: slice = slice(None)) -> None:
        cfg = self.cfg
        self.device = device
        self.layout = self._layout.to(device)
        # Training data, per-category row indices and condition draws all live on the device;
        # the data in its compact form (a memory-mapped file's pages on the CPU), of which each
        # step makes its batch's matrix rows.
        rows = self._rows if self._sharded else self._rows[shard]
        self.values = torch.from_numpy(np.ascontiguousarray(rows.values)).to(device)
        self.choices = torch.from_numpy(np.ascontiguousarray(rows.choices)).to(device)
        self.sampler = ConditionSampler(
            self.choices[:, self.layout.condition_choices],
            self.layout,
            log_frequency=cfg.log_frequency,
            label_weight=cfg.label_weight,
        )
        self.generator = _make_generator(cfg, self.layout).to(device)
        self.discriminator = Discriminator(
            self.layout.data_dim + self.layout.cond_dim,
            cfg.discriminator_dims,
            cfg.pac,
            cfg.dropout,
        ).to(device)
        self._g: torch.nn.Module = self.generator  # the DDP wrappers under torchrun
        self._d: torch.nn.Module = self.discriminator
        # Listed once: a module's parameters() walks its submodules in Python at every call.
        self._generator_weights = list(self.generator.parameters())
        self.opt_g = _adam(self.generator, cfg.lr_g, cfg)
        self.opt_d = _adam(self.discriminator, cfg.lr_d, cfg)
        start, stop = self.layout.choice_spans[self.layout.label_choice]
        self._label_slots = slice(start, stop)
        self.classifier: LabelClassifier | None = None
        self._classifier_frozen = False
        if cfg.classifier_weight > 0:
            visible = torch.ones(self.layout.data_dim, device=device)
            visible[start:stop] = 0
            self.classifier = LabelClassifier(
                visible, stop - start, CLASSIFIER_DIMS, cfg.dropout
            ).to(device)
            self._c: torch.nn.Module = self.classifier
            self.opt_c = _adam(self.classifier, cfg.lr_d, cfg)
        self._schedulers: list[torch.optim.lr_scheduler.LRScheduler] = []
        if cfg.lr_decay:
            self._schedulers = [
                torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps, eta_min=lr * 0.1)
                for opt, lr in ((self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d))
            ]
        self._gp = torch.zeros((), device=device)
        self._d_calls = 0
        self._pending: tuple[Any, torch.Tensor, torch.Tensor] | None = None
        self.ema: Generator | None = None
        if cfg.ema_decay:
            # A moving average of the generator's weights samples better than its last,
            # still-oscillating iterate.
            self.ema = copy.deepcopy(self.generator).requires_grad_(False)
            self._ema_pairs = (list(self.ema.parameters()), list(self.generator.parameters()))

    def networks(self) -> dict[str, torch.nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.classifier is not None:
            nets["classifier"] = self.classifier
        return nets if self.ema is None else {**nets, "generator_ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": self.opt_g, "discriminator": self.opt_d}
        return optimizers if self.classifier is None else {**optimizers, "classifier": self.opt_c}

    def schedulers(self) -> list[torch.optim.lr_scheduler.LRScheduler]:
        return self._schedulers

    def parallel(self, wrap: Callable[[torch.nn.Module], torch.nn.Module]) -> None:
        self._g, self._d = wrap(self.generator), wrap(self.discriminator)
        if self.classifier is not None:
            self._c = wrap(self.classifier)

    def state_dict(self) -> dict[str, Any]:
        # The last penalty is only reported, but a resumed run reports the same numbers.
        return {"d_calls": self._d_calls, "gp": float(self._gp.detach())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._d_calls = int(state["d_calls"])
        self._gp = torch.tensor(float(state["gp"]), device=self.device)

    def _fake(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(len(cond), self.cfg.noise_dim, device=self.device)
        raw = self._g(noise, cond)
        return raw, activate(raw, self.layout, self.cfg.tau)

    def d_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        self._d_calls += 1
        last = self._d_calls % cfg.discriminator_steps == 0
        c = self.sampler.sample(cfg.batch_size)
        # The last D-step's fake batch is kept (graph and all) for the G-step instead of
        # generating another: the same gradient signal for one generator forward less per step
        # (measured: 20% faster). The others need no graph.
        with torch.set_grad_enabled(last):
            raw, fake = self._fake(c.vector)
        if last:
            self._pending = (c, raw, fake)
        # The critic's input, [real | cond] over [fake | cond], written into one buffer (no
        # concatenations); one forward over real and fake together (D has no BatchNorm).
        rows, width = len(fake), self.layout.data_dim
        both = torch.empty(2 * rows, width + self.layout.cond_dim, device=self.device)
        real, fake_rows = both[:rows], both[rows:]
        self.layout.dense(self.values[c.rows], self.choices[c.rows], out=real[:, :width])
        fake_rows[:, :width] = fake.detach()
        real[:, width:] = fake_rows[:, width:] = c.vector
        score_real, score_fake = self._d(both).chunk(2)
        loss = score_fake.mean() - score_real.mean()
        total = loss
        if cfg.gp_weight > 0 and self._d_calls % cfg.gp_every == 0:
            self._gp = self._gradient_penalty(real, fake_rows)
            total = loss + cfg.gp_weight * cfg.gp_every * self._gp
        self.opt_d.zero_grad(set_to_none=True)
        learns = self._classifier_learns(step)
        if learns:  # trained on the real rows, in the same backward
            labels = self.choices[c.rows, self.layout.label_choice].long()
            total = total + torch.nn.functional.cross_entropy(self._c(real), labels)
            self.opt_c.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        if learns:
            self.opt_c.step()
        return {"loss_d": loss.detach(), "gp": self._gp.detach()}

    def _classifier_learns(self, step: int) -> bool:
        """Whether the classifier still trains at ``step``. Past ``classifier_steps`` its
        weights are frozen; its dropout stays on (the noise is part of the generator's signal).
        Decided by the step alone, so a resumed run freezes it at the same step."""
        if self.classifier is None:
            return False
        limit = self.cfg.classifier_steps
        if limit is None or step <= limit:
            return True
        if not self._classifier_frozen:
            self._classifier_frozen = True
            self.classifier.requires_grad_(False)
            self.opt_c.zero_grad(set_to_none=True)  # its last gradients are never used again
        return False

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        pac = self.cfg.pac
        # One mixing weight per pack: the critic sees packs, so the penalty is per pack.
        alpha = torch.rand(len(real) // pac, 1, 1, device=self.device)
        alpha = alpha.expand(-1, pac, 1).reshape(-1, 1)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminator(mixed).sum(), mixed, create_graph=True)
        norm = grad.reshape(-1, pac * real.shape[1]).norm(2, dim=1)
        return ((norm - 1) ** 2).mean()

    def g_step(self, step: int) -> dict[str, torch.Tensor]:
        if self._pending is not None:
            (c, raw, fake), self._pending = self._pending, None
        else:
            c = self.sampler.sample(self.cfg.batch_size)
            raw, fake = self._fake(c.vector)
        adversarial = -self.discriminator(torch.cat([fake, c.vector], dim=1)).mean()
        cond = condition_loss(raw, self.layout, c.column, c.category)
        losses = {"loss_g": adversarial.detach(), "cond": cond.detach()}
        total = adversarial + cond
        if self.classifier is not None:
            # Each fake row's label is the one it was generated with: the generator pays when
            # the real-data classifier reads another label off the row's other columns.
            labels = fake[:, self._label_slots].detach().argmax(1)
            mismatch = torch.nn.functional.cross_entropy(self.classifier(fake), labels)
            total = total + self.cfg.classifier_weight * mismatch
            losses["classifier"] = mismatch.detach()
        self.opt_g.zero_grad(set_to_none=True)
        # Only G's weights: D's and the classifier's gradients are not computed at all (a third
        # of the backward), and their weights keep requires_grad, so their casts carry over.
        total.backward(inputs=self._generator_weights)
        self.opt_g.step()
        return losses

    def end_step(self, step: int) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        if self.ema is not None:
            # Short memory early on, so the average does not start from the random init.
            decay = min(self.cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(*self._ema_pairs, 1 - decay)

    @torch.no_grad()
    def final_generator(self, batches: int = 20) -> Generator:
        """The generator to keep: the EMA one, with BatchNorm statistics measured on its own
        activations (the running ones belong to the live weights), else the live one."""
        if self.ema is None:
            return self.generator.eval()
        norms = [m for m in self.ema.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the batches below
        self.ema.train()
        for _ in range(batches):
            cond = self.sampler.sample(self.cfg.batch_size).vector
            self.ema(torch.randn(len(cond), self.cfg.noise_dim, device=self.device), cond)
        for norm in norms:
            norm.momentum = 0.1
        return self.ema.eval()
