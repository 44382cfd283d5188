"""The marginal calibration: generated values mapped per class onto the real quantiles, ranks
kept, point masses matched, missing and too-small classes left alone, sorted knots checked."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from augment.errors import AugmentError
from augment.tabular.calibration import MIN_ROWS, ROWS_PER_STEP, MarginalCalibration


def _fitted(real: dict, real_classes, generated: dict, generated_classes, knots=500):
    return MarginalCalibration.fit(real, real_classes, generated, generated_classes, 2, knots)


def test_each_class_gets_its_real_distribution_and_keeps_its_order():
    rng = np.random.default_rng(0)
    real_classes = np.repeat([0, 1], 5000)
    real = {"x": np.concatenate([rng.normal(50, 10, 5000), rng.exponential(3, 5000)])}
    # The generator's marginals are off: too narrow for class 0, shifted for class 1.
    drawn_classes = np.repeat([0, 1], 20000)
    drawn = {"x": np.concatenate([rng.normal(40, 3, 20000), rng.exponential(3, 20000) + 5])}
    calibration = _fitted(real, real_classes, drawn, drawn_classes)
    assert calibration.stepped.tolist() == [False]  # 10,000 distinct values: interpolated

    classes = rng.integers(0, 2, 4000)
    before = np.where(classes == 0, rng.normal(40, 3, 4000), rng.exponential(3, 4000) + 5)
    raw = {"x": before.copy()}
    calibration.apply(raw, classes, np.random.default_rng(1))
    for c in (0, 1):
        mine, theirs = raw["x"][classes == c], real["x"][real_classes == c]
        assert stats.ks_2samp(mine, theirs).statistic < 0.04
        assert stats.ks_2samp(before[classes == c], theirs).statistic > 0.3
        # Monotone within the class: the generator's order of values is kept.
        assert stats.spearmanr(before[classes == c], mine).statistic > 0.999


def test_a_point_mass_of_the_wrong_size_is_matched():
    rng = np.random.default_rng(0)
    real = {"gain": np.where(rng.random(4000) < 0.7, 0.0, rng.uniform(100, 900, 4000))}
    drawn = {"gain": np.where(rng.random(8000) < 0.4, 0.0, rng.uniform(50, 500, 8000))}
    calibration = _fitted(real, np.zeros(4000, int), drawn, np.zeros(8000, int))
    values = np.where(rng.random(6000) < 0.4, 0.0, rng.uniform(50, 500, 6000))
    raw = {"gain": values.copy()}
    calibration.apply(raw, np.zeros(6000, int), np.random.default_rng(2))
    assert (raw["gain"] == 0).mean() == pytest.approx(0.7, abs=0.02)
    assert raw["gain"].max() <= real["gain"].max() and raw["gain"].min() >= 0


GAINS = np.array([0.0, 594.0, 2174.0, 3103.0, 4386.0, 7298.0, 15024.0])


def _gains(rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """A column of seven values whose shares differ by class (as Adult's capital-gain)."""
    shares = ([0.9, 0.03, 0.03, 0.02, 0.01, 0.005, 0.005], [0.7, 0.0, 0.02, 0.03, 0.05, 0.1, 0.1])
    values = np.concatenate([rng.choice(GAINS, 5000, p=p) for p in shares])
    return {"gain": values}, np.repeat([0, 1], 5000)


def test_a_column_of_few_values_takes_only_values_the_rows_hold():
    rng = np.random.default_rng(0)
    real, real_classes = _gains(rng)

    # The generator's values are continuous, with a point mass at 0 of the wrong size.
    def draw(n):
        return np.where(rng.random(n) < 0.8, 0.0, rng.uniform(0, 16000, n))

    drawn_classes = np.repeat([0, 1], 20000)
    stepped = _fitted(real, real_classes, {"gain": draw(40000)}, drawn_classes)
    interpolated = MarginalCalibration.fit(
        real, real_classes, {"gain": draw(40000)}, drawn_classes, 2, 500, steps=False
    )
    assert stepped.stepped.tolist() == [True] and interpolated.stepped.tolist() == [False]
    assert "stepped" in stepped.state_dict() and "stepped" not in interpolated.state_dict()

    classes = rng.integers(0, 2, 8000)
    before = draw(8000)
    before[::97] = np.nan
    out = {}
    for name, calibration in (("stepped", stepped), ("interpolated", interpolated)):
        raw = {"gain": before.copy()}
        calibration.apply(raw, classes, np.random.default_rng(1))
        out[name] = raw["gain"]
    assert np.array_equal(np.isnan(out["stepped"]), np.isnan(before))  # missing stays missing
    seen = ~np.isnan(before)
    assert np.isin(out["stepped"][seen], GAINS).all()
    assert not np.isin(out["interpolated"][seen], GAINS).all()  # lines between the values
    for c in (0, 1):
        mine, theirs = out["stepped"][seen & (classes == c)], real["gain"][real_classes == c]
        for value in GAINS:
            assert (mine == value).mean() == pytest.approx((theirs == value).mean(), abs=0.015)
        # Monotone within the class, where the generator's values are not tied.
        order = np.argsort(before[seen & (classes == c)])
        untied = before[seen & (classes == c)][order] > 0
        assert (np.diff(mine[order][untied]) >= 0).all()


def test_a_column_is_stepped_only_where_its_rows_repeat_each_value():
    # 7 values need 70 rows to be stepped; 40 rows keep the line (a small table's values
    # would otherwise all be copies of its rows').
    rng = np.random.default_rng(0)
    for rows, stepped in ((7 * ROWS_PER_STEP, True), (40, False)):
        real = {"gain": np.resize(GAINS, rows)}
        classes = np.zeros(rows, int)
        drawn = {"gain": rng.uniform(0, 16000, 1000)}
        fitted = _fitted(real, classes, drawn, np.zeros(1000, int))
        assert fitted.stepped.tolist() == [stepped]


def test_missing_values_and_small_classes_pass_unchanged_and_ties_follow_the_seed():
    rng = np.random.default_rng(0)
    real_classes = np.r_[np.zeros(500, int), np.ones(MIN_ROWS - 1, int)]
    real = {"x": rng.normal(size=len(real_classes))}
    drawn = {"x": np.r_[rng.normal(3, 1, 1000), np.full(1000, np.nan), rng.normal(size=1000)]}
    drawn_classes = np.r_[np.zeros(2000, int), np.ones(1000, int)]
    calibration = _fitted(real, real_classes, drawn, drawn_classes)
    assert calibration.active[:, 0].tolist() == [True, False]  # 19 real rows of class 1

    values = np.array([3.0, np.nan, 2.0, 3.0, 3.0])
    classes = np.array([0, 0, 1, 0, 0])
    raw = {"x": values.copy()}
    calibration.apply(raw, classes, np.random.default_rng(0))
    assert np.isnan(raw["x"][1]) and raw["x"][2] == 2.0
    assert abs(raw["x"][0]) < 0.5  # class 0's generated median lands on the real median

    # A constant column ties every value: the seed alone says where each one lands.
    constant = _fitted({"x": real["x"]}, real_classes, {"x": np.ones(3000)}, drawn_classes)
    spread = [{"x": np.ones(50)} for _ in range(3)]
    for raw, seed in zip(spread, (5, 5, 6), strict=True):
        constant.apply(raw, np.zeros(50, int), np.random.default_rng(seed))
    assert np.array_equal(spread[0]["x"], spread[1]["x"])
    assert not np.array_equal(spread[0]["x"], spread[2]["x"]) and spread[0]["x"].std() > 0.3


def test_knots_out_of_order_are_refused():
    rng = np.random.default_rng(0)
    real = {"x": rng.normal(size=200)}
    calibration = _fitted(real, np.zeros(200, int), real, np.zeros(200, int), knots=50)
    calibration.check("model/weights.safetensors")
    calibration.real[0, 0, 10] = calibration.real[0, 0, 20] + 1
    with pytest.raises(AugmentError, match=r"^model/weights.safetensors: calibration.real holds"):
        calibration.check("model/weights.safetensors")
