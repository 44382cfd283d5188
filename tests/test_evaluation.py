"""The tabular evaluation: metrics, intervals, recipes, the runner's protocol and its outputs.

Small and fast: scikit-learn's wine data (3 classes, 178 rows) with an added categorical column,
prepared by ``ingest``, and test-double synthesizers defined here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_wine

from augment.evaluation.output import gain_cell
from augment.evaluation.recipes import (
    BASELINE,
    COMBINED,
    MIX,
    SYNTHETIC_ONLY,
    Recipe,
    mix_recipe,
    ordered,
    real_recipe,
    synthetic_only_recipe,
)
from augment.evaluation.results import Block, EvaluationResult, Interval, Verdict
from augment.evaluation.stats import (
    classification_scores,
    mean_ci,
    paired_gains,
    tune_threshold,
)
from augment.evaluation.verdict import Choice, build_verdict, build_verdicts, format_gain
from augment.steps.ingest import ingest
from augment.tabular.bundle import TabularBundle
from augment.tabular.evaluation import classifiers as classifiers_module
from augment.tabular.evaluation.classifiers import make_classifier
from augment.tabular.evaluation.privacy import dcr_report
from augment.tabular.evaluation.recipes import (
    SyntheticPool,
    balancing_labels,
    mix,
    proportional_counts,
    smote_oversample,
    stratified_subset,
)
from augment.tabular.evaluation.report import (
    gain_vs_fraction,
    gain_vs_ratio,
    gains_long,
    summary_markdown,
    write_evaluation,
)
from augment.tabular.evaluation.runner import evaluate_tabular


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> TabularBundle:
    root = tmp_path_factory.mktemp("wine")
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map({0: "a", 1: "b", 2: "c"})
    rng = np.random.default_rng(0)
    # A categorical feature that carries some signal, with missing values in it and in a number.
    frame["region"] = np.where(
        rng.random(len(frame)) < 0.7,
        frame["cultivar"].map({"a": "north", "b": "south", "c": "east"}),
        rng.choice(["north", "south", "east", "west"], len(frame)),
    )
    frame.loc[rng.random(len(frame)) < 0.05, "region"] = ""
    frame.loc[rng.random(len(frame)) < 0.05, "magnesium"] = np.nan
    csv = root / "wine.csv"
    frame.to_csv(csv, index=False)
    return ingest(csv, label="cultivar", out=root / "prepared", test_size=0.3)


class Bootstrap:
    """Test double: resamples training rows of the requested labels, with a little noise.

    Records every frame it is fitted on in ``log``, so tests can check that no test row reaches
    ``fit``.
    """

    name = "bootstrap"

    def __init__(self, noise: float = 0.05, log: list[pd.DataFrame] | None = None) -> None:
        self.noise = noise
        self.log = log if log is not None else []
        self.schema = None

    def fit(self, data, schema, *, seed=0, device="auto", progress=True) -> dict[str, Any]:
        self.log.append(data.copy())
        self.data, self.schema = data.reset_index(drop=True), schema
        return {}

    def sample(self, labels, *, seed=0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        labels = np.asarray(labels, dtype=object)
        by_class = self.data.groupby(self.schema.label).indices
        index = np.empty(len(labels), dtype=np.int64)
        for value in pd.unique(labels):
            where = np.flatnonzero(labels == value)
            index[where] = rng.choice(by_class[value], len(where))
        rows = self.data.iloc[index].reset_index(drop=True).copy()
        for col in self.schema.feature_columns:
            if col.kind == "continuous":
                sd = float(self.data[col.name].std())
                rows[col.name] = rows[col.name] + rng.normal(0, self.noise * sd, len(rows))
        rows[self.schema.label] = labels
        return rows

    def save(self, directory) -> None:  # pragma: no cover - not used
        raise NotImplementedError


FITS: list[pd.DataFrame] = []  # every frame the runner's synthesizers were fitted on


def bootstrap_factory(rows: pd.DataFrame, schema, seed: int) -> Bootstrap:
    synth = Bootstrap(log=FITS)
    synth.fit(rows, schema, seed=seed)
    return synth


@pytest.fixture(scope="module")
def result(bundle: TabularBundle) -> EvaluationResult:
    FITS.clear()
    synth = Bootstrap(log=FITS)
    synth.fit(bundle.train, bundle.schema)
    return evaluate_tabular(
        bundle,
        ratios=(0.5, 1.0),
        fractions=(0.3, 1.0),
        seeds=3,
        classifiers=("hgb", "logreg"),
        classifier_params={"hgb": {"max_iter": 20}},
        fidelity_rows=None,
        privacy_rows=50,
        progress=False,
        synthesizer=synth,
        factory=bootstrap_factory,
        jobs=1,  # the protocol is under test here, not the fan-out: no worker processes to start
    )


# -- metrics -----------------------------------------------------------------------------------
def test_classification_scores_on_known_inputs() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],  # wrong: predicted 1
            [0.1, 0.8, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.2, 0.7],
        ]
    )
    got = classification_scores(y, proba, minority=2)
    assert got["accuracy"] == pytest.approx(5 / 6)
    f1_0, f1_1, f1_2 = 2 * 2 / (2 * 2 + 1), 2 * 2 / (2 * 2 + 1), 1.0
    assert got["macro_f1"] == pytest.approx((f1_0 + f1_1 + f1_2) / 3)
    assert got["minority_recall"] == pytest.approx(1.0)
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert got["roc_auc"] == pytest.approx(expected)


def test_binary_auc_uses_the_positive_class() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    got = classification_scores(y, proba, minority=1)
    assert got["roc_auc"] == pytest.approx(0.75)
    assert got["minority_recall"] == pytest.approx(1.0)
    assert got["accuracy"] == pytest.approx(0.75)


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_classification_scores_equal_scikit_learns(classes: int) -> None:
    """The confusion-matrix and rank arithmetic gives sklearn's numbers, ties and thresholds
    included, and a class that is never predicted or absent from the labels."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

    rng = np.random.default_rng(classes)
    for trial in range(40):
        n = int(rng.integers(5, 300))
        y = rng.integers(0, classes - (trial % 4 == 0), n)  # every 4th: the last class absent
        proba = rng.dirichlet(np.ones(classes), n)
        if trial % 2:
            proba = np.round(proba, 1) + 1e-9  # many tied scores
            proba /= proba.sum(axis=1, keepdims=True)
        minority = int(rng.integers(0, classes))
        threshold = None if trial % 3 else 0.3
        got = classification_scores(y, proba, minority, threshold)
        y_pred = proba.argmax(axis=1)
        if threshold is not None:
            y_pred = np.where(proba[:, minority] >= threshold, minority, y_pred)
        present = np.unique(y)
        expected_auc = math.nan
        if len(present) > 1:
            expected_auc = (
                roc_auc_score(y == 1, proba[:, 1])
                if classes == 2
                else np.mean([roc_auc_score(y == c, proba[:, c]) for c in present])
            )
        expected = {
            "accuracy": accuracy_score(y, y_pred),
            "macro_f1": f1_score(y, y_pred, average="macro", zero_division=0),
            "minority_recall": recall_score(
                y, y_pred, labels=[minority], average="macro", zero_division=0
            ),
            "roc_auc": expected_auc,
        }
        assert got == pytest.approx(expected, abs=1e-12, nan_ok=True), trial


