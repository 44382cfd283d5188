"""Ingest of a table larger than memory: two streamed passes over the file, batch by batch.

The per-value work (trimming, missing-value spellings, parsing numbers, distinct values, ranges,
splitting, writing) runs in Arrow's compute kernels on record batches, not in Python.
Pass 1 learns every column over the whole file: whether each value reads as a number, missing
values, distinct values (up to a cap), and keeps a seeded sample of the rows (every row equally
likely) for the rules that look at values (dates written as text). The kinds then follow the
in-memory ingest's rules (:func:`augment.tabular.ingest.kinds_from_facts`).
Pass 2 converts each batch, gives every row its split by a seeded hash of its position in the
file (the same row lands in the same split whatever the batch size; the shares are those asked
for, per row rather than stratified per class) and appends it to that split's Parquet file, a
row group per batch. Memory is bounded by the batch and the sample, not the file.

``stream: auto`` (the default) takes this path only for a file too large to load comfortably:
files that fit in memory keep :func:`augment.tabular.ingest.ingest_table` and its results.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from augment.core.files import PREPARED_DATA, atomic_dir, check_output_dir
from augment.core.splits import SPLITS
from augment.errors import AugmentError
from augment.log import logger
from augment.tabular.batches import read_arrow, table_format
from augment.tabular.bundle import TabularBundle
from augment.tabular.ingest import (
    MIN_ROWS_PER_CLASS,
    ColumnFacts,
    check_csv_bytes,
    check_table_settings,
    coerce_kinds,
    csv_header,
    file_sha256,
    kind_counts,
    kinds_from_facts,
    looks_like_datetime,
    nested_column,
    read_errors,
    sorted_values,
)
from augment.tabular.schema import ColumnSpec, TableSchema

SAMPLE_ROWS = 100_000  # rows kept for the value rules (dates written as text)
# A table in pandas takes about this many times its file's bytes (text as Python strings, and
# the copies that preparing it makes); a compressed file (gzip, Parquet) about 5x more again.
MEMORY_FACTOR = 10
_SALT_SPLIT, _SALT_SAMPLE = 1, 2
# What pandas' CSV reader turns into booleans (a column of only these is a bool column).
BOOLEAN_TEXT = ("True", "TRUE", "true", "False", "FALSE", "false")


def should_stream(source: str, stream: str) -> bool:
    """Whether ``source`` is ingested in batches: ``always``, ``never``, or (``auto``) when
    loading it whole would take more than the memory available now."""
    path = Path(source)
    if stream == "never" or not path.is_file():
        return False  # the built-in tables are small; a missing file is the reader's error
    if stream == "always":
        return True
    compressed = path.suffix.lower() in (".gz", ".parquet", ".pq")
    estimate = path.stat().st_size * MEMORY_FACTOR * (5 if compressed else 1)
    return estimate > available_memory()


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux's MemAvailable; else free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def ingest_table_streamed(
    source: str | Path,
    label: str | None,
    out: str | Path,
    *,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    missing_values: list[str] | tuple[str, ...] = (),
    kinds: dict[str, str] | None = None,
    categorical_threshold: int = 10,
    max_categories: int = 200,
    progress: bool = True,
) -> TabularBundle:
    """Prepare a CSV/TSV or Parquet file of any size for the other stages; see the module's
    docstring. Takes :func:`augment.tabular.ingest.ingest_table`'s settings."""
    missing = check_table_settings(
        test_size, validation_size, seed, missing_values, kinds, categorical_threshold,
        max_categories,
    )  # fmt: skip
    path = Path(source)
    if label is None:
        raise AugmentError(f"--label is required for {path}: name the label column")
    check_output_dir(out, PREPARED_DATA, (path,))
    names = None
    if table_format(path) != "parquet":
        with read_errors(path):
            check_csv_bytes(path)
            names = csv_header(path, "\t" if table_format(path) == "tsv" else ",")
    tokens = pa.array(missing, pa.string())
    scan = _scan(path, names, label, tokens, seed, max(max_categories, categorical_threshold))
    facts = scan.facts()
    column_kinds, dropped = kinds_from_facts(
        facts, label, kinds or {},
        categorical_threshold=categorical_threshold, max_categories=max_categories,
    )  # fmt: skip
    for item in dropped:
        logger.warning("dropping column %r: %s", item["name"], item["reason"])
    _check_classes(scan.labels, label, path)
    info: dict[str, Any] = {
        "path": str(source),
        "sha256": file_sha256(path),
        "rows_read": scan.rows,
        "streamed": True,
    }
    writer = _SplitWriter(path, names, label, tokens, column_kinds, scan, seed)
    bundle = writer.write(out, (test_size, validation_size), dropped, info, progress)
    schema = bundle.schema
    logger.info(
        "ingested %s in batches: %d columns (%s), label %r with %d classes; "
        "train %d, validation %d, test %d rows -> %s",
        source, len(schema.columns) - 1, kind_counts(schema), label, len(schema.classes),
        schema.splits["train"], schema.splits["validation"], schema.splits["test"], out,
    )  # fmt: skip
    return bundle


