"""Figures of an evaluation, drawn with matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch, no display) and returned as PNG bytes ready to embed.

:func:`new_figure` and :func:`png_bytes` are what the modality figures
(:mod:`augment.tabular.figures`) draw with; :func:`gain_figure` draws paired gains with their
95% interval bands against the synthetic ratio or the amount of real data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DPI = 100
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` (constrained layout), not registered with pyplot."""
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


@dataclass(frozen=True)
class GainLine:
    """One line of a gain plot: the mean gain at each x and its interval bounds (NaN where there
    is none), a legend label, a colour and whether it is a baseline (dashed)."""

    label: str
    colour: str
    x: Sequence[float]
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    dashed: bool = False


def gain_figure(
    lines: Sequence[GainLine],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[float],
    xticklabels: Sequence[str] | None = None,
) -> bytes:
    """Mean gain per line with its 95% interval as a shaded band; a line at 0.

    The x axis is logarithmic when every tick is positive (ratios, fractions and images per
    class are spread that way), with a tick at every evaluated value. A missing bound (one
    seed) leaves the band out there.
    """
    fig = new_figure(5.6, 3.6)
    ax = fig.add_subplot()
    for line in lines:
        order = np.argsort(np.asarray(line.x, dtype=np.float64))
        xs = np.asarray(line.x, dtype=np.float64)[order]
        mean, low, high = (np.asarray(v, dtype=np.float64)[order] for v in (line.mean, line.low,
                                                                         line.high))  # fmt: skip
        style = "--" if line.dashed else "-"
        ax.plot(xs, mean, style, color=line.colour, marker="o", markersize=4, lw=1.6,
                label=line.label)  # fmt: skip
        ax.fill_between(xs, low, high, color=line.colour, alpha=0.08 if line.dashed else 0.15, lw=0)
    ax.axhline(0.0, color="#333333", lw=0.8)
    ticks = np.asarray(xticks, dtype=np.float64)
    if len(ticks) and np.all(ticks > 0):
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(ticks)
    ax.set_xticklabels(list(xticklabels) if xticklabels is not None else [f"{v:g}" for v in ticks])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7.5, frameon=False, loc="best")
    return png_bytes(fig)


__all__ = ["PALETTE", "GainLine", "gain_figure", "new_figure", "png_bytes"]
