"""augment.Synthesizer: fit on data in memory, sample by count or by label, save and load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import augment
from augment.errors import AugmentError


@pytest.fixture(scope="module")
def fitted_table(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "label": np.where(rng.random(n) < 0.75, "no", "yes"),
        }
    )
    frame.loc[::13, "city"] = "?"  # a missing value as ingest spells it
    return augment.Synthesizer(epochs=2, batch_size=60, min_steps=0).fit(
        frame, label="label", device="cpu", progress=False
    )


def test_table_counts_mix_and_exact_labels(fitted_table):
    assert fitted_table.modality == "tabular" and fitted_table.classes == ["no", "yes"]
    rows = fitted_table.sample(100, seed=0)
    assert len(rows) == 100 and list(rows.columns) == ["age", "city", "label"]
    assert 60 <= (rows["label"] == "no").sum() <= 90  # the training mix, 3:1
    assert fitted_table.sample(10, balance=True)["label"].value_counts().to_dict() == {
        "no": 5,
        "yes": 5,
    }
    asked = ["yes", "no", "yes"]
    assert fitted_table.sample(labels=asked, seed=2)["label"].tolist() == asked
    assert fitted_table.sample(labels={"yes": 7})["label"].tolist() == ["yes"] * 7


def test_table_save_load_same_samples(fitted_table, tmp_path):
    fitted_table.save(tmp_path / "m")
    loaded = augment.Synthesizer.load(tmp_path / "m", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(20, seed=3), fitted_table.sample(20, seed=3))


def test_images_from_a_folder(tmp_path):
    for level, name in ((40, "dark"), (200, "light")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12, 3), level + i, np.uint8)).save(
                tmp_path / "imgs" / name / f"{i}.png"
            )
    synth = augment.Synthesizer(steps=2, batch_size=4).fit(
        tmp_path / "imgs", size=8, device="cpu", progress=False
    )
    images, names = synth.sample(labels={"light": 3}, seed=0)
    assert images.shape == (3, 3, 8, 8) and names.tolist() == ["light"] * 3
    assert synth.classes == ["dark", "light"]


def test_user_errors(fitted_table):
    with pytest.raises(AugmentError, match="label column"):
        augment.Synthesizer().fit(pd.DataFrame({"a": [1, 2]}), label="y")
    with pytest.raises(AugmentError, match="need labels"):
        augment.Synthesizer().fit(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(AugmentError, match="not fitted"):
        augment.Synthesizer().sample(3)
    with pytest.raises(AugmentError, match="does not exist"):
        fitted_table.sample(labels=["maybe"])
    table = pd.DataFrame({"a": [1, 2, 3] * 3, "y": list("aab") * 3})
    with pytest.raises(AugmentError, match="cannot fit"):
        augment.Synthesizer("imagegan").fit(table, label="y")
