"""Columns that another column determines, found in the training rows and kept exact.

A table often holds a code beside its meaning (Adult's ``education-num`` beside ``education``).
The GAN generates each column from the same noise, and its draws of the two disagree: 27% of
TabGAN's Adult rows had an ``education-num`` that no real row of their ``education`` has. Where
every row of the fitted data with one category of a categorical column holds the same value of
another column, generation sets that value from the category, as the real rows do.

A rule is kept only if chance cannot explain it: under independence, the probability that every
category's rows agree on one value (``sum_v p_v ** n`` per category of ``n`` rows) must be below
``MAX_CHANCE``, so a few rows per category, or a column that is nearly constant anyway, make no
rule. A category the fitted rows never hold keeps the generated value. The rows are those the
encoder is fitted on: a streamed table's seeded sample, so a rule it finds may have exceptions
elsewhere in the table, which generated rows then lack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from augment.errors import AugmentError

MAX_CHANCE = 1e-9
# Exact dependence must hold on every subset, so the first rows rule out most pairs cheaply.
_PROBE_ROWS = 1000


@dataclass(frozen=True)
class Derived:
    """``column`` is set from ``source`` (a categorical column): the source's category
    ``codes[i]`` gives ``values[i]``: a category index for a categorical column (one past the
    last: missing), a number or ``None`` (missing) for a numeric one."""

    column: str
    source: str
    codes: list[int]
    values: list[Any]


def find_derived(
    columns: list[dict[str, Any]], raw: dict[str, np.ndarray], label: str
) -> list[Derived]:
    """Rules for the encoder's ``columns``, found in their ``raw`` values: a categorical
    column's category indices (one past the last: missing), a numeric one's floats (NaN:
    missing). The label is never derived; a column is a source or derived, never both. Later
    columns are derived first, each from the first source that determines it, so of two
    columns that determine each other the first one is kept."""
    targets = {c["name"]: _codes(raw[c["name"]], c) for c in columns if c["name"] != label}
    sources = {c["name"]: raw[c["name"]] for c in columns if c["kind"] == "categorical"}
    rules: list[Derived] = []
    used: set[str] = set()
    derived: set[str] = set()
    for col in reversed(columns):
        name = col["name"]
        if name not in targets or name in used:
            continue
        codes, values = targets[name]
        for source, source_codes in sources.items():
            if source == name or source in derived:
                continue
            if _determines(source_codes, codes, len(values)):
                seen, first = np.unique(source_codes, return_index=True)
                picked = [None if v != v else v for v in values[codes[first]].tolist()]
                rules.append(Derived(name, source, seen.tolist(), picked))
                used.add(source)
                derived.add(name)
                break
    return rules


def _codes(values: np.ndarray, col: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of a column's raw values, and the value of each code."""
    if col["kind"] == "categorical":
        return values.astype(np.int64), np.arange(len(col["categories"]) + 1)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), np.asarray(uniques, dtype=np.float64)


def _determines(source: np.ndarray, target: np.ndarray, n_target: int) -> bool:
    """Whether each source code has one target code, beyond what chance explains."""
    for rows in (slice(_PROBE_ROWS), slice(None)):
        pairs = np.unique(source[rows].astype(np.int64) * n_target + target[rows])
        if len(np.unique(pairs // n_target)) != len(pairs):
            return False
    frequency = np.bincount(target, minlength=n_target) / len(target)
    log_p = np.log(frequency[frequency > 0])
    if len(log_p) < 2:  # a constant column: any column "determines" it
        return False
    group_sizes = np.bincount(source.astype(np.int64))
    # log P(every group constant | independence) = sum_g log sum_v p_v ** n_g
    chance = sum(_log_sum_exp(n * log_p) for n in group_sizes[group_sizes > 0])
    return chance < math.log(MAX_CHANCE)


def _log_sum_exp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).sum()))


def apply(rule: Derived, source_codes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` (a column's codes, or its float values with NaN for missing) with every row
    of a category the rule knows set from it."""
    size = max(int(source_codes.max(initial=0)), max(rule.codes)) + 1
    known = np.zeros(size, dtype=bool)
    known[rule.codes] = True
    table = np.zeros(size, dtype=target.dtype)
    table[rule.codes] = [np.nan if v is None else v for v in rule.values]
    return np.where(known[source_codes], table[source_codes], target)


def check_rules(
    rules: list[Derived], columns: list[dict[str, Any]], label: str, where: str
) -> list[Derived]:
    """Rules read from a file, checked against the encoder's columns."""
    by_name = {c["name"]: c for c in columns}
    sources = {r.source for r in rules}
    for rule in rules:
        path = f"{where}: derived column {rule.column!r}"
        col, source = by_name.get(rule.column), by_name.get(rule.source)
        if col is None or source is None or source["kind"] != "categorical":
            raise AugmentError(f"{path} needs a column of the table and a categorical source")
        if rule.column == label or rule.column in sources or rule.column == rule.source:
            raise AugmentError(f"{path}: the label, a source or itself cannot be derived")
        n_codes = len(source["categories"]) + 1
        codes_fit = rule.codes and all(0 <= c < n_codes for c in rule.codes)
        if len(rule.codes) != len(rule.values) or not codes_fit:
            raise AugmentError(f"{path}: needs one value per code of {rule.source!r}")
        for value in rule.values:
            if col["kind"] == "categorical":
                ok = isinstance(value, int) and 0 <= value <= len(col["categories"])
                ok = ok and (value < len(col["categories"]) or col["missing"])
            else:
                ok = (value is None and col["missing"]) or (
                    isinstance(value, int | float) and math.isfinite(value)
                )
            if not ok:
                raise AugmentError(f"{path}: {value!r} is not a value of the column")
    if len({r.column for r in rules}) != len(rules):
        raise AugmentError(f"{where}: a column is derived twice")
    return rules
