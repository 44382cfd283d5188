"""Ingest of a table: read it, infer column kinds, handle missing values, split, save.

Sources: a CSV or Parquet file, or the built-in ``adult`` (UCI Adult, official train/test files).
:func:`augment.steps.ingest.ingest` decides the modality and calls :func:`ingest_table` for
tables.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from augment.core.files import PREPARED_DATA, check_output_dir
from augment.errors import AugmentError
from augment.log import logger
from augment.tabular.batches import table_format
from augment.tabular.bundle import TabularBundle, write_bundle
from augment.tabular.schema import KINDS, ColumnSpec, TableSchema

DEFAULT_MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
BUILTIN_TABLES = ("adult",)
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]  # fmt: skip
_ID_NAME = re.compile(r"(^|[_\-\s])(id|uuid|guid|key)$", re.IGNORECASE)
MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test
NESTED = (list, tuple, dict, set, np.ndarray)  # values of a nested column (pandas' view)


def ingest_table(
    source: str | Path = "adult",
    label: str | None = None,
    out: str | Path = "data/prepared",
    *,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    missing_values: list[str] | tuple[str, ...] = DEFAULT_MISSING_VALUES,
    kinds: dict[str, str] | None = None,
    categorical_threshold: int = 10,
    max_categories: int = 200,
) -> TabularBundle:
    """Prepare a table for the other stages and write it to ``out``.

    Returns the written bundle. ``kinds`` overrides inferred column kinds (``continuous``,
    ``categorical``, ``datetime`` or ``drop``). Numeric columns with at most
    ``categorical_threshold`` distinct values are categorical; text columns with more than
    ``max_categories`` distinct values are dropped as identifiers or free text, with a warning.

    Example:
        >>> bundle = ingest_table("adult", out=tmp_path / "prepared")  # doctest: +SKIP
        >>> bundle.schema.classes
        ['<=50K', '>50K']
    """
    missing = check_table_settings(
        test_size, validation_size, seed, missing_values, kinds, categorical_threshold,
        max_categories,
    )  # fmt: skip
    source_str = str(source)
    inputs = () if source_str in BUILTIN_TABLES else (source_str,)
    check_output_dir(out, PREPARED_DATA, inputs)
    official_test: pd.DataFrame | None = None
    if source_str in BUILTIN_TABLES:
        frame, official_test = load_adult()
        label = label or "income"
        info: dict[str, Any] = {"builtin": source_str, "test": "official adult.test"}
    else:
        frame = read_table(source_str, missing)
        info = {"path": str(source), "sha256": file_sha256(Path(source_str))}
        if label is None:
            raise AugmentError(f"--label is required for {source_str}: name the label column")
    if frame.empty or len(frame.columns) == 0:
        raise AugmentError(f"{source_str} is empty: no rows to prepare")
    if label not in frame.columns:
        raise AugmentError(
            f"label column {label!r} not found in {source_str}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )

    info["rows_read"] = int(len(frame))
    frame, schema = prepare_frame(
        frame,
        label,
        missing_values=missing,
        kinds=kinds,
        categorical_threshold=categorical_threshold,
        max_categories=max_categories,
        source=source_str,
        info=info,
    )
    column_kinds = {c.name: c.kind for c in schema.columns}
    if official_test is not None:
        official_test = _drop_unlabelled(
            normalise_missing(official_test, missing), label, "adult.test"
        )
        official_test = coerce_kinds(official_test[schema.names], column_kinds)
        train, validation = _stratified_split(frame, label, validation_size, seed)
        test = official_test
    else:
        rest, test = _stratified_split(frame, label, test_size, seed)
        train, validation = _stratified_split(
            rest, label, validation_size / (1 - test_size), seed + 1
        )

    splits = {"train": train, "validation": validation, "test": test}  # the writer counts them
    bundle = write_bundle(out, schema, splits, inputs)
    logger.info(
        "ingested %s: %d columns (%s), label %r with %d classes; "
        "train %d, validation %d, test %d rows -> %s",
        source_str,
        len(schema.columns) - 1,
        kind_counts(schema),
        label,
        len(schema.classes),
        len(train),
        len(validation),
        len(test),
        out,
    )
    return bundle


def prepare_frame(
    frame: pd.DataFrame,
    label: str,
    *,
    missing_values: list[str] | tuple[str, ...] = DEFAULT_MISSING_VALUES,
    kinds: dict[str, str] | None = None,
    categorical_threshold: int = 10,
    max_categories: int = 200,
    source: str = "the DataFrame",
    info: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, TableSchema]:
    """A table in memory made ready to fit, as ingest prepares a file: missing values
    normalised, unlabelled rows dropped, kinds inferred (id-like and free-text columns dropped
    with a warning), values coerced; returns the rows and their schema (no splits).
    """
    check_column_names(frame, source)
    check_flat(frame, source)
    if label not in frame.columns:
        raise AugmentError(
            f"label column {label!r} not found in {source}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise AugmentError(f"{source} is empty: no rows to fit")
    frame = _drop_unlabelled(normalise_missing(frame, list(missing_values)), label, source)
    check_finite(frame, {name: "" for name in frame.columns}, source)
    _check_label(frame, label, source)
    column_kinds, dropped = infer_kinds(
        frame,
        label,
        kinds or {},
        categorical_threshold=categorical_threshold,
        max_categories=max_categories,
    )
    for item in dropped:
        logger.warning("dropping column %r: %s", item["name"], item["reason"])
    frame = coerce_kinds(frame[[c for c in frame.columns if c in column_kinds]], column_kinds)
    check_finite(frame, column_kinds, source)  # again: text made numbers ("inf" as continuous)
    schema = build_schema(frame, label, column_kinds, dropped, info or {"in_memory": source})
    counts = frame[label].value_counts()
    schema.class_counts = [int(counts.get(c, 0)) for c in schema.classes]
    schema.splits = {"train": len(frame)}
    return frame.reset_index(drop=True), schema


def load_adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The built-in UCI Adult copy: (adult.data, adult.test), ``?`` left for the missing step."""
    from importlib.resources import files

    root = files("augment.datasets") / "adult"
    frames = []
    for name, skip in (("adult.data.gz", 0), ("adult.test.gz", 1)):
        with (root / name).open("rb") as fh:
            frame = pd.read_csv(
                fh,
                compression="gzip",
                header=None,
                names=ADULT_COLUMNS,
                skiprows=skip,
                skipinitialspace=True,
                keep_default_na=False,
                dtype={c: str for c in _ADULT_TEXT},
            )
        frame = frame.dropna(how="all")
        # adult.test writes its labels with a trailing full stop ("<=50K.").
        frame["income"] = frame["income"].str.rstrip(".")
        frames.append(frame.reset_index(drop=True))
    return frames[0], frames[1]


