"""``augment evaluate``: run the evaluation protocol; write metrics, plot data and the summary.

Tables go to :func:`augment.tabular.evaluation.runner.evaluate_tabular`, images to
:func:`augment.images.evaluation.runner.evaluate_images`; which one is the prepared data's
modality. Both return an :class:`~augment.evaluation.results.EvaluationResult`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment.core.models import model_config
from augment.core.tracking import RunLog
from augment.errors import AugmentError
from augment.evaluation.results import EvaluationResult
from augment.registry import load_bundle
from augment.tabular.evaluation.report import write_evaluation
from augment.tabular.evaluation.runner import evaluate_tabular

# Settings the runners take from params.yaml / the CLI (not the Python-only injections).
_PYTHON_ONLY = {"bundle", "model_dir", "synthesizer", "factory", "progress", "device", "seed"}


def settings_of(runner: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(runner).parameters if p not in _PYTHON_ONLY)


SETTINGS = settings_of(evaluate_tabular)


def evaluate(
    data: str | Path = "data/prepared",
    model: str | Path = "models/tabular",
    *,
    metrics: str | Path = "metrics/tabular.json",
    plots: str | Path = "plots/tabular",
    report: str | Path = "reports/summary.md",
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    dvclive: str | Path | None = None,
    jobs: int | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    **settings: Any,
) -> EvaluationResult:
    """Evaluate the trained model's synthetic data on the prepared dataset; write the outputs.

    ``settings`` are the runner's options: for tables
    :func:`augment.evaluation.evaluate_tabular`'s (``ratios``, ``fractions``, ``seeds``,
    ``classifiers``, ``smote``, ...), for images
    :func:`augment.images.evaluation.evaluate_images`'s (``ratios``, ``per_class``, ``seeds``,
    ``classifier``, ``flip``, ...). ``dvclive``: a folder where the tracked numbers of the
    metrics JSON are also logged with DVCLive. ``jobs``, ``backend`` and ``scheduler`` say where
    the classifier fits run (:mod:`augment.evaluation.parallel`): ``jobs`` joblib workers
    (None: the cores this process may use; 1: in this process, one after the other) of the
    ``loky`` (processes) or ``threading`` backend, or the Dask cluster whose scheduler is at
    ``scheduler`` with ``backend="dask"`` (``pip install 'augment[dask]'``); the numbers are the
    same whichever. Returns the typed result, the one the metrics JSON holds.

    Example (tiny budgets, so the numbers mean nothing; the defaults are ``seeds=5`` and more):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> result = augment.evaluate(tmp / "digits", tmp / "model", seeds=2, ratios=[1.0],
        ...     per_class=[], steps=5, fidelity_images=50, device="cpu", progress=False,
        ...     metrics=tmp / "m.json", plots=tmp / "plots", report=tmp / "summary.md")
        >>> [recipe.name for recipe in result.recipes][:3]
        ['real', 'real+classic', 'real+synth@1.0']
        >>> (tmp / "summary.md").read_text().splitlines()[0] == result.verdict.text
        True
    """
    bundle = load_bundle(data)
    _check_model_matches(model, bundle.schema.modality, data)
    fanout = {"jobs": jobs, "backend": backend, "scheduler": scheduler}
    if bundle.schema.modality == "image":
        from augment.images.evaluation.report import write_image_evaluation
        from augment.images.evaluation.runner import evaluate_images

        tabular_only = {k: v for k, v in settings.items() if k != "classifiers"}
        _check_settings(tabular_only, settings_of(evaluate_images), "image")
        settings = _image_settings(settings)
        result = evaluate_images(
            bundle, model, device=device, seed=seed, progress=progress, **fanout, **settings
        )
        write_image_evaluation(result, metrics=metrics, plots=plots, summary=report)
    else:
        _check_settings(settings, SETTINGS)
        result = evaluate_tabular(
            bundle, model, device=device, seed=seed, progress=progress, **fanout, **settings
        )
        write_evaluation(result, metrics=metrics, plots=plots, summary=report)
    if dvclive is not None:
        with RunLog(dvclive) as log:
            log.summary(result.tracked(), prefix="evaluate")
    return result


def _image_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Images train one downstream classifier: the CLI's repeatable ``--classifier`` gives one."""
    settings = dict(settings)
    chosen = settings.pop("classifiers", None)
    if chosen is not None:
        names = [chosen] if isinstance(chosen, str) else list(chosen)
        if len(names) != 1:
            raise AugmentError(
                f"images are evaluated with one classifier (cnn, resnet18 or auto), got"
                f" {', '.join(names)}"
            )
        settings["classifier"] = names[0]
    return settings


def _check_settings(
    settings: dict[str, Any], known: tuple[str, ...], modality: str = "tabular"
) -> None:
    unknown = sorted(set(settings) - set(known))
    if unknown:
        what = "images" if modality == "image" else "tables"
        raise AugmentError(
            f"evaluate setting {unknown[0]!r} does not apply to {what}; known: {', '.join(known)}"
            " (for a params.yaml with several pipelines, pick the block with --pipeline NAME)"
        )


def _check_model_matches(model: str | Path, modality: str, data: str | Path) -> None:
    """A model trained on tables cannot be evaluated on images, nor the other way round."""
    if not isinstance(model, str | Path):
        return
    trained_on = (model_config(model).get("schema") or {}).get("modality", "tabular")
    if trained_on != modality:
        kinds = {"image": "images", "tabular": "tables"}
        raise AugmentError(
            f"{model} was trained on {kinds.get(trained_on, trained_on)} but {data} holds"
            f" {kinds.get(modality, modality)}: evaluate a model with the data it was trained on"
        )
