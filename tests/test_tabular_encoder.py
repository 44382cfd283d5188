"""TableEncoder: a reversible, JSON-serialisable encoding in the original schema."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from augment.errors import AugmentError
from augment.tabular.encoder import TableEncoder
from augment.tabular.ingest import build_schema
from augment.tabular.networks import (
    Generator,
    SamplingNetwork,
    activate,
    condition_loss,
    draw_spans,
)


def make_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            # bimodal integers: two mixture modes
            "age": np.where(rng.random(n) < 0.5, rng.normal(25, 3, n), rng.normal(60, 4, n))
            .round()
            .astype(np.int64),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "rooms": rng.choice([1, 2, 3, 5], n).astype(np.int64),
            "member": rng.random(n) < 0.3,
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "label": rng.choice(["no", "yes"], n).astype(object),
        }
    )
    frame.loc[::17, "income"] = np.nan  # continuous with missing values
    frame.loc[::23, "city"] = None  # categorical with missing values
    frame.loc[::29, "joined"] = pd.NaT
    return frame


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def schema(table, mixed_kinds):
    return build_schema(table, "label", mixed_kinds, [], {})


@pytest.fixture(scope="module")
def encoder(table, schema) -> TableEncoder:
    return TableEncoder(mode_assignment="argmax").fit(table, schema)


def test_round_trip_keeps_types_values_and_missing(table, schema, encoder):
    matrix = encoder.transform(table)
    assert matrix.dtype == np.float32 and matrix.shape == (len(table), encoder.output_dim)
    back = encoder.inverse_transform(matrix)
    assert list(back.columns) == schema.names
    for name in schema.names:
        assert back[name].dtype == table[name].dtype, name
    # categories come back with their original Python types, missing included
    pd.testing.assert_series_equal(back["city"], table["city"])
    pd.testing.assert_series_equal(back["rooms"], table["rooms"])
    pd.testing.assert_series_equal(back["member"], table["member"])
    pd.testing.assert_series_equal(back["label"], table["label"])
    assert isinstance(back["rooms"].iloc[0], np.integer | int)
    assert back["member"].dtype == bool
    # continuous values: integers exact, floats to float32 precision, missing where missing
    pd.testing.assert_series_equal(back["age"], table["age"])
    assert back["income"].isna().equals(table["income"].isna())
    np.testing.assert_allclose(back["income"], table["income"], rtol=1e-4)
    assert back["joined"].isna().equals(table["joined"].isna())
    error = (back["joined"] - table["joined"]).abs().max()
    assert error < pd.Timedelta("1h")  # float32 scalar of a ~2.5-year range


def test_categorical_decoding_gives_the_same_strings_as_categoricals(table, encoder):
    matrix = encoder.transform(table)
    plain = encoder.inverse_transform(matrix)
    values = [matrix[:, s.start] for s in encoder.spans if s.kind == "tanh"]
    choices = [matrix[:, s.start : s.stop].argmax(1) for s in encoder.spans if s.kind == "softmax"]
    coded = encoder.decode(np.stack(values), choices, categorical=True)
    for name in ("city", "label"):  # string categories, missing included
        assert isinstance(coded[name].dtype, pd.CategoricalDtype), name
        assert coded[name].isna().equals(plain[name].isna())
        pd.testing.assert_series_equal(coded[name].dropna().astype(object), plain[name].dropna())
    for name in ("rooms", "member"):  # other categories keep their own types
        pd.testing.assert_series_equal(coded[name], plain[name])


def test_sampled_mode_assignment_also_round_trips(table, schema):
    enc = TableEncoder(mode_assignment="sample", seed=3).fit(table, schema)
    back = enc.inverse_transform(enc.transform(table))
    pd.testing.assert_series_equal(back["age"], table["age"])
    np.testing.assert_allclose(back["income"], table["income"], rtol=1e-4)
    # the draw is seeded: the same seed gives the same matrix
    np.testing.assert_array_equal(enc.transform(table, seed=1), enc.transform(table, seed=1))


def test_modes_and_missing_spans(encoder):
    age = next(c for c in encoder.columns if c["name"] == "age")
    assert len(age["means"]) >= 2  # the bimodal column keeps two modes or more
    kinds = [(s.column, s.role) for s in encoder.spans]
    assert ("income", "missing") in kinds and ("age", "missing") not in kinds
    city = next(s for s in encoder.spans if s.column == "city")
    assert city.width == 4  # three cities + missing


def test_json_round_trip_without_pickle(table, encoder):
    text = json.dumps(encoder.to_dict())
    again = TableEncoder.from_dict(json.loads(text))
    np.testing.assert_array_equal(again.transform(table), encoder.transform(table))
    pd.testing.assert_frame_equal(
        again.inverse_transform(encoder.transform(table)),
        encoder.inverse_transform(encoder.transform(table)),
    )


def test_generated_values_are_clipped_and_rounded(schema, encoder):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 3, (500, encoder.output_dim)).astype(np.float32)
    out = encoder.inverse_transform(torch.from_numpy(noise))
    for name in ("age", "income"):
        spec = schema.column(name)
        values = out[name].dropna()
        assert values.min() >= spec.min and values.max() <= spec.max
    assert out["age"].dtype == np.int64
    ns = out["joined"].dropna().astype("int64")
    assert ns.min() >= schema.column("joined").min and ns.max() <= schema.column("joined").max
    assert set(out["city"].dropna()) <= {"Oslo", "Lima", "Pune"}


def test_integer_column_with_missing_stays_integer_valued(schema, mixed_kinds):
    frame = make_table()
    frame["age"] = frame["age"].astype(float)
    frame.loc[::11, "age"] = np.nan  # ingest keeps such a column as float64
    sch = build_schema(frame, "label", mixed_kinds, [], {})
    enc = TableEncoder().fit(frame, sch)
    back = enc.inverse_transform(enc.transform(frame))
    assert back["age"].dtype == np.float64
    assert back["age"].isna().equals(frame["age"].isna())
    assert (back["age"].dropna() % 1 == 0).all()


def test_unknown_category_is_a_clear_error(table, encoder):
    bad = table.copy()
    bad.loc[0, "city"] = "Atlantis"
    with pytest.raises(AugmentError, match="Atlantis"):
        encoder.transform(bad)


def test_layout_drives_activation_and_condition_loss(table, encoder):
    layout = encoder.layout()
    raw = torch.randn(8, layout.data_dim)
    out = activate(raw, layout, tau=0.2, generator=torch.Generator().manual_seed(0))
    for span in encoder.spans:  # every one-hot span sums to one; scalars are tanh'ed
        block = out[:, span.start : span.stop]
        if span.kind == "softmax":
            torch.testing.assert_close(block.sum(1), torch.ones(8))
        else:
            torch.testing.assert_close(block, torch.tanh(raw[:, span.start : span.stop]))
    # condition order = categorical columns in schema order; the label's span is flagged
    cats = [s for s in encoder.spans if s.role == "category"]
    assert cats[layout.label_span].column == "label"
    assert layout.cond_dim == sum(s.width for s in cats)
    # the loss of column j / category k is the cross-entropy of exactly that span
    j, k = 1, 2
    column, category = torch.full((8,), j), torch.full((8,), k)
    expected = torch.nn.functional.cross_entropy(raw[:, cats[j].start : cats[j].stop], category)
    torch.testing.assert_close(condition_loss(raw, layout, column, category), expected)


def test_condition_discrete_adds_numeric_columns_of_a_few_values_to_the_conditions():
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame(
        {
            "grade": rng.integers(1, 13, n),  # 12 whole numbers: every one a point mass
            "gain": np.where(rng.random(n) < 0.8, 0.0, rng.normal(5e3, 1e3, n)),  # spike + spread
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "label": rng.choice(["no", "yes"], n).astype(object),
        }
    )
    kinds = {"grade": "continuous", "gain": "continuous"}
    kinds |= {"city": "categorical", "label": "categorical"}
    encoder = TableEncoder().fit(frame, build_schema(frame, "label", kinds, [], {}))
    categories = [s for s in encoder.spans if s.role == "category"]
    assert encoder.layout().cond_dim == sum(s.width for s in categories)

    layout = encoder.layout(condition_discrete=True)
    cond = [
        s for s in encoder.spans if s.role == "category" or (s.column, s.role) == ("grade", "mode")
    ]
    grade = next(i for i, s in enumerate(cond) if s.column == "grade")
    assert cond[grade].role == "mode" and cond[grade].width == 12  # gain's modes stay out
    assert layout.cond_dim == sum(s.width for s in cond)
    assert cond[layout.label_span].column == "label"
    # condition j is the softmax span it conditions on: its choices column, its logits
    starts = [start for start, _ in layout.choice_spans]
    assert [starts[int(i)] for i in layout.condition_choices] == [s.start for s in cond]
    raw = torch.randn(8, layout.data_dim)
    column, category = torch.full((8,), grade), torch.full((8,), 4)
    span = cond[grade]
    expected = torch.nn.functional.cross_entropy(raw[:, span.start : span.stop], category)
    torch.testing.assert_close(condition_loss(raw, layout, column, category), expected)


def test_spikes_and_few_valued_columns_become_exact_point_masses():
    rng = np.random.default_rng(2)
    n = 1000
    frame = pd.DataFrame(
        {
            # 90% exact zeros, the rest spread widely: a Gaussian would smear the spike
            "gain": np.where(rng.random(n) < 0.9, 0, rng.integers(100, 99999, n)),
            "grade": rng.choice([1, 5, 9, 12], n),  # few whole numbers: all point masses
            "label": rng.choice(["a", "b"], n).astype(object),
        }
    )
    kinds = {"gain": "continuous", "grade": "continuous", "label": "categorical"}
    sch = build_schema(frame, "label", kinds, [], {})
    enc = TableEncoder().fit(frame, sch)
    gain, grade = enc.columns[0], enc.columns[1]
    assert gain["point_masses"] == [0.0] and len(gain["means"]) >= 1
    assert grade["point_masses"] == [1.0, 5.0, 9.0, 12.0] and grade["means"] == []
    back = enc.inverse_transform(enc.transform(frame))
    pd.testing.assert_series_equal(back["grade"], frame["grade"])
    assert ((back["gain"] == 0) == (frame["gain"] == 0)).all()
    # a generated row on the spike decodes to exactly the spike, whatever its scalar says
    matrix = enc.transform(frame.iloc[:5])
    matrix[:, 0] = 0.9
    spike_rows = frame["gain"].iloc[:5].to_numpy() == 0
    assert (enc.inverse_transform(matrix)["gain"].to_numpy()[spike_rows] == 0).all()


@pytest.mark.parametrize("hidden", [(), (7,), (5, 6, 4)])
def test_sampling_network_is_the_generator_conditioned_on_the_label(hidden):
    torch.manual_seed(0)
    generator = Generator(4, 6, 9, hidden)
    for norm in generator.modules():  # eval-mode BatchNorm with statistics of its own
        if isinstance(norm, torch.nn.BatchNorm1d):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2)
            norm.weight.data.normal_()
            norm.bias.data.normal_()
    generator.eval()
    noise, classes = torch.randn(10, 4), torch.tensor([0, 1, 2, 2, 1, 0, 0, 1, 2, 0])
    cond = torch.zeros(10, 6)
    cond[torch.arange(10), 3 + classes] = 1.0  # the label's one-hot is slots 3-5
    network = SamplingNetwork(generator, torch.tensor([3, 4, 5]))
    with torch.no_grad():
        torch.testing.assert_close(network(noise, classes).T, generator(noise, cond))
        # bf16 products (a model trained in bf16): the same function to bf16's rounding, fp32 out
        bf16 = SamplingNetwork(generator, torch.tensor([3, 4, 5]), torch.bfloat16)
        out = bf16(noise, classes)
        assert bf16.input_output.dtype == torch.bfloat16 and out.dtype == torch.float32
        torch.testing.assert_close(out.T, generator(noise, cond), atol=0.1, rtol=0.05)


def test_drawn_spans_follow_the_softmax_and_keep_the_label(encoder):
    layout = encoder.layout()
    rows = 20_000
    logits = torch.randn(layout.data_dim)
    raw = logits[:, None].expand(-1, rows).contiguous()
    classes = torch.randint(0, 2, (rows,))
    values, choices = draw_spans(raw, layout, classes, torch.Generator().manual_seed(0))
    torch.testing.assert_close(values, torch.tanh(raw[layout.value_rows]))
    assert torch.equal(choices[layout.label_choice], classes)
    for k, (start, stop) in enumerate(layout.choice_spans):
        if k == layout.label_choice:
            continue
        expected = torch.softmax(logits[start:stop], 0)
        seen = torch.bincount(choices[k], minlength=stop - start) / rows
        # 5 standard errors of a frequency over 20,000 draws: about 0.018 at p = 0.5
        assert (seen - expected).abs().max() < 5 * (0.25 / rows) ** 0.5, (k, seen, expected)
    # the decoder reads the drawn spans as it reads a matrix's argmax
    frame = encoder.decode(values.numpy(), choices.numpy())
    assert list(frame.columns) == encoder.schema.names and len(frame) == rows
