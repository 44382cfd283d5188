"""A prepared-data folder edited or damaged by hand: schema.json is checked where it is read
(keys, types, agreement of label, columns and classes), the splits as they are opened."""

from __future__ import annotations

import json
import shutil

import pytest
from hostile_support import invoke, leftovers, one_line_error, tiny_table


@pytest.fixture(scope="module")
def prepared_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared")
    tiny_table().to_csv(root / "t.csv", index=False)
    assert invoke("ingest", "--source", root / "t.csv", "--label", "label",
                  "--out", root / "prep").exit_code == 0  # fmt: skip
    return root / "prep"


@pytest.fixture
def prepared(prepared_source, tmp_path):
    shutil.copytree(prepared_source, tmp_path / "prep")
    return tmp_path / "prep"


def train_fails(prepared, *words: str) -> None:
    out = prepared.parent / "model"
    result = invoke("train", "--data", prepared, "--out", out, "--epochs", 1, "--batch-size", 20,
                    "--device", "cpu")  # fmt: skip
    one_line_error(result, *words)
    assert not out.exists() and leftovers(prepared.parent) == []


def _edit(prepared, edit) -> None:
    path = prepared / "schema.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


SCHEMAS = {
    "a list": (lambda s: [s], ["schema.json must hold a JSON object"]),
    "no label": (lambda s: {k: v for k, v in s.items() if k != "label"}, ["label is missing"]),
    "label a number": (lambda s: {**s, "label": 3}, ["label must be a string, got 3"]),
    "unknown label": (lambda s: {**s, "label": "nope"}, ["'nope' is not among the columns"]),
    "classes empty": (lambda s: {**s, "classes": []}, ["classes is empty"]),
    "classes not the label's": (lambda s: {**s, "classes": ["no", "maybe"]},
                                ["classes ['no', 'maybe'] are not the label column's"]),
    "counts mismatch": (lambda s: {**s, "class_counts": [1]}, ["1 class_counts for 2 classes"]),
    "a column twice": (lambda s: {**s, "columns": s["columns"] + s["columns"][:1]},
                       ["named twice: 'x'"]),
    "a missing fraction of 7": (lambda s: {**s, "columns": [{**c, "missing_fraction": 7}
                                                            for c in s["columns"]]},
                                ["missing_fraction outside 0-1"]),
    "an unknown key": (lambda s: {**s, "colums": []}, ["unknown key(s) colums"]),
    "image modality": (lambda s: {**s, "modality": "image"}, ["schema.json"]),
}  # fmt: skip


@pytest.mark.parametrize("case", SCHEMAS)
def test_tampered_schema_json(case, prepared):
    edit, words = SCHEMAS[case]
    _edit(prepared, edit)
    train_fails(prepared, *words)


def test_a_truncated_split(prepared):
    split = prepared / "train.parquet"
    split.write_bytes(split.read_bytes()[:100])
    train_fails(prepared, "cannot read", "train.parquet")


def test_a_split_without_a_column(prepared):
    import pandas as pd

    split = prepared / "train.parquet"
    pd.read_parquet(split).drop(columns=["colour"]).to_parquet(split)
    train_fails(prepared, "train.parquet lacks the column(s) 'colour'")