def test_auc_is_nan_with_one_class_in_the_test_labels() -> None:
    got = classification_scores(np.array([1, 1]), np.array([[0.4, 0.6], [0.3, 0.7]]), 0)
    assert math.isnan(got["roc_auc"])


@pytest.mark.parametrize("values", [[0.1, 0.3, 0.2], [0.81, 0.79, 0.8, 0.83, 0.78], [-1.0, 2.0]])
def test_mean_ci_matches_scipy_student_t(values: list[float]) -> None:
    got = mean_ci(values)
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert got["mean"] == pytest.approx(np.mean(values))
    assert got["low"] == pytest.approx(low)
    assert got["high"] == pytest.approx(high)
    assert got["n"] == len(values)


def test_mean_ci_edge_cases() -> None:
    one = mean_ci([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["low"]) and math.isnan(one["high"])
    flat = mean_ci([0.2, 0.2, 0.2])
    assert flat["low"] == pytest.approx(0.2) and flat["high"] == pytest.approx(0.2)
    assert mean_ci([])["n"] == 0
    assert mean_ci([0.1, float("nan"), 0.3])["n"] == 2


def test_paired_gains_subtract_per_seed() -> None:
    gains = paired_gains([0.80, 0.82, 0.81], [0.79, 0.80, 0.81])
    assert gains == pytest.approx([0.01, 0.02, 0.0])
    # Pairing removes the seed-to-seed level: a constant offset has zero variance.
    assert mean_ci(paired_gains([0.5, 0.7, 0.9], [0.4, 0.6, 0.8]))["low"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        paired_gains([0.1], [0.1, 0.2])


# -- classifiers -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hgb", "logreg"])
def test_classifiers_handle_missing_datetime_and_multiclass(name: str, bundle) -> None:
    schema = bundle.schema
    train = bundle.train.copy()
    clf = make_classifier(name, schema, seed=0, params={"max_iter": 30} if name == "hgb" else None)
    proba = clf.fit(train).predict_proba(bundle.test)
    assert proba.shape == (len(bundle.test), len(schema.classes))
    assert np.allclose(proba.sum(axis=1), 1.0)
    y = pd.Index(schema.classes).get_indexer(bundle.test[schema.label])
    assert classification_scores(y, proba, 0)["accuracy"] > 0.8


def test_datetime_features(bundle) -> None:
    from augment.tabular.schema import ColumnSpec, TableSchema

    schema = TableSchema.from_dict(bundle.schema.to_dict())
    schema.columns.append(ColumnSpec(name="when", kind="datetime", dtype="datetime64[ns]"))
    frame = bundle.train.copy()
    stamps = pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["alcohol"] * 10, unit="D")
    frame["when"] = stamps.where(np.arange(len(frame)) % 7 != 0)  # some NaT
    for name in ("hgb", "logreg"):
        proba = make_classifier(name, schema).fit(frame).predict_proba(frame)
        assert np.isfinite(proba).all()


def test_classifier_missing_a_class_still_returns_all_columns(bundle) -> None:
    schema = bundle.schema
    two = bundle.train[bundle.train[schema.label] != "c"]
    proba = make_classifier("logreg", schema).fit(two).predict_proba(bundle.test)
    assert proba.shape[1] == 3 and np.all(proba[:, 2] == 0)


# -- recipes -----------------------------------------------------------------------------------
def test_proportional_counts_sum_exactly_and_follow_the_split() -> None:
    labels = pd.Series(["x"] * 70 + ["y"] * 20 + ["z"] * 10)
    assert proportional_counts(labels, 10, ["x", "y", "z"]) == {"x": 7, "y": 2, "z": 1}
    counts = proportional_counts(labels, 33, ["x", "y", "z", "w"])
    assert sum(counts.values()) == 33 and counts["w"] == 0
    assert counts["x"] == 23  # 23.1 → 23; the remainder goes to the largest fractions


def test_synthetic_draws_follow_the_real_label_proportions(bundle) -> None:
    schema = bundle.schema
    synth = Bootstrap()
    synth.fit(bundle.train, schema)
    pool = SyntheticPool(synth, bundle.train, schema, 2 * len(bundle.train), seed=3)
    real_share = bundle.train[schema.label].value_counts(normalize=True)
    for n in (len(bundle.train) // 2, len(bundle.train), 2 * len(bundle.train)):
        rows = pool.take(n)
        assert len(rows) == n
        share = rows[schema.label].value_counts(normalize=True)
        for cls in schema.classes:
            assert abs(share[cls] - real_share[cls]) <= 1.0 / n + 1e-9
    # Any size up to the pool's is served, whatever the rounding (no Alabama paradox).
    for n in range(1, 2 * len(bundle.train) + 1):
        assert len(pool.take(n)) == n
    # Nested: the rows of a smaller ratio are among those of a larger one.
    small, big = pool.take(20), pool.take(40)
    assert small.merge(big, how="left", indicator=True)["_merge"].eq("both").all()


def test_stratified_subset_keeps_every_class(bundle) -> None:
    rng = np.random.default_rng(0)
    sub = stratified_subset(bundle.train, bundle.schema.label, 0.05, rng, min_per_class=4)
    counts = sub[bundle.schema.label].value_counts()
    assert set(counts.index) == set(bundle.schema.classes)
    assert (counts >= 4).all()


def test_balancing_labels_fill_every_class_up_to_the_majority() -> None:
    labels = pd.Series(pd.Categorical(list("aaaaabbbc"), categories=list("dcba")))
    wanted = balancing_labels(labels, ["a", "b", "c", "d"])
    assert list(wanted) == ["b"] * 2 + ["c"] * 4  # schema order; "d" has no real row: none
    assert len(balancing_labels(pd.Series(list("abab")), ["a", "b"])) == 0


@pytest.mark.parametrize("curated", [False, True])
def test_the_balanced_mix_oversamples_like_smote_with_synthetic_rows(bundle, curated) -> None:
    from types import SimpleNamespace

    from augment.tabular.evaluation.curation import fit_judge
    from augment.tabular.evaluation.runner import _balancing_rows

    schema, train = bundle.schema, bundle.train
    synth = Bootstrap()
    synth.fit(train, schema)
    ctx = SimpleNamespace(schema=schema, seed=0, threshold=0.5)
    judge = fit_judge(train, schema, seed=0) if curated else None
    rows = _balancing_rows(ctx, 1.0, 0, train, synth, judge)
    counts = train[schema.label].value_counts()
    deficit = (counts.max() - counts)[lambda k: k > 0]
    got = rows[schema.label].value_counts()
    assert set(got.index) <= set(deficit.index)  # never a row of the majority class
    if curated:  # only rows the judge trusts: a class may stay short
        assert (got <= deficit.reindex(got.index)).all() and len(rows) > 0
    else:
        pd.testing.assert_series_equal(got.sort_index(), deficit.sort_index(), check_names=False)
        balanced = mix(train, rows)[schema.label].value_counts()
        assert balanced.nunique() == 1 and balanced.iloc[0] == counts.max()
    assert list(rows.columns) == schema.names
    again = _balancing_rows(ctx, 1.0, 0, train, synth, judge)
    pd.testing.assert_frame_equal(rows, again)  # seeded


def test_smote_balances_classes_and_keeps_real_rows(bundle) -> None:
    schema = bundle.schema
    train = bundle.train
    out = smote_oversample(train, schema, seed=0)
    counts = out[schema.label].value_counts()
    assert counts.nunique() == 1 and counts.iloc[0] == train[schema.label].value_counts().max()
    pd.testing.assert_frame_equal(out.iloc[: len(train)], train.reset_index(drop=True))
    new = out.iloc[len(train) :]
    assert not new.drop(columns="region").isna().any().any()  # numbers imputed before SMOTE
    region = schema.column("region").categories
    assert set(new["region"].dropna()) <= set(region)
    # Each new row lies inside the range of its class (interpolation between neighbours).
    for cls, rows in new.groupby(schema.label):
        real = train[train[schema.label] == cls]
        low, high = real["alcohol"].min() - 1e-9, real["alcohol"].max() + 1e-9
        assert rows["alcohol"].between(low, high).all()


def test_smote_nc_decodes_in_dense_blocks_to_the_same_rows(bundle, monkeypatch) -> None:
    from sklearn.preprocessing import OneHotEncoder

    from augment.tabular.evaluation import recipes

    monkeypatch.setattr(recipes, "DECODE_BLOCK_BYTES", 8 * 40)  # a few rows per block
    blocks = smote_oversample(bundle.train, bundle.schema, seed=3)
    # scikit-learn's own decoding of the sparse matrix, as imbalanced-learn's default encoder
    monkeypatch.setattr(recipes.DenseDecodingOneHot, "inverse_transform",
                        OneHotEncoder.inverse_transform)  # fmt: skip
    pd.testing.assert_frame_equal(blocks, smote_oversample(bundle.train, bundle.schema, seed=3))


@pytest.mark.parametrize("kind", ["continuous", "categorical"])
def test_smote_variants_for_single_kind_features(kind: str) -> None:
    from augment.tabular.schema import ColumnSpec, TableSchema

    rng = np.random.default_rng(0)
    n = 60
    label = np.where(rng.random(n) < 0.25, "b", "a")
    if kind == "continuous":
        stamps = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 100, n), unit="D")
        frame = pd.DataFrame({"x": rng.normal(size=n), "t": stamps, "y": label})
        frame.loc[3, "x"], frame.loc[4, "t"] = np.nan, pd.NaT
        specs = [ColumnSpec("x", "continuous", "float64"), ColumnSpec("t", "datetime", "M8[ns]")]
        expected = "SMOTE"
    else:
        frame = pd.DataFrame(
            {"c": rng.choice(["u", "v", None], n), "d": rng.choice(["p", "q"], n), "y": label}
        )
        specs = [
            ColumnSpec("c", "categorical", "object", categories=["u", "v"]),
            ColumnSpec("d", "categorical", "object", categories=["p", "q"]),
        ]
        expected = "SMOTEN"
    schema = TableSchema(
        label="y",
        columns=[*specs, ColumnSpec("y", "categorical", "object", categories=["a", "b"])],
        classes=["a", "b"],
    )
    from augment.tabular.evaluation.recipes import smote_variant

    assert smote_variant(schema) == expected
    out = smote_oversample(frame, schema, seed=0)
    counts = out["y"].value_counts()
    assert counts["a"] == counts["b"] == (label == "a").sum()
    assert list(out.columns) == list(frame.columns)
    if kind == "continuous":
        assert out["t"].dtype.kind == "M" and not out.iloc[n:].isna().any().any()
    else:
        assert set(out.iloc[n:]["c"].dropna()) <= {"u", "v"}


