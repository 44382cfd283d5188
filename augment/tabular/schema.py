"""The prepared dataset's schema: what each column is, and what the label's classes are.

Written by ``augment ingest`` as ``schema.json`` beside the splits; every later stage reads it,
so that generated data comes back in the original types, categories and ranges.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from augment.core.files import read_json, write_json
from augment.core.modalities import TABULAR
from augment.core.validate import from_json
from augment.errors import AugmentError

SCHEMA_VERSION = 1
ColumnKind = Literal["continuous", "categorical", "datetime"]
KINDS: tuple[str, ...] = ("continuous", "categorical", "datetime")


@dataclass
class ColumnSpec:
    """One kept column.

    ``dtype`` is the pandas dtype to restore on output. Categorical ``categories`` are the
    observed non-missing values in a stable order (JSON scalars: str, int, float or bool).
    Continuous and datetime columns keep ``min``/``max`` (datetimes as epoch nanoseconds) and
    whether values are whole numbers, so generated values stay in range and in type.
    """

    name: str
    kind: ColumnKind
    dtype: str
    missing_fraction: float = 0.0
    categories: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False

    @property
    def has_missing(self) -> bool:
        return self.missing_fraction > 0


@dataclass
class TableSchema:
    """Columns (the label among them, always categorical), the label's classes, and provenance."""

    label: str
    columns: list[ColumnSpec]
    classes: list[Any]
    # Rows per class in the train split, aligned with ``classes``: the default label mix.
    class_counts: list[int] = field(default_factory=list)
    modality: str = TABULAR
    dropped: list[dict[str, str]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    version: int = SCHEMA_VERSION

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise AugmentError(f"unknown column {name!r}")

    @property
    def feature_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.name != self.label]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "schema") -> TableSchema:
        """A schema from its JSON form, every key and type checked (``where`` names the source
        in errors, e.g. ``data/prepared/schema.json``)."""
        if isinstance(data, dict) and data.get("modality", TABULAR) != TABULAR:
            raise AugmentError(f"{where}: not a tabular schema (modality {data.get('modality')!r})")
        schema = from_json(cls, data, where)
        schema.check(where)
        return schema

    def check(self, where: str = "schema") -> None:
        """The columns, label and classes agree with each other."""
        names = [c.name for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise AugmentError(f"{where}: column(s) named twice: {', '.join(map(repr, twice))}")
        if self.label not in names:
            raise AugmentError(f"{where}: the label {self.label!r} is not among the columns")
        if self.column(self.label).kind != "categorical":
            raise AugmentError(f"{where}: the label column {self.label!r} must be categorical")
        if not self.classes:
            raise AugmentError(f"{where}: classes is empty")
        if self.classes != self.column(self.label).categories:
            raise AugmentError(
                f"{where}: classes {self.classes!r} are not the label column's categories"
                f" {self.column(self.label).categories!r}"
            )
        if self.class_counts and len(self.class_counts) != len(self.classes):
            raise AugmentError(
                f"{where}: {len(self.class_counts)} class_counts for {len(self.classes)} classes"
            )
        if any(n < 0 for n in self.class_counts):
            raise AugmentError(f"{where}: class_counts must be non-negative")
        for col in self.columns:
            if col.kind == "categorical":
                _check_categories(col, where)
            if not 0 <= col.missing_fraction <= 1:
                raise AugmentError(f"{where}: column {col.name!r} has missing_fraction outside 0-1")
            if col.min is not None and col.max is not None and col.min > col.max:
                raise AugmentError(f"{where}: column {col.name!r} has min above max")

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> TableSchema:
        return cls.from_dict(read_json(path, "schema"), str(path))


def _check_categories(col: ColumnSpec, where: str) -> None:
    """A categorical column's categories: listed, distinct, each text, a boolean or a finite
    number (what the decoder can map codes back to)."""
    if not col.categories:
        raise AugmentError(f"{where}: categorical column {col.name!r} lists no categories")
    for value in col.categories:
        if category_kind(value) is None:
            raise AugmentError(
                f"{where}: categorical column {col.name!r} lists {value!r}, not text, a boolean"
                " or a finite number"
            )
    if len(set(col.categories)) != len(col.categories):
        raise AugmentError(f"{where}: categorical column {col.name!r} lists a category twice")


def category_kind(value: Any) -> str | None:
    """``text``, ``boolean`` or ``number`` (ints and floats alike); None for anything else."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "boolean"
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else None
    return "text" if isinstance(value, str) else None
