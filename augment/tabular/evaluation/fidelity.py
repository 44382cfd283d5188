"""Fidelity of synthetic rows: the Column Shapes and Column Pair Trends scores of SDMetrics'
QualityReport, computed here so the core needs neither SDMetrics nor SDV.

The method follows SDMetrics 0.32 (``sdmetrics.reports.single_table.QualityReport``); the code is
this project's own, vectorised with numpy:

* Column shapes: KSComplement (1 - the two-sample Kolmogorov-Smirnov statistic, missing values
  dropped, values rounded to 14 decimals) for continuous and datetime columns; TVComplement
  (1 - total variation distance between the category frequencies, missing values dropped) for
  categorical ones, the label included. The property score is the mean over columns.
* Column pair trends, over every pair of columns in schema order:
  - continuous x continuous: CorrelationSimilarity, ``1 - |r_real - r_synth| / 2`` with Pearson's
    r over the rows where both values are present;
  - any pair with a categorical: ContingencySimilarity, ``1 - TVD`` between the two joint
    frequency tables, where a missing value is a category of its own. A continuous column in such
    a pair is discretised first, as SDMetrics does: ``numpy.histogram_bin_edges`` (10 equal-width
    bins) over the non-missing values of *that* table - real and synthetic each get their own
    edges - then ``numpy.digitize``, which puts a missing value and the column maximum in the same
    extra bin (index 11).
  - SDMetrics 0.32 averages only pairs that carry a trend in the real data: a continuous pair
    contributes when ``|r_real| > 0.5``, a contingency pair when the real table's Cramér's V
    (no continuity correction) is above 0.3. The others get no score. Both thresholds are
    parameters; 0 scores every pair.
* Overall score: the mean of the two property scores (a property without any scored pair is
  left out, like SDMetrics' ``nanmean``).

The primitives (:func:`ks_complement`, :func:`tv_complement`, :func:`pearson`,
:func:`cramers_v`, :func:`contingency_table`, :func:`shared_codes`) are public: the report's
figures (:mod:`augment.tabular.figures`) score and draw with the same ones.

SDMetrics subsamples contingency pairs to 50,000 rows at random when a table is larger; this
module always uses every row it is given (the evaluation caps the rows it passes).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from augment.tabular.evaluation.classifiers import numeric_values
from augment.tabular.schema import TableSchema

CORRELATION_THRESHOLD = 0.5  # SDMetrics 0.32 DEFAULT_REAL_CORRELATION_THRESHOLD
ASSOCIATION_THRESHOLD = 0.3  # SDMetrics 0.32 DEFAULT_REAL_ASSOCIATION_THRESHOLD
NUM_BINS = 10
_DECIMALS = 14  # sys.float_info.dig - 1, as KSComplement rounds


def quality_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    correlation_threshold: float = CORRELATION_THRESHOLD,
    association_threshold: float = ASSOCIATION_THRESHOLD,
) -> dict[str, Any]:
    """Column shapes, column pair trends and their mean, with per-column and per-pair details.

    Returns ``{"overall", "column_shapes", "column_pair_trends", "column_pair_trends_all_pairs",
    "rows", "thresholds", "columns": [...], "pairs": [...]}``; ``column_pair_trends_all_pairs``
    is the plain mean of the pair metric over every pair, without SDMetrics' thresholds, for
    reference.
    """
    names = [c.name for c in schema.columns]
    continuous = {c.name: c.kind != "categorical" for c in schema.columns}

    numbers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    codes: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for col in schema.columns:
        if continuous[col.name]:
            r = numeric_values(real[col.name], col.kind)
            s = numeric_values(synthetic[col.name], col.kind)
            numbers[col.name] = (r, s)
            codes[col.name] = (_digitize(r), _digitize(s), NUM_BINS + 2)
        else:
            codes[col.name] = shared_codes(real[col.name], synthetic[col.name])

    columns = []
    for name in names:
        if continuous[name]:
            metric, score = "KSComplement", ks_complement(*numbers[name])
        else:
            metric, score = "TVComplement", tv_complement(*codes[name])
        columns.append({"column": name, "metric": metric, "score": score})

    pairs = []
    for a, b in itertools.combinations(names, 2):
        if continuous[a] and continuous[b]:
            pair = _correlation_pair(numbers[a], numbers[b], correlation_threshold)
        else:
            pair = _contingency_pair(codes[a], codes[b], association_threshold)
        pairs.append({"column_1": a, "column_2": b, **pair})

    shapes = _nanmean([c["score"] for c in columns])
    trends = _nanmean([p["score"] for p in pairs if p["meets_threshold"]])
    return {
        "overall": _nanmean([shapes, trends]),
        "column_shapes": shapes,
        "column_pair_trends": trends,
        "column_pair_trends_all_pairs": _nanmean([p["similarity"] for p in pairs]),
        "rows": {"real": int(len(real)), "synthetic": int(len(synthetic))},
        "thresholds": {
            "correlation": correlation_threshold,
            "association": association_threshold,
        },
        "columns": columns,
        "pairs": pairs,
    }


# -- column shapes -------------------------------------------------------------------------------
def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic (max |ECDF_real - ECDF_synth|) over the
    non-missing values; NaN if either is empty."""
    r = np.round(real[~np.isnan(real)], _DECIMALS)
    s = np.round(synthetic[~np.isnan(synthetic)], _DECIMALS)
    if len(r) == 0 or len(s) == 0:
        return math.nan
    # Only the statistic is used: the asymptotic p-value is the cheap one to compute beside it.
    return float(1.0 - stats.ks_2samp(r, s, method="asymp").statistic)


