"""Table figures for the report: real against synthetic rows, drawn with matplotlib (Agg, no
pyplot) and returned as PNG bytes. The scores they print are the evaluation's own fidelity
primitives (:mod:`augment.tabular.evaluation.fidelity`).

* :func:`column_distributions`: one small panel per column (histograms of numbers and dates,
  side-by-side category frequencies), titled with the column-shape score;
* :func:`association_difference`: a heatmap of |association(real) - association(synthetic)| per
  pair of columns (Pearson's r for two numbers, Cramér's V for any pair with a category).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from augment.evaluation.figures import new_figure, png_bytes
from augment.tabular.evaluation.classifiers import numeric_values
from augment.tabular.evaluation.fidelity import (
    contingency_table,
    cramers_v,
    ks_complement,
    pearson,
    shared_codes,
    tv_complement,
)
from augment.tabular.schema import ColumnSpec, TableSchema

REAL_COLOUR, SYNTH_COLOUR = "#4c72b0", "#dd8452"
TOP_CATEGORIES = 10  # categories shown per column; the rest are summed into "other"
HIST_BINS = 40
CLIP_QUANTILES = (0.005, 0.995)  # numbers beyond these real+synthetic quantiles join the edge bins
MISSING = "(missing)"


# -- tables: real vs synthetic per column -------------------------------------------------------
def column_distributions(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    columns: Sequence[ColumnSpec],
    *,
    ncols: int = 3,
) -> tuple[bytes, list[dict[str, Any]]]:
    """One panel per column: overlaid density histograms for numbers and dates, side-by-side
    relative frequencies for categories (the ``TOP_CATEGORIES`` most frequent real ones, the rest
    as "other"). Returns the PNG and per column ``{"column", "kind", "metric", "score",
    "missing_real", "missing_synthetic"}`` (KS complement or TV complement, missing values dropped,
    as the evaluation's column shapes)."""
    n = len(columns)
    nrows = max(1, math.ceil(n / ncols))
    fig = new_figure(11.0, 2.55 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    scores = []
    for ax, col in zip(axes, columns, strict=False):
        if col.kind == "categorical":
            metric, score = (
                "TV complement",
                _categorical_panel(ax, real[col.name], synthetic[col.name]),
            )
        else:
            metric, score = (
                "KS complement",
                _numeric_panel(ax, real[col.name], synthetic[col.name], col),
            )
        miss_r = float(real[col.name].isna().mean()) if len(real) else math.nan
        miss_s = float(synthetic[col.name].isna().mean()) if len(synthetic) else math.nan
        name = col.name if len(col.name) <= 28 else col.name[:27] + "…"
        label = " (label)" if col.name == schema.label else ""
        ax.set_title(f"{name}{label}  ·  {_short(score)}", fontsize=9, loc="left")
        if col.kind != "categorical" and (miss_r > 0 or miss_s > 0):  # categories show "(missing)"
            missing = f"missing: real {miss_r:.1%}, synthetic {miss_s:.1%} (not drawn)"
            ax.set_xlabel(missing, fontsize=7, color="#555555")
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        scores.append(
            {
                "column": col.name,
                "kind": col.kind,
                "metric": metric,
                "score": score,
                "missing_real": miss_r,
                "missing_synthetic": miss_s,
            }
        )
    for ax in axes[n:]:
        ax.set_visible(False)
    if n:
        handles = [
            _patch(REAL_COLOUR, f"real ({len(real):,} rows)"),
            _patch(SYNTH_COLOUR, f"synthetic ({len(synthetic):,} rows)"),
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=2, frameon=False, fontsize=9)
    return png_bytes(fig), scores


def _patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, alpha=0.7, label=label)


def _short(score: float) -> str:
    return "score n/a" if score is None or math.isnan(score) else f"score {score:.2f}"


def _numeric_panel(ax: Any, real: pd.Series, synthetic: pd.Series, col: ColumnSpec) -> float:
    r = numeric_values(real, col.kind)
    s = numeric_values(synthetic, col.kind)
    score = ks_complement(r, s)
    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    if col.kind == "datetime":  # epoch ns -> matplotlib date numbers (days since 1970)
        r, s = r / 8.64e13, s / 8.64e13
    both = np.concatenate([r, s])
    if both.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return score
    lo, hi = np.quantile(both, CLIP_QUANTILES)
    if lo == hi:
        lo, hi = float(both.min()), float(both.max())
    distinct = np.unique(both[(both >= lo) & (both <= hi)])
    whole = col.integer or bool(np.all(np.mod(distinct, 1) == 0))
    if whole and col.kind != "datetime" and distinct.size:
        # Whole numbers: bins of a whole width centred on them, so no bin holds more values than
        # its neighbours only because of where its edges fall.
        first, last = float(distinct.min()), float(distinct.max())
        step = max(1.0, math.ceil((last - first + 1) / HIST_BINS))
        edges = np.arange(first - 0.5, last + step, step)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HIST_BINS + 1)
    for values, colour, filled in ((r, REAL_COLOUR, True), (s, SYNTH_COLOUR, False)):
        if values.size == 0:
            continue
        clipped = np.clip(values, edges[0], edges[-1])
        kind = "stepfilled" if filled else "step"
        ax.hist(clipped, bins=edges, density=True, histtype=kind, color=colour,
                alpha=0.45 if filled else 1.0, lw=1.4)  # fmt: skip
    ax.set_yticks([])
    if col.kind == "datetime":
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return score