# -- the runner ---------------------------------------------------------------------------------
def test_test_split_never_reaches_fit(result, bundle) -> None:
    test_rows = set(map(tuple, bundle.test.astype(str).to_numpy()))
    assert FITS, "the sweep should have fitted synthesizers"
    train_rows = set(map(tuple, bundle.train.astype(str).to_numpy()))
    for frame in FITS:
        rows = set(map(tuple, frame.astype(str).to_numpy()))
        assert rows <= train_rows
        assert not rows & (test_rows - train_rows)
    # By default one retrain per reduced fraction and seed, each on its own subset, plus the
    # up-front fit.
    assert len(FITS) == 1 + 3
    assert all(len(frame) < len(bundle.train) for frame in FITS[1:])
    subsets = {frozenset(map(tuple, frame.astype(str).to_numpy())) for frame in FITS[1:]}
    assert len(subsets) == 3, "each seed of the sweep draws its own real subset"


def test_gains_are_paired_per_seed(result) -> None:
    block = result.full
    for recipe in block.recipes:
        if recipe == "real":
            continue
        for clf in result.classifiers:
            diffs = np.subtract(
                block.values(recipe, clf, "macro_f1"), block.values("real", clf, "macro_f1")
            )
            expected = mean_ci(diffs)
            got = block.gain(recipe, clf, "macro_f1")
            assert got.mean == pytest.approx(expected["mean"])
            assert got.n == 3
            if not math.isnan(expected["low"]):
                assert got.low == pytest.approx(expected["low"])