# ----------------------------------------------------------------------------- batches
def _normalised(batch: pa.RecordBatch, tokens: pa.Array) -> pa.RecordBatch:
    """Text trimmed, and every spelling of 'missing' (``tokens``, NaN) made a real null: what
    :func:`augment.tabular.ingest.normalise_missing` does to a DataFrame."""
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.utf8_trim_whitespace(column)
            column = pc.if_else(pc.is_in(column, value_set=tokens), None, column)
        elif pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), None, column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _numbers(column: pa.Array) -> pa.Array | None:
    """The column as float64, or ``None`` when some value does not read as a number."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64())
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return None
    try:
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        return None


def _whole(numbers: pa.Array) -> bool:
    finite = numbers.filter(pc.is_finite(numbers))
    return bool(pc.all(pc.equal(pc.floor(finite), finite)).as_py() is not False)


# ----------------------------------------------------------------------------- pass 1
@dataclass
class _ColumnScan:
    """One column over the whole file: counts, numbers and distinct values (up to ``cap``)."""

    name: str
    cap: int
    type: str = ""  # from the first batch's type: "bool", "datetime" or "other"
    observed: int = 0
    numeric: bool = True  # every observed value so far reads as a number
    boolean: bool = True  # every observed value so far is True or False, as pandas reads them
    whole: bool = True
    low: float = math.inf
    high: float = -math.inf
    texts: set[Any] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)

    def update(self, column: pa.Array) -> None:
        if not self.type:
            self.type = (
                "bool"
                if pa.types.is_boolean(column.type)
                else "datetime"
                if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)
                else "other"
            )
        values = column.drop_null()
        self.observed += len(values)
        if not len(values):
            return
        distinct = pc.unique(values)
        if len(self.texts) <= self.cap:
            self.texts.update(distinct[: self.cap + 1 - len(self.texts)].to_pylist())
        if self.type != "other":
            return
        if self.boolean:
            text = (
                pc.cast(distinct, pa.string())
                if not pa.types.is_string(distinct.type)
                else distinct
            )
            self.boolean = bool(pc.all(pc.is_in(text, value_set=pa.array(BOOLEAN_TEXT))).as_py())
        numbers = _numbers(values) if self.numeric else None
        if numbers is None:
            self.numeric = False
            return
        self.whole = self.whole and _whole(numbers)
        bounds = pc.min_max(numbers).as_py()
        self.low, self.high = min(self.low, bounds["min"]), max(self.high, bounds["max"])
        if len(self.numbers) <= self.cap:
            unique = pc.unique(numbers)[: self.cap + 1 - len(self.numbers)]
            self.numbers.update(unique.to_pylist())

    @property
    def reads_as_numbers(self) -> bool:
        return self.type == "other" and self.numeric and self.observed > 0

    @property
    def reads_as_booleans(self) -> bool:
        return (
            self.type == "bool" or self.type == "other" and self.boolean and not self.numeric
        ) and self.observed > 0

    def facts(self, sample: pd.Series, complete: bool) -> ColumnFacts:
        numeric = self.reads_as_numbers
        distinct = len(self.numbers if numeric else self.texts)
        if distinct > self.cap:  # past every threshold: exact only when the sample says unique
            kept = sample.dropna()
            unique = len(kept) > 20 and kept.nunique() == len(kept)
            distinct = self.observed if unique else distinct
        kind = "numeric" if numeric else "bool" if self.reads_as_booleans else self.type
        kind = "text" if kind == "other" else kind
        facts = ColumnFacts(self.name, kind, self.observed, distinct, complete)
        if numeric:
            facts.whole = self.whole
            facts.consecutive = facts.unique and self.whole and self.high - self.low + 1 == distinct
        elif kind == "text" and self.observed:
            facts.datetime_text = looks_like_datetime(sample.dropna())
        return facts


@dataclass
class _Scan:
    """Pass 1's findings: the columns, rows and labels, and the sample of rows."""

    columns: dict[str, _ColumnScan]
    missing: dict[str, int]
    labels: dict[Any, int]
    rows: int
    sample: pd.DataFrame

    def facts(self) -> dict[str, ColumnFacts]:
        return {
            name: scan.facts(self.sample[name], self.missing[name] == 0)
            for name, scan in self.columns.items()
        }