def category_frequencies(
    real: pd.Series, synthetic: pd.Series, top: int = TOP_CATEGORIES
) -> pd.DataFrame:
    """Relative frequencies (missing values included, as ``(missing)``) of the ``top`` most
    frequent real categories and "other": columns ``real``, ``synthetic``, indexed by category."""
    r, s = _category_keys(real), _category_keys(synthetic)
    fr = r.value_counts(normalize=True, dropna=False)
    fs = s.value_counts(normalize=True, dropna=False)
    table = pd.concat([fr.rename("real"), fs.rename("synthetic")], axis=1).fillna(0.0)
    table = table.sort_values(["real", "synthetic"], ascending=False)
    if len(table) > top + 1:
        head, rest = table.iloc[:top], table.iloc[top:]
        table = pd.concat([head, rest.sum().to_frame(f"other ({len(rest)})").T])
    return table


def _category_keys(values: pd.Series) -> pd.Series:
    """Category values as text, so that 1, 1.0 and "1" (a CSV's or Parquet's reading) agree."""

    def key(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return MISSING
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, np.generic):
            return key(v.item())
        return str(v)

    return values.astype(object).map(key)


def _categorical_panel(ax: Any, real: pd.Series, synthetic: pd.Series) -> float:
    table = category_frequencies(real, synthetic)
    score = _tv_complement(real, synthetic)
    if table.empty:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return score
    y = np.arange(len(table))
    h = 0.4
    ax.barh(y - h / 2, table["real"], height=h, color=REAL_COLOUR, alpha=0.75)
    ax.barh(y + h / 2, table["synthetic"], height=h, color=SYNTH_COLOUR, alpha=0.9)
    ax.set_yticks(y)
    ax.set_yticklabels([_clip_text(str(c), 18) for c in table.index], fontsize=6.5)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_percent())
    return score


def _tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """The evaluation's TV complement over category keys (so 1, 1.0 and "1" agree)."""

    def keys(values: pd.Series) -> pd.Series:
        text = _category_keys(values)
        return text.where(text != MISSING)  # missing: dropped by the score

    return tv_complement(*shared_codes(keys(real), keys(synthetic)))


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _clip_text(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- tables: association difference ------------------------------------------------------------
def association_matrix(frame: pd.DataFrame, columns: Sequence[ColumnSpec]) -> np.ndarray:
    """Pairwise association of ``columns``: Pearson's r for two numbers (or dates), Cramér's V for
    a pair with a category (a number in such a pair is cut into 10 equal-width bins; a missing
    value is a category of its own). The diagonal is 1; an undefined pair is NaN."""
    k = len(columns)
    numbers = {}
    codes = {}
    for col in columns:
        if col.kind == "categorical":
            keys = _category_keys(frame[col.name])
            codes[col.name] = pd.factorize(keys)[0].astype(np.int64)
        else:
            values = numeric_values(frame[col.name], col.kind)
            numbers[col.name] = values
            codes[col.name] = _bin_codes(values)
    out = np.full((k, k), np.nan)
    for i, a in enumerate(columns):
        out[i, i] = 1.0
        for j in range(i + 1, k):
            b = columns[j]
            if a.name in numbers and b.name in numbers:
                value = pearson(numbers[a.name], numbers[b.name])
            else:
                value = _cramers_v(codes[a.name], codes[b.name])
            out[i, j] = out[j, i] = value
    return out


def _bin_codes(values: np.ndarray, bins: int = 10) -> np.ndarray:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.zeros(len(values), dtype=np.int64)
    edges = np.histogram_bin_edges(present, bins=bins)
    inner = np.clip(np.digitize(values, edges[1:-1]), 0, bins - 1)
    return np.where(np.isnan(values), bins, inner).astype(np.int64)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code arrays, as the evaluation's fidelity scores compute it."""
    ka, kb = int(a.max(initial=0)) + 1, int(b.max(initial=0)) + 1
    return cramers_v(contingency_table(a, b, ka, kb))


def association_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[ColumnSpec]
) -> tuple[bytes, np.ndarray]:
    """Heatmap of |association(real) - association(synthetic)| over ``columns`` (0 = the
    synthetic rows keep the pair's relationship, 1 = lost or invented); returns the PNG and the
    matrix (NaN where a pair is undefined, and on the diagonal)."""
    diff = np.abs(association_matrix(real, columns) - association_matrix(synthetic, columns))
    np.fill_diagonal(diff, np.nan)
    k = len(columns)
    side = min(10.0, max(4.2, 0.34 * k + 1.8))
    fig = new_figure(side + 0.8, side)
    ax = fig.add_subplot()
    # The matrix is symmetric: draw the pairs below the diagonal, rows 2..k against columns 1..k-1.
    shown = np.where(np.tril(np.ones((k, k), dtype=bool), -1), diff, np.nan)[1:, :-1]
    image = ax.imshow(
        np.ma.masked_invalid(shown), cmap="Reds", vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    names = [_clip_text(c.name, 20) for c in columns]
    ax.set_xticks(range(k - 1))
    ax.set_yticks(range(k - 1))
    ax.set_xticklabels(names[:-1], rotation=60, ha="right", rotation_mode="anchor", fontsize=7.5)
    ax.set_yticklabels(names[1:], fontsize=7.5)
    if k <= 21:
        for (i, j), value in np.ndenumerate(shown):
            if not math.isnan(value):
                colour = "white" if value > 0.55 else "#222222"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("|real − synthetic|", fontsize=8)
    return png_bytes(fig), diff


__all__ = [
    "association_difference",
    "association_matrix",
    "category_frequencies",
    "column_distributions",
]