def test_result_layout(result) -> None:
    assert result.modality == "tabular"
    assert [b.key for b in result.blocks] == ["0.3", "1.0"]  # least real data first
    assert result.full.key == "1.0" and [b.key for b in result.sweep] == ["0.3"]
    recipes = [r.name for r in result.recipes_in(result.full, reference=False)]
    assert recipes == [
        "real+smote", "real+threshold", "real+synth@0.5", "real+synth@1.0", "real+balanced",
        "synth",
    ]  # fmt: skip
    assert result.recipe("real+balanced").label == "real + synthetic to balance"
    assert result.recipe("real+smote").label == "real + SMOTE-NC"
    assert result.recipe("real+threshold").label == "real only, tuned threshold"
    assert 0 <= result.fidelity.overall <= 1
    assert 0 <= result.privacy.dcr_share_closer_to_train <= 1
    assert result.dataset.minority_class == "c"
    assert result.dataset.unit == "rows" and result.sweep_ratio == 1.0


def test_seeded_runs_repeat(bundle) -> None:
    synth = Bootstrap()
    synth.fit(bundle.train, bundle.schema)
    kwargs = dict(
        ratios=(1.0,),
        fractions=(1.0,),
        seeds=2,
        classifiers=("logreg",),
        smote=False,
        privacy_rows=30,
        progress=False,
        synthesizer=synth,
        jobs=1,  # in this process: the fan-out's own repeatability is the two-jobs tests'
    )
    a = evaluate_tabular(bundle, **kwargs)
    b = evaluate_tabular(bundle, **kwargs)
    assert a.full.scores == b.full.scores
    assert a.to_dict() == b.to_dict() | {"timings": a.timings}


