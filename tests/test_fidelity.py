"""Fidelity scores (SDMetrics QualityReport method, computed by augment) on known cases, and
agreement with SDMetrics itself when the optional extra is installed."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from augment.tabular.evaluation.fidelity import cramers_v, ks_complement, quality_report
from augment.tabular.schema import ColumnSpec, TableSchema


def make_schema(frame: pd.DataFrame, label: str, kinds: dict[str, str]) -> TableSchema:
    columns = []
    for name in frame.columns:
        kind = kinds[name]
        cats = sorted(frame[name].dropna().unique().tolist()) if kind == "categorical" else None
        columns.append(
            ColumnSpec(name=name, kind=kind, dtype=str(frame[name].dtype), categories=cats)
        )
    classes = sorted(frame[label].dropna().unique().tolist())
    return TableSchema(label=label, columns=columns, classes=classes)


def correlated_table(n: int, seed: int) -> tuple[pd.DataFrame, TableSchema]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 2 * x + rng.normal(scale=0.5, size=n)
    z = rng.exponential(size=n)
    colour = np.where(x > 0, "red", np.where(rng.random(n) < 0.5, "blue", "green"))
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(x * 30 + 100, unit="D")
    label = np.where(y + rng.normal(size=n) > 0, "yes", "no")
    frame = pd.DataFrame({"x": x, "y": y, "z": z, "colour": colour, "when": when, "label": label})
    frame.loc[rng.random(n) < 0.05, "z"] = np.nan
    frame.loc[rng.random(n) < 0.05, "colour"] = None
    kinds = {
        "x": "continuous", "y": "continuous", "z": "continuous", "colour": "categorical",
        "when": "datetime", "label": "categorical",
    }  # fmt: skip
    return frame, make_schema(frame, "label", kinds)


def perturbed(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A synthetic-looking copy: noisier numbers, some shuffled categories, some missing."""
    rng = np.random.default_rng(seed)
    out = frame.sample(frac=1.0, replace=True, random_state=seed).reset_index(drop=True)
    out["x"] = out["x"] * 1.2 + rng.normal(scale=0.3, size=len(out))
    out["y"] = out["y"] + rng.normal(scale=1.0, size=len(out))
    shuffle = rng.random(len(out)) < 0.3
    out.loc[shuffle, "colour"] = rng.permutation(out.loc[shuffle, "colour"].to_numpy())
    out.loc[rng.random(len(out)) < 0.1, "when"] = pd.NaT
    return out


def test_identical_data_scores_one() -> None:
    frame, schema = correlated_table(800, 0)
    report = quality_report(frame, frame.copy(), schema)
    assert report["overall"] == pytest.approx(1.0)
    assert report["column_shapes"] == pytest.approx(1.0)
    assert report["column_pair_trends"] == pytest.approx(1.0)
    assert all(c["score"] == pytest.approx(1.0) for c in report["columns"])


def test_disjoint_categories_score_zero() -> None:
    real = pd.DataFrame({"c": ["a", "b"] * 50, "label": ["p", "q"] * 50})
    synth = pd.DataFrame({"c": ["x", "y"] * 50, "label": ["p", "q"] * 50})
    schema = make_schema(real, "label", {"c": "categorical", "label": "categorical"})
    report = quality_report(real, synth, schema)
    shapes = {c["column"]: c["score"] for c in report["columns"]}
    assert shapes["c"] == pytest.approx(0.0)
    assert shapes["label"] == pytest.approx(1.0)
    (pair,) = report["pairs"]
    assert pair["metric"] == "ContingencySimilarity"
    assert pair["real_association"] == pytest.approx(1.0)  # c determines the label in real data
    assert pair["score"] == pytest.approx(0.0)


def test_ks_complement_known_values() -> None:
    assert ks_complement(np.arange(10.0), np.arange(10.0) + 100) == pytest.approx(0.0)
    # Shifting half the mass: the ECDFs differ by at most 0.5.
    assert ks_complement(np.array([0.0, 1.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert math.isnan(ks_complement(np.array([np.nan]), np.array([1.0])))


def test_cramers_v_matches_scipy() -> None:
    from scipy.stats.contingency import association

    table = np.array([[100, 150], [203, 322], [420, 700], [320, 210]])
    assert cramers_v(table.astype(float)) == pytest.approx(association(table, method="cramer"))
    assert math.isnan(cramers_v(np.array([[5.0, 3.0]])))


def test_thresholds_select_pairs() -> None:
    frame, schema = correlated_table(1000, 1)
    report = quality_report(frame, perturbed(frame, 2), schema)
    by_pair = {(p["column_1"], p["column_2"]): p for p in report["pairs"]}
    assert by_pair[("x", "y")]["meets_threshold"]  # r ≈ 0.97
    assert not by_pair[("x", "z")]["meets_threshold"]  # independent
    everything = quality_report(
        frame, perturbed(frame, 2), schema, correlation_threshold=0, association_threshold=0
    )
    assert all(p["meets_threshold"] for p in everything["pairs"])
    assert everything["column_pair_trends"] == pytest.approx(
        everything["column_pair_trends_all_pairs"]
    )


def test_perturbation_lowers_the_score_on_a_larger_table() -> None:
    # Speed is a benchmark matter, not a test's; here only that the scores order sensibly.
    frame, schema = correlated_table(30_000, 3)
    same = quality_report(frame, frame, schema)["overall"]
    worse = quality_report(frame, perturbed(frame, 4), schema)["overall"]
    assert 0 <= worse < same <= 1


@pytest.mark.sdv
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_sdmetrics_quality_report(seed: int) -> None:
    pytest.importorskip("sdmetrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

    frame, schema = correlated_table(3000, seed)
    synth = perturbed(frame, seed + 10)
    sdtype = {"continuous": "numerical", "categorical": "categorical", "datetime": "datetime"}
    metadata = {"columns": {c.name: {"sdtype": sdtype[c.kind]} for c in schema.columns}}
    reference = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.generate(frame, synth, metadata, verbose=False)
    props = reference.get_properties().set_index("Property")["Score"]

    ours = quality_report(frame, synth, schema)
    # Measured: identical to float precision (differences ~1e-16) with SDMetrics 0.32.
    assert ours["overall"] == pytest.approx(reference.get_score(), abs=0.01)
    assert ours["column_shapes"] == pytest.approx(props["Column Shapes"], abs=0.01)
    assert ours["column_pair_trends"] == pytest.approx(props["Column Pair Trends"], abs=0.01)

    shapes = reference.get_details("Column Shapes").set_index("Column")["Score"]
    for col in ours["columns"]:
        assert col["score"] == pytest.approx(shapes[col["column"]], abs=1e-9)
    pairs = reference.get_details("Column Pair Trends")
    for p in ours["pairs"]:
        row = pairs[(pairs["Column 1"] == p["column_1"]) & (pairs["Column 2"] == p["column_2"])]
        assert bool(row["Meets Threshold?"].fillna(False).item()) == p["meets_threshold"]
        expected = row["Score"].item()
        if math.isnan(expected):
            assert math.isnan(p["score"])
        else:
            assert p["score"] == pytest.approx(expected, abs=1e-9)
