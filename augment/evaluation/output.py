"""Writing an evaluation: the one writer (metrics JSON, plot files, Markdown summary, each
atomically) and the small formatting pieces the summaries share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from augment.core.files import (
    check_output_file,
    file_holds,
    write_atomic,
    write_json,
    write_text,
)
from augment.evaluation.results import EvaluationResult, Interval

LONG_COLUMNS = ["fraction", "recipe", "ratio", "classifier", "metric", "mean", "low", "high", "n"]
# What marks a file as augment's, so that a later run may replace it: the metrics JSON's first
# key, and a comment ending the Markdown summary (its first line is the verdict).
METRICS_MARK = b'"primary_metric"'
SUMMARY_MARK = "<!-- written by augment evaluate -->"


def check_outputs(metrics: str | Path, summary: str | Path) -> None:
    """Before an evaluation starts: its metrics and summary files replace only files that
    augment wrote as such (:func:`augment.core.files.check_output_file`)."""
    check_output_file(metrics, "a metrics file", _metrics_file, "--metrics")
    check_output_file(summary, "an evaluation summary", _summary_file, "--report")


def _metrics_file(path: Path) -> bool:
    return file_holds(path, METRICS_MARK, size=64)


def _summary_file(path: Path) -> bool:
    return file_holds(path, SUMMARY_MARK.encode(), at_end=True, size=256)


def without_mark(summary_text: str) -> str:
    """A summary file's Markdown as :func:`write_result` was handed it."""
    body, mark, rest = summary_text.rpartition(SUMMARY_MARK)
    return body.rstrip("\n") + "\n" if mark and not rest.strip() else summary_text


def write_result(
    result: EvaluationResult,
    *,
    metrics: str | Path,
    summary: str | Path,
    summary_text: str,
    plots: str | Path,
    plot_files: Mapping[str, pd.DataFrame | bytes],
    gains: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``metrics`` (the whole result as JSON, :meth:`EvaluationResult.to_dict`), each of
    ``plot_files`` under ``plots`` (a frame as CSV, bytes as they are), ``summary`` (the Markdown
    ``summary_text``) and, if given, ``gains`` (every paired gain, a long CSV).

    The long table is not written into ``plots`` by default: DVC renders every file of a plots
    folder, and a long table makes a meaningless default plot. Returns each file's path, keyed
    ``metrics``, ``summary``, ``gains`` and the plot file's stem."""
    check_outputs(metrics, summary)  # again: the writers are public API, not only evaluate's
    plots = Path(plots)
    out = {"metrics": write_json(metrics, json_ready(result.to_dict()))}
    for name, content in plot_files.items():
        path = plots / name
        if isinstance(content, pd.DataFrame):
            out[path.stem] = write_csv(path, content)
        else:
            out[path.stem] = write_atomic(path, lambda tmp, data=content: tmp.write_bytes(data))
    body = summary_text.rstrip("\n")
    out["summary"] = write_text(summary, f"{body}\n\n{SUMMARY_MARK}\n")
    if gains is not None:
        out["gains"] = write_csv(Path(gains), gains_long(result))
    return out


def gains_long(result: EvaluationResult) -> pd.DataFrame:
    """Every paired gain over real only: ``fraction, recipe, ratio, classifier, metric, mean,
    low, high, n`` (``fraction``: the block's share of the real training split)."""
    rows = []
    for block in result.blocks:
        for recipe in result.recipes_in(block, reference=False):
            for clf in result.classifiers:
                for metric in result.metrics:
                    gain = block.gain(recipe.name, clf, metric)
                    if gain is None:
                        continue
                    rows.append(
                        [block.fraction, recipe.name, recipe.ratio, clf, metric]
                        + [gain.mean, gain.low, gain.high, gain.n]
                    )
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def wide(name: str, interval: Interval | None) -> dict[str, float]:
    """A plot CSV's three columns for one line: ``name``, ``name_low``, ``name_high``."""
    if interval is None:
        return {name: math.nan, f"{name}_low": math.nan, f"{name}_high": math.nan}
    return {name: interval.mean, f"{name}_low": interval.low, f"{name}_high": interval.high}


def wide_columns(name: str) -> list[str]:
    return [name, f"{name}_low", f"{name}_high"]


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


# -- Markdown cells -------------------------------------------------------------------------------
def gain_cell(gain: Interval | None) -> str:
    """``+0.031 [+0.012, +0.050] *`` (``*``: the interval excludes 0); ``n/a``."""
    if gain is None or not math.isfinite(gain.mean):
        return "n/a"
    if not (math.isfinite(gain.low) and math.isfinite(gain.high)):
        return f"{gain.mean:+.3f}"
    mark = " *" if gain.direction in ("up", "down") else ""
    return f"{gain.mean:+.3f} {gain.bounds_text()}{mark}"


def score_cell(score: Interval) -> str:
    """``0.8123 [0.8100, 0.8146]``: a mean score and its interval over seeds."""
    if not math.isfinite(score.mean):
        return "n/a"
    if not (math.isfinite(score.low) and math.isfinite(score.high)):
        return f"{score.mean:.4f}"
    return f"{score.mean:.4f} [{score.low:.4f}, {score.high:.4f}]"


def number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def json_ready(obj: Any) -> Any:
    """JSON has no NaN: undefined numbers (an interval from one seed) become null."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