def test_verdict_line_format(result) -> None:
    import re

    number = r"[+-]\d\.\d{3}"
    ci = rf"{number} \[{number}, {number}\]"
    mix = r"real \+ ((0\.5|1)× synthetic|synthetic to balance)"
    pattern = (
        rf"^(synthetic data helps|synthetic data hurts|no significant gain): {mix}: "
        rf"macro-F1 {ci} vs real only \(hgb, 95% CI over 3 seeds, chosen on validation "
        rf"among 3 mixes\); real \+ SMOTE-NC: {ci}; real only, tuned threshold: {ci}; "
        rf"recommended: (real only \(no recipe gained on validation; the mix: {ci}\)|"
        rf"({mix}|real \+ SMOTE-NC|real only, tuned threshold) \({ci} on validation\))$"
    )
    text = result.verdict.text
    assert re.match(pattern, text), text
    full = result.full
    # The mix is the best on validation, wherever it stands on test.
    best = max(
        (0.5, 1.0),
        key=lambda r: (full.validation_gain(f"real+synth@{r}", "hgb", "macro_f1").mean, -r),
    )
    assert f"real + {best:g}× synthetic" in text
    g = full.gain(f"real+synth@{best}", "hgb", "macro_f1")
    says_none = text.startswith("no significant gain")
    assert says_none == (g.low <= 0 <= g.high)
    low = result.low_data_verdict
    assert low is not None and low.block == "0.3"
    assert low.text.startswith("with 30% of the real rows (")


def test_outputs_written(result, tmp_path) -> None:
    paths = write_evaluation(
        result,
        metrics=tmp_path / "metrics" / "tabular.json",
        plots=tmp_path / "plots",
        summary=tmp_path / "reports" / "summary.md",
        gains=tmp_path / "reports" / "gains.csv",
    )
    metrics = json.loads(paths["metrics"].read_text())
    # the tracked numbers, under the keys dvc metrics show reads
    assert metrics["primary_metric"] == "macro_f1" and metrics["seeds"] == 3
    assert set(metrics["real"]) == {"hgb", "logreg"}
    assert set(metrics["real"]["hgb"]) == {"accuracy", "macro_f1", "roc_auc", "minority_recall"}
    assert set(metrics["gain"]["real+synth@1.0"]["hgb"]["macro_f1"]) == {"mean", "low", "high"}
    assert metrics["low_data"]["0.3"]["rows"] == result.sweep[0].size
    assert set(metrics["low_data"]["0.3"]["gain"]["real+smote"]["logreg"]) == {
        "mean",
        "low",
        "high",
    }
    assert {"overall", "column_shapes", "column_pair_trends"} <= set(metrics["fidelity"])
    assert "dcr_share_closer_to_train" in metrics["privacy"]
    gain = result.full.gain("real+synth@0.5", "logreg", "macro_f1")
    assert metrics["gain"]["real+synth@0.5"]["logreg"]["macro_f1"]["mean"] == round(gain.mean, 6)
    # and the whole result, which reads back to the same numbers, verdict and summary
    assert metrics["modality"] == "tabular"
    back = EvaluationResult.from_dict(metrics)
    assert back.tracked() == result.tracked()
    assert back.verdicts == result.verdicts
    assert summary_markdown(back) == summary_markdown(result)

    ratio = pd.read_csv(paths["gain_vs_ratio"])
    assert list(ratio.columns) == [
        "ratio", "hgb", "hgb_low", "hgb_high", "logreg", "logreg_low", "logreg_high"
    ]  # fmt: skip
    assert ratio["ratio"].tolist() == [0.5, 1.0]
    fraction = pd.read_csv(paths["gain_vs_fraction"])
    assert fraction["fraction"].tolist() == [0.3, 1.0]
    assert {"hgb", "logreg", "hgb_low", "hgb_high", "hgb_smote"} <= set(fraction.columns)
    long = pd.read_csv(paths["gains"])
    assert list(long.columns) == [
        "fraction", "recipe", "ratio", "classifier", "metric", "mean", "low", "high", "n"
    ]  # fmt: skip
    assert len(long) == 2 * 6 * 2 * 4  # fractions x recipes x classifiers x metrics

    summary = paths["summary"].read_text(encoding="utf-8").splitlines()
    assert summary[0] == result.verdict.text
    assert summary[2] == f"Where real data is scarce: {result.low_data_verdict.text}."
    assert summary[4].startswith("Each interval is a 95% Student-t interval over seeds")
    assert "which synthetic rows are drawn and the SMOTE draw" in summary[4]
    text = "\n".join(summary)
    for heading in ("## Gains over real only", "## Low-data sweep", "## Fidelity", "## Privacy"):
        assert heading in text
    json.loads(paths["metrics"].read_text(), parse_constant=_refuse_constant)  # strict JSON


def _refuse_constant(constant: str) -> None:
    raise AssertionError(f"JSON holds {constant}")


def test_plot_frames_match_the_result(result) -> None:
    ratio = gain_vs_ratio(result)
    g = result.full.gain("real+synth@0.5", "logreg", "macro_f1")
    assert ratio.loc[ratio["ratio"] == 0.5, "logreg"].item() == pytest.approx(g.mean)
    fraction = gain_vs_fraction(result)
    g = result.block("0.3").gain("real+synth@1.0", "hgb", "macro_f1")
    assert fraction.loc[fraction["fraction"] == 0.3, "hgb"].item() == pytest.approx(g.mean)
    assert len(gains_long(result)) == 96


# -- the typed result and the one verdict builder -----------------------------------------------
def _block(gains: dict[str, list[float]], key: str = "1.0", full: bool = True) -> Block:
    """A block whose real-only scores are 0.5 for every seed, so each recipe's per-seed scores
    are 0.5 plus the given gains."""
    n = len(next(iter(gains.values())))
    scores = {"real": {"clf": {"f1": [0.5] * n}}}
    scores.update({name: {"clf": {"f1": [0.5 + g for g in v]}} for name, v in gains.items()})
    return Block(key, key, f"{key} of the rows", 10, float(key), full, "fake", scores)


