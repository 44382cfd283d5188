"""SDV baselines behind the synthesizer protocol: fit, save as a sample bank, load, no pickle."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from augment.core.models import model_config
from augment.errors import AugmentError, MissingExtraError
from augment.registry import load_synthesizer, make_synthesizer
from augment.tabular.ingest import build_schema, infer_kinds

SDV_HYPERPARAMETERS = {
    "sdv-ctgan": {"epochs": 1, "batch_size": 100, "bank_size": 400},
    "sdv-tvae": {"epochs": 1, "batch_size": 100, "bank_size": 400},
    "sdv-gaussiancopula": {"bank_size": 400},
}


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": rng.integers(18, 90, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "opened": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "label": rng.choice(["no", "yes"], n, p=[0.8, 0.2]),
        }
    )
    frame.loc[::13, "colour"] = None
    kinds, dropped = infer_kinds(frame, "label", {})
    return frame, build_schema(frame, "label", kinds, dropped, {})


@pytest.mark.sdv
@pytest.mark.parametrize("model", list(SDV_HYPERPARAMETERS))
def test_fit_save_load_sample(model, table, tmp_path, monkeypatch):
    pytest.importorskip("sdv")
    frame, schema = table
    synth = make_synthesizer(model, SDV_HYPERPARAMETERS[model])
    summary = synth.fit(frame, schema, seed=0, device="cpu", progress=False)
    assert summary["model"] == model and summary["fit_seconds"] >= 0
    bank = summary["bank"]
    assert bank["rows"] == sum(c["rows"] for c in bank["classes"]) > 0
    assert all(c["rows"] + c["shortfall"] == c["target"] for c in bank["classes"])

    synth.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == [".augment-output.json", "bank.parquet", "config.json"]
    for path in (tmp_path / "model").iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    config = model_config(tmp_path / "model")
    assert config["model"] == model and config["schema"]["label"] == "label"
    assert config["training"]["bank"]["rows"] == bank["rows"]

    monkeypatch.setitem(sys.modules, "sdv", None)  # loading and sampling a bank needs no SDV
    loaded = load_synthesizer(tmp_path / "model")
    labels = ["yes"] * 25 + ["no"] * 40 + ["yes"] * 5
    rows = loaded.sample(labels, seed=7)
    assert list(rows.columns) == schema.names
    assert rows["label"].tolist() == labels
    assert {c: str(t) for c, t in rows.dtypes.items()} == {c.name: c.dtype for c in schema.columns}
    assert rows.equals(loaded.sample(labels, seed=7))
    assert not rows.equals(loaded.sample(labels, seed=8))
    assert rows.equals(synth.sample(labels, seed=7))  # the fitted object samples the same bank
    assert not rows.iloc[:30].duplicated().any()  # without replacement within a call
    assert loaded.sample([], seed=0).columns.tolist() == schema.names


@pytest.mark.sdv
def test_bank_limits_are_user_errors(table, tmp_path):
    pytest.importorskip("sdv")
    frame, schema = table
    synth = make_synthesizer("sdv-gaussiancopula", {"bank_size": 50, "bank_min_per_class": 10})
    summary = synth.fit(frame, schema, seed=0, progress=False)
    have = next(c["rows"] for c in summary["bank"]["classes"] if c["class"] == "yes")
    with pytest.raises(AugmentError, match=rf"{have + 1} rows of class 'yes'.*bank holds {have};"):
        synth.sample(["yes"] * (have + 1))
    with pytest.raises(AugmentError, match="unknown class 'maybe'"):
        synth.sample(["no", "maybe"])
    with pytest.raises(AugmentError, match="unknown hyper-parameter"):
        make_synthesizer("sdv-ctgan", {"epoch": 3})


def test_missing_sdv_is_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sdv", None)  # what `import sdv` sees when not installed
    with pytest.raises(MissingExtraError) as info:
        make_synthesizer("sdv-ctgan", {"epochs": 1})
    message = str(info.value)
    assert "\n" not in message
    assert "'sdv-ctgan'" in message and "pip install 'augment[sdv]'" in message
