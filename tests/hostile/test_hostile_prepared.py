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


def _edit_split(prepared, name, edit) -> None:
    import pandas as pd

    split = prepared / f"{name}.parquet"
    edit(pd.read_parquet(split)).to_parquet(split, index=False)


def _relabel(frame, value):
    frame["label"] = frame["label"].astype(object)
    frame.loc[0, "label"] = value
    return frame


def _flip(frame):
    return _relabel(frame, "no" if frame.loc[0, "label"] == "yes" else "yes")


# A split whose rows disagree with schema.json: each was taken on trust before.
SPLITS = {
    "fewer rows": (lambda f: f.iloc[1:], ["train.parquet holds", "rows, ", "schema.json says"]),
    "a row without a label": (
        lambda f: _relabel(f, None),
        ["train.parquet: 1 row(s) have no value in the label column 'label'"],
    ),
    "an unknown class": (
        lambda f: _relabel(f, "maybe"),
        ["the label column 'label' holds 'maybe', which is not among the classes"],
    ),
    "another class mix": (
        _flip,
        ["schema.json counts", "training rows of class", "train.parquet holds"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", SPLITS)
def test_a_split_that_disagrees_with_schema_json(case, prepared):
    edit, words = SPLITS[case]
    _edit_split(prepared, "train", edit)
    train_fails(prepared, *words)


@pytest.fixture(scope="module")
def streamed_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("streamed")
    tiny_table().to_csv(root / "t.csv", index=False)
    assert invoke("ingest", "--source", root / "t.csv", "--label", "label", "--out",
                  root / "prep", "--stream", "always").exit_code == 0  # fmt: skip
    return root / "prep"


@pytest.mark.parametrize("case", SPLITS)
def test_a_streamed_split_that_disagrees_with_schema_json(case, streamed_source, tmp_path):
    """A table too large to load is checked too: its footer's row count and its labels,
    read alone."""
    prepared = shutil.copytree(streamed_source, tmp_path / "prep")
    edit, words = SPLITS[case]
    _edit_split(prepared, "train", edit)
    train_fails(prepared, *words)


def test_a_test_split_without_a_label(prepared, tmp_path):
    """Evaluate reads the test split: an unlabelled row there would be scored as a class."""
    _edit_split(prepared, "test", lambda f: _relabel(f, None))
    model = tmp_path / "model"
    assert invoke("train", "--data", prepared, "--out", model, "--set", "max_steps=2",
                  "--batch-size", 20, "--device", "cpu").exit_code == 0  # fmt: skip
    result = invoke("evaluate", "--data", prepared, "--model", model, "--seeds", 2,
                    "--metrics", tmp_path / "m.json", "--plots", tmp_path / "plots",
                    "--report", tmp_path / "r.md", "--device", "cpu")  # fmt: skip
    one_line_error(result, "test.parquet: 1 row(s) have no value in the label column 'label'")
