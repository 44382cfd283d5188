"""Training sets for each data recipe: real only, real + synthetic at a ratio, synthetic only,
and real + SMOTE(-NC), the classic oversampler that GAN augmentation has to beat.

Recipe names (also the keys of the metrics): ``real``, ``real+synth@<ratio>``, ``synth``,
``real+smote``, ``real+balanced`` (synthetic rows that bring every class up to the majority's
count: the GAN as an oversampler, on SMOTE's terms), and ``real+threshold`` (real rows only, the
minority class predicted above a decision threshold tuned on the validation split: a strong
classifier's cheap answer to class imbalance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import OneHotEncoder

from augment.core.labels import proportional_counts as split_counts
from augment.errors import AugmentError
from augment.evaluation.curation import Curated
from augment.evaluation.recipes import BASELINE, COMBINED, MIX, Recipe
from augment.registry import GenerativeModel
from augment.tabular.evaluation.classifiers import numeric_values
from augment.tabular.schema import TableSchema

SMOTE = "real+smote"
SMOTE_CURATED_PREFIX = "real+smote+curated@"
THRESHOLD = "real+threshold"
BALANCED = "real+balanced"
BALANCED_CURATED = "real+balanced+curated"
SMOTE_WORKING_MEMORY_MIB = 64  # the neighbour search's distance chunks (see smote_oversample)
DECODE_BLOCK_BYTES = 16 << 20  # dense one-hot rows decoded at a time (see DenseDecodingOneHot)


class DenseDecodingOneHot(OneHotEncoder):
    """SMOTE-NC's one-hot encoder (imbalanced-learn's default settings), decoding in dense row
    blocks of at most ``DECODE_BLOCK_BYTES``. SMOTE-NC hands ``inverse_transform`` a sparse
    matrix, whose per-feature argmax scipy computes row by row in Python: 1.6 of SMOTE-NC's
    3.0 s on Adult's 29,305 rows. A dense block gives the same categories (one 1 per feature,
    or none for a category the encoder did not know)."""

    def __init__(self, *, handle_unknown: str = "ignore", dtype: Any = np.float64) -> None:
        super().__init__(handle_unknown=handle_unknown, dtype=dtype)

    def inverse_transform(self, X: Any) -> np.ndarray:
        if not sparse.issparse(X) or X.shape[0] == 0:
            return super().inverse_transform(X)
        block = max(1, DECODE_BLOCK_BYTES // (8 * max(1, X.shape[1])))
        return np.concatenate(
            [
                super(DenseDecodingOneHot, self).inverse_transform(X[i : i + block].toarray())
                for i in range(0, X.shape[0], block)
            ]
        )


def smote_curated_name(ratio: float) -> str:
    """Real plus SMOTE(-NC) rows plus ``ratio`` x as many curated synthetic rows as real ones."""
    return f"{SMOTE_CURATED_PREFIX}{float(ratio)}"


def balanced_recipe(*, curated: bool = False) -> Recipe:
    """Real plus (curated) synthetic rows of every class but the majority, up to its count."""
    what = "curated synthetic" if curated else "synthetic"
    description = (
        f"real plus {what} rows bringing every class up to the majority's count, as SMOTE-NC "
        "does with interpolated rows"
    )
    if curated:
        description += (
            "; synthetic rows kept only where a classifier trained on the same real rows gives "
            "their class enough probability (a class may stay short)"
        )
    name = BALANCED_CURATED if curated else BALANCED
    return Recipe(
        name, f"real + {what} to balance", MIX, family=name, description=description,
        curated=curated,
    )  # fmt: skip


def balancing_labels(labels: pd.Series, classes: Sequence[Any]) -> np.ndarray:
    """The labels of the rows that bring every class of ``labels`` up to the majority's count
    (SMOTE's ``sampling_strategy='auto'``), class by class in ``classes`` order; a class
    without real rows gets none."""
    counts = labels.value_counts()
    seen = [(c, int(counts[c])) for c in classes if counts.get(c, 0) > 0]
    top = max((k for _, k in seen), default=0)
    parts = [np.full(top - k, c, dtype=object) for c, k in seen]
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


# -- label proportions ---------------------------------------------------------------------------
def proportional_counts(labels: pd.Series, n: int, classes: Sequence[Any]) -> dict[Any, int]:
    """Split ``n`` rows over ``classes`` in proportion to ``labels`` (largest remainder), so the
    counts sum to ``n`` exactly and a class absent from ``labels`` gets none."""
    freq = labels.value_counts()
    weights = [float(freq.get(c, 0)) for c in classes]
    if n <= 0 or sum(weights) == 0:
        return {c: 0 for c in classes}
    return dict(zip(classes, split_counts(n, weights), strict=True))


class SyntheticPool:
    """Synthetic rows drawn once per seed and cut into nested, class-proportional prefixes.

    One draw of ``max_ratio * n_real`` rows (class by class, in the real split's proportions)
    serves every ratio: the rows for ratio 0.5 are a subset of those for ratio 1.0. Nested draws
    cost one ``sample`` call per seed and make the ratio curve smoother (gains at neighbouring
    ratios share rows), without changing each ratio's distribution.
    """

    def __init__(
        self,
        synthesizer: GenerativeModel,
        real: pd.DataFrame,
        schema: TableSchema,
        max_rows: int,
        *,
        seed: int,
        curator: Callable[[np.ndarray, int], Curated[pd.DataFrame]] | None = None,
    ) -> None:
        """``curator(class_indices, seed)``, when given, draws the rows instead of the
        synthesizer and keeps only those it trusts: a class may then hold fewer rows than
        asked, and :meth:`take` gives what it has."""
        self.schema = schema
        self.curated = curator is not None
        self.real_labels = real[schema.label]
        self.classes = list(schema.classes)
        # Each class block holds ceil(share x max_rows) + 1 rows: enough for any ``take(n)`` with
        # n <= max_rows, whose largest-remainder count is at most floor(share x n) + 1.
        freq = self.real_labels.value_counts()
        total = float(freq.sum())
        counts = {
            c: int(math.ceil(freq.get(c, 0) / total * max_rows)) + 1 if freq.get(c, 0) else 0
            for c in self.classes
        }
        labels = np.concatenate(
            [np.full(counts[c], c, dtype=object) for c in self.classes if counts[c] > 0]
            or [np.empty(0, dtype=object)]
        )
        if curator is not None and len(labels):
            codes = pd.Index(self.classes).get_indexer(labels)
            got = curator(codes, seed)
            labels = np.asarray(self.classes, dtype=object)[got.labels]
            frame = got.samples
            counts = {c: int((labels == c).sum()) for c in self.classes}
        else:
            frame = synthesizer.sample(labels, seed=seed) if len(labels) else real.iloc[:0]
        if len(frame) != len(labels):
            raise AugmentError(
                f"synthesizer returned {len(frame)} rows for {len(labels)} requested labels"
            )
        frame = frame.reset_index(drop=True)
        if not (frame[schema.label].to_numpy(dtype=object) == labels).all():
            raise AugmentError("synthesizer returned rows whose labels differ from those requested")
        self.frame = frame[schema.names]
        self.blocks: dict[Any, np.ndarray] = {}
        start = 0
        for c in self.classes:
            self.blocks[c] = np.arange(start, start + counts[c])
            start += counts[c]

    def take(self, n: int) -> pd.DataFrame:
        """``n`` rows in the real split's label proportions: the first rows of each class block."""
        counts = proportional_counts(self.real_labels, n, self.classes)
        if self.curated:  # a class curation left short gives what it kept
            counts = {c: min(k, len(self.blocks[c])) for c, k in counts.items()}
        if any(counts[c] > len(self.blocks[c]) for c in self.classes):
            raise AugmentError(f"the synthetic pool holds fewer than the {n} rows requested")
        index = np.concatenate([self.blocks[c][: counts[c]] for c in self.classes])
        return self.frame.iloc[index].reset_index(drop=True)


def mix(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Real rows followed by synthetic rows, in the real frame's column order."""
    synthetic = synthetic[list(real.columns)]
    return pd.concat([real, synthetic], ignore_index=True)


# -- low-data subsets ----------------------------------------------------------------------------
def stratified_subset(
    frame: pd.DataFrame,
    label: str,
    fraction: float,
    rng: np.random.Generator,
    min_per_class: int = 5,
) -> pd.DataFrame:
    """About ``fraction`` of the rows, each class in proportion but with at least
    ``min_per_class`` rows (or all it has), drawn without replacement."""
    if not 0 < fraction <= 1:
        raise AugmentError(f"a real-data fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return frame
    n = max(int(round(fraction * len(frame))), 1)
    groups = frame.groupby(label, sort=False, observed=True).indices
    total = len(frame)
    picks = []
    for _, idx in groups.items():
        want = max(int(round(n * len(idx) / total)), min_per_class)
        want = min(want, len(idx))
        picks.append(rng.choice(idx, size=want, replace=False))
    chosen = np.sort(np.concatenate(picks))
    return frame.iloc[chosen].reset_index(drop=True)


# -- SMOTE -----------------------------------------------------------------------------------------
def smote_variant(schema: TableSchema) -> str:
    """``SMOTE-NC`` for mixed features, ``SMOTE`` when all continuous, ``SMOTEN`` when all
    categorical."""
    kinds = {c.kind == "categorical" for c in schema.feature_columns}
    if kinds == {True}:
        return "SMOTEN"
    if kinds == {False}:
        return "SMOTE"
    return "SMOTE-NC"


def smote_recipe(schema: TableSchema) -> Recipe:
    """Real plus SMOTE(-NC) rows: the classic oversampler, the line synthetic rows must beat."""
    variant = smote_variant(schema)
    return Recipe(
        SMOTE,
        f"real + {variant}",
        BASELINE,
        family=SMOTE,
        description=f"real plus {variant} rows bringing every class up to the majority's count",
    )


def threshold_recipe() -> Recipe:
    """Real rows only, with the minority class's decision threshold tuned on validation."""
    return Recipe(
        THRESHOLD,
        "real only, tuned threshold",
        BASELINE,
        family=THRESHOLD,
        description="real rows only; the minority class is predicted above the decision "
        "threshold that maximises macro-F1 on the validation split",
    )


def smote_curated_recipe(schema: TableSchema, ratio: float) -> Recipe:
    """Both classic oversampling and curated synthetic rows: SMOTE(-NC) first, then the rows."""
    variant = smote_variant(schema)
    return Recipe(
        smote_curated_name(ratio),
        f"real + {variant} + {ratio:g}× curated synthetic",
        COMBINED,
        float(ratio),
        family=f"{SMOTE_CURATED_PREFIX}r",
        description=f"both: real plus {variant} rows, then r × as many curated synthetic rows "
        "as real ones",
        curated=True,
    )


def smote_oversample(
    frame: pd.DataFrame, schema: TableSchema, *, seed: int = 0, k_neighbors: int = 5
) -> pd.DataFrame:
    """The real rows plus SMOTE(-NC) rows that bring every class up to the majority's count
    (imbalanced-learn, ``sampling_strategy='auto'``).

    Preparation, because SMOTE needs complete numbers:

    * continuous and datetime features are standardised before SMOTE and mapped back after, so
      that a wide-ranged column (e.g. Adult's ``fnlwgt``) does not decide every neighbour on its
      own; interpolation commutes with this scaling, so only the neighbour choice changes.
    * a missing continuous value is imputed with the column's median (over all rows) before
      SMOTE. The original rows are returned untouched, with their missing values; new rows built
      from an imputed value carry the interpolated number instead - which of them "should" be
      missing cannot be told, so none is.
    * a missing categorical value is kept as a category of its own, so it comes back as missing
      wherever SMOTE-NC's majority vote among the neighbours picks it.

    A class with fewer than two rows cannot be interpolated and is left as it is; ``k_neighbors``
    shrinks to what the smallest oversampled class allows.
    """
    import sklearn
    from imblearn.over_sampling import SMOTE as _SMOTE
    from imblearn.over_sampling import SMOTEN, SMOTENC

    label = schema.label
    y = frame[label].to_numpy(dtype=object)
    counts = pd.Series(y).value_counts()
    target = int(counts.max())
    strategy = {c: target for c, k in counts.items() if 2 <= k < target}
    if not strategy:
        return frame.reset_index(drop=True)
    k = min(k_neighbors, min(int(counts[c]) for c in strategy) - 1)

    features = schema.feature_columns
    cat_names = [c.name for c in features if c.kind == "categorical"]
    num_names = [c.name for c in features if c.kind != "categorical"]

    encoded: dict[str, np.ndarray] = {}
    scale: dict[str, tuple[float, float]] = {}
    for name in num_names:
        values = numeric_values(frame[name], schema.column(name).kind)
        median = np.nanmedian(values) if np.isfinite(values).any() else 0.0
        values = np.where(np.isnan(values), median, values)
        mu, sd = float(values.mean()), float(values.std())
        sd = sd if sd > 0 else 1.0
        scale[name] = (mu, sd)
        encoded[name] = (values - mu) / sd
    for name in cat_names:
        codes = pd.Categorical(frame[name], categories=schema.column(name).categories).codes
        encoded[name] = codes.astype(np.int64)  # -1: missing, a category of its own
    X = pd.DataFrame({c.name: encoded[c.name] for c in features})
    y_codes = pd.Index(schema.classes).get_indexer(y)
    strategy_codes = {int(pd.Index(schema.classes).get_loc(c)): n for c, n in strategy.items()}

    variant = smote_variant(schema)
    if variant == "SMOTE":
        sampler: Any = _SMOTE(sampling_strategy=strategy_codes, k_neighbors=k, random_state=seed)
    elif variant == "SMOTEN":
        sampler = SMOTEN(sampling_strategy=strategy_codes, k_neighbors=k, random_state=seed)
    else:
        sampler = SMOTENC(
            categorical_features=[X.columns.get_loc(n) for n in cat_names],
            categorical_encoder=DenseDecodingOneHot(),
            sampling_strategy=strategy_codes,
            k_neighbors=k,
            random_state=seed,
        )
    # scikit-learn computes the neighbours' distances in chunks of up to `working_memory` MiB
    # (1,024 by default): on 100,000 Adult rows that was 2.1 GB above the rows themselves, and
    # 64 MiB chunks find the same neighbours faster (22 s against 31 s; 3.5 s against 5.7 s on
    # Adult's 29,305 rows), cache-sized.
    with sklearn.config_context(working_memory=SMOTE_WORKING_MEMORY_MIB):
        X_res, y_res = sampler.fit_resample(X, y_codes)
    # imbalanced-learn returns the original rows first, in order, then the new ones.
    new = pd.DataFrame(X_res).iloc[len(frame) :].reset_index(drop=True)
    new_y = np.asarray(y_res)[len(frame) :]

    out: dict[str, Any] = {}
    for col in schema.columns:
        if col.name == label:
            out[col.name] = np.asarray(schema.classes, dtype=object)[new_y]
        elif col.kind == "categorical":
            codes = new[col.name].to_numpy().astype(np.int64)
            cats = np.asarray(col.categories, dtype=object)
            values = np.where(codes >= 0, cats[np.clip(codes, 0, len(cats) - 1)], None)
            out[col.name] = values
        else:
            mu, sd = scale[col.name]
            values = new[col.name].to_numpy(dtype=np.float64) * sd + mu
            if col.kind == "datetime":
                out[col.name] = pd.to_datetime(values.round().astype(np.int64))
            else:
                out[col.name] = values
    synthetic = pd.DataFrame(out)[schema.names]
    return pd.concat([frame.reset_index(drop=True), synthetic], ignore_index=True)