def _result(blocks: list[Block], recipes: list[Recipe]) -> EvaluationResult:
    from augment.evaluation.results import Dataset, ModelRecord, TableFidelity

    fidelity = TableFidelity(0.9, 0.9, 0.9, 0.9, 10, 10, 0.5, 0.3, [], [])
    return EvaluationResult(
        modality="tabular",
        dataset=Dataset("d", ["a", "b"], "rows", 10, 5, 5, label="y", minority_class="b"),
        model=ModelRecord("fake"),
        settings={"seeds": 3},
        metrics=["f1"],
        primary_metric="f1",
        classifiers=["clf"],
        recipes=recipes,
        blocks=blocks,
        fidelity=fidelity,
        sweep_ratio=1.0,
        interval_covers="the draws",
    )


SMOTE_LIKE = Recipe("real+smote", "real + SMOTE", BASELINE)


def test_verdict_tone_best_mix_and_baselines() -> None:
    recipes = [real_recipe("rows"), mix_recipe(0.5, "rows"), mix_recipe(2.0, "rows"), SMOTE_LIKE]
    helps = {"real+synth@0.5": [0.01, 0.02, 0.03], "real+synth@2.0": [0.02, 0.03, 0.04]}
    result = _result([_block({**helps, "real+smote": [0.0, 0.01, -0.01]})], recipes)
    verdict = build_verdict(result, result.full)
    assert verdict.recipe == "real+synth@2.0" and verdict.tone == "helps"
    assert verdict.text == (
        "synthetic data helps: real + 2× synthetic: f1 +0.030 [+0.005, +0.055] vs real only "
        "(clf, 95% CI over 3 seeds, best of 2 ratios); real + SMOTE: +0.000 [-0.025, +0.025]"
    )
    hurts = _result([_block({"real+synth@0.5": [-0.03, -0.025, -0.02]})], recipes[:2])
    assert build_verdict(hurts, hurts.full).text == (
        "synthetic data hurts: real + 0.5× synthetic: f1 -0.025 [-0.037, -0.013] vs real only "
        "(clf, 95% CI over 3 seeds)"
    )
    tied = {"real+synth@0.5": [0.0, 0.1, -0.1], "real+synth@2.0": [0.1, 0.0, -0.1]}
    tie = _result([_block(tied)], recipes[:3])
    verdict = build_verdict(tie, tie.full)
    assert verdict.recipe == "real+synth@0.5" and verdict.tone == "unclear"  # tie: smaller ratio
    assert verdict.text.startswith("no significant gain: ")
    one = _result([_block({"real+synth@0.5": [0.02]})], recipes[:2])
    verdict = build_verdict(one, one.full)
    assert verdict.tone == "untested" and "+0.020 (no interval)" in verdict.text
    assert verdict.text.endswith("vs real only (clf, 1 seed)")


def test_a_new_recipe_and_a_validation_choice_need_no_new_branch() -> None:
    curated = Recipe("real+curated@1.0", "real + 1× curated synthetic", MIX, 1.0, "real+curated@r")
    recipes = [real_recipe("rows"), mix_recipe(1.0, "rows"), curated]
    gains = {"real+synth@1.0": [0.01, 0.02, 0.03], "real+curated@1.0": [0.03, 0.04, 0.05]}
    sweep = _block({k: [v - 0.01 for v in g] for k, g in gains.items()}, "0.1", full=False)
    result = _result([_block(gains), sweep], recipes)
    verdicts = build_verdicts(result)
    assert [v.block for v in verdicts] == ["1.0", "0.1"]
    assert verdicts[0].recipe == "real+curated@1.0" and "best of 2 mixes" in verdicts[0].text
    assert verdicts[1].text.startswith("with 0.1 of the rows (10 rows): synthetic data helps")

    def on_validation(result: EvaluationResult, block: Block) -> Choice:
        return Choice(result.recipe("real+synth@1.0"), "chosen on the validation split")

    verdict = build_verdict(result, result.full, on_validation)
    assert verdict.recipe == "real+synth@1.0" and verdict.chosen == "chosen on the validation split"
    assert "(clf, 95% CI over 3 seeds, chosen on the validation split)" in verdict.text


def test_the_verdict_picks_its_mix_on_validation_and_scores_it_on_test() -> None:
    recipes = [real_recipe("rows"), mix_recipe(0.5, "rows"), mix_recipe(2.0, "rows")]
    # On test 2x looks best; on validation 0.5x is: the verdict must follow validation.
    block = _block({"real+synth@0.5": [0.0, 0.01, 0.02], "real+synth@2.0": [0.05, 0.06, 0.07]})
    block.validation = _block(
        {"real+synth@0.5": [0.03, 0.04, 0.05], "real+synth@2.0": [-0.01, 0.0, 0.01]}
    ).scores
    result = _result([block], recipes)
    verdict = build_verdict(result, result.full)
    assert verdict.recipe == "real+synth@0.5"
    assert verdict.chosen == "chosen on validation among 2 ratios"
    assert "+0.010 [-0.015, +0.035]" in verdict.text  # its test gain, not its validation gain
    again = Block.from_dict(json.loads(json.dumps(block.to_dict())))
    assert again.validation == block.validation
    assert build_verdict(_result([again], recipes), again).recipe == "real+synth@0.5"


