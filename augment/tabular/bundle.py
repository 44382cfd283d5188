"""The prepared dataset on disk: ``train``/``validation``/``test`` Parquet splits + ``schema.json``.

The test split is held out: nothing that trains a GAN reads it, so evaluation stays honest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from augment.core.files import PREPARED_DATA, atomic_dir
from augment.core.splits import SPLITS, check_counts, check_split, schema_file
from augment.errors import AugmentError
from augment.tabular.batches import (
    ParquetRows,
    parquet_rows,
    sample_parquet,
    sample_positions,
    value_counts,
)
from augment.tabular.schema import TableSchema

# The rows of a streamed table's split that work holding rows in memory reads by default (the
# evaluation's classifiers, the curation judge): a seeded sample, since the split may not fit.
STREAMED_SAMPLE_ROWS = 100_000


@dataclass
class TabularBundle:
    """A prepared tabular dataset. Splits load lazily from ``path`` and are cached."""

    path: Path
    schema: TableSchema
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _counted: set[str] = field(default_factory=set, repr=False)  # splits whose labels passed

    @classmethod
    def load(cls, path: str | Path) -> TabularBundle:
        path = Path(path)
        return cls(path=path, schema=TableSchema.load(schema_file(path)))

    def split(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            file = self._file(name)
            try:
                frame = pd.read_parquet(file)
            except Exception as exc:  # pyarrow's own error types for a damaged file
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise AugmentError(f"cannot read {file}: {detail}") from None
            frame = self._checked(frame, file)
            labels = frame[self.schema.label]
            counts = {k: int(v) for k, v in labels.value_counts().items() if v}
            self._check_labels(name, file, len(frame), counts, int(labels.isna().sum()))
            self._frames[name] = frame
        return self._frames[name]

    def _count_labels(self, name: str) -> None:
        """The checks of :meth:`_check_labels` on a split too large to load: its row count
        from the file's footer, its labels read alone, a batch at a time."""
        if name in self._counted or name in self._frames:
            return
        file = self._file(name)
        rows = parquet_rows(file)
        self._check_columns(pq.read_schema(file).names, file)
        counts, missing = value_counts(file, self.schema.label)
        self._check_labels(name, file, rows, counts, missing)

    def _check_labels(
        self, name: str, file: Path, rows: int, counts: dict[Any, int], missing: int
    ) -> None:
        """A split's rows agree with schema.json: as many as it records, every one labelled
        with one of its classes, and the train split's per-class counts its ``class_counts``
        (generate's default mix). ``counts`` are the split's rows per label value."""
        schema, where = self.schema, schema_file(self.path)
        check_counts(self.path, file, "rows", schema.splits.get(name), rows)
        if missing:
            raise AugmentError(
                f"{file}: {missing} row(s) have no value in the label column {schema.label!r};"
                " augment ingest drops such rows"
            )
        classes = dict.fromkeys(schema.classes)
        unknown = [value for value in counts if value not in classes]
        if unknown:
            raise AugmentError(
                f"{file}: the label column {schema.label!r} holds {unknown[0]!r}, which is not"
                f" among the classes {where} lists"
            )
        if name == "train":
            held = [counts.get(cls, 0) for cls in schema.classes]
            check_counts(self.path, file, "rows", None, rows, schema.class_counts, held,
                         schema.classes)  # fmt: skip
        self._counted.add(name)

    def _file(self, name: str) -> Path:
        check_split(name)
        file = self.path / f"{name}.parquet"
        if not file.is_file():
            raise AugmentError(f"prepared data is incomplete: {file} is missing")
        return file

    def _checked(self, frame: pd.DataFrame, file: Path) -> pd.DataFrame:
        self._check_columns(frame.columns, file)
        return frame

    def _check_columns(self, names: Iterable[str], file: Path) -> None:
        present = set(names)
        lacking = [c for c in self.schema.names if c not in present]
        if lacking:
            raise AugmentError(
                f"{file} lacks the column(s) {', '.join(map(repr, lacking))} that"
                f" {schema_file(self.path)} lists"
            )

    @property
    def train(self) -> pd.DataFrame:
        return self.split("train")

    @property
    def streamed(self) -> bool:
        """Whether ingest read the source in batches: a table too large to load whole."""
        return bool(self.schema.source.get("streamed"))

    def train_rows(self, scratch: Path) -> pd.DataFrame | ParquetRows:
        """The train split for a GAN: whole in memory, or read in batches when ingest streamed
        the table (work files go beside ``scratch``, see :class:`ParquetRows`)."""
        if self.streamed:
            self._count_labels("train")
            return ParquetRows(self._file("train"), scratch)
        return self.train

    def rows(self, name: str, max_rows: int | None, seed: int) -> pd.DataFrame:
        """The split ``name`` for work that holds its rows in memory: a seeded uniform sample of
        at most ``max_rows`` rows, in file order, or the whole split if it has no more.

        ``max_rows=None`` reads every row of a table that fits in memory, and
        :data:`STREAMED_SAMPLE_ROWS` of a streamed one, whose split is read in batches and
        never whole (:func:`~augment.tabular.batches.sample_parquet`)."""
        if max_rows is None and not self.streamed:
            return self.split(name)
        size = STREAMED_SAMPLE_ROWS if max_rows is None else max_rows
        if size < 1:
            raise AugmentError(f"max_rows must be at least 1, got {max_rows}")
        if name in self._frames or not self.streamed:
            whole = self.split(name)
            return whole.iloc[sample_positions(len(whole), size, seed)].reset_index(drop=True)
        self._count_labels(name)
        file = self._file(name)
        return self._checked(sample_parquet(file, size, seed), file)

    def split_rows(self, name: str) -> int:
        """How many rows the split ``name`` holds, without reading them."""
        if name in self._frames:
            return len(self._frames[name])
        return parquet_rows(self._file(name))

    @property
    def validation(self) -> pd.DataFrame:
        return self.split("validation")

    @property
    def test(self) -> pd.DataFrame:
        return self.split("test")


def write_bundle(
    out: str | Path,
    schema: TableSchema,
    splits: dict[str, pd.DataFrame],
    inputs: tuple[str | Path, ...] = (),
) -> TabularBundle:
    """Write all splits and the schema into a fresh directory, swapped into place at the end;
    ``out`` may not hold any of ``inputs``. The schema's row counts (``splits``,
    ``class_counts``) are those of the rows written, which the reader checks them against."""
    out = Path(out)
    train = splits["train"][schema.label].value_counts()
    schema = replace(
        schema,
        splits={name: len(splits[name]) for name in SPLITS},
        class_counts=[int(train.get(c, 0)) for c in schema.classes],
    )
    with atomic_dir(out, PREPARED_DATA, inputs) as tmp:
        for name in SPLITS:
            splits[name].reset_index(drop=True).to_parquet(tmp / f"{name}.parquet", index=False)
        schema.save(tmp / "schema.json")
    return TabularBundle.load(out)
