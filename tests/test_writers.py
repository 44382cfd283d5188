import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augment.steps.ingest import ingest
from augment.tabular.writer import TableWriter, arrow_schema


@pytest.fixture
def schema(tmp_path, small_csv):
    return ingest(small_csv, "label", tmp_path / "prep").schema


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_chunks_stream_into_one_file(tmp_path, schema, small_table, fmt):
    frame = small_table[schema.names]
    path = tmp_path / f"out.{fmt}"
    with TableWriter(path, schema, fmt) as writer:
        writer.write(frame.iloc[:100])
        writer.write(frame.iloc[100:].assign(city=None))  # an all-missing chunk keeps its type
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    assert list(back.columns) == schema.names and len(back) == len(frame)


def test_parquet_columns_convert_as_pandas_would(tmp_path, schema, small_table):
    # Decoded chunks hold pandas' nullable and categorical types; the column-wise conversion
    # must write what the table-level one did.
    frame = small_table[schema.names].copy()
    frame["age"] = frame["age"].astype("Int64").mask(frame.index % 7 == 0)
    frame["member"] = frame["member"].astype("boolean").mask(frame.index % 5 == 0)
    frame["city"] = frame["city"].astype("category")
    with TableWriter(tmp_path / "out.parquet", schema) as writer:
        writer.write(frame)
    expected = pa.Table.from_pandas(frame, schema=arrow_schema(schema), preserve_index=False)
    assert pq.read_table(tmp_path / "out.parquet").equals(expected.replace_schema_metadata(None))


def test_categorical_and_object_chunks_read_back_as_plain_strings(tmp_path, schema, small_table):
    # TabGAN's chunks hold Categoricals (written as Parquet dictionaries from their codes),
    # other models' plain objects: one file, read back as the strings of either.
    frame = small_table[schema.names]
    coded = frame.assign(city=frame["city"].astype("category"))
    with TableWriter(tmp_path / "out.parquet", schema) as writer:
        writer.write(coded.iloc[:100])
        writer.write(frame.iloc[100:])
    back = pq.read_table(tmp_path / "out.parquet")
    assert back.schema == arrow_schema(schema)  # plain strings, no Arrow dictionary type
    pd.testing.assert_frame_equal(back.to_pandas(), frame.reset_index(drop=True))


def test_failed_write_leaves_nothing(tmp_path, schema, small_table):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), TableWriter(path, schema) as writer:
        writer.write(small_table[schema.names].iloc[:10])
        raise RuntimeError("crash mid-way")
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []


def test_outputs_get_normal_permissions(tmp_path):
    import os

    from augment.core.files import MODEL, atomic_dir, write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "model", MODEL) as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
