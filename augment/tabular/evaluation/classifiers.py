"""Downstream classifiers: what the evaluation trains on each data recipe and scores on real test.

Both take a frame in the schema's columns and types (real, synthetic or mixed) and handle missing
values, datetimes (as epoch seconds) and multi-class labels. Labels are encoded as positions in
``schema.classes``, so probability columns line up across recipes even when a training set lacks
a class.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from augment.errors import AugmentError
from augment.evaluation.stats import METRICS, classification_scores, tune_threshold
from augment.tabular.schema import TableSchema

CLASSIFIERS: tuple[str, ...] = ("hgb", "logreg")
HGB_MAX_CATEGORIES = 255  # HistGradientBoosting's native categorical limit (max_bins)
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # A fixed number of boosting rounds without early stopping: early stopping would carve a
    # random validation set out of each recipe's training data and make recipes less comparable.
    "hgb": {"max_iter": 100, "learning_rate": 0.1, "early_stopping": False},
    "logreg": {"max_iter": 2000, "C": 1.0},
}


def check_params(params: dict[str, dict[str, Any]]) -> None:
    """``classifier_params`` that scikit-learn would refuse, refused before any fit, as one line
    naming the classifier: each is built with its settings and fitted on four rows, since
    scikit-learn checks a setting's name when the estimator is built and its value when it fits."""
    for name, own in params.items():
        if name not in CLASSIFIERS:
            known = ", ".join(CLASSIFIERS)
            raise AugmentError(f"classifier_params: unknown classifier {name!r}; use {known}")
        build = HistGradientBoostingClassifier if name == "hgb" else LogisticRegression
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # four rows do not converge: not the point
                build(**{**DEFAULT_PARAMS[name], **own}).fit([[0.0], [1.0]] * 2, [0, 1] * 2)
        except (TypeError, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AugmentError(f"classifier_params.{name}: {detail}") from None


def encode_labels(labels: pd.Series, schema: TableSchema) -> np.ndarray:
    """Class positions in ``schema.classes``; -1 for a value the schema does not know."""
    index = pd.Index(schema.classes)
    return index.get_indexer(labels.to_numpy(dtype=object))


def feature_frame(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The features with the schema's types: categoricals as ``category`` dtype with the schema's
    categories (unknown values become missing), numbers as float, datetimes as epoch seconds."""
    out: dict[str, pd.Series] = {}
    for col in schema.feature_columns:
        values = frame[col.name]
        if col.kind == "categorical":
            out[col.name] = pd.Series(
                pd.Categorical(values, categories=col.categories), index=frame.index
            )
        elif col.kind == "datetime":
            out[col.name] = pd.Series(numeric_values(values, "datetime") / 1e9, index=frame.index)
        else:
            out[col.name] = pd.Series(numeric_values(values, col.kind), index=frame.index)
    return pd.DataFrame(out, index=frame.index)


def numeric_values(values: pd.Series, kind: str) -> np.ndarray:
    """A continuous or datetime column as float64, datetimes as epoch nanoseconds; missing or
    unparseable values are NaN."""
    if kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce")
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        return np.where(stamps.isna().to_numpy(), np.nan, ns)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class DownstreamClassifier:
    """A scikit-learn classifier behind one interface: ``fit(frame)``, ``predict_proba(frame)``.

    ``predict_proba`` always returns ``(n, len(schema.classes))`` columns in schema order; a class
    missing from the training data gets probability 0.
    """

    def __init__(
        self, name: str, schema: TableSchema, *, seed: int = 0, params: dict[str, Any] | None = None
    ) -> None:
        if name not in CLASSIFIERS:
            raise AugmentError(f"unknown classifier {name!r}: use one of {', '.join(CLASSIFIERS)}")
        self.name = name
        self.schema = schema
        self.seed = int(seed)
        self.params = {**DEFAULT_PARAMS[name], **(params or {})}
        self.model: Any = None

    def fit(
        self, frame: pd.DataFrame, sample_weight: np.ndarray | None = None
    ) -> DownstreamClassifier:
        """Fit on ``frame``; ``sample_weight`` (one per row, >= 0) weighs each row in the loss
        (HistGradientBoosting and LogisticRegression both take it; None: all 1)."""
        y = encode_labels(frame[self.schema.label], self.schema)
        if (y < 0).any():
            raise AugmentError("training rows hold a label value that is not in the schema")
        if len(np.unique(y)) < 2:
            raise AugmentError("a training set needs at least two classes")
        X = feature_frame(frame, self.schema)
        self.model = self._build(X)
        if sample_weight is None:
            self.model.fit(self._prepare(X), y)
        else:
            weight = np.asarray(sample_weight, dtype=np.float64)
            if weight.shape != (len(frame),):
                raise AugmentError(f"sample_weight needs {len(frame)} weights, got {weight.shape}")
            key = "sample_weight" if self.name == "hgb" else "model__sample_weight"
            self.model.fit(self._prepare(X), y, **{key: weight})
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            raise AugmentError("classifier is not fitted")
        X = self._prepare(feature_frame(frame, self.schema))
        proba = self.model.predict_proba(X)
        full = np.zeros((len(frame), len(self.schema.classes)), dtype=np.float64)
        full[:, self.model.classes_] = proba
        return full

    # -- per-classifier plumbing -----------------------------------------------------------
    def _categorical_names(self) -> list[str]:
        return [c.name for c in self.schema.feature_columns if c.kind == "categorical"]

    def _build(self, X: pd.DataFrame) -> Any:
        cats = self._categorical_names()
        if self.name == "hgb":
            native = [
                c.name
                for c in self.schema.feature_columns
                if c.kind == "categorical" and len(c.categories or []) <= HGB_MAX_CATEGORIES
            ]
            mask = [name in native for name in X.columns]
            return HistGradientBoostingClassifier(
                categorical_features=mask if any(mask) else None,
                random_state=self.seed,
                **self.params,
            )
        numeric = [name for name in X.columns if name not in cats]
        steps = []
        if numeric:
            num = Pipeline(
                [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
            )
            steps.append(("num", num, numeric))
        if cats:
            # Codes are 0..k-1 (schema order); a missing value is -1, unknown to the encoder, and
            # one-hot encodes to all zeros: "none of the known categories".
            categories = [
                list(range(len(self.schema.column(name).categories or []))) for name in cats
            ]
            ohe = OneHotEncoder(categories=categories, handle_unknown="ignore", dtype=np.float64)
            steps.append(("cat", ohe, cats))
        return Pipeline(
            [
                ("features", ColumnTransformer(steps, sparse_threshold=0.3)),
                ("model", LogisticRegression(random_state=self.seed, **self.params)),
            ]
        )

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Categoricals as their codes in the schema's category order, so train and test agree.

        HGB: float codes (NaN = missing) flagged categorical by a mask; a column with more
        categories than HGB supports stays an ordinal number. logreg: int codes (-1 = missing).
        """
        out = X.copy()
        for name in self._categorical_names():
            codes = out[name].cat.codes.to_numpy()
            if self.name == "hgb":
                out[name] = np.where(codes < 0, np.nan, codes).astype(np.float64)
            else:
                out[name] = codes.astype(np.int64)
        return out


def make_classifier(
    name: str, schema: TableSchema, *, seed: int = 0, params: dict[str, Any] | None = None
) -> DownstreamClassifier:
    """A fresh classifier ``hgb`` or ``logreg`` for ``schema``, seeded with ``seed``."""
    return DownstreamClassifier(name, schema, seed=seed, params=params)


@dataclass(frozen=True)
class FitTask:
    """One fit of the evaluation, complete enough for any worker to run it: the classifier, its
    seed and parameters, the schema and the minority class the scores need. The training rows
    and the scored splits are :func:`fit_and_score`'s other arguments, so that a Dask cluster
    receives each frame shared by several fits once."""

    classifier: str
    seed: int
    params: dict[str, Any] | None
    schema: TableSchema
    minority: int
    # The rows after the first ``n_real`` are synthetic and weigh ``synthetic_weight`` each.
    synthetic_weight: float = 1.0
    n_real: int = 0
    # Also score the fit predicting the minority class above a decision threshold tuned on the
    # validation split ("real only, tuned threshold": the real-only fit, scored another way).
    tune_threshold: bool = False

    def weights(self, rows: int) -> np.ndarray | None:
        """Per-row weights: 1 for real rows, ``synthetic_weight`` after; None when all are 1."""
        if self.synthetic_weight == 1 or rows <= self.n_real:
            return None
        weight = np.ones(rows, dtype=np.float64)
        weight[self.n_real :] = self.synthetic_weight
        return weight


@dataclass(frozen=True)
class FitScores:
    """What one fit scored: every metric of :data:`~augment.evaluation.stats.METRICS` on the
    test split and on the validation split, and the seconds it took."""

    test: dict[str, float]
    validation: dict[str, float]
    seconds: float
    tuned: FitScores | None = None  # the same fit with the tuned threshold (tune_threshold)


def fit_and_score(
    task: FitTask,
    data: pd.DataFrame,
    test: pd.DataFrame,
    y_test: np.ndarray,
    validation: pd.DataFrame,
    y_validation: np.ndarray,
) -> FitScores:
    """Train ``task``'s classifier on ``data`` and score it on the test and validation splits.
    With ``task.tune_threshold`` the scores come a second time (``tuned``) with the minority
    class's decision threshold tuned on the validation split (macro-F1) and applied to both."""
    started = time.perf_counter()
    clf = make_classifier(task.classifier, task.schema, seed=task.seed, params=task.params)
    clf.fit(data, task.weights(len(data)))
    proba_validation = clf.predict_proba(validation)
    proba_test = clf.predict_proba(test)

    def scores(threshold: float | None) -> tuple[dict[str, float], dict[str, float]]:
        """(test, validation) scores, predicting with ``threshold`` (None: argmax)."""

        def on(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
            got = classification_scores(y, proba, task.minority, threshold)
            return {m: got[m] for m in METRICS}

        return on(y_test, proba_test), on(y_validation, proba_validation)

    tuned = None
    if task.tune_threshold:
        threshold = tune_threshold(y_validation, proba_validation, task.minority)
        tuned = FitScores(*scores(threshold), seconds=0.0)
    return FitScores(*scores(None), seconds=time.perf_counter() - started, tuned=tuned)
