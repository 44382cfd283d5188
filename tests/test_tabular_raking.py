"""The categorical raking: targets from the training rows shrunk towards the generator's,
candidates kept per class by raking weight without replacement, broken targets refused, and
TabGAN sampling through it (saved, loaded, old models without it, turned off per call)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_tabgan import FAST, make_table, saved_before

from augment.errors import AugmentError
from augment.registry import load_synthesizer
from augment.tabular.gan import TabGAN
from augment.tabular.ingest import build_schema
from augment.tabular.raking import CategoryRaking

# Two categorical columns (3 and 2 categories) at choice rows 1 and 2; row 0 is the label.
COLUMNS, POSITIONS, WIDTHS = ["colour", "size"], [1, 2], [3, 2]


def _choices(rng, classes, colour_shares, size_shares):
    """Decoded choices ``(3, rows)``: the label, then the two columns drawn per class."""
    rows = len(classes)
    out = np.zeros((3, rows), dtype=np.uint8)
    out[0] = classes
    for c in np.unique(classes):
        mine = classes == c
        out[1, mine] = rng.choice(3, mine.sum(), p=colour_shares[c])
        out[2, mine] = rng.choice(2, mine.sum(), p=size_shares[c])
    return out


def _shares(codes, width):
    return np.bincount(codes, minlength=width) / len(codes)


REAL_COLOUR = {0: [0.5, 0.3, 0.2], 1: [0.2, 0.2, 0.6]}
REAL_SIZE = {0: [0.5, 0.5], 1: [0.3, 0.7]}
# The generator's rows are too typical of their class.
DRAWN_COLOUR = {0: [0.8, 0.12, 0.08], 1: [0.08, 0.12, 0.8]}
DRAWN_SIZE = {0: [0.8, 0.2], 1: [0.1, 0.9]}


def _fitted(prior_rows: float) -> tuple[CategoryRaking, np.random.Generator]:
    rng = np.random.default_rng(0)
    real_classes = np.repeat([0, 1], 2000)
    real = _choices(rng, real_classes, REAL_COLOUR, REAL_SIZE)
    drawn_classes = np.repeat([0, 1], 20000)
    drawn = _choices(rng, drawn_classes, DRAWN_COLOUR, DRAWN_SIZE)
    raking = CategoryRaking(COLUMNS, POSITIONS, WIDTHS, classes=2)
    raking.fit(real, real[0], drawn, drawn[0], prior_rows)
    return raking, rng


def test_kept_candidates_match_the_training_shares_per_class():
    raking, rng = _fitted(prior_rows=0)
    assert np.allclose(raking.target[0, :3].numpy(), REAL_COLOUR[0], atol=0.03)
    wanted = rng.integers(0, 2, 3000)
    candidates = np.tile(wanted, 10)
    choices = _choices(rng, candidates, DRAWN_COLOUR, DRAWN_SIZE)
    keep = raking.select(choices, candidates, wanted, np.random.default_rng(1))
    assert np.array_equal(candidates[keep], wanted)  # each row of the class asked for
    assert len(np.unique(keep)) == len(keep)  # without replacement
    for c in (0, 1):
        kept = choices[:, keep][:, wanted == c]
        before = choices[:, candidates == c]
        assert np.abs(_shares(kept[1], 3) - REAL_COLOUR[c]).max() < 0.05
        assert np.abs(_shares(kept[2], 2) - REAL_SIZE[c]).max() < 0.05
        assert np.abs(_shares(before[1], 3) - REAL_COLOUR[c]).max() > 0.15
    # The same random stream keeps the same rows.
    again = raking.select(choices, candidates, wanted, np.random.default_rng(1))
    assert np.array_equal(keep, again)


def test_targets_are_shrunk_towards_the_generators_shares():
    exact, _ = _fitted(prior_rows=0)
    shrunk, _ = _fitted(prior_rows=2000)  # as many prior rows as each class has real ones
    halfway = (exact.target[1, :3].numpy() + np.array(DRAWN_COLOUR[1])) / 2
    assert np.allclose(shrunk.target[1, :3].numpy(), halfway, atol=0.01)
    shrunk.check("model/weights.safetensors")


def test_a_category_the_target_lacks_is_left_as_drawn():
    raking = CategoryRaking(["colour"], [1], [3], classes=1)
    raking.target[0] = raking.target.new_tensor([0.5, 0.5, 0.0])
    choices = np.zeros((2, 6000), dtype=np.uint8)
    choices[1] = np.repeat([0, 1, 2], [1000, 2000, 3000])
    weights = raking.weights(choices, 0)
    # Category 2 keeps its raw weight; 0 and 1 are raked to equal weighted shares between them.
    assert weights[choices[1] == 0].sum() == pytest.approx(weights[choices[1] == 1].sum())
    assert weights[choices[1] == 2].min() > 0


def _negative(target):
    target.neg_()


def _size_doubled(target):
    target[:, 3:].mul_(2)


@pytest.mark.parametrize(
    ("damage", "words"), [(_negative, "negative"), (_size_doubled, "'size' do not sum to 1")]
)
def test_broken_targets_are_refused(damage, words):
    raking, _ = _fitted(prior_rows=500)
    damage(raking.target)
    with pytest.raises(AugmentError, match=words):
        raking.check("model/weights.safetensors")


@pytest.fixture(scope="module")
def table():
    return make_table()


def test_tabgan_samples_through_the_raking_and_saves_it(table, mixed_kinds, tmp_path):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    gan = TabGAN(**{**FAST, "rake_prior_rows": 0})
    gan.fit(table, schema, seed=0, device="cpu", progress=False)
    assert gan.raking.columns == ["city", "rooms", "member"]
    labels = ["no"] * 1500 + ["yes"] * 1500
    raked = gan.sample(labels, seed=1)
    drawn = gan.sampling_with(rake_pool=1).sample(labels, seed=1)
    assert raked["label"].tolist() == labels
    assert gan.config.rake_pool == 4  # the copy's setting is its own

    def gap(rows: pd.DataFrame) -> float:
        """Largest gap between generated and training shares of a category, per class."""
        worst = 0.0
        for label in ("no", "yes"):
            for column in ("city", "rooms"):
                real = table.loc[table["label"] == label, column].value_counts(normalize=True)
                mine = rows.loc[rows["label"] == label, column].value_counts(normalize=True)
                worst = max(worst, real.sub(mine, fill_value=0).abs().max())
        return worst

    assert gap(raked) < 0.05 < gap(drawn)  # 30 steps: the generator alone is far off

    gan.save(tmp_path / "model")
    loaded = load_synthesizer(tmp_path / "model", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(labels, seed=2), gan.sample(labels, seed=2))
    # A model saved before the setting existed samples as the generator draws.
    saved_before(tmp_path / "model", "rake_categories")
    old = load_synthesizer(tmp_path / "model", device="cpu")
    assert old.raking is None
    unraked = loaded.sampling_with(rake_pool=1).sample(labels, seed=2)
    pd.testing.assert_frame_equal(old.sample(labels, seed=2), unraked)


@pytest.mark.parametrize(("setting", "value"), [("rake_pool", 0), ("rake_pool", 101),
                                                ("rake_prior_rows", -1.0)])  # fmt: skip
def test_raking_settings_are_checked(setting, value):
    with pytest.raises(AugmentError, match=setting):
        TabGAN(**{setting: value})


@pytest.fixture(scope="module")
def saved_model(table, mixed_kinds, tmp_path_factory):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    gan = TabGAN(**FAST)
    gan.fit(table, schema, seed=0, device="cpu", progress=False)
    folder = tmp_path_factory.mktemp("raking") / "model"
    gan.save(folder)
    return folder


def _table(out):
    return pd.read_parquet(out / "synthetic.parquet")


def test_generate_rakes_by_default_and_rake_pool_1_turns_it_off(saved_model, tmp_path):
    from augment.steps.generate import generate

    settings = dict(seed=3, part_size=400, chunk_size=150, progress=False, device="cpu")
    raked = generate(saved_model, 1000, tmp_path / "raked", **settings)
    plain = generate(saved_model, 1000, tmp_path / "plain", rake_pool=1, **settings)
    assert raked["rake_pool"] == 4 and plain["rake_pool"] == 1
    assert raked["per_class"] == plain["per_class"]
    assert not _table(tmp_path / "raked").equals(_table(tmp_path / "plain"))
    # Shards of a raked set together are the whole set.
    for shard in ("0/2", "1/2"):
        generate(saved_model, 1000, tmp_path / "sharded", shard=shard, **settings)
    pd.testing.assert_frame_equal(_table(tmp_path / "sharded"), _table(tmp_path / "raked"))


def test_a_bad_rake_pool_is_a_one_line_error(saved_model, tmp_path, monkeypatch):
    from test_generate_parts import RowSynthesizer
    from typer.testing import CliRunner

    from augment.cli import app
    from augment.steps.generate import generate

    monkeypatch.chdir(tmp_path)
    args = ["generate", "--model", str(saved_model), "--n", "10", "--rake-pool", "0"]
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert lines[0].startswith("augment: error: ") and "rake_pool" in lines[0], lines[0]
    assert not (tmp_path / "synth").exists()
    with pytest.raises(AugmentError, match="--rake-pool applies to TabGAN models"):
        generate(RowSynthesizer(), 10, tmp_path / "rows", rake_pool=2, progress=False)
