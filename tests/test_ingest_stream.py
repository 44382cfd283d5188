"""Tables larger than memory: the streamed ingest (two passes in batches) and training from a
split read in batches. Small tables stand in for large ones, cut into many small batches."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from augment.cli import app
from augment.core import distributed
from augment.errors import AugmentError
from augment.steps.ingest import ingest
from augment.steps.train import train
from augment.tabular import batches, ingest_stream
from augment.tabular.batches import ParquetRows
from augment.tabular.bundle import TabularBundle
from augment.tabular.gan import TabGAN, TabGANConfig, make_encoder
from augment.tabular.ingest_stream import should_stream, unit_hash


@pytest.fixture
def table() -> pd.DataFrame:
    """3,000 rows of every kind: ids, integers, floats with gaps, text with gaps, booleans,
    numbers that are categories, dates as text, a constant, three classes."""
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {
            "row_id": np.arange(5000, 5000 + n),
            "age": rng.integers(18, 80, n),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "rooms": rng.integers(1, 5, n),
            "member": rng.random(n) < 0.3,
            "joined": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"))
            .strftime("%Y-%m-%d")
            .astype(object),
            "constant": "x",
            "label": rng.choice(["no", "yes", "rare"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    frame.loc[::17, "income"] = np.nan
    frame.loc[::23, "city"] = "?"
    return frame


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of a few hundred rows, so a 3,000-row file is read in many."""
    monkeypatch.setattr(batches, "BATCH_BYTES", 16 << 10)
    monkeypatch.setattr(batches, "BATCH_ROWS", 256)