_ADULT_TEXT = [
    "workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
    "native-country", "income",
]  # fmt: skip


def read_table(source: str, missing_values: list[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file; anything else is a clear error naming the file.

    A CSV is checked for what pandas would silently get wrong: a NUL byte (it cuts the value
    short), two columns of one name (renamed ``a.1``), and data rows with one field more than
    the header (the first column would become the index, every value shifted one column).
    """
    path = Path(source)
    if not path.exists():
        raise AugmentError(f"file not found: {path}")
    if not path.is_file():
        raise AugmentError(f"not a file: {path}")
    form = table_format(path)
    with read_errors(path):
        if form == "parquet":
            return pd.read_parquet(path)
        sep = "\t" if form == "tsv" else ","
        check_csv_bytes(path)
        csv_header(path, sep)
        frame = pd.read_csv(
            path,
            sep=sep,
            na_values=missing_values,
            keep_default_na=False,
            skipinitialspace=True,
            low_memory=False,
        )
        if not isinstance(frame.index, pd.RangeIndex):
            raise AugmentError(
                f"cannot read {path}: its data rows have one field more than the header"
                f" ({len(frame.columns)} names), e.g. a trailing separator or a missing"
                " header name; every value would shift by one column"
            )
        return frame


@contextmanager
def read_errors(path: Path) -> Iterator[None]:
    """What reading the table ``path`` can raise (a damaged file, a truncated ``.gz``, bytes
    that are not text, pyarrow's own errors), as one error line naming it."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise AugmentError(f"{path} is empty: no rows to prepare") from None
    except (
        OSError,
        EOFError,
        zlib.error,
        UnicodeDecodeError,
        ValueError,
        pd.errors.ParserError,
    ) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(f"cannot read {path}: {first_line}") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt Parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise AugmentError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        raise


def _open_text_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _blocks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with _open_text_bytes(path) as handle:
        yield from iter(lambda: handle.read(size), b"")


def check_csv_bytes(path: Path) -> None:
    """No NUL byte anywhere: pandas would end the value there, silently (a label "ye\0s"
    becomes "ye"). A truncated or corrupt ``.gz`` fails here too, by name."""
    lines = 1
    for block in _blocks(path):
        nul = block.find(b"\x00")
        if nul >= 0:
            line = lines + block.count(b"\n", 0, nul)
            raise AugmentError(
                f"{path} line {line} holds a NUL byte (\\x00), which would cut its value short:"
                " remove it (a UTF-16 file: save it as UTF-8)"
            )
        lines += block.count(b"\n")


def csv_header(path: Path, sep: str) -> list[str]:
    """The header's column names, stripped of spaces; two columns of one name would be renamed
    (``a``, ``a.1``): say so instead."""
    with _open_text_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        header = next(csv.reader(text, delimiter=sep, skipinitialspace=True), [])
    names = [name.strip() for name in header]
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name and name in seen:
            raise AugmentError(
                f"{path} has two columns named {name!r} (columns {seen[name]} and {position}):"
                " rename one"
            )
        seen[name] = position
    return names


def check_column_names(frame: pd.DataFrame, source: str) -> None:
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise AugmentError(f"{source} has two columns named {twice[0]!r}: rename one")


def check_flat(frame: pd.DataFrame, source: str) -> None:
    """Every value is a scalar: a column of lists, arrays or mappings (a nested Parquet column)
    has no kind augment can model. Only columns pandas reads as "mixed" are looked at value by
    value, so a table of plain text and numbers pays one fast pass per column."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) != "mixed":
            continue
        nested = column.map(lambda value: isinstance(value, NESTED)).to_numpy(dtype=bool)
        if nested.any():
            value = column.iloc[int(np.flatnonzero(nested)[0])]
            raise AugmentError(
                nested_column(name, "mapping" if isinstance(value, dict) else "list", source)
            )


def nested_column(name: str, kind: str, source: str) -> str:
    return (
        f"column {name!r} in {source} holds {kind} values, not single numbers, categories or"
        " dates: flatten it into columns, or drop it"
    )


def check_finite(frame: pd.DataFrame, kinds: dict[str, str], source: str) -> None:
    """Numbers must be finite and, in a continuous column (``kinds``), span a finite range: an
    infinity (``inf`` in a CSV) would only surface as a GAN that diverges at its first step."""
    for name in kinds:
        column = frame[name]
        if not pd.api.types.is_float_dtype(column):
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            raise AugmentError(
                f"column {name!r} in {source} holds {int(infinite.sum())} infinite value(s)"
                f" ({values[infinite][0]}): replace them with numbers or leave them empty"
                " (missing)"
            )
        observed = values[~np.isnan(values)]
        if observed.size and kinds[name] == "continuous":
            with np.errstate(over="ignore"):
                spread = float(observed.max()) - float(observed.min())
            if not np.isfinite(spread):
                raise AugmentError(
                    f"column {name!r} in {source} spans {observed.min():g} to"
                    f" {observed.max():g}, beyond what floating point can hold: rescale it"
                )


def infer_kinds(
    frame: pd.DataFrame,
    label: str,
    overrides: dict[str, str],
    *,
    categorical_threshold: int = 10,
    max_categories: int = 200,
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Each column's kind, and the columns dropped with the reason (id-like, empty, constant...)."""
    facts = {name: ColumnFacts.of(frame[name], str(name)) for name in frame.columns}
    return kinds_from_facts(
        facts,
        label,
        overrides,
        categorical_threshold=categorical_threshold,
        max_categories=max_categories,
    )


@dataclass
class ColumnFacts:
    """What kind inference needs to know of a column, from the whole column in memory
    (:meth:`of`) or gathered batch by batch from a file too large for memory (the streamed
    ingest, :mod:`augment.tabular.ingest_stream`)."""

    name: str
    type: str  # "bool", "datetime", "numeric" or "text"
    observed: int  # values that are not missing
    distinct: int  # distinct observed values (a lower bound once past every threshold)
    complete: bool  # no value is missing
    whole: bool = False  # numeric: every value a whole number
    consecutive: bool = False  # numeric: distinct whole numbers without a gap
    datetime_text: bool = False  # text: reads as dates

    @classmethod
    def of(cls, series: pd.Series, name: str) -> ColumnFacts:
        values = series.dropna()
        facts = cls(name, "text", len(values), values.nunique(), bool(series.notna().all()))
        if pd.api.types.is_bool_dtype(series):
            facts.type = "bool"
        elif pd.api.types.is_datetime64_any_dtype(series):
            facts.type = "datetime"
        elif pd.api.types.is_numeric_dtype(series):
            facts.type = "numeric"
            facts.whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
            if facts.whole and facts.unique:
                facts.consecutive = _is_consecutive(values)
        elif len(values):
            facts.datetime_text = looks_like_datetime(values)
        return facts

    @property
    def unique(self) -> bool:
        """Every value distinct, in a column long enough for that to say something."""
        return self.distinct == self.observed and self.observed > 20


def kinds_from_facts(
    facts: dict[str, ColumnFacts],
    label: str,
    overrides: dict[str, str],
    *,
    categorical_threshold: int = 10,
    max_categories: int = 200,
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Each column's kind from its facts, and the columns dropped with the reason."""
    for name, kind in overrides.items():
        if name not in facts:
            raise AugmentError(f"kinds names column {name!r}, which is not in the data")
        if kind not in (*KINDS, "drop"):
            raise AugmentError(
                f"unknown kind {kind!r} for column {name!r}: "
                f"use one of {', '.join((*KINDS, 'drop'))}"
            )
    if overrides.get(label, "categorical") != "categorical":
        raise AugmentError(f"the label column {label!r} must be categorical")

    kinds: dict[str, str] = {}
    dropped: list[dict[str, str]] = []
    for name, column in facts.items():
        if name == label:
            kinds[name] = "categorical"
            continue
        if name in overrides:
            if overrides[name] == "drop":
                dropped.append({"name": str(name), "reason": "dropped by the kinds setting"})
            else:
                kinds[name] = overrides[name]
            continue
        kind, reason = _infer_one(column, categorical_threshold, max_categories)
        if kind is None:
            dropped.append({"name": str(name), "reason": reason})
        else:
            kinds[name] = kind
    if len(kinds) < 2:
        raise AugmentError(
            "no feature columns left to model after dropping id-like and empty columns"
        )
    for name, kind in kinds.items():
        # Each category is one more input and output of the GAN, for every row: 50,000 of them
        # would take gigabytes before training starts.
        distinct = facts[name].distinct if kind == "categorical" else 0
        if distinct > max_categories:
            what = "the label" if name == label else "categorical column"
            raise AugmentError(
                f"{what} {name!r} has {distinct} distinct values, more than max_categories"
                f" ({max_categories}): make it continuous or drop it (--kind {name}=continuous"
                " or drop), or raise max_categories"
            )
    return kinds, dropped


def _infer_one(
    column: ColumnFacts, categorical_threshold: int, max_categories: int
) -> tuple[str | None, str]:
    if column.observed == 0:
        return None, "every value is missing"
    if column.distinct == 1 and column.complete:
        return None, "a single constant value carries no information"
    if column.type in ("bool", "datetime"):
        return {"bool": "categorical", "datetime": "datetime"}[column.type], ""
    if column.type == "numeric":
        if column.whole and column.unique and (_ID_NAME.search(column.name) or column.consecutive):
            return None, "id-like: every value is unique"
        if column.distinct <= categorical_threshold:
            return "categorical", ""
        return "continuous", ""
    # Text: a date column, a category, or an identifier / free text.
    if column.datetime_text:
        return "datetime", ""
    if column.unique:
        return None, "id-like: every value is unique"
    if column.distinct > max_categories:
        return (
            None,
            f"{column.distinct} distinct values (> max_categories {max_categories}):"
            " id-like or free text",
        )
    return "categorical", ""


def _is_consecutive(values: pd.Series) -> bool:
    ordered = np.sort(values.to_numpy(dtype=float))
    return bool(np.all(np.diff(ordered) == 1))


def looks_like_datetime(values: pd.Series) -> bool:
    sample = values.astype(str).head(200)
    if sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").all():
        return False  # plain numbers stored as text are not dates
    if not sample.str.contains(r"\d").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def normalise_missing(frame: pd.DataFrame, missing_values: list[str]) -> pd.DataFrame:
    """Every spelling of 'missing' (``?``, empty strings, NaN) becomes a real missing value."""
    frame = frame.copy()
    tokens = set(missing_values)
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            stripped = column.map(lambda v: v.strip() if isinstance(v, str) else v)
            frame[name] = stripped.mask(stripped.isin(tokens))
    return frame


def _drop_unlabelled(frame: pd.DataFrame, label: str, source: str) -> pd.DataFrame:
    unlabelled = frame[label].isna()
    if unlabelled.any():
        logger.warning(
            "%s: dropping %d rows with a missing label %r", source, int(unlabelled.sum()), label
        )
        frame = frame.loc[~unlabelled]
    return frame.reset_index(drop=True)


def coerce_kinds(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    frame = frame.copy()
    for name, kind in kinds.items():
        if kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(frame[name]):
            # A value that does not read as a date becomes missing (an inferred date column
            # may hold 5% of those); a column of which none reads is no date column.
            converted = pd.to_datetime(frame[name], errors="coerce", format="mixed")
            given = frame[name].dropna()
            if len(given) and converted.isna().all():
                raise AugmentError(
                    f"column {name!r} is set datetime but none of its values reads as a date,"
                    f" e.g. {given.iloc[0]!r}"
                )
            frame[name] = converted
        elif kind == "continuous" and not pd.api.types.is_numeric_dtype(frame[name]):
            converted = pd.to_numeric(frame[name], errors="coerce")
            bad = converted.isna() & frame[name].notna()
            if bad.any():
                example = frame[name][bad].iloc[0]
                raise AugmentError(f"column {name!r} is set continuous but holds {example!r}")
            frame[name] = converted
        elif kind == "continuous" and pd.api.types.is_bool_dtype(frame[name]):
            frame[name] = frame[name].astype(float)
        if kind == "datetime" and getattr(frame[name].dt, "tz", None) is not None:
            # One time axis for the GAN: instants in UTC, without the zone (said once).
            logger.warning("column %r: time zone %s converted to UTC", name, frame[name].dt.tz)
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def _check_label(frame: pd.DataFrame, label: str, source: str) -> None:
    counts = frame[label].value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise AugmentError(
            f"label column {label!r} in {source} has a single class ({only!r}): need at least two"
        )
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if len(small):
        raise AugmentError(
            f"label {label!r} class {small.index[0]!r} has only {int(small.iloc[0])} rows: "
            f"need at least {MIN_ROWS_PER_CLASS} for stratified train/validation/test splits"
        )


def _stratified_split(
    frame: pd.DataFrame, label: str, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_classes = frame[label].nunique()
    n_holdout = max(int(round(size * len(frame))), n_classes)
    keep, holdout = train_test_split(
        frame, test_size=n_holdout, random_state=seed, stratify=frame[label], shuffle=True
    )
    return keep.reset_index(drop=True), holdout.reset_index(drop=True)


def build_schema(
    frame: pd.DataFrame,
    label: str,
    kinds: dict[str, str],
    dropped: list[dict[str, str]],
    source: dict[str, Any],
) -> TableSchema:
    columns = [_column_spec(frame[name], str(name), kinds[name]) for name in frame.columns]
    classes = sorted_values(frame[label].dropna().unique())
    return TableSchema(
        label=str(label), columns=columns, classes=classes, dropped=dropped, source=source
    )


def _column_spec(series: pd.Series, name: str, kind: str) -> ColumnSpec:
    missing = float(series.isna().mean())
    spec = ColumnSpec(name=name, kind=kind, dtype=str(series.dtype), missing_fraction=missing)  # type: ignore[arg-type]
    values = series.dropna()
    if kind == "categorical":
        spec.categories = sorted_values(values.unique())
    elif kind == "continuous":
        numbers = values.to_numpy(dtype=float)
        spec.min, spec.max = float(numbers.min()), float(numbers.max())
        spec.integer = bool(np.all(np.mod(numbers, 1) == 0))
    else:  # datetime, as epoch nanoseconds
        # Epoch nanoseconds whatever the column's unit (s, ms, us or ns).
        stamps = values.astype("datetime64[ns]").astype("int64").to_numpy()
        spec.min, spec.max = float(stamps.min()), float(stamps.max())
        spec.integer = True
    return spec


def sorted_values(values: Any) -> list[Any]:
    items = [v.item() if hasattr(v, "item") else v for v in values]
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=str)


def kind_counts(schema: TableSchema) -> str:
    counts: dict[str, int] = {}
    for col in schema.feature_columns:
        counts[col.kind] = counts.get(col.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _check_fraction(name: str, value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value < 1:
        raise AugmentError(f"{name} must be a number between 0 and 1, got {value!r}")


def _check_whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AugmentError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return value


def check_table_settings(
    test_size: Any,
    validation_size: Any,
    seed: Any,
    missing_values: Any,
    kinds: Any,
    categorical_threshold: Any,
    max_categories: Any,
) -> list[str]:
    """The table settings' types and ranges (from params.yaml or Python), named when wrong;
    returns the missing-value spellings as a list."""
    _check_fraction("test_size", test_size)
    _check_fraction("validation_size", validation_size)
    if test_size + validation_size >= 1:
        raise AugmentError("test_size + validation_size must leave rows for training")
    _check_whole("seed", seed, 0)
    _check_whole("categorical_threshold", categorical_threshold, 0)
    _check_whole("max_categories", max_categories, 1)
    if isinstance(missing_values, str) or not all(
        isinstance(v, str) for v in (missing_values or [])
    ):
        raise AugmentError(f"missing_values must be a list of strings, got {missing_values!r}")
    if kinds is not None and not isinstance(kinds, dict):
        raise AugmentError(f"kinds must be a mapping of column to kind, got {kinds!r}")
    return list(missing_values or [])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
