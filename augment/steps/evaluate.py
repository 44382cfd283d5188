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

from augment.core.modalities import IMAGE, MODALITIES
from augment.core.tracking import RunLog
from augment.core.validate import check_values, type_hints
from augment.errors import AugmentError
from augment.evaluation.output import check_outputs
from augment.evaluation.results import EvaluationResult
from augment.registry import check_model_data, load_bundle
from augment.settings import EvaluateSettings
from augment.tabular.evaluation.report import write_evaluation
from augment.tabular.evaluation.runner import evaluate_tabular

# Settings the runners take from params.yaml / the CLI (not the Python-only injections).
_PYTHON_ONLY = {"bundle", "model_dir", "synthesizer", "factory", "progress", "device", "seed"}
DEFAULTS = EvaluateSettings()


def settings_of(runner: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(runner).parameters if p not in _PYTHON_ONLY)


def evaluate(
    data: str | Path = DEFAULTS.data,
    model: str | Path = DEFAULTS.model,
    *,
    metrics: str | Path = DEFAULTS.metrics,
    plots: str | Path = DEFAULTS.plots,
    report: str | Path = DEFAULTS.report,
    device: str = DEFAULTS.device,
    seed: int = DEFAULTS.seed,
    progress: bool = True,
    dvclive: str | Path | None = DEFAULTS.dvclive,
    jobs: int | None = DEFAULTS.jobs,
    backend: str = DEFAULTS.backend,
    scheduler: str | None = DEFAULTS.scheduler,
    **settings: Any,
) -> EvaluationResult:
    """Evaluate the trained model's synthetic data on the prepared dataset; write the outputs.

    ``settings`` are the runner's options: for tables
    :func:`augment.evaluation.evaluate_tabular`'s (``ratios``, ``fractions``, ``seeds``,
    ``classifiers``, ``smote``, ...), for images
    :func:`augment.images.evaluation.evaluate_images`'s (``ratios``, ``per_class``, ``seeds``,
    ``classifier``, ``flip``, ...): flat, or in a sub-section named after the modality
    (``tabular={...}``, ``image={...}``), of which only the data's is used and which flat ones
    win over. ``dvclive``: a folder where the metrics JSON's numbers are also logged with
    DVCLive. ``jobs``, ``backend`` and ``scheduler`` say where the classifier fits run
    (:mod:`augment.evaluation.parallel`): ``jobs`` joblib workers (None: the cores this process
    may use; 1: in this process, one after the other) of the ``loky`` (processes) or
    ``threading`` backend, or the Dask cluster whose scheduler is at ``scheduler`` with
    ``backend="dask"`` (``pip install 'augment[dask]'``); the numbers are the same whichever.
    Returns the typed result, the one the metrics JSON holds.

    Example (tiny budgets, so the numbers mean nothing; the defaults are ``seeds=5`` and more):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> result = augment.evaluate(tmp / "digits", tmp / "model", seeds=2, ratios=[1.0],
        ...     per_class=[], steps=5, epochs=None, pretrain_steps=5, fidelity_images=50,
        ...     device="cpu", progress=False, metrics=tmp / "m.json", plots=tmp / "plots",
        ...     report=tmp / "summary.md")
        >>> [recipe.name for recipe in result.recipes][:3]
        ['real', 'real+classic', 'real+synth@1.0']
        >>> (tmp / "summary.md").read_text().splitlines()[0] == result.verdict.text
        True
    """
    checked = EvaluateSettings.check(
        dict(
            data=data, model=model, metrics=metrics, plots=plots, report=report, device=device,
            seed=seed, dvclive=dvclive,
        )
    )  # fmt: skip
    seed = checked["seed"]
    check_outputs(metrics, report)  # before the work, not after it
    bundle = load_bundle(data)
    modality = bundle.schema.modality
    if isinstance(model, str | Path):  # not a fitted synthesizer handed in
        check_model_data(model, bundle.schema, data, "evaluate a model with its own data")
    fanout = {"jobs": jobs, "backend": backend, "scheduler": scheduler}
    if modality == IMAGE:
        from augment.images.evaluation.report import write_image_evaluation
        from augment.images.evaluation.runner import evaluate_images

        options = evaluation_options(settings, modality, evaluate_images)
        result = evaluate_images(
            bundle, model, device=device, seed=seed, progress=progress, **fanout, **options
        )
        write_image_evaluation(result, metrics=metrics, plots=plots, summary=report)
    else:
        options = evaluation_options(settings, modality, evaluate_tabular)
        result = evaluate_tabular(
            bundle, model, device=device, seed=seed, progress=progress, **fanout, **options
        )
        write_evaluation(result, metrics=metrics, plots=plots, summary=report)
    if dvclive is not None:
        with RunLog(dvclive) as log:
            log.summary(result.tracked(), prefix="evaluate")
    return result


def evaluation_options(
    settings: dict[str, Any], modality: str, runner: Callable[..., Any]
) -> dict[str, Any]:
    """The options for ``runner``: the ``modality`` sub-section, then the flat keys over it,
    each checked against the runner's signature (an unknown key or a wrong type names it)."""
    own = settings.get(modality) or {}
    if not isinstance(own, dict):
        raise AugmentError(f"evaluate.{modality} must be a mapping of settings, got {own!r}")
    flat = {k: v for k, v in settings.items() if k not in MODALITIES}
    if modality == IMAGE:
        flat = _image_settings(flat)
    known = settings_of(runner)
    hints = {k: v for k, v in type_hints(runner).items() if k in known}
    for where, values in ((f"evaluate.{modality}", own), ("evaluate", flat)):
        _check_settings(values, known, modality, where)
    return {
        **check_values(own, hints, f"evaluate.{modality}"),
        **check_values(flat, hints, "evaluate"),
    }


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
    settings: dict[str, Any], known: tuple[str, ...], modality: str, where: str
) -> None:
    unknown = sorted(set(settings) - set(known))
    if unknown:
        what = "images" if modality == IMAGE else "tables"
        raise AugmentError(
            f"{where} setting {unknown[0]!r} does not apply to {what}; known: {', '.join(known)}"
            " (settings for one modality go under evaluate.tabular or evaluate.image)"
        )
