"""Tables that pandas would read wrongly without a word, or that break a later stage: each is
refused at ingest with one line naming the file, column or value, and nothing is written."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import yaml
from hostile_support import invoke, leftovers, one_line_error, tiny_table

from augment import Synthesizer
from augment.errors import AugmentError

HEADER = b"x,colour,label\n"


def rows(n: int = 60) -> bytes:
    return b"".join(b"%d.5,red,%s\n" % (i, b"yes" if i % 2 else b"no") for i in range(n))


def ingest_fails(source, *words: str, options: tuple[str, ...] = ()) -> str:
    out = source.parent / "prep"
    result = invoke("ingest", "--source", source, "--label", "label", "--out", out, *options)
    line = one_line_error(result, *words)
    assert not out.exists() and leftovers(source.parent) == []
    return line


@pytest.mark.parametrize("token", [b"inf", b"-inf", b"Infinity"])
def test_an_infinite_number(token, tmp_path):
    source = tmp_path / "inf.csv"
    source.write_bytes(HEADER + rows(30) + b"%s,red,yes\n" % token + rows(30))
    ingest_fails(source, "column 'x'", "infinite", str(source))


def test_numbers_whose_range_overflows(tmp_path):
    source = tmp_path / "huge.csv"
    source.write_bytes(HEADER + rows(30) + b"1e308,red,yes\n-1e308,red,no\n")
    ingest_fails(source, "column 'x'", "floating point")


def test_a_first_data_row_with_an_extra_field(tmp_path):
    """pandas would take the first column as the index and shift every value one column."""
    source = tmp_path / "shifted.csv"
    source.write_bytes(HEADER + b"0.5,red,yes,surplus\n" + rows(30))
    ingest_fails(source, str(source), "one field more than the header")


def test_every_row_with_a_trailing_separator(tmp_path):
    source = tmp_path / "trailing.csv"
    source.write_bytes(HEADER + rows(30).replace(b"\n", b",\n"))
    ingest_fails(source, "one field more than the header")


def test_a_later_row_with_an_extra_field(tmp_path):
    source = tmp_path / "later.csv"
    source.write_bytes(HEADER + rows(30) + b"0.5,red,yes,surplus\n")
    ingest_fails(source, str(source), "Expected 3 fields in line 32, saw 4")


def test_a_nul_byte_in_a_label(tmp_path):
    source = tmp_path / "nul.csv"
    source.write_bytes(HEADER + rows(30) + b"1.5,red,ye\x00s\n")
    ingest_fails(source, str(source), "line 32", "NUL")


def test_a_nul_byte_inside_a_gzipped_csv(tmp_path):
    source = tmp_path / "nul.csv.gz"
    source.write_bytes(gzip.compress(HEADER + b"1.5,red,ye\x00s\n" + rows(30)))
    ingest_fails(source, "line 2", "NUL")


def test_two_columns_of_one_name(tmp_path):
    source = tmp_path / "twice.csv"
    source.write_bytes(b"x,x,label\n" + rows(30))
    ingest_fails(source, "two columns named 'x'", "columns 1 and 2")


def test_two_columns_of_one_name_in_a_dataframe():
    frame = tiny_table()
    frame.columns = ["x", "x", "label"]
    with pytest.raises(AugmentError, match="two columns named 'x'"):
        Synthesizer().fit(frame, "label")


NESTED = {
    "lists": ([[1, 2], [3]] * 30, "list<element: int64>"),
    "mappings": ([{"k": 1}, {"k": 2}] * 30, "struct<k: int64>"),
}


@pytest.mark.parametrize("stream", ["never", "always"])
@pytest.mark.parametrize("case", NESTED)
def test_a_nested_parquet_column(case, stream, tmp_path):
    """A column of lists or records has no kind to model: before, a traceback from deep in
    the kind inference (an unhashable value, or pyarrow's missing 'unique' kernel)."""
    values, arrow_type = NESTED[case]
    frame = tiny_table(60).assign(bag=values)
    source = tmp_path / "nested.parquet"
    frame.to_parquet(source)
    kind = arrow_type if stream == "always" else ("mapping" if case == "mappings" else "list")
    ingest_fails(source, f"column 'bag' in {source} holds {kind} values", "flatten it",
                 options=("--stream", stream))  # fmt: skip


@pytest.mark.parametrize("stream", ["never", "always"])
def test_a_text_column_set_as_dates(stream, tmp_path):
    """Before: 'unexpected ValueError: zero-size array to reduction operation minimum'."""
    source = tmp_path / "t.csv"
    tiny_table(60).to_csv(source, index=False)
    params = {"ingest": {"kinds": {"colour": "datetime"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ingest_fails(source, "column 'colour' is set datetime but none of its values reads as a date",
                 options=("--stream", stream))  # fmt: skip


def test_a_nested_column_in_a_dataframe():
    frame = tiny_table(60).assign(bag=[[1, 2]] * 60)
    with pytest.raises(AugmentError, match=r"column 'bag' in the DataFrame holds list values"):
        Synthesizer().fit(frame, "label")


def test_a_dataframe_where_a_path_belongs_is_named_by_its_type(tmp_path):
    import augment

    with pytest.raises(AugmentError, match=r"^ingest.source must be a path, got a DataFrame$"):
        augment.ingest(tiny_table(), "label", out=tmp_path / "prep", progress=False)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated download
        lambda data: data[:10] + b"\xff" * 40 + data[50:],  # corrupt
        lambda data: b"\x1f\x8b" + b"not gzip at all",
    ],
    ids=["truncated", "corrupt", "bad header"],
)
def test_a_damaged_csv_gz(damage, tmp_path):
    source = tmp_path / "table.csv.gz"
    source.write_bytes(damage(gzip.compress(HEADER + rows(2000))))
    ingest_fails(source, "cannot read", str(source))


def test_categorical_with_50000_values_is_capped(tmp_path):
    """One category per value would make the GAN's rows 50,000 wide: gigabytes at once."""
    frame = tiny_table(rows=300)
    frame["code"] = np.arange(300) * 7 + 1
    source = tmp_path / "codes.csv"
    frame.to_csv(source, index=False)
    ingest_fails(source, "'code'", "300 distinct values", "max_categories",
                 options=("--kind", "code=categorical"))  # fmt: skip


def test_a_label_of_too_many_classes(tmp_path):
    frame = tiny_table(rows=900)
    frame["label"] = [f"class {i % 300}" for i in range(900)]
    source = tmp_path / "classes.csv"
    frame.to_csv(source, index=False)
    ingest_fails(source, "the label 'label'", "300 distinct values")


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"test_size": "abc"}, ["test_size", "'abc'"]),
        ({"validation_size": [0.1]}, ["validation_size", "[0.1]"]),
        ({"seed": "zero"}, ["seed", "'zero'"]),
        ({"max_categories": "many"}, ["max_categories", "'many'"]),
        ({"missing_values": "?"}, ["missing_values", "'?'"]),
    ],
)
def test_wrong_types_in_params_yaml(section, words, tmp_path):
    source = tmp_path / "t.csv"
    tiny_table().to_csv(source, index=False)
    params = {"ingest": {"source": str(source), "label": "label", "out": "prep", **section}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    one_line_error(invoke("ingest"), *words)
    assert not (tmp_path / "prep").exists()


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("lr_g=abc", ["lr_g", "'abc'"]),
        ("pac=0", ["pac must be at least 1"]),
        ("generator_dims=wide", ["generator_dims", "'wide'"]),
        ("betas=[0.5]", ["betas", "2 numbers"]),
        ("max_seconds=-1", ["max_seconds must be positive or null, got -1.0"]),
    ],
)
def test_wrong_types_in_set(assignment, words, tmp_path):
    source = tmp_path / "t.csv"
    tiny_table().to_csv(source, index=False)
    assert invoke("ingest", "--source", source, "--label", "label", "--out", "prep").exit_code == 0
    result = invoke("train", "--data", "prep", "--out", "model", "--set", assignment,
                    "--device", "cpu")  # fmt: skip
    one_line_error(result, *words)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ("{hgb: {max_iter: -1}}", ["classifier_params.hgb", "'max_iter'", "Got -1"]),
        ("{logreg: {C: 0}}", ["classifier_params.logreg", "'C'"]),
        ("{hgb: {depth: 3}}", ["classifier_params.hgb", "unexpected keyword argument 'depth'"]),
        ("{svm: {C: 1}}", ["classifier_params: unknown classifier 'svm'"]),
    ],
)
def test_classifier_params_that_scikit_learn_refuses(params, words, table_model, tmp_path):
    """Refused before any fit; before, a value scikit-learn refuses reached the catch-all for
    bugs from inside the first fit, and an unknown classifier's settings were ignored."""
    result = invoke("evaluate", "--data", table_model.parent / "prep", "--model", table_model,
                    "--set", f"classifier_params={params}", "--metrics", "m.json",
                    "--plots", "plots", "--report", "r.md", "--device", "cpu")  # fmt: skip
    one_line_error(result, *words)
    assert not (tmp_path / "m.json").exists()


def test_a_number_written_as_1e_minus_4_is_a_number(tmp_path):
    """YAML 1.1 reads ``1e-4`` (no dot) as text; a float setting accepts the number it spells."""
    source = tmp_path / "t.csv"
    tiny_table().to_csv(source, index=False)
    assert invoke("ingest", "--source", source, "--label", "label", "--out", "prep").exit_code == 0
    result = invoke("train", "--data", "prep", "--out", "model", "--set", "lr_g=1e-4",
                    "--epochs", "1", "--batch-size", "20", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
