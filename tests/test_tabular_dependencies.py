"""Columns another column determines: found in the fitted rows, kept exact when generating."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from augment.errors import AugmentError
from augment.tabular.dependencies import Derived, apply
from augment.tabular.encoder import TableEncoder
from augment.tabular.ingest import build_schema

LEVELS = ["primary", "middle", "high", "college", "masters", "doctorate"]
KINDS = {
    "level": "categorical",
    "years": "continuous",
    "level_code": "categorical",
    "income": "continuous",
    "label": "categorical",
}


def make_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = rng.choice(LEVELS, n, p=[0.3, 0.25, 0.2, 0.15, 0.07, 0.03]).astype(object)
    position = pd.Index(LEVELS).get_indexer(level)
    return pd.DataFrame(
        {
            "level": level,
            "years": np.array([6, 9, 12, 16, 18, 21])[position],  # a code of the level
            "level_code": np.array(list("ABCDEF"), dtype=object)[position],  # and another
            "income": rng.lognormal(10, 0.4, n).round(2),
            "label": rng.choice(["no", "yes"], n).astype(object),
        }
    )


def fitted(frame: pd.DataFrame, kinds: dict[str, str] = KINDS, **settings) -> TableEncoder:
    schema = build_schema(frame, "label", kinds, [], {})
    return TableEncoder(**settings).fit(frame, schema)


def test_a_code_column_is_set_from_the_column_that_determines_it():
    frame = make_table()
    encoder = fitted(frame)
    rules = {r.column: r.source for r in encoder.derived}
    # level and level_code determine each other: the later one is derived, the earlier kept
    assert rules == {"years": "level", "level_code": "level"}
    # Generated rows whose codes disagree with their level decode to the real mapping.
    values = encoder.encode(frame)
    shuffled = values.choices.copy()
    layout = encoder.layout()
    years_mode = [s for s in encoder.spans if s.kind == "softmax"].index(
        next(s for s in encoder.spans if s.column == "years" and s.role == "mode")
    )
    shuffled[:, years_mode] = np.random.default_rng(1).permutation(shuffled[:, years_mode])
    out = encoder.decode(values.values.T, list(shuffled.T))
    pd.testing.assert_series_equal(out["years"], frame["years"])
    pd.testing.assert_series_equal(out["level_code"], frame["level_code"])
    assert layout.cond_dim == encoder.layout().cond_dim  # the GAN's spans are unchanged
    # Off: the generated values stay.
    plain = fitted(frame, derive_columns=False)
    assert plain.derived == []
    assert not plain.decode(values.values.T, list(shuffled.T))["years"].equals(frame["years"])


def test_chance_makes_no_rule_and_the_label_and_constants_are_never_derived():
    rng = np.random.default_rng(0)
    frame = make_table(n=18)
    # Three levels of six rows: a two-valued column constant within each is likely by chance.
    frame["level"] = np.repeat(["primary", "middle", "high"], 6).astype(object)
    frame["years"] = np.repeat([6, 6, 9], 6)
    frame["level_code"] = "A"  # constant: any column "determines" it
    frame["label"] = np.repeat(["no", "no", "yes"], 6).astype(object)  # determined, but the label
    frame["income"] = rng.lognormal(10, 0.4, 18).round(2)
    assert fitted(frame).derived == []


def test_a_category_the_rule_never_saw_keeps_the_generated_value():
    rule = Derived("years", "level", codes=[0, 2], values=[6.0, None])
    out = apply(rule, np.array([0, 1, 2, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(out, [6.0, 2.0, np.nan, np.nan, 5.0])


def test_rules_round_trip_and_a_tampered_rule_is_one_line():
    encoder = fitted(make_table())
    state = encoder.to_dict()
    assert TableEncoder.from_dict(copy.deepcopy(state)).derived == encoder.derived
    old = copy.deepcopy(state)
    del old["derived"], old["settings"]["derive_columns"]  # a file from before the rules
    assert TableEncoder.from_dict(old, "old/encoder.json").derived == []

    def tampered(**change) -> dict:
        bad = copy.deepcopy(state)
        bad["derived"][0].update(change)
        return bad

    cases = [
        (tampered(values=[99] * 6), r"99 is not a value of the column"),
        (tampered(values=[float("nan")] * 6), r"is not a value of the column"),
        (tampered(source="income"), r"categorical source"),
        (tampered(column="label"), r"the label, a source or itself cannot be derived"),
        (tampered(codes=[0, 1, 2, 3, 4, 57]), r"one value per code of 'level'"),
        (tampered(codes=[], values=[]), r"one value per code of 'level'"),
    ]
    for bad, message in cases:
        with pytest.raises(AugmentError, match=rf"m/encoder.json: .*{message}"):
            TableEncoder.from_dict(bad, "m/encoder.json")


def test_tabgan_generates_codes_that_match_their_level():
    from augment.tabular.gan import TabGAN

    frame = make_table()
    schema = build_schema(frame, "label", KINDS, [], {})
    tiny = {"batch_size": 60, "noise_dim": 8, "generator_dims": [16], "discriminator_dims": [16]}
    gan = TabGAN(**tiny, max_steps=10, min_steps=0)
    gan.fit(frame, schema, seed=0, device="cpu", progress=False)
    out = gan.sample(["no", "yes"] * 200, seed=0)  # ten steps: far from the real rows
    real = frame.drop_duplicates("level").set_index("level")
    assert out["years"].equals(out["level"].map(real["years"]).astype(out["years"].dtype))
    assert out["level_code"].equals(out["level"].map(real["level_code"]))
