"""``augment train``: fit a synthesizer on the prepared training split and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.core.files import MODEL, check_output_dir
from augment.core.models import GenerativeModel
from augment.core.tracking import RunLog
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle
from augment.log import logger
from augment.registry import IMAGE, MODEL_CHOICES, load_bundle, make_synthesizer, resolve_model
from augment.tabular.bundle import TabularBundle


def train(
    data: str | Path | TabularBundle | ImageBundle = "data/prepared",
    out: str | Path = "models/tabular",
    *,
    model: str = "auto",
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    snapshots: str | Path | None = None,
    dvclive: str | Path | None = None,
    fidelity_every: int = 0,
    **hyperparameters: Any,
) -> GenerativeModel:
    """Fit ``model`` on the bundle's train split (never validation or test) and save it to ``out``.

    ``model="auto"`` picks the project's GAN for the data: ``tabgan`` for tables, ``imagegan``
    for images. ``snapshots`` (images only) is a folder for a sample grid every
    ``snapshot_every`` steps, one row per class. ``dvclive`` is a folder for DVCLive training
    curves (the losses, and with ``fidelity_every`` > 0 a fidelity score every that many steps:
    quality for tables, pixel-space Fréchet distance for images) and the training summary.

    Example (a few steps on the built-in digits; real runs train for thousands):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> gan = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> images = gan.sample([0, 1, 9], seed=0)   # one image per requested class index
        >>> images.shape, images.dtype.name
        ((3, 1, 8, 8), 'uint8')
    """
    inputs = [data.path if isinstance(data, TabularBundle | ImageBundle) else data]
    check_output_dir(out, MODEL, inputs)  # before training, not after it
    bundle = data if isinstance(data, TabularBundle | ImageBundle) else load_bundle(data)
    modality = bundle.schema.modality
    spec = resolve_model(model, modality)
    model = spec.name
    hyperparameters = model_hyperparameters(model, hyperparameters)
    synth = make_synthesizer(model, hyperparameters)
    fit_options: dict[str, Any] = {"seed": seed, "device": device, "progress": progress}
    if modality == IMAGE:
        fit_options["snapshots"] = snapshots
        unlabelled = bundle.unlabelled
        if unlabelled is not None:
            fit_options["unlabelled"] = unlabelled
    elif snapshots is not None:
        logger.warning("snapshots are sample grids of images: ignored for a table")
    if dvclive is not None and spec.own:
        with RunLog(dvclive) as curves:
            summary = synth.fit(
                bundle.train, bundle.schema, curves=curves, fidelity_every=fidelity_every,
                **fit_options,
            )  # fmt: skip
            curves.summary(_numbers(summary), prefix="train")
    else:
        if dvclive is not None:
            logger.warning("training curves are logged for the project's GANs only, not %s", model)
        summary = synth.fit(bundle.train, bundle.schema, **fit_options)
    synth.save(out)
    unit = "images" if modality == IMAGE else "rows"
    logger.info(
        "trained %s on %d %s: %s -> %s", model, len(bundle.train), unit, _brief(summary), out
    )
    return synth


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
    return ", ".join(parts) or "done"