def test_the_verdict_recommends_a_mix_only_where_it_gained_on_validation() -> None:
    recipes = [real_recipe("rows"), mix_recipe(0.5, "rows"), mix_recipe(2.0, "rows")]
    test = {"real+synth@0.5": [0.02, 0.025, 0.03], "real+synth@2.0": [0.0, 0.01, 0.02]}
    block = _block(test)
    block.validation = _block(
        {"real+synth@0.5": [0.02, 0.025, 0.03], "real+synth@2.0": [0.0, 0.0, 0.0]}
    ).scores
    verdict = build_verdict(_result([block], recipes), block)
    assert verdict.recommended == "real+synth@0.5"
    assert verdict.validation_gain is not None and verdict.validation_gain.direction == "up"
    assert verdict.text.endswith(
        "; recommended: real + 0.5× synthetic (+0.025 [+0.013, +0.037] on validation)"
    )
    # The best mix on validation holds 0 there: the recommendation is real only, whatever the
    # test split says afterwards (here it would have helped).
    block.validation = _block(
        {"real+synth@0.5": [-0.01, 0.0, 0.02], "real+synth@2.0": [-0.02, -0.02, -0.01]}
    ).scores
    verdict = build_verdict(_result([block], recipes), block)
    assert verdict.recipe == "real+synth@0.5" and verdict.tone == "helps"
    assert verdict.recommended == "real"
    assert verdict.text.endswith(
        "; recommended: real only (no recipe gained on validation; "
        "the mix: +0.003 [-0.035, +0.041])"
    )
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict
    # Without validation scores nothing is recommended and the line says nothing of it.
    plain = build_verdict(_result([_block(test)], recipes), _block(test))
    assert plain.recommended is None and "recommended" not in plain.text


def test_the_recommendation_weighs_every_recipe_a_user_could_adopt() -> None:
    combined = Recipe("real+smote+synth@1.0", "real + SMOTE + 1× synthetic", COMBINED, 1.0)
    recipes = [real_recipe("rows"), SMOTE_LIKE, mix_recipe(1.0, "rows"), combined]
    recipes.append(Recipe("synth", "synthetic only", SYNTHETIC_ONLY))
    block = _block({name: [0.0, 0.0, 0.0] for name in [r.name for r in recipes[1:]]})

    def recommended(validation: dict[str, list[float]]) -> tuple[str | None, str]:
        block.validation = _block(validation).scores
        verdict = build_verdict(_result([block], recipes), block)
        return verdict.recommended, verdict.text

    base = {"real+synth@1.0": [-0.01, 0.0, 0.01], "synth": [0.1, 0.1, 0.1]}
    # The baseline gained on validation, the mix did not: SMOTE is what to use.
    name, text = recommended(
        {**base, "real+smote": [0.02, 0.03, 0.04], "real+smote+synth@1.0": [0.0] * 3}
    )
    assert name == "real+smote" and text.endswith(
        "recommended: real + SMOTE (+0.030 [+0.005, +0.055] on validation)"
    )
    # A higher mean whose interval holds 0 loses to a smaller gain that is above zero; the
    # synthetic-only reference is never recommended, however it scores.
    name, _ = recommended(
        {**base, "real+smote": [-0.05, 0.05, 0.15], "real+smote+synth@1.0": [0.01, 0.012, 0.014]}
    )
    assert name == "real+smote+synth@1.0"
    name, text = recommended({**base, "real+smote": [0.0] * 3, "real+smote+synth@1.0": [0.0] * 3})
    assert name == "real" and "no recipe gained on validation; the mix: +0.000" in text


