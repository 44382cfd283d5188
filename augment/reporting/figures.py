"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global
backend switch, no display) and returned as PNG bytes ready to embed.

* :func:`gain_figure`: gains with 95% interval bands against the synthetic ratio, the real-data
  fraction or the real images per class;
* :func:`column_distributions`: real against synthetic, one small panel per column (histograms of
  numbers and dates, side-by-side category frequencies);
* :func:`association_difference`: a heatmap of |association(real) - association(synthetic)| per
  pair of columns (Pearson's r for two numbers, Cramér's V for any pair with a category);
* :func:`image_strip`: a row of images as a PNG (no matplotlib: pixels stay sharp).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from augment.tabular.evaluation.classifiers import numeric_values
from augment.tabular.evaluation.fidelity import cramers_v
from augment.tabular.schema import ColumnSpec, TableSchema

DPI = 100
REAL_COLOUR, SYNTH_COLOUR = "#4c72b0", "#dd8452"
TOP_CATEGORIES = 10  # categories shown per column; the rest are summed into "other"
HIST_BINS = 40
CLIP_QUANTILES = (0.005, 0.995)  # numbers beyond these real+synthetic quantiles join the edge bins
MISSING = "(missing)"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.set_layout_engine("constrained")
    return fig


def png_bytes(fig: Any) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg), without pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


# -- gains ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """One line of a gain plot: the CSV column of its mean (``<column>_low`` / ``_high`` give the
    band), a legend label, a colour and whether it is a baseline (dashed)."""

    column: str
    label: str
    colour: str
    dashed: bool = False


def gain_figure(
    frame: pd.DataFrame,
    x: str,
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xticklabels: Sequence[str] | None = None,
) -> bytes:
    """Mean gain per series against ``x`` with its 95% interval as a shaded band; a line at 0.

    The x axis is logarithmic (ratios, fractions and images per class are spread that way), with a
    tick at every evaluated value. A missing bound (one seed) leaves the band out there.
    """
    fig = _figure(5.6, 3.6)
    ax = fig.add_subplot()
    xs = frame[x].to_numpy(dtype=np.float64)
    order = np.argsort(xs)
    xs = xs[order]
    for s in series:
        mean = frame[s.column].to_numpy(dtype=np.float64)[order]
        low = frame.get(f"{s.column}_low", pd.Series(np.nan, index=frame.index))
        high = frame.get(f"{s.column}_high", pd.Series(np.nan, index=frame.index))
        low = low.to_numpy(dtype=np.float64)[order]
        high = high.to_numpy(dtype=np.float64)[order]
        style = "--" if s.dashed else "-"
        ax.plot(xs, mean, style, color=s.colour, marker="o", markersize=4, lw=1.6, label=s.label)
        ax.fill_between(xs, low, high, color=s.colour, alpha=0.15 if not s.dashed else 0.08, lw=0)
    ax.axhline(0.0, color="#333333", lw=0.8)
    if len(xs) and np.all(xs > 0):
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(xs)
    if xticklabels is None:
        ax.set_xticklabels([f"{v:g}" for v in xs])
    else:  # given in the frame's row order
        ax.set_xticklabels([xticklabels[i] for i in order])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7.5, frameon=False, loc="best")
    return png_bytes(fig)


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
    fig = _figure(11.0, 2.55 * nrows)
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
    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    if col.kind == "datetime":  # epoch ns -> matplotlib date numbers (days since 1970)
        r, s = r / 8.64e13, s / 8.64e13
    score = _ks_complement(r, s)
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


def _ks_complement(r: np.ndarray, s: np.ndarray) -> float:
    if r.size == 0 or s.size == 0:
        return math.nan
    r, s = np.sort(r), np.sort(s)
    grid = np.concatenate([r, s])
    gap = np.abs(
        np.searchsorted(r, grid, "right") / r.size - np.searchsorted(s, grid, "right") / s.size
    )
    return float(1.0 - gap.max())


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
    r, s = _category_keys(real), _category_keys(synthetic)
    r, s = r[r != MISSING], s[s != MISSING]
    if r.empty or s.empty:
        return math.nan
    fr, fs = r.value_counts(normalize=True), s.value_counts(normalize=True)
    both = pd.concat([fr, fs], axis=1).fillna(0.0).to_numpy()
    return float(1.0 - 0.5 * np.abs(both[:, 0] - both[:, 1]).sum())


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
                value = _pearson(numbers[a.name], numbers[b.name])
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


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) < 2:
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return math.nan if denom == 0 else float(np.clip((x * y).sum() / denom, -1.0, 1.0))


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code arrays, as the evaluation's fidelity scores compute it."""
    ka, kb = int(a.max(initial=0)) + 1, int(b.max(initial=0)) + 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(np.float64)
    return cramers_v(table)


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
    fig = _figure(side + 0.8, side)
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


# -- images ------------------------------------------------------------------------------------
def image_strip(images: np.ndarray) -> bytes:
    """uint8 ``(N, C, H, W)`` as one PNG row (small images enlarged, nearest neighbour)."""
    from PIL import Image

    from augment.images.grid import make_grid

    sheet = make_grid(images, nrow=max(1, len(images)))
    picture = Image.fromarray(sheet[:, :, 0] if sheet.shape[2] == 1 else sheet)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


__all__ = [
    "Series",
    "association_difference",
    "association_matrix",
    "category_frequencies",
    "column_distributions",
    "gain_figure",
    "image_strip",
    "png_bytes",
]