def _scan(
    path: Path, names: list[str] | None, label: str, tokens: pa.Array, seed: int, cap: int
) -> _Scan:
    columns: dict[str, _ColumnScan] = {}
    absent: dict[str, int] = {}
    labels: dict[Any, int] = {}
    sample: pa.Table | None = None
    keys = np.zeros(0)
    rows = 0
    for batch in read_arrow(path, names):
        if not columns:
            _check_names(batch.schema.names, label, path)
            for field in batch.schema:
                if pa.types.is_nested(field.type):
                    raise AugmentError(nested_column(field.name, str(field.type), str(path)))
            columns = {name: _ColumnScan(name, cap) for name in batch.schema.names}
            absent = dict.fromkeys(columns, 0)
        batch = _normalised(batch, tokens)
        batch_keys = unit_hash(np.arange(rows, rows + len(batch)), seed, _SALT_SAMPLE)
        rows += len(batch)
        labelled = pc.is_valid(batch.column(label))
        batch = batch.filter(labelled)
        batch_keys = batch_keys[labelled.to_numpy(zero_copy_only=False)]
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            columns[name].update(column)
            absent[name] += column.null_count
        counts = pc.value_counts(batch.column(label))
        for value, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            labels[value] = labels.get(value, 0) + count
        # The sample: the rows with the smallest seeded keys, so every row is equally likely.
        if len(keys) >= SAMPLE_ROWS:  # only rows below the current cut can enter
            cut = keys.max()
            entering = batch_keys < cut
            batch, batch_keys = batch.filter(pa.array(entering)), batch_keys[entering]
        part = pa.Table.from_batches([batch])
        sample = part if sample is None else pa.concat_tables([sample, part])
        keys = np.concatenate([keys, batch_keys])
        if len(keys) > SAMPLE_ROWS:
            keep = np.sort(np.argpartition(keys, SAMPLE_ROWS)[:SAMPLE_ROWS])
            sample, keys = sample.take(pa.array(keep)), keys[keep]
    if sample is None or not rows:
        raise AugmentError(f"{path} is empty: no rows to prepare")
    for name, scan in columns.items():  # the sample's values as the whole column reads
        if scan.reads_as_numbers:
            index = sample.schema.get_field_index(name)
            sample = sample.set_column(index, name, pc.cast(sample.column(name), pa.float64()))
    return _Scan(columns, absent, labels, rows, sample.to_pandas())


def _check_names(names: list[str], label: str, path: Path) -> None:
    twice = [name for i, name in enumerate(names) if name in names[:i]]
    if twice:
        raise AugmentError(f"{path} has two columns named {twice[0]!r}: rename one")
    if label not in names:
        raise AugmentError(
            f"label column {label!r} not found in {path}; columns: {', '.join(names)}"
        )


def _check_classes(labels: dict[Any, int], label: str, path: Path) -> None:
    if len(labels) < 2:
        only = next(iter(labels), "none")
        raise AugmentError(
            f"label column {label!r} in {path} has a single class ({only!r}): need at least two"
        )
    small = {value: n for value, n in labels.items() if n < MIN_ROWS_PER_CLASS}
    if small:
        value, n = next(iter(small.items()))
        raise AugmentError(
            f"label {label!r} class {value!r} has only {n} rows: need at least"
            f" {MIN_ROWS_PER_CLASS} for train/validation/test splits"
        )


def unit_hash(positions: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) for every row position, from the seed alone (SplitMix64):
    the same row gets the same number however the file is cut into batches."""
    mix = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        start = np.uint64(seed * 2 + 1) * np.uint64(salt) * mix
        x = positions.astype(np.uint64) * mix + start
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# ----------------------------------------------------------------------------- pass 2
class _SplitWriter:
    """Pass 2: every batch converted, split by row and appended to the splits' Parquet files;
    the schema's numbers (categories, ranges, missing shares, class counts) gathered on the way."""

    def __init__(
        self,
        path: Path,
        names: list[str] | None,
        label: str,
        tokens: pa.Array,
        kinds: dict[str, str],
        scan: _Scan,
        seed: int,
    ) -> None:
        self.path, self.names, self.label, self.tokens = path, names, label, tokens
        self.kinds, self.scan, self.seed = kinds, scan, seed
        self.dtypes = {name: self._dtype(name) for name in kinds}
        self.arrow = pa.schema([(name, _arrow_type(self.dtypes[name])) for name in kinds])
        self.categories: dict[str, set[Any]] = {
            name: set() for name, kind in kinds.items() if kind == "categorical"
        }
        self.absent = dict.fromkeys(kinds, 0)  # after conversion: unreadable dates are missing
        self.ranges: dict[str, list[float]] = {}
        self.whole: dict[str, bool] = {}
        self.counts = dict.fromkeys(SPLITS, 0)
        self.train_labels: dict[Any, int] = {}
        self.split_labels: dict[str, set[Any]] = {name: set() for name in SPLITS}

    def _dtype(self, name: str) -> str:
        """The pandas dtype the column gets, as the in-memory ingest would give it."""
        scan, kind = self.scan.columns[name], self.kinds[name]
        complete = self.scan.missing[name] == 0
        if kind == "datetime":
            return "datetime64[ns]"
        if kind == "continuous" or scan.reads_as_numbers:
            return "int64" if scan.reads_as_numbers and scan.whole and complete else "float64"
        if scan.reads_as_booleans:
            return "bool" if complete else "object[bool]"
        return "object"

    def write(
        self,
        out: str | Path,
        shares: tuple[float, float],
        dropped: list[dict[str, str]],
        info: dict[str, Any],
        progress: bool,
    ) -> TabularBundle:
        test_share, validation_share = shares
        with atomic_dir(out, PREPARED_DATA, (self.path,)) as tmp:
            writers = {
                name: pq.ParquetWriter(tmp / f"{name}.parquet", self.arrow) for name in SPLITS
            }
            bar = tqdm(
                total=self.scan.rows, desc="splitting", unit="row", unit_scale=True,
                file=sys.stderr, disable=not progress,
            )  # fmt: skip
            try:
                start = 0
                for batch in read_arrow(self.path, self.names):
                    positions = np.arange(start, start + len(batch))
                    start += len(batch)
                    converted, positions = self._convert(batch, positions)
                    u = unit_hash(positions, self.seed, _SALT_SPLIT)
                    split = np.where(
                        u < test_share, 2, np.where(u < test_share + validation_share, 1, 0)
                    )
                    for index, name in enumerate(SPLITS):
                        part = converted.filter(pa.array(split == index))
                        self._gather(name, part)
                        writers[name].write_batch(part)
                    bar.update(len(batch))
            finally:
                bar.close()
                for writer in writers.values():
                    writer.close()
            schema = self._schema(dropped, info)
            schema.save(tmp / "schema.json")
        return TabularBundle.load(out)

    def _convert(
        self, batch: pa.RecordBatch, positions: np.ndarray
    ) -> tuple[pa.RecordBatch, np.ndarray]:
        batch = _normalised(batch, self.tokens)
        labelled = pc.is_valid(batch.column(self.label))
        batch = batch.filter(labelled)
        arrays = [self._column(batch.column(name), name) for name in self.kinds]
        converted = pa.RecordBatch.from_arrays(arrays, schema=self.arrow)
        return converted, positions[labelled.to_numpy(zero_copy_only=False)]

    def _column(self, column: pa.Array, name: str) -> pa.Array:
        kind, dtype = self.kinds[name], self.dtypes[name]
        numbers = _numbers(column) if dtype in ("int64", "float64") else None
        if kind == "datetime" or (dtype in ("int64", "float64") and numbers is None):
            # Dates in any layout, and the error naming a value that is not a number.
            frame = coerce_kinds(pd.DataFrame({name: column.to_pandas()}), {name: kind})
            return pa.array(frame[name], type=_arrow_type(dtype))
        if numbers is not None:
            if pc.any(pc.is_inf(numbers)).as_py():
                raise AugmentError(
                    f"column {name!r} in {self.path} holds infinite value(s): replace them"
                    " with numbers or leave them empty (missing)"
                )
            return pc.cast(numbers, _arrow_type(dtype))
        if dtype in ("bool", "object[bool]") and not pa.types.is_boolean(column.type):
            return pc.equal(pc.utf8_lower(column), "true")  # nulls stay null
        return column.cast(_arrow_type(dtype))

    def _gather(self, split: str, part: pa.RecordBatch) -> None:
        self.counts[split] += len(part)
        labels = part.column(self.label)
        self.split_labels[split].update(pc.unique(labels).to_pylist())
        if split == "train":
            counts = pc.value_counts(labels)
            for value, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                self.train_labels[value] = self.train_labels.get(value, 0) + count
        for name, kind in self.kinds.items():
            column = part.column(name)
            self.absent[name] += column.null_count
            values = column.drop_null()
            if not len(values):
                continue
            if kind == "categorical":
                self.categories[name].update(pc.unique(values).to_pylist())
                continue
            if kind == "datetime":  # epoch nanoseconds, as the in-memory ingest records them
                values = values.cast(pa.timestamp("ns")).cast(pa.int64())
            bounds = pc.min_max(values).as_py()
            low, high = self.ranges.get(name, [math.inf, -math.inf])
            self.ranges[name] = [min(low, float(bounds["min"])), max(high, float(bounds["max"]))]
            whole = kind == "datetime" or _whole(values.cast(pa.float64()))
            self.whole[name] = self.whole.get(name, True) and whole

    def _schema(self, dropped: list[dict[str, str]], info: dict[str, Any]) -> TableSchema:
        classes = sorted_values(self.categories[self.label])
        for split in SPLITS:
            lacking = [c for c in classes if c not in self.split_labels[split]]
            if lacking:
                raise AugmentError(
                    f"{self.path}: class {lacking[0]!r} of {self.label!r} has no row in the"
                    f" {split} split: too few of its rows for splitting in batches (stream:"
                    " never splits in memory, stratified by class)"
                )
        rows = sum(self.counts.values())
        columns = []
        for name, kind in self.kinds.items():
            spec = ColumnSpec(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                dtype=self.dtypes[name].removesuffix("[bool]"),
                missing_fraction=self.absent[name] / max(rows, 1),
            )
            if kind == "categorical":
                spec.categories = sorted_values(self.categories[name])
            elif name in self.ranges:
                spec.min, spec.max = self.ranges[name]
                spec.integer = kind == "datetime" or self.whole[name]
                if not math.isfinite(spec.max - spec.min):
                    raise AugmentError(
                        f"column {name!r} in {self.path} spans {spec.min:g} to {spec.max:g},"
                        " beyond what floating point can hold: rescale it"
                    )
            else:
                raise AugmentError(f"column {name!r} in {self.path} has no observed values")
            columns.append(spec)
        schema = TableSchema(
            label=self.label, columns=columns, classes=classes, dropped=dropped, source=info
        )
        schema.splits = dict(self.counts)
        schema.class_counts = [self.train_labels.get(c, 0) for c in classes]
        return schema


def _arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type a split's column is written as, by the pandas dtype it reads back as."""
    return {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "object": pa.string(),
        "bool": pa.bool_(),
        "object[bool]": pa.bool_(),  # booleans with gaps read back as objects
        "datetime64[ns]": pa.timestamp("ns"),
    }[dtype]
