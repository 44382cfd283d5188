"""Stream generated tables to disk chunk by chunk, under a temporary name until complete."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from augment.core.files import atomic_path
from augment.errors import AugmentError
from augment.tabular.schema import ColumnSpec, TableSchema, category_kind

FORMATS = ("parquet", "csv")
_STRING_DICTIONARY = pa.dictionary(pa.int32(), pa.string())  # a categorical column's codes


def arrow_schema(schema: TableSchema) -> pa.Schema:
    """A fixed Arrow schema from the table schema, so every chunk writes the same column types:
    the types a reader gets back."""
    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in schema.columns])


def _file_schema(schema: TableSchema) -> pa.Schema:
    """What the Parquet writer is given: :func:`arrow_schema`, with categorical string columns
    as Arrow dictionaries. Parquet stores such a column dictionary-encoded either way; handed
    the dictionary (codes and categories) the writer need not hash every string, 3x faster on
    Adult's nine categorical columns (BENCHMARKS.md). Written without Arrow's schema metadata,
    the file reads back as plain strings, as before."""
    fields = [
        pa.field(f.name, _STRING_DICTIONARY)
        if c.kind == "categorical" and f.type == pa.string()
        else f
        for c, f in zip(schema.columns, arrow_schema(schema), strict=True)
    ]
    return pa.schema(fields)


def _arrow_type(column: ColumnSpec) -> pa.DataType:
    if column.kind == "datetime":
        return pa.timestamp("ns")
    dtype = column.dtype.lower()
    if dtype in ("bool", "boolean"):
        return pa.bool_()
    if dtype.startswith(("int", "uint")):
        return pa.int64()
    if dtype.startswith("float"):
        return pa.float64()
    if column.kind == "categorical" and column.categories:
        kinds = {category_kind(c) for c in column.categories}
        if len(kinds) > 1:  # a model fitted on Python objects; ingest never writes these
            raise AugmentError(
                f"column {column.name!r} mixes categories of kinds"
                f" {', '.join(sorted(map(str, kinds)))}, which a Parquet column cannot hold:"
                " use --format csv"
            )
        if kinds == {"boolean"}:
            return pa.bool_()
        if kinds == {"number"}:
            whole = all(isinstance(c, int) for c in column.categories)
            return pa.int64() if whole else pa.float64()
    return pa.string()


def check_table_format(schema: TableSchema, fmt: str) -> None:
    """Raise the error :class:`TableWriter` would meet writing ``schema``'s rows as ``fmt``."""
    if fmt == "parquet":
        _file_schema(schema)


def _arrow_column(values: pd.Series, type: pa.DataType) -> pa.Array:
    """One column of a chunk as ``type``; a dictionary from a pandas Categorical's own codes and
    categories (what TabGAN's decoder gives the writer), else from Arrow's hashing."""
    if not pa.types.is_dictionary(type):
        return pa.Array.from_pandas(values, type=type)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pa.Array.from_pandas(values).cast(type)
    return pa.Array.from_pandas(values, type=type.value_type).dictionary_encode().cast(type)


class TableWriter:
    """``with TableWriter(path, schema, "parquet") as w: w.write(chunk)`` — renamed on success."""

    def __init__(self, path: str | os.PathLike[str], schema: TableSchema, fmt: str = "parquet"):
        if fmt not in FORMATS:
            raise AugmentError(
                f"unsupported output format {fmt!r}: use one of {', '.join(FORMATS)}"
            )
        self.path = Path(path)
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._atomic = atomic_path(self.path)
        self._tmp: Path | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._arrow = _file_schema(schema) if fmt == "parquet" else None

    def __enter__(self) -> TableWriter:
        self._tmp = self._atomic.__enter__()
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(self._tmp, self._arrow, store_schema=False)
        return self

    def write(self, chunk: pd.DataFrame) -> None:
        assert self._tmp is not None, "use TableWriter as a context manager"
        chunk = chunk[self.schema.names]
        if self._parquet is not None and self._arrow is not None:
            # Column by column: the table-level conversion's pandas metadata, which the file
            # (written under the fixed schema) never stores, cost a third of the conversion.
            arrays = [_arrow_column(chunk[f.name], f.type) for f in self._arrow]
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._arrow))
        else:
            chunk.to_csv(self._tmp, mode="a", header=self.rows == 0, index=False)
        self.rows += len(chunk)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._parquet is not None:
            self._parquet.close()
        elif exc_type is None and self.rows == 0 and self._tmp is not None:
            # An empty CSV still gets its header, so readers see the columns.
            pd.DataFrame(columns=self.schema.names).to_csv(self._tmp, index=False)
        return self._atomic.__exit__(exc_type, exc, tb)
