"""Writing evaluation results: rounding, JSON-ready values, CSV files, interval cells."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from augment.core.files import write_atomic


def ci3(ci: dict[str, float]) -> dict[str, float]:
    return {"mean": ci["mean"], "low": ci["low"], "high": ci["high"]}


def rounded(obj: Any, digits: int = 6) -> Any:
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, float) and math.isfinite(obj):
        return round(obj, digits)
    return obj


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def ci_cell(ci: dict[str, float]) -> str:
    if ci["mean"] is None or math.isnan(ci["mean"]):
        return "n/a"
    if math.isnan(ci["low"]):
        return f"{ci['mean']:+.3f}"
    mark = " *" if ci["low"] > 0 or ci["high"] < 0 else ""
    return f"{ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]{mark}"


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
