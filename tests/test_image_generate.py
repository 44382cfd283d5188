"""``augment generate`` for images: the synthetic folder a user drops into their training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.errors import AugmentError
from augment.images.schema import ImageSchema
from augment.steps.generate import generate


class PatternSynthesizer:
    """Draws class ``k`` as a flat image of grey level 20·k plus seeded noise: easy to check."""

    name = "pattern"

    def __init__(self, classes: list[str], channels: int = 1, counts: list[int] | None = None):
        self.schema = ImageSchema(
            classes=classes,
            size=8,
            channels=channels,
            class_counts=counts or [10] * len(classes),
        )

    def sample(self, labels, *, seed: int = 0) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64)
        rng = np.random.default_rng(seed)
        base = (20 * labels).astype(np.uint8)[:, None, None, None]
        noise = rng.integers(0, 5, (len(labels), self.schema.channels, 8, 8), dtype=np.uint8)
        return base + noise


def _manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_folder_layout_manifest_and_classes(tmp_path):
    synth = PatternSynthesizer(["cat", "dog", "empty"], counts=[3, 1, 0])
    summary = generate(synth, 40, tmp_path / "synth", seed=1, chunk_size=7, progress=False)
    out = tmp_path / "synth"

    assert summary["per_class"] == {"cat": 30, "dog": 10, "empty": 0}
    assert json.loads((out / "classes.json").read_text()) == ["cat", "dog", "empty"]
    assert (out / "empty").is_dir() and not any((out / "empty").iterdir())  # present, even empty
    rows = _manifest(out)
    assert len(rows) == 40
    assert {r["label"] for r in rows} == {"cat", "dog"}
    for row in rows:
        path = out / row["file"]
        assert path.parent.name == row["label"]
        pixels = np.asarray(Image.open(path))
        assert pixels.shape == (8, 8) and pixels.dtype == np.uint8
        # The image is of the class it is filed under: labels come from the condition.
        level = 20 * ["cat", "dog", "empty"].index(row["label"])
        assert level <= pixels.min() and pixels.max() < level + 5
    assert sorted(p.name for p in (out / "dog").iterdir()) == [f"{i:06d}.png" for i in range(10)]
    assert json.loads((out / "generation.json").read_text())["images"] == 40


def test_same_seed_same_files_and_rgb(tmp_path):
    synth = PatternSynthesizer(["a", "b"], channels=3)
    generate(synth, 12, tmp_path / "one", seed=3, chunk_size=5, progress=False)
    generate(synth, 12, tmp_path / "two", seed=3, chunk_size=5, progress=False)
    first = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    for rel in first:
        a = np.asarray(Image.open(tmp_path / "one" / rel))
        b = np.asarray(Image.open(tmp_path / "two" / rel))
        assert a.shape == (8, 8, 3) and np.array_equal(a, b)


def test_counts_and_balance(tmp_path):
    synth = PatternSynthesizer(["a", "b", "c"], counts=[8, 1, 1])
    summary = generate(synth, 9, tmp_path / "bal", balance=True, progress=False)
    assert summary["per_class"] == {"a": 3, "b": 3, "c": 3}
    summary = generate(synth, None, tmp_path / "cnt", counts={"c": 4}, progress=False)
    assert summary["per_class"] == {"a": 0, "b": 0, "c": 4}


def test_regenerating_replaces_the_previous_set(tmp_path):
    synth = PatternSynthesizer(["a", "b"])
    generate(synth, 20, tmp_path / "s", progress=False)
    generate(synth, 4, tmp_path / "s", progress=False)
    assert len(list((tmp_path / "s").rglob("*.png"))) == 4
    assert len(_manifest(tmp_path / "s")) == 4


def test_refuses_a_folder_it_did_not_write(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(AugmentError, match="refusing to replace"):
        generate(PatternSynthesizer(["a", "b"]), 4, folder, progress=False)
    assert (folder / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("label", ["../escape", "a/b", "..", ""])
def test_class_names_cannot_leave_the_folder(tmp_path, label):
    synth = PatternSynthesizer(["ok", label])
    with pytest.raises(AugmentError, match="unsafe name"):
        generate(synth, 4, tmp_path / "out", progress=False)
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "out").exists()


def test_table_formats_are_rejected_for_images(tmp_path):
    with pytest.raises(AugmentError, match="for images: use png"):
        generate(PatternSynthesizer(["a", "b"]), 4, tmp_path / "o", format="csv", progress=False)