def tv_complement(real_codes: np.ndarray, synth_codes: np.ndarray, k: int) -> float:
    """1 - total variation distance between category frequencies, missing values dropped."""
    r = real_codes[real_codes < k - 1]  # the last code is "missing"
    s = synth_codes[synth_codes < k - 1]
    if len(r) == 0 or len(s) == 0:
        return math.nan
    p = np.bincount(r, minlength=k - 1) / len(r)
    q = np.bincount(s, minlength=k - 1) / len(s)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


# -- column pairs --------------------------------------------------------------------------------
def _correlation_pair(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], threshold: float
) -> dict[str, Any]:
    out = _empty_pair("CorrelationSimilarity")
    # SDMetrics refuses a column that is constant (one distinct non-missing value) in either table.
    if any(_n_unique(x) == 1 for x in (*a, *b)):
        return out
    r_real, r_synth = pearson(a[0], b[0]), pearson(a[1], b[1])
    out["real_correlation"], out["synthetic_correlation"] = r_real, r_synth
    if math.isnan(r_real):
        return out
    if not math.isnan(r_synth):
        out["similarity"] = 1.0 - abs(r_real - r_synth) / 2.0
    out["meets_threshold"] = threshold <= 0 or abs(r_real) > threshold
    if out["meets_threshold"]:
        out["score"] = out["similarity"]
    return out


def _contingency_pair(
    a: tuple[np.ndarray, np.ndarray, int], b: tuple[np.ndarray, np.ndarray, int], threshold: float
) -> dict[str, Any]:
    out = _empty_pair("ContingencySimilarity")
    (ra, sa, ka), (rb, sb, kb) = a, b
    if len(ra) == 0 or len(sa) == 0:
        return out
    real = contingency_table(ra, rb, ka, kb)
    synth = contingency_table(sa, sb, ka, kb)
    out["similarity"] = float(1.0 - 0.5 * np.abs(real / len(ra) - synth / len(sa)).sum())
    v = cramers_v(real)
    out["real_association"] = v
    out["meets_threshold"] = threshold <= 0 or (not math.isnan(v) and v > threshold)
    if out["meets_threshold"]:
        out["score"] = out["similarity"]
    return out


def _empty_pair(metric: str) -> dict[str, Any]:
    """``score`` is what SDMetrics averages (NaN below the threshold); ``similarity`` is the
    metric itself, computed for every pair."""
    return {
        "metric": metric,
        "score": math.nan,
        "similarity": math.nan,
        "real_correlation": math.nan,
        "synthetic_correlation": math.nan,
        "real_association": math.nan,
        "meets_threshold": False,
    }


def contingency_table(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """Counts of each pair of codes ``(a[i], b[i])``, ``a`` in ``0..ka-1`` and ``b`` in
    ``0..kb-1``, as a ``(ka, kb)`` float table."""
    counts = np.bincount(a * kb + b, minlength=ka * kb)
    return counts.reshape(ka, kb).astype(np.float64)


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table (chi-squared without continuity correction) over its
    non-empty rows and columns; NaN for fewer than two of either."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return math.nan
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / n / (min(table.shape) - 1))


# -- helpers -------------------------------------------------------------------------------------
def _digitize(values: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation: 10 equal-width bins over this table's own non-missing values;
    ``np.digitize`` sends NaN (and the maximum) past the last edge, to index 11."""
    present = values[~np.isnan(values)]
    edges = np.histogram_bin_edges(present, bins=NUM_BINS)
    return np.digitize(values, bins=edges).astype(np.int64)


def shared_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes over the union of both columns' values; missing is the last code, ``k - 1``."""
    both = pd.concat([real.reset_index(drop=True), synthetic.reset_index(drop=True)])
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    k = len(uniques) + 1
    codes = np.where(codes < 0, k - 1, codes).astype(np.int64)
    return codes[: len(real)], codes[len(real) :], k


def _n_unique(values: np.ndarray) -> int:
    present = values[~np.isnan(values)]
    return int(len(np.unique(present)))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r over the rows where both values are present; NaN for fewer than two such
    rows or a constant column."""
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) < 2:
        return math.nan
    x = x - x.mean()
    y = y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    if denom == 0:
        return math.nan
    return float(np.clip((x * y).sum() / denom, -1.0, 1.0))


def _nanmean(values: list[float]) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan
