"""Tables read in batches, for tables larger than memory (docs/architecture.md, "Tables larger
than memory").

:func:`read_arrow` (and :func:`read_batches`, the same as DataFrames) streams a CSV/TSV (plain
or gzip) or Parquet source file through pyarrow's streaming readers, every CSV field as text,
so that a column's type is decided over the whole file rather than its first block.
:class:`ParquetRows` is a prepared split read the same way: its row count, its batches, and a
seeded sample of its rows. :func:`rows_in` keeps one torchrun rank's share of the batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from augment.errors import AugmentError

BATCH_BYTES = 16 << 20  # a CSV block: about 150,000 Adult rows
BATCH_ROWS = 131_072  # a Parquet batch


def table_format(path: Path) -> str:
    """``parquet``, ``csv`` or ``tsv`` from the file's name; anything else is an error."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    if suffixes and (suffixes[-1] in (".csv", ".tsv", ".txt") or suffixes[-2:] == [".csv", ".gz"]):
        return "tsv" if ".tsv" in suffixes else "csv"
    raise AugmentError(f"unsupported format for {path}: use .csv, .tsv, .csv.gz or .parquet")


def read_batches(path: Path, column_names: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The rows of a CSV/TSV or Parquet file as DataFrames of at most a block each (see
    :func:`read_arrow`)."""
    for batch in read_arrow(path, column_names):
        yield batch.to_pandas()


def read_arrow(path: Path, column_names: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of a CSV/TSV or Parquet file as Arrow record batches of at most a block each.

    CSV fields arrive as text (the caller decides the types over the whole file); Parquet
    columns keep their types. ``column_names`` are the CSV header's names, cleaned of spaces,
    as the in-memory reader names them. A damaged file is one error naming it.
    """
    try:
        if table_format(path) == "parquet":
            with pq.ParquetFile(path) as parquet:
                yield from parquet.iter_batches(batch_size=BATCH_ROWS)
            return
        names = column_names or []
        yield from pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(
                column_names=names, skip_rows=1, block_size=BATCH_BYTES
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter="\t" if table_format(path) == "tsv" else ","
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (OSError, pa.ArrowException) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(f"cannot read {path}: {detail}") from None


def sample_positions(rows: int, size: int, seed: int) -> np.ndarray:
    """The positions of a seeded uniform sample of ``size`` of ``rows`` rows (all of them when
    ``size >= rows``), in increasing order: the one rule every seeded row sample follows."""
    if size >= rows:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))


@dataclass
class ParquetRows:
    """A prepared split too large to load whole: read in batches, never all at once.

    ``scratch`` is where work files may go (the model folder's path: they go beside it, under
    a temporary name; see :func:`augment.core.files.scratch_dir`).
    """

    path: Path
    scratch: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.rows = parquet_rows(self.path)

    def __len__(self) -> int:
        return self.rows

    def batches(self) -> Iterator[pd.DataFrame]:
        yield from read_batches(self.path)

    def sample(self, size: int, seed: int) -> pd.DataFrame:
        """``size`` rows drawn uniformly without replacement (seeded), in file order."""
        return sample_parquet(self.path, size, seed, self.rows)


def sample_parquet(path: Path, size: int, seed: int, rows: int | None = None) -> pd.DataFrame:
    """A seeded uniform sample of ``size`` rows of the Parquet file ``path`` (``rows`` long, if
    known), in file order, read in batches: memory holds one batch and the sample."""
    wanted = sample_positions(parquet_rows(path) if rows is None else rows, size, seed)
    parts, start = [], 0
    for frame in read_batches(path):
        stop = start + len(frame)
        lo, hi = np.searchsorted(wanted, [start, stop])
        if hi > lo:
            parts.append(frame.iloc[wanted[lo:hi] - start])
        start = stop
    if not parts:  # an empty split: its columns, no rows
        return pq.read_schema(path).empty_table().to_pandas()
    return pd.concat(parts, ignore_index=True)


def parquet_rows(path: Path) -> int:
    """The number of rows of a Parquet file, from its footer; a damaged file is one error."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise AugmentError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def value_counts(path: Path, column: str) -> tuple[dict[Any, int], int]:
    """Each value's rows in ``column`` of the Parquet file ``path``, and the rows it lacks a
    value in, reading that column alone a batch at a time (memory holds one batch)."""
    counts: Counter[Any] = Counter()
    missing = 0
    try:
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
                values = batch.column(0)
                if pa.types.is_dictionary(values.type):
                    values = values.dictionary_decode()
                missing += values.null_count
                tally = pc.value_counts(pc.drop_null(values))
                counts.update(
                    dict(zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist(),
                             strict=True))
                )  # fmt: skip
    except (OSError, pa.ArrowException) as exc:
        raise AugmentError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return dict(counts), missing


def rows_in(batches: Iterator[pd.DataFrame], shard: slice) -> Iterator[pd.DataFrame]:
    """The rows that ``shard`` (a slice without a stop: a torchrun rank's
    :attr:`augment.core.distributed.Context.shard`) selects from the table ``batches`` hold in
    order, in batches."""
    first, step = shard.start or 0, shard.step or 1
    start = 0  # the batch's first row in the table
    for frame in batches:
        offset = first - start if first >= start else (first - start) % step
        start += len(frame)
        if offset < len(frame):
            yield frame.iloc[offset::step]
