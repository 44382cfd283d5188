import json

import pandas as pd
import pytest

from augment.errors import AugmentError
from augment.steps.ingest import ingest
from augment.tabular.ingest import infer_kinds, load_adult


def test_csv_kinds_missing_values_and_splits(tmp_path, small_csv):
    bundle = ingest(small_csv, "label", tmp_path / "prep", seed=1)
    schema = bundle.schema
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "age": "continuous",
        "income": "continuous",
        "city": "categorical",
        "member": "categorical",
        "joined": "datetime",
        "label": "categorical",
    }
    assert schema.dropped[0]["name"] == "row_id" and "id-like" in schema.dropped[0]["reason"]
    assert schema.classes == ["no", "rare", "yes"]
    assert schema.column("city").categories == ["Lima", "Oslo", "Pune"]  # "?" became missing
    assert schema.column("city").missing_fraction > 0
    assert schema.column("age").integer and not schema.column("income").integer
    splits = {name: bundle.split(name) for name in ("train", "validation", "test")}
    assert sum(len(f) for f in splits.values()) == 300
    assert len(splits["test"]) == 60 and len(splits["validation"]) == 30
    for frame in splits.values():  # stratified: every class in every split
        assert set(frame["label"]) == {"no", "rare", "yes"}
    assert schema.class_counts == [
        int((splits["train"]["label"] == c).sum()) for c in schema.classes
    ]
    assert pd.api.types.is_datetime64_any_dtype(splits["train"]["joined"])
    saved = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert saved["label"] == "label" and saved["source"]["sha256"]


def test_same_seed_same_split(tmp_path, small_csv):
    a = ingest(small_csv, "label", tmp_path / "a", seed=3).train
    b = ingest(small_csv, "label", tmp_path / "b", seed=3).train
    c = ingest(small_csv, "label", tmp_path / "c", seed=4).train
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_parquet_source_and_kind_overrides(tmp_path, small_table):
    path = tmp_path / "t.parquet"
    small_table.to_parquet(path)
    bundle = ingest(
        path, "label", tmp_path / "prep", kinds={"age": "categorical", "member": "drop"}
    )
    assert bundle.schema.column("age").kind == "categorical"
    assert "member" not in bundle.schema.names
    assert bundle.schema.column("city").missing_fraction > 0


def test_builtin_adult_uses_official_test_file(tmp_path):
    train, test = load_adult()
    assert len(train) == 32561 and len(test) == 16281
    assert set(test["income"]) == {"<=50K", ">50K"}  # trailing "." stripped
    bundle = ingest("adult", out=tmp_path / "adult")
    schema = bundle.schema
    assert schema.label == "income" and schema.classes == ["<=50K", ">50K"]
    assert schema.splits["test"] == 16281
    assert schema.splits["train"] + schema.splits["validation"] == 32561
    assert schema.column("workclass").missing_fraction > 0.05  # the "?" cells
    assert "?" not in schema.column("workclass").categories
    assert sum(c.kind == "continuous" for c in schema.columns) == 6


@pytest.mark.parametrize(
    ("content", "name", "label", "message"),
    [
        (None, "absent.csv", "y", "file not found"),
        ("", "empty.csv", "y", "is empty"),
        ("a,y\n", "header_only.csv", "y", "is empty"),
        ("a,y\n1,u\n2,v\n", "small.csv", "nope", "label column 'nope' not found"),
        ("a,y\n" + "".join(f"{i},same\n" for i in range(30)), "one.csv", "y", "single class"),
        ("a,y\n1,u\n", "data.xlsx", "y", "unsupported format"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, content, name, label, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(AugmentError, match=message) as info:
        ingest(path, label, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_unknown_override_column_is_named(small_table):
    with pytest.raises(AugmentError, match="'nope'"):
        infer_kinds(small_table, "label", {"nope": "categorical"})
    with pytest.raises(AugmentError, match="unknown kind 'weird'"):
        infer_kinds(small_table, "label", {"age": "weird"})


def test_datetime_range_is_in_nanoseconds_whatever_the_unit(tmp_path, small_table):
    frame = small_table.assign(joined=small_table["joined"].astype("datetime64[s]"))
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    spec = ingest(path, "label", tmp_path / "prep").schema.column("joined")
    assert spec.min == pd.Timestamp(frame["joined"].min()).value


def test_time_zone_aware_datetimes_become_utc(tmp_path):
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=30, freq="D", tz="Europe/Oslo"),
            "x": range(30),
            "y": ["a", "b", "c"] * 10,
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    bundle = ingest(str(tmp_path / "t.parquet"), "y", tmp_path / "out")
    assert bundle.schema.column("when").kind == "datetime"
    assert bundle.train["when"].dt.tz is None
    assert bundle.train["when"].min() >= pd.Timestamp("2023-12-31 23:00")
