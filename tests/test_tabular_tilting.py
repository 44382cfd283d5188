"""The categorical tilt: offsets solved onto target shares, targets from the training rows
shrunk towards the generator's, broken offsets refused, and TabGAN sampling through it (saved,
loaded, old models without it, models saved with the raking it replaced)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_tabgan import FAST, make_table, saved_before

from augment.errors import AugmentError
from augment.registry import load_synthesizer
from augment.tabular.encoder import SpanLayout
from augment.tabular.gan import TabGAN
from augment.tabular.ingest import build_schema
from augment.tabular.tilting import MAX_OFFSET, CategoryTilt, RakingTargets, solve_offsets


def _shares(logits: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.double() + offsets.double()[:, None], 0).mean(0)


def test_offsets_meet_the_target_shares():
    logits = torch.randn(5, 20000, generator=torch.Generator().manual_seed(0)) * 2
    logits[0] += 3  # the generator's favourite
    target = torch.tensor([0.1, 0.3, 0.2, 0.25, 0.15], dtype=torch.float64)
    offsets = solve_offsets(logits.double(), target)
    assert torch.allclose(torch.softmax(logits + offsets[:, None], 0).mean(1), target, atol=1e-5)
    # A category the target lacks goes; the others still meet theirs.
    target = torch.tensor([0.0, 0.3, 0.2, 0.35, 0.15], dtype=torch.float64)
    offsets = solve_offsets(logits.double(), target)
    assert offsets[0] == -MAX_OFFSET
    assert torch.allclose(torch.softmax(logits + offsets[:, None], 0).mean(1), target, atol=1e-5)


# Two categorical columns (3 and 2 categories) at softmax spans 1 and 2; span 0 is the label.
SPANS = [(0, 2), (2, 5), (5, 7)]
REAL_COLOUR = {0: [0.5, 0.3, 0.2], 1: [0.2, 0.2, 0.6]}
REAL_SIZE = {0: [0.5, 0.5], 1: [0.3, 0.7]}
# The generator's logits (the same for every row: a share is then a softmax) are too typical.
DRAWN = {0: [0.0, 0.0, 2.0, 0.0, -1.0, 1.0, -1.0], 1: [0.0, 0.0, -1.0, 0.0, 2.0, -2.0, 1.0]}


def _fitted(prior_rows: float) -> tuple[CategoryTilt, SpanLayout]:
    layout = SpanLayout.__new__(SpanLayout)  # only the spans are read
    layout.choice_spans, layout.data_dim = SPANS, 7
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1], 2000)
    real = np.zeros((3, len(classes)), dtype=np.int64)
    real[0] = classes
    for c in (0, 1):
        real[1, classes == c] = rng.choice(3, 2000, p=REAL_COLOUR[c])
        real[2, classes == c] = rng.choice(2, 2000, p=REAL_SIZE[c])
    tilt = CategoryTilt(["colour", "size"], [1, 2], [3, 2], classes=2)

    def logits(c: int) -> torch.Tensor:
        return torch.tensor(DRAWN[c])[:, None].expand(7, 50)

    return tilt.fit(logits, layout, real, classes, prior_rows), layout


def _tilted(tilt: CategoryTilt, c: int, lo: int, hi: int, start: int, stop: int) -> np.ndarray:
    raw = torch.tensor(DRAWN[c][start:stop], dtype=torch.float64)
    return torch.softmax(raw + tilt.offsets[c, lo:hi].double(), 0).numpy()


def test_the_tilt_meets_the_training_shares_per_class():
    tilt, layout = _fitted(prior_rows=0)
    for c in (0, 1):
        assert np.allclose(_tilted(tilt, c, 0, 3, 2, 5), REAL_COLOUR[c], atol=0.03)
        assert np.allclose(_tilted(tilt, c, 3, 5, 5, 7), REAL_SIZE[c], atol=0.03)
    bias = tilt.output_offsets(layout)
    assert bias.shape == (7, 2) and not bias[:2].any()  # the label's span is not tilted
    assert torch.equal(bias[2:5, 1], tilt.offsets[1, :3])


def test_targets_are_shrunk_towards_the_generators_shares():
    exact, _ = _fitted(prior_rows=0)
    shrunk, _ = _fitted(prior_rows=2000)  # as many prior rows as each class has real ones
    own = torch.softmax(torch.tensor(DRAWN[1][2:5], dtype=torch.float64), 0).numpy()
    halfway = (_tilted(exact, 1, 0, 3, 2, 5) + own) / 2
    assert np.allclose(_tilted(shrunk, 1, 0, 3, 2, 5), halfway, atol=1e-4)
    shrunk.check("model/weights.safetensors")


@pytest.mark.parametrize("value", [float("inf"), 2 * MAX_OFFSET])
def test_broken_offsets_are_refused(value):
    tilt, _ = _fitted(prior_rows=500)
    tilt.offsets[1, 2] = value
    with pytest.raises(AugmentError, match="tilt.offsets"):
        tilt.check("model/weights.safetensors")


@pytest.mark.parametrize(("cell", "words"), [((0, 0), "negative"), ((1, 4), "'size' do not")])
def test_broken_raking_targets_are_refused(cell, words):
    saved = RakingTargets(CategoryTilt(["colour", "size"], [1, 2], [3, 2], classes=2))
    saved.target[:, [0, 3]] = 1.0
    saved.check("model/weights.safetensors")
    saved.target[cell] = -1.0 if words == "negative" else 0.5
    with pytest.raises(AugmentError, match=words):
        saved.check("model/weights.safetensors")


@pytest.fixture(scope="module")
def table():
    return make_table()


def _gap(table: pd.DataFrame, rows: pd.DataFrame) -> float:
    """Largest gap between generated and training shares of a category, per class."""
    worst = 0.0
    for label in ("no", "yes"):
        for column in ("city", "rooms"):
            real = table.loc[table["label"] == label, column].value_counts(normalize=True)
            mine = rows.loc[rows["label"] == label, column].value_counts(normalize=True)
            worst = max(worst, real.sub(mine, fill_value=0).abs().max())
    return worst


LABELS = ["no"] * 1500 + ["yes"] * 1500


@pytest.fixture(scope="module")
def fitted(table, mixed_kinds):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    gan = TabGAN(**{**FAST, "tilt_prior_rows": 0})
    gan.fit(table, schema, seed=0, device="cpu", progress=False)
    return gan


def test_tabgan_samples_through_the_tilt_and_saves_it(fitted, table, tmp_path):
    gan = fitted
    assert gan.tilt.columns == ["city", "rooms", "member"]
    tilted = gan.sample(LABELS, seed=1)
    drawn = gan.without_tilt().sample(LABELS, seed=1)
    assert tilted["label"].tolist() == LABELS
    assert gan.tilt is not None  # the copy's tilt is its own
    assert _gap(table, tilted) < 0.05 < _gap(table, drawn)  # 30 steps: the generator is far off

    gan.save(tmp_path / "model")
    loaded = load_synthesizer(tmp_path / "model", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(LABELS, seed=2), gan.sample(LABELS, seed=2))
    # A model saved before the setting existed samples as the generator draws.
    saved_before(tmp_path / "model", "tilt_categories")
    old = load_synthesizer(tmp_path / "model", device="cpu")
    assert old.tilt is None
    pd.testing.assert_frame_equal(
        old.sample(LABELS, seed=2), loaded.without_tilt().sample(LABELS, seed=2)
    )


def test_a_model_saved_with_raking_is_tilted_to_its_targets(fitted, table, tmp_path):
    """The raking that tilting replaced saved ``rake_*`` settings and ``raking.target``."""
    fitted.save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    settings = config["hyperparameters"]
    del settings["tilt_categories"], settings["tilt_prior_rows"]
    settings.update(rake_categories=True, rake_pool=4, rake_prior_rows=0.0)
    path.write_text(json.dumps(config))
    weights = tmp_path / "model" / "weights.safetensors"
    tensors = load_file(weights)
    offsets = tensors.pop("tilt.offsets")
    # The training rows' shares: the offsets' targets with no prior.
    choices = fitted.encoder.encode(table).choices.T
    classes = choices[fitted.layout.label_choice]
    target = torch.zeros(offsets.shape, dtype=torch.float64)
    for c in range(len(target)):
        for position, (lo, hi) in zip(fitted.tilt.positions, fitted.tilt.blocks, strict=True):
            counts = np.bincount(choices[position, classes == c], minlength=hi - lo)
            target[c, lo:hi] = torch.from_numpy(counts / counts.sum())
    save_file({**tensors, "raking.target": target}, weights)
    old = load_synthesizer(tmp_path / "model", device="cpu")
    assert old.config.tilt_categories and old.config.tilt_prior_rows == 0
    assert _gap(table, old.sample(LABELS, seed=1)) < 0.05


def test_tilt_settings_are_checked():
    with pytest.raises(AugmentError, match="tilt_prior_rows"):
        TabGAN(tilt_prior_rows=-1.0)
