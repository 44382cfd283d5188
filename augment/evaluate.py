"""``augment evaluate``: run the evaluation protocol; write metrics, plot data and the summary."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from augment.errors import AugmentError
from augment.evaluation import evaluate_tabular
from augment.evaluation.report import write_evaluation

# Settings evaluate_tabular takes from params.yaml / the CLI (not the Python-only injections).
_PYTHON_ONLY = {"bundle", "model_dir", "synthesizer", "factory", "progress", "device", "seed"}
SETTINGS = tuple(p for p in inspect.signature(evaluate_tabular).parameters if p not in _PYTHON_ONLY)


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
    **settings: Any,
) -> dict[str, Any]:
    """Evaluate the trained model's synthetic data on the prepared dataset; write the outputs.

    ``settings`` are :func:`augment.evaluation.evaluate_tabular`'s options (``ratios``,
    ``fractions``, ``seeds``, ``classifiers``, ``smote``, ...). Returns the full result.

    Example:
        >>> result = evaluate("data/prepared", "models/tabular", seeds=5)  # doctest: +SKIP
        >>> result["verdict"]
        'real + 1.0× synthetic: macro-F1 +0.012 [+0.004, +0.020] vs real only (95% CI, ...'
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise AugmentError(f"unknown evaluate setting {unknown[0]!r}; known: {', '.join(SETTINGS)}")
    result = evaluate_tabular(data, model, device=device, seed=seed, progress=progress, **settings)
    write_evaluation(result, metrics=metrics, plots=plots, summary=report)
    return result