def test_threshold_tuned_on_validation_raises_minority_recall() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.2).astype(np.int64)
    # The minority's probability is too low everywhere: argmax almost never predicts it.
    p1 = np.clip(0.15 + 0.25 * y + rng.normal(0, 0.08, y.size), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    val, test = slice(0, 2000), slice(2000, None)
    threshold = tune_threshold(y[val], proba[val], minority=1)
    assert threshold is not None and 0.2 < threshold < 0.5
    plain = classification_scores(y[test], proba[test], 1)
    tuned = classification_scores(y[test], proba[test], 1, threshold)
    assert tuned["macro_f1"] > plain["macro_f1"] + 0.1
    assert tuned["minority_recall"] > plain["minority_recall"] + 0.3
    assert tuned["roc_auc"] == plain["roc_auc"]  # the ranking is the classifier's own
    # Where argmax is already right, nothing is tuned.
    sure = np.column_stack([1.0 - y, y.astype(np.float64)])
    assert tune_threshold(y, sure, minority=1) is None


def test_the_tuned_threshold_scores_real_onlys_own_fit(bundle, monkeypatch) -> None:
    fits = []
    fit = classifiers_module.DownstreamClassifier.fit
    monkeypatch.setattr(
        classifiers_module.DownstreamClassifier, "fit",
        lambda self, *args: fits.append(self.name) or fit(self, *args),
    )  # fmt: skip
    synth = Bootstrap()
    synth.fit(bundle.train, bundle.schema)
    result = evaluate_tabular(
        bundle, ratios=(1.0,), fractions=(1.0,), seeds=2, classifiers=("logreg",), smote=False,
        balance=False, fidelity_rows=60, privacy_rows=30, jobs=1, progress=False,
        synthesizer=synth,
    )  # fmt: skip
    # real, real+synth@1.0, synth: one fit each per seed; real+threshold has none of its own.
    assert fits == ["logreg"] * 6
    block = result.full
    # The same probabilities, another decision threshold: the ranking is real only's.
    assert block.values("real+threshold", "logreg", "roc_auc") == block.values(
        "real", "logreg", "roc_auc"
    )


def test_recipes_have_one_order_and_round_trip() -> None:
    shuffled = [synthetic_only_recipe("rows"), mix_recipe(2, "rows"), SMOTE_LIKE]
    shuffled += [mix_recipe(0.5, "rows"), real_recipe("rows")]
    names = [r.name for r in ordered(shuffled)]
    assert names == ["real", "real+smote", "real+synth@0.5", "real+synth@2.0", "synth"]
    recipe = mix_recipe(0.25, "images")
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    with pytest.raises(ValueError, match="role"):
        Recipe("x", "x", "favourite")


def test_interval_formats() -> None:
    assert format_gain(Interval(0.0123, -0.01, 0.03, 3)) == "+0.012 [-0.010, +0.030]"
    assert format_gain(Interval(math.nan, math.nan, math.nan, 0)) == "n/a"
    # A bound that three decimals would round to 0 keeps its sign and a digit: the interval
    # [+0.0004, ...] excludes 0 and must not read as [+0.000, ...].
    assert format_gain(Interval(0.005, 0.00041, 0.009, 5)) == "+0.005 [+0.0004, +0.009]"
    assert gain_cell(Interval(-0.005, -0.009, -0.00038, 5)) == "-0.005 [-0.009, -0.0004] *"
    assert format_gain(Interval(0.004, 0.0, 0.008, 5)) == "+0.004 [+0.000, +0.008]"
    assert Interval.of([0.19, 0.2, 0.21]).direction == "up"
    assert Interval.of([-0.19, -0.2, -0.21]).direction == "down"
    assert Interval.of([-0.1, 0.2, 0.3]).direction == "none"
    assert Interval.of([0.1]).direction == "unknown"


# -- privacy -----------------------------------------------------------------------------------
def test_dcr_flags_copies_and_not_fresh_rows(bundle) -> None:
    schema = bundle.schema
    holdout = bundle.test  # real rows the "synthesizer" never saw
    train = bundle.train.iloc[: len(holdout) + 5]
    copies = train  # a synthesizer that memorised its training rows
    got = dcr_report(train, holdout, copies, schema, max_rows=len(holdout), seed=0, device="cpu")
    assert got["share_closer_to_train"] > 0.85
    assert got["median_dcr_synth_train"] == 0
    assert got["median_dcr_synth_train"] < got["median_dcr_holdout_train"]
    # Rows drawn from the same population but seen by neither side: about half closer to train.
    pool = pd.concat([bundle.train, holdout], ignore_index=True).sample(frac=1, random_state=1)
    a, b, fresh = pool.iloc[:60], pool.iloc[60:120], pool.iloc[120:]
    got = dcr_report(a, b, fresh, schema, max_rows=60, seed=0, device="cpu")
    assert 0.25 < got["share_closer_to_train"] < 0.75
    assert got["exact_copies"] == 0


def test_dcr_exact_copies_have_zero_distance(bundle) -> None:
    schema = bundle.schema
    n = len(bundle.test)
    train = bundle.train.iloc[:n]
    got = dcr_report(train, bundle.test, train, schema, max_rows=n, device="cpu")
    assert got["exact_copies"] == pytest.approx(1.0)
    assert got["share_closer_to_train"] == pytest.approx(1.0)
    assert got["rows"] == {"train": n, "holdout": n, "synthetic": n}


# -- the fan-out of the classifier fits ----------------------------------------------------------
def _quiet_factory(rows: pd.DataFrame, schema, seed: int) -> Bootstrap:
    synth = Bootstrap()  # not logged in FITS: these runs are not the protocol's fixture
    synth.fit(rows, schema, seed=seed)
    return synth


def fanned_out(bundle: TabularBundle, **fanout: Any) -> dict[str, Any]:
    """A tiny evaluation (2 seeds, a low-data point, SMOTE, both classifiers) as its metrics
    dict, less the wall times, which are all that may differ between backends."""
    synth = Bootstrap()
    synth.fit(bundle.train, bundle.schema)
    result = evaluate_tabular(
        bundle,
        ratios=(1.0,),
        fractions=(0.5, 1.0),
        seeds=2,
        classifiers=("hgb", "logreg"),
        classifier_params={"hgb": {"max_iter": 10}},
        fidelity_rows=60,
        privacy_rows=30,
        progress=False,
        synthesizer=synth,
        factory=_quiet_factory,
        **fanout,
    )
    out = result.to_dict()
    assert out.pop("timings")["classifiers_s"] > 0
    return out


@pytest.fixture(scope="module")
def one_job(bundle: TabularBundle) -> dict[str, Any]:
    return fanned_out(bundle, jobs=1)


# loky is slow here (worker processes): like the image evaluation's, only threading is in the
# day-to-day tier; loky workers fit tabular tasks there too, in test_curation_evaluation.
@pytest.mark.parametrize("backend", [pytest.param("loky", marks=pytest.mark.slow), "threading"])
def test_fits_in_two_jobs_give_the_numbers_of_one(bundle, one_job, backend: str) -> None:
    got = fanned_out(bundle, jobs=2, backend=backend)
    assert got == one_job
    assert len(got["blocks"]) == 2 and got["blocks"][0]["scores"]["real+smote"]["hgb"]


@pytest.mark.slow
def test_fits_on_a_dask_cluster_give_the_numbers_of_one_job(bundle, one_job) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        got = fanned_out(bundle, backend="dask", scheduler=cluster.scheduler_address)
    assert got == one_job
