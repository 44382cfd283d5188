"""Image sets that used to lose images without a word or fail with a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hostile_support import invoke, leftovers, one_line_error
from PIL import Image

import augment


def _pngs(folder, count: int, level: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        pixels = np.full((8, 8), (level + i) % 256, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")


def test_a_hidden_class_folder_is_named_not_silently_skipped(tmp_path, augment_log):
    root = tmp_path / "photos"
    _pngs(root / "cats", 6, 10)
    _pngs(root / "dogs", 6, 200)
    _pngs(root / ".birds", 40, 100)
    _pngs(root / "dogs" / ".thumbnails", 2, 50)
    result = invoke("ingest", "--source", root, "--out", tmp_path / "prep")
    assert result.exit_code == 0, result.output
    schema = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert schema["classes"] == ["cats", "dogs"]  # documented: hidden folders are not classes
    warnings = [m for m in augment_log if m.startswith("skipping hidden folder")]
    assert any(".birds/" in m and "40 image files" in m for m in warnings), augment_log
    assert any("dogs/.thumbnails/" in m and "2 image files" in m for m in warnings), augment_log


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("b" * 300, ["class label 'bbbb", "too long for a folder name", "300 bytes"]),
        ("../dog", ["class label '../dog'", "cannot name a folder"]),
        ("a/b", ["class label 'a/b'", "cannot name a folder"]),
        ("  ", ["cannot name a folder"]),
    ],
)
def test_a_class_label_that_cannot_name_a_folder_is_refused_at_ingest(tmp_path, label, words):
    """Class names become folder names when images are generated: such a label is refused where
    it is read, not after training, when generate would refuse it."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "labels.npz", x=x, y=np.array([label, "short"] * 6))
    result = invoke("ingest", "--source", tmp_path / "labels.npz", "--out", tmp_path / "prep")
    one_line_error(result, "labels.npz", *words)
    assert not (tmp_path / "prep").exists() and leftovers(tmp_path) == []


def _tampered_split(tmp_path, split: str, **tensors) -> object:
    """Prepared digits (5 per class) whose ``split`` file holds ``tensors`` in place of its own."""
    from safetensors.numpy import load_file, save_file

    prep = tmp_path / "prep"
    augment.ingest("digits", out=prep, per_class=5, progress=False)
    file = prep / f"{split}.safetensors"
    save_file({**load_file(file), **tensors}, str(file))
    return prep


SPLITS = {
    "a label past the classes": ("train", {"labels": np.full(50, 10, np.int64)},
                                 ["train.safetensors", "label 10", "10 classes"]),
    "a negative test label": ("test", {"labels": np.full(359, -1, np.int64)},
                              ["test.safetensors", "label -1"]),
    "float labels": ("validation", {"labels": np.zeros(180, np.float32)},
                     ["validation.safetensors", "float32"]),
    "labels for fewer images": ("train", {"labels": np.zeros(3, np.int64)},
                                ["train.safetensors", "(3,)", "50 images"]),
    "float images": ("train", {"images": np.zeros((50, 1, 8, 8), np.float32)},
                     ["train.safetensors", "float32 images"]),
    "fewer images than schema.json records": (
        "train", {"images": np.zeros((40, 1, 8, 8), np.uint8), "labels": np.zeros(40, np.int64)},
        ["train.safetensors", "holds 40 images", "schema.json says 50"]),
    "class counts other than the labels": ("train", {"labels": np.zeros(50, np.int64)},
                                           ["schema.json", "5 training images of class '0'",
                                            "train.safetensors holds 50"]),
}  # fmt: skip


@pytest.mark.parametrize("case", SPLITS)
def test_a_tampered_image_split(case, image_model, tmp_path):
    # Before, labels past the classes failed without naming the file (train), were dropped
    # with a warning (test, validation), float images were cast to uint8 without a word, and
    # schema.json's image and class counts were taken on trust.
    split, tensors, words = SPLITS[case]
    prep = _tampered_split(tmp_path, split, **tensors)
    result = invoke("evaluate", "--data", prep, "--model", image_model, "--seeds", 1,
                    "--metrics", tmp_path / "m.json", "--report", tmp_path / "r.md",
                    "--plots", tmp_path / "plots", "--device", "cpu")  # fmt: skip
    one_line_error(result, *words)
    assert not (tmp_path / "m.json").exists()
