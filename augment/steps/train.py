"""``augment train``: fit a synthesizer on the prepared training split and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.core import checkpoint, distributed
from augment.core.checkpoint import CHECKPOINT, Checkpointing
from augment.core.files import MODEL, check_output_dir
from augment.core.modalities import IMAGE
from augment.core.models import GenerativeModel
from augment.core.runtime import derive_seed
from augment.core.tracking import RunLog
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle
from augment.log import logger
from augment.registry import MODEL_CHOICES, load_bundle, make_synthesizer, resolve_model
from augment.settings import TrainSettings
from augment.tabular.bundle import TabularBundle

DEFAULTS = TrainSettings()


def train(
    data: str | Path | TabularBundle | ImageBundle = DEFAULTS.data,
    out: str | Path = DEFAULTS.out,
    *,
    model: str = DEFAULTS.model,
    device: str = DEFAULTS.device,
    seed: int = DEFAULTS.seed,
    progress: bool = True,
    snapshots: str | Path | None = DEFAULTS.snapshots,
    dvclive: str | Path | None = DEFAULTS.dvclive,
    fidelity_every: int = DEFAULTS.fidelity_every,
    restart: bool = DEFAULTS.restart,
    checkpoint_every: int = DEFAULTS.checkpoint_every,
    checkpoint_dir: str | Path | None = DEFAULTS.checkpoint_dir,
    **hyperparameters: Any,
) -> GenerativeModel:
    """Fit ``model`` on the bundle's train split (never validation or test) and save it to ``out``.

    ``model="auto"`` picks the project's GAN for the data: ``tabgan`` for tables, ``imagegan``
    for images. ``hyperparameters`` go to the model: flat (``epochs=50``) or in a sub-section
    named after a model (``tabgan={"epochs": 50}``), of which only the chosen model's is used
    (see :func:`model_hyperparameters`). ``snapshots`` (images only) is a folder for a sample
    grid every ``snapshot_every`` steps, one row per class. ``dvclive`` is a folder for DVCLive
    training curves (the losses, and with ``fidelity_every`` > 0 a fidelity score every that
    many steps: quality for tables, pixel-space Fréchet distance for images) and the training
    summary.

    The project's GANs checkpoint every ``checkpoint_every`` steps and on SIGINT/SIGTERM into
    ``checkpoint_dir`` (default: ``.NAME.checkpoint`` beside ``out``); the same call again
    resumes from there, to the very weights an uninterrupted run gets on the CPU, unless
    ``restart``. The checkpoint is removed once the model is saved. Under torchrun every
    process trains (data-parallel) and rank 0 alone writes the model, snapshots and curves.

    Example (a few steps on the built-in digits; real runs train for thousands):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> gan = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> images = gan.sample([0, 1, 9], seed=0)   # one image per requested class index
        >>> images.shape, images.dtype.name
        ((3, 1, 8, 8), 'uint8')
    """
    checked = TrainSettings.check(
        dict(
            out=out, model=model, device=device, seed=seed, snapshots=snapshots, dvclive=dvclive,
            fidelity_every=fidelity_every,
        )
    )  # fmt: skip
    seed, fidelity_every = checked["seed"], checked["fidelity_every"]
    inputs = [data.path if isinstance(data, TabularBundle | ImageBundle) else data]
    check_output_dir(out, MODEL, inputs)  # before training, not after it
    bundle = data if isinstance(data, TabularBundle | ImageBundle) else load_bundle(data)
    modality = bundle.schema.modality
    spec = resolve_model(model, modality)
    model = spec.name
    hyperparameters = model_hyperparameters(model, hyperparameters)
    synth = make_synthesizer(model, hyperparameters)
    main = distributed.is_main_process()
    fit_options: dict[str, Any] = {"seed": seed, "device": device, "progress": progress and main}
    saving = None
    if spec.own:
        saving = Path(checkpoint_dir) if checkpoint_dir else checkpoint.default_directory(out)
        check_output_dir(saving, CHECKPOINT, inputs)  # never a folder of the user's
        mine, model_dir = saving.resolve(), Path(out).resolve()
        if mine == model_dir or model_dir in mine.parents or mine in model_dir.parents:
            raise AugmentError(
                f"the checkpoint folder {saving} and the model folder {out} must be apart: "
                "choose another --checkpoint-dir"
            )
        fit_options["checkpoint"] = Checkpointing(saving, checkpoint_every, restart)
    elif restart or checkpoint_dir is not None:
        logger.warning("checkpoints are for the project's GANs only: ignored for %s", model)
    if not main:  # rank 0 alone writes what is not the checkpoint
        snapshots = dvclive = None
    if modality == IMAGE:
        fit_options["snapshots"] = snapshots
        unlabelled = bundle.unlabelled
        if unlabelled is not None:
            fit_options["unlabelled"] = unlabelled
    elif snapshots is not None:
        logger.warning("snapshots are sample grids of images: ignored for a table")
    rows = _training_rows(bundle, spec.own, Path(out), seed, model)
    if dvclive is not None and spec.own:
        with RunLog(dvclive) as curves:
            summary = synth.fit(
                rows, bundle.schema, curves=curves, fidelity_every=fidelity_every,
                **fit_options,
            )  # fmt: skip
            curves.summary(_numbers(summary), prefix="train")
    else:
        if dvclive is not None:
            logger.warning("training curves are logged for the project's GANs only, not %s", model)
        summary = synth.fit(rows, bundle.schema, **fit_options)
    if not main:
        return synth
    synth.save(out)
    if saving is not None:
        checkpoint.remove(saving)  # the model is saved: nothing left to resume
    unit = "images" if modality == IMAGE else "rows"
    logger.info("trained %s on %d %s: %s -> %s", model, len(rows), unit, _brief(summary), out)
    return synth


def _training_rows(bundle: Any, own: bool, out: Path, seed: int, model: str) -> Any:
    """The train split as ``model`` takes it. The project's GAN reads a table that ingest
    streamed in batches, never whole; a baseline holds its rows in memory, so it gets a seeded
    sample of such a table (as the evaluation does), and the log says so."""
    if not isinstance(bundle, TabularBundle):
        return bundle.train
    if own:
        return bundle.train_rows(out)
    rows = bundle.rows("train", None, derive_seed(seed, "rows"))
    if len(rows) < (total := bundle.split_rows("train")):
        logger.warning(
            "%s holds its rows in memory: training on a seeded sample of %d of the %d rows of "
            "%s, which ingest read in batches",
            model, len(rows), total, bundle.path / "train.parquet",
        )  # fmt: skip
    return rows


def model_hyperparameters(model: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters for ``model``: its own sub-section, then any flat keys.

    ``params.yaml`` holds one sub-section per model (``tabgan: {epochs: ...}``, ``imagegan:
    {steps: ...}``), so one ``train`` section serves tables and images; only the chosen model's
    is used. Flat keys (``--epochs``, ``--set lr=...``, keyword arguments) win over it, and one
    that the model does not take is an error that names it.
    """
    own = settings.get(model) or {}
    if not isinstance(own, dict):
        raise AugmentError(f"train.{model} must be a mapping of hyper-parameters, got {own!r}")
    flat = {k: v for k, v in settings.items() if k not in MODEL_CHOICES}
    nested = sorted(k for k, v in flat.items() if isinstance(v, dict))
    if nested:
        raise AugmentError(
            f"unknown model section(s) {', '.join(nested)} in train: use {', '.join(MODEL_CHOICES)}"
        )
    return {**own, **flat}


def _numbers(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("steps", "seconds", "steps_per_second", "epochs", "images_per_second")
    losses = summary.get("final_losses") or {}
    return {**{k: summary[k] for k in keys if k in summary}, "final_losses": losses}


def _brief(summary: dict[str, Any]) -> str:
    keys = ("epochs", "steps", "seconds")
    parts = [
        f"{k} {summary[k]:.1f}" if isinstance(summary.get(k), float) else f"{k} {summary[k]}"
        for k in keys
        if k in summary
    ]
    if summary.get("resumed_from") is not None:
        parts.append(f"resumed from step {summary['resumed_from']}")
    if summary.get("rollbacks"):
        parts.append(f"{summary['rollbacks']} rollback(s) after a divergence")
    if (summary.get("processes") or 1) > 1:
        parts.append(f"{summary['processes']} processes")
    if summary.get("thread_choices"):
        # Chosen by timing the run's own steps (core.training.ThreadChooser).
        parts.append(f"{summary['threads']} CPU thread(s), by measured step time")
    return ", ".join(parts) or "done"
