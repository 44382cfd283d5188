"""``augment train``: fit a synthesizer on the prepared training split and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.bundle import TabularBundle
from augment.log import logger
from augment.synthesizer import SDV_MODELS, TabularSynthesizer, make_synthesizer

# GaussianCopula has no epochs or batches: the shared train settings do not apply to it.
_NOT_FOR_COPULA = ("epochs", "batch_size")


def train(
    data: str | Path | TabularBundle = "data/prepared",
    out: str | Path = "models/tabular",
    *,
    model: str = "tabgan",
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    **hyperparameters: Any,
) -> TabularSynthesizer:
    """Fit ``model`` on the bundle's train split (never validation or test) and save it to ``out``.

    Example:
        >>> synth = train("data/prepared", "models/tabular", epochs=50)  # doctest: +SKIP
        >>> synth.sample([">50K", "<=50K"], seed=0)["income"].tolist()
        ['>50K', '<=50K']
    """
    bundle = data if isinstance(data, TabularBundle) else TabularBundle.load(data)
    hyperparameters = model_hyperparameters(model, hyperparameters)
    synth = make_synthesizer(model, hyperparameters)
    summary = synth.fit(bundle.train, bundle.schema, seed=seed, device=device, progress=progress)
    synth.save(out)
    logger.info("trained %s on %d rows: %s -> %s", model, len(bundle.train), _brief(summary), out)
    return synth


def model_hyperparameters(model: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The train settings that apply to ``model``: shared keys plus its own sub-section.

    ``params.yaml`` may hold sub-sections per model (``tabgan: {...}``, ``sdv-ctgan: {...}``);
    only the chosen model's is used.
    """
    own = dict(settings.get(model) or {})
    shared = {
        k: v
        for k, v in settings.items()
        if not isinstance(v, dict) and k not in ("tabgan", *SDV_MODELS)
    }
    if model == "sdv-gaussiancopula":
        shared = {k: v for k, v in shared.items() if k not in _NOT_FOR_COPULA}
    return {**shared, **own}


def _brief(summary: dict[str, Any]) -> str:
    keys = ("epochs", "steps", "seconds")
    parts = [
        f"{k} {summary[k]:.1f}" if isinstance(summary.get(k), float) else f"{k} {summary[k]}"
        for k in keys
        if k in summary
    ]
    return ", ".join(parts) or "done"