def _specs(bundle) -> list[dict]:
    return [
        {k: v for k, v in dataclasses.asdict(c).items() if k != "missing_fraction"}
        for c in bundle.schema.columns
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_schema_equals_the_in_memory_one(tmp_path, table, small_batches, suffix):
    path = tmp_path / f"t{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    whole = ingest(path, "label", tmp_path / "whole", stream="never")
    streamed = ingest(path, "label", tmp_path / "streamed", stream="always", progress=False)
    assert streamed.streamed and not whole.streamed
    assert _specs(streamed) == _specs(whole)
    assert streamed.schema.dropped == whole.schema.dropped  # row_id (id-like), constant
    for a, b in zip(streamed.schema.columns, whole.schema.columns, strict=True):
        assert a.missing_fraction == pytest.approx(b.missing_fraction)
    splits = {name: streamed.split(name) for name in ("train", "validation", "test")}
    assert sum(len(f) for f in splits.values()) == len(table)
    # Shares per row, not stratified: near 70/10/20, every class in every split.
    assert abs(len(splits["test"]) / len(table) - 0.2) < 0.03
    assert abs(len(splits["validation"]) / len(table) - 0.1) < 0.03
    for frame in splits.values():
        assert set(frame["label"]) == {"no", "rare", "yes"}
        assert list(frame.dtypes.astype(str)) == [c.dtype for c in streamed.schema.columns]
    train_counts = splits["train"]["label"].value_counts()
    assert streamed.schema.class_counts == [int(train_counts[c]) for c in streamed.schema.classes]


def test_a_row_lands_in_the_same_split_whatever_the_batches(tmp_path, table, monkeypatch):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    a = ingest(path, "label", tmp_path / "a", stream="always", seed=5, progress=False)
    monkeypatch.setattr(batches, "BATCH_BYTES", 8 << 10)
    b = ingest(path, "label", tmp_path / "b", stream="always", seed=5, progress=False)
    c = ingest(path, "label", tmp_path / "c", stream="always", seed=6, progress=False)
    for name in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(a.split(name), b.split(name))
    assert not a.train.equals(c.train)


def test_unit_hash_is_uniform_and_depends_on_position_and_seed():
    u = unit_hash(np.arange(100_000), seed=0, salt=1)
    assert u.min() >= 0 and u.max() < 1
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 9_500  # ~10,000 per bin
    assert not np.array_equal(u, unit_hash(np.arange(100_000), seed=1, salt=1))
    assert not np.array_equal(u, unit_hash(np.arange(100_000), seed=0, salt=2))


def test_auto_streams_only_what_would_not_fit(tmp_path, table, monkeypatch):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    size = path.stat().st_size
    monkeypatch.setattr(ingest_stream, "available_memory", lambda: size * 100)
    assert not should_stream(str(path), "auto")
    assert should_stream(str(path), "always") and not should_stream(str(path), "never")
    monkeypatch.setattr(ingest_stream, "available_memory", lambda: size * 2)
    assert should_stream(str(path), "auto")
    assert not should_stream("adult", "always")  # the built-in tables load whole


def test_streamed_errors_name_the_problem(tmp_path, table):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(AugmentError, match="label column 'nope' not found"):
        ingest(path, "nope", tmp_path / "a", stream="always", progress=False)
    with pytest.raises(AugmentError, match="set continuous but holds 'Oslo'"):
        ingest(path, "label", tmp_path / "b", stream="always", kinds={"city": "continuous"})
    one = table.assign(label="same")
    one.to_csv(path, index=False)
    with pytest.raises(AugmentError, match="single class"):
        ingest(path, "label", tmp_path / "c", stream="always", progress=False)
    gz = tmp_path / "cut.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes())[:2000])  # a truncated download
    with pytest.raises(AugmentError, match="cannot read .*cut.csv.gz"):
        ingest(gz, "label", tmp_path / "e", stream="always", progress=False)
    (tmp_path / "ragged.csv").write_text("a,label\n1,x\n2,y,3\n")
    with pytest.raises(AugmentError, match="cannot read .*ragged.csv"):
        ingest(tmp_path / "ragged.csv", "label", tmp_path / "d", stream="always")


def test_cli_stream_option_and_one_line_error(tmp_path, table):
    from typer.testing import CliRunner

    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    runner = CliRunner()
    ok = runner.invoke(
        app,
        ["ingest", "-s", str(path), "-l", "label", "-o", str(tmp_path / "p"), "--stream", "always"],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app,
        [
            "ingest",
            "-s",
            str(path),
            "-l",
            "label",
            "-o",
            str(tmp_path / "q"),
            "--stream",
            "sometimes",
        ],
    )
    assert bad.exit_code != 0 and "stream" in bad.output and "Traceback" not in bad.output


def test_encoding_in_batches_equals_encoding_whole(tmp_path, table, small_batches):
    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    frame = bundle.train
    encoder = make_encoder(TabGANConfig(), seed=0).fit(frame, bundle.schema)
    rows = ParquetRows(bundle.path / "train.parquet", tmp_path / "model")
    folder = tmp_path / "scratch"
    folder.mkdir()
    on_disk = encoder.encode_batches(rows.batches(), len(rows), folder)
    whole = encoder.encode(frame)
    np.testing.assert_array_equal(on_disk.values, whole.values)
    np.testing.assert_array_equal(on_disk.choices, whole.choices)
    assert isinstance(on_disk.values, np.memmap)


@pytest.mark.parametrize("sizes", [[23], [1] * 23, [5, 1, 7, 10], [2, 3, 0, 18]])
def test_rows_in_selects_a_shard_across_any_batches(sizes):
    table = pd.DataFrame({"i": np.arange(23)})
    starts = np.cumsum([0, *sizes])
    parts = [table.iloc[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    for shard in (slice(None), slice(1, None, 2), slice(2, None, 3), slice(7, None, 4)):
        got = [i for frame in batches.rows_in(iter(parts), shard) for i in frame["i"]]
        assert got == list(range(23))[shard], (sizes, shard)


@pytest.mark.parametrize("world", [2, 3])
def test_each_torchrun_rank_encodes_only_its_share(tmp_path, table, small_batches, world):
    """Under torchrun a streamed table is encoded once between the ranks: each encodes the
    rows it trains on (every world-th), the same rows the whole encoding gives it."""
    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    rows = ParquetRows(bundle.path / "train.parquet", tmp_path / "model")
    cpu = torch.device("cpu")

    def encoded(context: distributed.Context):
        with contextlib.ExitStack() as scratch:
            return TabGAN()._encode(rows, bundle.schema, 0, scratch, context)[1]

    whole = encoded(distributed.Context(cpu))
    shares = []
    for rank in range(world):
        share = encoded(distributed.Context(cpu, rank, world))
        np.testing.assert_array_equal(share.values, whole.values[rank::world])
        np.testing.assert_array_equal(share.choices, whole.choices[rank::world])
        shares.append(len(share))
    assert sum(shares) == len(rows) and max(shares) - min(shares) <= 1


def _csv(table: pd.DataFrame, folder) -> str:
    table.to_csv(folder / "t.csv", index=False)
    return "t.csv"


def test_sample_is_seeded_and_uniform(tmp_path, table, small_batches):
    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    rows = ParquetRows(bundle.path / "train.parquet", tmp_path / "model")
    a, b = rows.sample(500, seed=1), rows.sample(500, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 500 and not a.equals(rows.sample(500, seed=2))
    assert a["age"].mean() == pytest.approx(bundle.train["age"].mean(), rel=0.05)
    assert len(rows.sample(10**6, seed=0)) == len(rows)


def test_training_from_a_streamed_split_never_loads_it_whole(
    tmp_path, table, small_batches, monkeypatch
):
    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")

    def refuse(*args, **kwargs):
        raise AssertionError("the streamed train split was read whole")

    monkeypatch.setattr(type(bundle), "train", property(refuse))
    gan = train(bundle, tmp_path / "model", epochs=1, min_steps=0, device="cpu", progress=False)
    assert gan.summary["rows"] == bundle.schema.splits["train"]
    sample = gan.sample(["rare"] * 50, seed=0)
    assert list(sample.columns) == bundle.schema.names and set(sample["label"]) == {"rare"}
    # The encoded copy lived beside the model, under a temporary name, and is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "p", "t.csv"]


def _refuse_whole_splits(monkeypatch, bundle) -> None:
    def refuse(self, name):
        raise AssertionError(f"the streamed {name} split was read whole")

    monkeypatch.setattr(type(bundle), "split", refuse)


def test_a_split_sample_is_the_same_read_in_batches_or_whole(tmp_path, table, small_batches):
    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    whole = TabularBundle.load(bundle.path)
    whole.split("train")  # cached: rows() samples the frame in memory
    for size, seed in ((500, 3), (10**6, 0)):
        pd.testing.assert_frame_equal(
            TabularBundle.load(bundle.path).rows("train", size, seed),
            whole.rows("train", size, seed),
        )
    assert len(TabularBundle.load(bundle.path).rows("test", None, 0)) == len(bundle.test)
    with pytest.raises(AugmentError, match="max_rows must be at least 1"):
        bundle.rows("train", 0, 0)


def test_a_sample_of_an_empty_split_has_its_columns(tmp_path):
    pd.DataFrame({"a": [1.0], "b": ["x"]}).iloc[:0].to_parquet(tmp_path / "empty.parquet")
    frame = batches.sample_parquet(tmp_path / "empty.parquet", 10, seed=0)
    assert list(frame.columns) == ["a", "b"] and frame.empty


def test_evaluating_a_streamed_table_reads_a_sample_of_each_split(
    tmp_path, table, small_batches, monkeypatch
):
    from augment.evaluation.summary import summary_markdown
    from augment.tabular import bundle as bundle_module
    from augment.tabular.evaluation.runner import evaluate_tabular

    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    sizes = dict(bundle.schema.splits)
    model = tmp_path / "model"
    train(bundle, model, epochs=1, min_steps=0, device="cpu", progress=False)
    monkeypatch.setattr(bundle_module, "STREAMED_SAMPLE_ROWS", 250)
    _refuse_whole_splits(monkeypatch, bundle)
    result = evaluate_tabular(
        TabularBundle.load(bundle.path), model, ratios=[1.0], fractions=[1.0], seeds=2,
        classifiers=["logreg"], smote=False, tune_threshold=False, balance=False,
        fidelity_rows=300, privacy_rows=100, jobs=1, device="cpu", progress=False,
    )  # fmt: skip
    ds = result.dataset
    assert ds.train == ds.validation == 250 and ds.test <= 250  # test: rows with a class
    assert ds.sampled_from == sizes  # each split larger than the sample
    assert f"sample of 250 of the {sizes['train']:,} train rows" in summary_markdown(result)
    # A cap above a split's size reads it whole, and says nothing was sampled.
    monkeypatch.undo()
    result = evaluate_tabular(
        TabularBundle.load(bundle.path), model, ratios=[1.0], fractions=[1.0], seeds=2,
        classifiers=["logreg"], smote=False, tune_threshold=False, balance=False,
        max_rows=10**6, fidelity_rows=300, privacy_rows=100, jobs=1, device="cpu", progress=False,
    )  # fmt: skip
    assert result.dataset.train == sizes["train"] and result.dataset.sampled_from is None


def test_curating_from_a_streamed_table_judges_with_a_sample(
    tmp_path, table, small_batches, monkeypatch
):
    from augment.steps.generate import generate
    from augment.tabular import bundle as bundle_module

    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    model = tmp_path / "model"
    train(bundle, model, epochs=1, min_steps=0, device="cpu", progress=False)
    monkeypatch.setattr(bundle_module, "STREAMED_SAMPLE_ROWS", 300)
    _refuse_whole_splits(monkeypatch, bundle)
    summary = generate(model, 60, tmp_path / "synth", curate=True, curate_threshold=0.0,
                       data=bundle.path, device="cpu", progress=False)  # fmt: skip
    total = bundle.schema.splits["train"]
    assert f"a seeded sample of 300 of its {total:,} rows" in summary["curation"]["classifier"]


@pytest.mark.sdv
def test_a_baseline_trains_on_a_sample_of_a_streamed_table(
    tmp_path, table, small_batches, monkeypatch, package_log
):
    pytest.importorskip("sdv")
    from augment.tabular import bundle as bundle_module
    from augment.tabular import sdv

    bundle = ingest(tmp_path / _csv(table, tmp_path), "label", tmp_path / "p", stream="always")
    monkeypatch.setattr(bundle_module, "STREAMED_SAMPLE_ROWS", 300)
    _refuse_whole_splits(monkeypatch, bundle)
    seen = []
    original = sdv.SDVSynthesizer.fit

    def spy(self, data, schema, **kwargs):
        seen.append(len(data))
        return original(self, data, schema, **kwargs)

    monkeypatch.setattr(sdv.SDVSynthesizer, "fit", spy)
    train(bundle, tmp_path / "model", model="sdv-gaussiancopula", bank_size=50, device="cpu",
          progress=False)  # fmt: skip
    assert seen == [300]
    assert f"sample of 300 of the {bundle.schema.splits['train']} rows" in package_log.text
