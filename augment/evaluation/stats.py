"""Scores of a downstream classifier on the real test split, and confidence intervals over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "roc_auc", "minority_recall")
METRIC_LABELS = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "roc_auc": "ROC-AUC",
    "minority_recall": "minority recall",
}


def metric_label(metric: str) -> str:
    """How people read a metric's name: ``macro_f1`` -> ``macro-F1``."""
    return METRIC_LABELS.get(metric, metric)


def classification_scores(
    y_true: np.ndarray, proba: np.ndarray, minority: int, threshold: float | None = None
) -> dict[str, float]:
    """Accuracy, macro-F1, ROC-AUC and the recall of class ``minority``.

    ``y_true`` holds class indices ``0..K-1`` (positions in ``schema.classes``) and ``proba`` is
    ``(n, K)``. ROC-AUC is the positive-class AUC for two classes and the one-vs-rest macro
    average otherwise, over the classes present in ``y_true`` (a class absent from the test split
    has no AUC); NaN when only one class is present. The predicted class is the most probable
    one, or with ``threshold`` the minority class wherever its probability reaches it
    (:func:`tune_threshold`).

    Computed from one confusion matrix and one ranking per class, equal to scikit-learn's
    ``accuracy_score``, ``f1_score(average="macro", zero_division=0)``, ``recall_score`` and
    ``roc_auc_score`` (tests pin it) at a fraction of their input checks' cost: an evaluation
    scores every fit twice, hundreds of times.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = predict_classes(proba, minority, threshold)
    k = proba.shape[1]
    confusion = _confusion(y_true, y_pred, k)
    support = confusion.sum(axis=1)
    return {
        "accuracy": float(np.trace(confusion) / max(len(y_true), 1)),
        "macro_f1": _macro_f1_of(confusion),
        "roc_auc": roc_auc(y_true, proba),
        "minority_recall": (
            float(confusion[minority, minority] / support[minority]) if support[minority] else 0.0
        ),
    }


def predict_classes(proba: np.ndarray, minority: int, threshold: float | None = None) -> np.ndarray:
    """The most probable class; with ``threshold``, the minority class wherever its probability
    is at least ``threshold`` (for two classes: an ordinary decision threshold)."""
    y_pred = proba.argmax(axis=1)
    if threshold is not None:
        y_pred = np.where(proba[:, minority] >= threshold, minority, y_pred)
    return y_pred


# Candidate decision thresholds for the minority class; the argmax rule (None) is tried first so
# that a tie keeps the untuned classifier.
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.02 * i, 2) for i in range(1, 50))


def tune_threshold(
    y_true: np.ndarray, proba: np.ndarray, minority: int, metric: str = "macro_f1"
) -> float | None:
    """The minority-class decision threshold that maximises ``metric`` (``macro_f1`` or
    ``accuracy``) on these labels, which must be a validation split, never the test split;
    None where the most-probable-class rule does at least as well."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    score = {"macro_f1": _macro_f1, "accuracy": lambda t, p, k: float(np.mean(t == p))}[metric]
    k = proba.shape[1]
    best, best_score = None, score(y_true, predict_classes(proba, minority), k)
    for threshold in THRESHOLD_GRID:
        got = score(y_true, predict_classes(proba, minority, threshold), k)
        if got > best_score:
            best, best_score = threshold, got
    return None if best is None else float(best)


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    return _macro_f1_of(_confusion(y_true, y_pred, k))


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` counts: row the true class, column the predicted one."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _macro_f1_of(confusion: np.ndarray) -> float:
    """sklearn's macro-F1 (labels present in either, zero_division=0)."""
    hits = np.diag(confusion).astype(np.float64)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    denominator = support + predicted
    present = denominator > 0
    return float(np.mean(2 * hits[present] / denominator[present])) if present.any() else 0.0


def roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    present = np.unique(y_true)
    if len(present) < 2:
        return math.nan
    if proba.shape[1] == 2:
        return _binary_auc(y_true == 1, proba[:, 1])
    # One-vs-rest macro by hand: equal to sklearn's when every class is present, and still
    # defined when the test split lacks a class.
    return float(np.mean([_binary_auc(y_true == c, proba[:, c]) for c in present]))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic: the chance that a positive
    outscores a negative, ties counting half (average ranks), as sklearn's trapezoids give."""
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    ranks = stats.rankdata(score)
    above = ranks[positive].sum() - n_positive * (n_positive + 1) / 2
    return float(above / (n_positive * n_negative))


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean and Student-t confidence interval over seeds.

    NaN values are ignored. With one value the interval is undefined (NaN bounds); with zero
    variance it collapses to the mean.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = float(arr.mean())
    if n == 1:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": 1}
    sd = float(arr.std(ddof=1))
    if sd == 0.0:
        return {"mean": mean, "low": mean, "high": mean, "n": n}
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def paired_gains(recipe: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    """Per-seed differences ``recipe[s] - baseline[s]``: the pairing removes seed-to-seed noise."""
    a = np.asarray(recipe, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired gains need equal lengths, got {a.shape} and {b.shape}")
    return a - b
