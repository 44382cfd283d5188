"""``augment.sklearn.GANOverSampler``: imbalanced-learn's sampler protocol, pipelines, pandas."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from augment.errors import AugmentError
from augment.sklearn import GANOverSampler

# Tiny GANs: one epoch, and three Gaussian modes per number (the encoder's mixture fits are
# most of a small fit's time).
FAST = {
    "epochs": 1,
    "batch_size": 50,
    "device": "cpu",
    "hyperparameters": {"max_modes": 3, "min_steps": 0},
}


def _numeric(n_major: int = 45, n_minor: int = 15, n_third: int = 0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.array([0] * n_major + [1] * n_minor + [2] * n_third)
    X = rng.normal(size=(len(y), 3)) + y[:, None]
    return X, y


@pytest.mark.parametrize(
    ("strategy", "n_third"),
    [
        ("auto", 0),
        ("minority", 0),
        (0.6, 0),
        ({1: 40}, 0),
        ("not majority", 10),
        ("minority", 10),
        ({1: 20, 2: 30}, 10),
    ],
)
def test_sampling_strategy_adds_what_smote_adds(strategy, n_third):
    X, y = _numeric(n_third=n_third)
    sampler = GANOverSampler(sampling_strategy=strategy, random_state=0, **FAST)
    X_res, y_res = sampler.fit_resample(X, y)
    smote = SMOTE(sampling_strategy=strategy, k_neighbors=3, random_state=0)
    X_smote, y_smote = smote.fit_resample(X, y)
    assert Counter(y_res.tolist()) == Counter(y_smote.tolist())
    assert dict(sampler.sampling_strategy_) == dict(smote.sampling_strategy_)
    assert X_res.shape == X_smote.shape and X_res.dtype == X.dtype
    # The real rows first, unchanged; then the synthetic ones, with their requested labels.
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)
    added = Counter(y_res[len(y) :].tolist())
    assert added == {c: n for c, n in sampler.sampling_strategy_.items() if n}
    assert np.isfinite(X_res).all()
    assert sampler.synthesizer_.summary["rows"] == len(X)


def test_nothing_to_generate_skips_training():
    X, y = _numeric(n_major=20, n_minor=20)
    X_res, y_res = GANOverSampler(random_state=0, **FAST).fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X)
    np.testing.assert_array_equal(y_res, y)


class SpySampler(GANOverSampler):
    """Records the index labels of every X it resamples (clones share the class list)."""

    seen: list[tuple[np.ndarray, int]] = []

    def _fit_resample(self, X, y):
        out = super()._fit_resample(X, y)
        SpySampler.seen.append((X.index.to_numpy().copy(), self.synthesizer_.summary["rows"]))
        return out


@pytest.mark.slow
def test_pipeline_cross_validation_next_to_smote():
    data = load_breast_cancer(as_frame=True)
    X_all, y_all = data.data.iloc[:, :10], data.target  # the 10 "mean" features
    # 0 malignant (212), 1 benign (357)
    malignant = y_all.index[y_all == 0][:40]
    keep = y_all.index[(y_all == 1) | y_all.index.isin(malignant)]
    X, y = X_all.loc[keep], y_all.loc[keep]  # 357 benign, 40 malignant; original row labels
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    SpySampler.seen.clear()
    scores = {}
    for name, sampler in (
        ("gan", SpySampler(**{**FAST, "epochs": 2}, random_state=0)),
        ("smote", SMOTE(random_state=0)),
    ):
        pipe = Pipeline(
            [
                ("sampler", sampler),
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(max_iter=2000)),
            ]
        )
        scores[name] = cross_val_score(pipe, X, y, cv=cv, scoring="balanced_accuracy")
    for name, values in scores.items():
        assert values.shape == (3,), name
        assert np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all(), name
        assert values.mean() > 0.6, name  # far above chance on this easy dataset

    # The GAN was fitted once per fold, on exactly that fold's training rows.
    assert len(SpySampler.seen) == 3
    for (seen, rows), (train, test) in zip(SpySampler.seen, cv.split(X, y), strict=True):
        assert rows == len(train)
        assert sorted(seen) == sorted(X.index[train])
        assert not set(seen) & set(X.index[test])


def _mixed_frame(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3, 0.5, n), 2),
            "visits": rng.integers(0, 50, n),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "plan": pd.Categorical(
                rng.choice(["basic", "pro"], n), categories=["pro", "basic", "gold"], ordered=True
            ),
            "member": rng.random(n) < 0.3,
            "country": "NO",
            "code": pd.array(rng.choice(["u", "v", "w"], n), dtype="string"),
        },
        index=pd.RangeIndex(500, 500 + n),
    )
    X.loc[503, "city"] = None
    y = pd.Series(np.where(np.arange(n) % 5 == 0, "churn", "stay"), index=X.index, name="label")
    return X, y


def test_pandas_with_text_and_category_columns():
    X, y = _mixed_frame()
    y = y.astype("category")
    sampler = GANOverSampler(random_state=0, **FAST)
    X_res, y_res = sampler.fit_resample(X, y)

    assert isinstance(X_res, pd.DataFrame) and isinstance(y_res, pd.Series)
    assert list(X_res.columns) == list(X.columns)
    assert X_res.dtypes.to_dict() == X.dtypes.to_dict()
    assert X_res["plan"].dtype == X["plan"].dtype  # same categories, same order, ordered
    assert y_res.dtype == y.dtype and y_res.name == "label"
    assert Counter(y_res) == {"stay": 96, "churn": 96}
    pd.testing.assert_frame_equal(X_res.iloc[: len(X)], X.reset_index(drop=True))

    synthetic = X_res.iloc[len(X) :]
    assert len(synthetic) == 96 - 24
    assert (y_res.iloc[len(X) :] == "churn").all()
    assert set(synthetic["city"].dropna()) <= {"Oslo", "Lima", "Pune"}
    assert set(synthetic["plan"].dropna()) <= {"basic", "pro"}  # never the unseen "gold"
    assert set(synthetic["code"].dropna()) <= {"u", "v", "w"}
    assert (synthetic["country"] == "NO").all()  # a constant column stays constant
    assert synthetic["member"].isin([True, False]).all()
    assert synthetic["visits"].between(0, 49).all()
    assert synthetic["amount"].between(X["amount"].min(), X["amount"].max()).all()
    # The label column's name does not collide with X's, whatever X calls its columns.
    assert sampler.schema_.label not in X.columns
    assert sampler.schema_.names[:-1] == [c for c in X.columns if c != "country"]


def test_pandas_nullable_datetime_and_id_like_columns_keep_their_dtypes():
    rng = np.random.default_rng(1)
    n = 80
    X = pd.DataFrame(
        {
            "when": pd.Timestamp("2021-01-01", tz="Europe/Oslo")
            + pd.to_timedelta(rng.integers(0, 500, n), "D"),
            "count": pd.array(rng.integers(0, 40, n), dtype="Int64"),
            "as_object": pd.Series(rng.normal(size=n), dtype=object),
            "row": np.arange(n),  # id-like: ingest would drop it, a sampler must fill it
            "flag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "nothing": pd.Series([None] * n, dtype=object),
        }
    )
    X.loc[3, "count"] = pd.NA
    y = [int(i % 4 == 0) for i in range(n)]
    X_res, y_res = GANOverSampler(random_state=0, **FAST).fit_resample(X, y)
    assert isinstance(y_res, list) and Counter(y_res) == {0: 60, 1: 60}
    assert X_res.dtypes.to_dict() == X.dtypes.to_dict()
    synthetic = X_res.iloc[n:]
    assert synthetic["row"].between(0, n - 1).all()
    assert synthetic["nothing"].isna().all()
    assert (synthetic["when"].dt.tz is not None) and synthetic["when"].notna().all()


def test_pandas_in_a_pipeline_with_one_hot_encoding():
    X, y = _mixed_frame()
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan", "code", "country"])],
        remainder="passthrough",
    )
    X = X.assign(city=X["city"].fillna("unknown"))
    pipe = Pipeline(
        [
            ("gan", GANOverSampler(random_state=0, **FAST)),
            ("encode", encode),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    pipe.fit(X, y)
    assert set(pipe.predict(X)) <= {"churn", "stay"}


def test_object_array_and_integer_column_names():
    X, y = _mixed_frame()
    X_obj = X[["amount", "city", "visits"]].to_numpy(dtype=object)
    X_res, y_res = GANOverSampler(random_state=0, **FAST).fit_resample(X_obj, y.to_numpy())
    assert X_res.dtype == object and X_res.shape == (192, 3)
    assert set(X_res[len(X) :, 1]) <= {"Oslo", "Lima", "Pune", None}
    assert isinstance(y_res, np.ndarray) and Counter(y_res.tolist())["churn"] == 96

    X_int = X[["amount", "visits"]].set_axis([0, 1], axis=1)
    X_res, _ = GANOverSampler(random_state=0, **FAST).fit_resample(X_int, y)
    assert list(X_res.columns) == [0, 1]


def test_clone_and_params():
    sampler = GANOverSampler(
        sampling_strategy={1: 30},
        epochs=3,
        batch_size=100,
        hyperparameters={"lr_g": 1e-4},
        device="cpu",
        random_state=7,
        progress=True,
    )
    params = sampler.get_params()
    assert params == {
        "sampling_strategy": {1: 30},
        "model": "tabgan",
        "epochs": 3,
        "batch_size": 100,
        "hyperparameters": {"lr_g": 1e-4},
        "device": "cpu",
        "random_state": 7,
        "progress": True,
    }
    twin = clone(sampler)
    assert twin is not sampler and twin.get_params() == params
    assert GANOverSampler(**params).get_params() == params
    assert twin.set_params(epochs=5).epochs == 5

    X, y = _numeric()
    fitted = GANOverSampler(random_state=0, **FAST)
    fitted.fit_resample(X, y)
    fresh = clone(fitted)
    assert not hasattr(fresh, "synthesizer_") and fresh.get_params() == fitted.get_params()


def test_same_random_state_same_rows_on_cpu():
    X, y = _mixed_frame()
    first = GANOverSampler(random_state=3, **FAST).fit_resample(X, y)
    second = GANOverSampler(random_state=3, **FAST).fit_resample(X, y)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_series_equal(first[1], second[1])
    other = GANOverSampler(random_state=4, **FAST).fit_resample(X, y)
    assert not other[0].equals(first[0])
    seeded = GANOverSampler(random_state=np.random.RandomState(3), **FAST).fit_resample(X, y)
    assert len(seeded[0]) == len(first[0])


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"model": "nope"}, ValueError, "model"),
        ({"sampling_strategy": "everything"}, ValueError, "sampling_strategy"),
        ({"hyperparameters": {"epochs": 5}}, ValueError, "GANOverSampler's own"),
        ({"hyperparameters": {"no_such": 1}}, AugmentError, "no_such"),
        ({"device": "tpu"}, AugmentError, "device"),
    ],
)
def test_bad_parameters_are_clear_errors(params, error, match):
    X, y = _numeric()
    with pytest.raises(error, match=match):
        GANOverSampler(**{**FAST, **params}).fit_resample(X, y)


def test_bad_input_is_a_clear_error():
    X, y = _numeric()
    with pytest.raises(ValueError, match="dense"):
        GANOverSampler(**FAST).fit_resample(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="inconsistent"):
        GANOverSampler(**FAST).fit_resample(X, y[:-1])
    with pytest.raises(AugmentError, match="single value"):
        GANOverSampler(**FAST).fit_resample(np.ones((60, 2)), y)
    duplicated = pd.DataFrame(X[:, :2], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate column"):
        GANOverSampler(**FAST).fit_resample(duplicated, y)
    infinite = X.astype(float)
    infinite[3, 1] = np.inf  # before: three rollbacks of a diverging GAN, then a training error
    with pytest.raises(ValueError, match=r"X holds 1 infinite value\(s\) in column 1"):
        GANOverSampler(**FAST).fit_resample(infinite, y)
    frame = pd.DataFrame(infinite, columns=[f"c{i}" for i in range(X.shape[1])])
    with pytest.raises(ValueError, match=r"in column 'c1'"):
        GANOverSampler(**FAST).fit_resample(frame, y)
