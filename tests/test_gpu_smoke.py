"""CUDA smoke tests, one per GAN: a few bf16 training steps on the GPU, then sampling.

They skip without CUDA (the project's CI has none) and run unchanged where a GPU is lent:
`python3 -m pytest -m gpu`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import augment

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_image_gan_trains_in_bf16_channels_last_and_samples_on_cuda(tmp_path):
    data = augment.ingest("digits", out=tmp_path / "digits", per_class=20, progress=False)
    gan = augment.train(
        data, tmp_path / "model", steps=20, device="cuda", precision="bf16", progress=False
    )
    assert gan.summary["device"].startswith("cuda") and gan.summary["precision"] == "bf16"
    images = gan.sample(np.arange(10), seed=0)
    assert images.shape == (10, 1, 8, 8) and images.dtype == np.uint8
    again = augment.generate(tmp_path / "model", 30, tmp_path / "synth", device="cuda",
                             progress=False)  # fmt: skip
    assert again["images"] == 30


def test_table_gan_trains_in_bf16_and_samples_on_cuda(tmp_path, small_csv):
    data = augment.ingest(small_csv, "label", tmp_path / "prep")
    gan = augment.train(
        data, tmp_path / "model", epochs=3, batch_size=100, device="cuda", precision="bf16",
        progress=False,
    )  # fmt: skip
    assert gan.summary["device"].startswith("cuda") and gan.summary["precision"] == "bf16"
    rows = gan.sample(["no", "yes", "rare"], seed=0)
    assert list(rows["label"]) == ["no", "yes", "rare"]


def test_the_consistency_pseudo_label_judge_trains_on_cuda():
    from augment.images.bundle import ImageSplit
    from augment.images.pseudo_labels import pseudo_label

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = np.clip(np.array([30, 128, 225])[labels][:, None, None, None]
                     + rng.integers(-20, 20, (60, 1, 8, 8)), 0, 255).astype(np.uint8)  # fmt: skip
    out = pseudo_label(ImageSplit(images[:30], labels[:30]), images[30:], ["a", "b", "c"],
                       threshold=0.5, seed=0, device=torch.device("cuda"))  # fmt: skip
    assert out.summary["judge"] == "consistency" and out.summary["labelled"] == 30
    np.testing.assert_array_equal(out.labelled.labels[30:], labels[30:])
