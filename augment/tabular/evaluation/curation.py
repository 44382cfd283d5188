"""Curated synthetic rows: the table side of :mod:`augment.evaluation.curation`.

The judge is the evaluation's default downstream classifier (HistGradientBoosting, its default
parameters, the schema's encoding of :mod:`augment.tabular.evaluation.classifiers`), fitted on
real training rows only; a synthetic row is kept when it gives the row's conditioned class
probability at least the threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from augment.core.models import GenerativeModel
from augment.errors import AugmentError
from augment.evaluation.curation import DEFAULT_THRESHOLD, Curated, curate
from augment.tabular.evaluation.classifiers import DownstreamClassifier, make_classifier
from augment.tabular.schema import TableSchema

JUDGE = "hgb"  # the evaluation's default (first) classifier


def fit_judge(real: pd.DataFrame, schema: TableSchema, *, seed: int) -> DownstreamClassifier:
    """The curation classifier, fitted on ``real`` (real training rows; never the test split)."""
    return make_classifier(JUDGE, schema, seed=seed).fit(real)


def judge_confidence(
    judge: DownstreamClassifier,
) -> Callable[[pd.DataFrame, np.ndarray], np.ndarray]:
    """``confidence(rows, class_indices)``: each row's probability of its own class."""

    def confidence(rows: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        return judge.predict_proba(rows)[np.arange(len(rows)), labels]

    return confidence


def curate_rows(
    synthesizer: GenerativeModel,
    judge: DownstreamClassifier,
    labels: np.ndarray,
    *,
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
    warn: bool = True,
) -> Curated[pd.DataFrame]:
    """Synthetic rows for the class indices ``labels`` (positions in the schema's classes),
    kept only where ``judge`` is confident of their class; see :func:`curate`."""
    schema = judge.schema
    classes = np.asarray(schema.classes, dtype=object)

    def draw(wanted: np.ndarray, draw_seed: int) -> pd.DataFrame:
        if not len(wanted):
            return pd.DataFrame(columns=schema.names)
        rows = synthesizer.sample(classes[wanted], seed=draw_seed)
        if len(rows) != len(wanted):
            raise AugmentError(f"synthesizer returned {len(rows)} rows for {len(wanted)} labels")
        return rows.reset_index(drop=True)

    def take(rows: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
        return rows.iloc[index].reset_index(drop=True)

    def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(parts, ignore_index=True)

    return curate(
        draw,
        judge_confidence(judge),
        labels,
        classes=list(schema.classes),
        seed=seed,
        threshold=threshold,
        classifier=describe_judge(),
        take=take,
        concat=concat,
        warn=warn,
    )


def describe_judge() -> str:
    """How generation.json and the summary name the judge."""
    return f"{JUDGE} (the evaluation's default classifier) fitted on the real training split"


__all__ = ["JUDGE", "curate_rows", "describe_judge", "fit_judge", "judge_confidence"]
