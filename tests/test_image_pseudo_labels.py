"""Pseudo-labels: a judge trained on the labelled images gives unlabelled ones a class, and the
confident ones join their class for the image GAN (augment.images.pseudo_labels)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from augment.core.checkpoint import Checkpointing
from augment.core.training import resolve_precision
from augment.errors import AugmentError
from augment.images import gan as gan_module
from augment.images import pseudo_labels
from augment.images.bundle import ImageSplit
from augment.images.gan import ImageGAN
from augment.images.pseudo_labels import pseudo_label
from augment.images.schema import ImageSchema
from augment.info import format_info, model_info

CLASSES = ["dark", "grey", "bright"]
SCHEMA = ImageSchema(classes=CLASSES, size=8, channels=1)
FAST = {"steps": 4, "batch_size": 8, "channels": 2, "z_dim": 8, "threads": 1, "log_every": 2}
CPU = torch.device("cpu")


def separable(n: int, seed: int) -> ImageSplit:
    """Images whose class is their brightness: easy for any judge."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    levels = np.array([30, 128, 225])[labels]
    noise = rng.integers(-20, 20, (n, 1, 8, 8))
    return ImageSplit(np.clip(levels[:, None, None, None] + noise, 0, 255), labels)


@pytest.mark.parametrize("judge", ["consistency", "supervised"])
def test_the_judge_labels_what_the_labelled_images_teach(judge):
    data, extra = separable(30, 0), separable(24, 1)

    def label():
        return pseudo_label(
            data, extra.images, CLASSES, threshold=0.5, seed=0, device=CPU, threads=1, judge=judge
        )

    out = label()
    assert out.summary["labelled"] == 24 and len(out.unlabelled) == 0
    np.testing.assert_array_equal(out.labelled.images[:30], data.images)
    np.testing.assert_array_equal(out.labelled.labels[:30], data.labels)
    np.testing.assert_array_equal(out.labelled.labels[30:], extra.labels)  # all right
    assert out.summary["per_class"] == {"dark": 8, "grey": 8, "bright": 8}
    steps = 40 if judge == "consistency" else 80  # conftest's quick judges
    assert out.summary["judge"] == judge and out.summary["judge_steps"] == steps
    np.testing.assert_array_equal(label().labelled.labels, out.labelled.labels)


def test_the_consistency_judge_learns_from_the_unlabelled_images():
    """Its weights follow the unlabelled images (the consistency term is live), the labelled ones,
    the seed and the precision alone otherwise."""
    data = separable(30, 0)

    def weights(unlabelled: np.ndarray, seed: int = 0, precision: str = "fp32") -> torch.Tensor:
        judge = pseudo_labels.fit_consistency_judge(
            data, unlabelled, 3, seed=seed, device=CPU, threads=1, steps=30, precision=precision
        )
        return torch.cat(
            [w.flatten() for w in judge.state_dict().values() if w.is_floating_point()]
        )

    with pytest.raises(ValueError, match="needs labelled and unlabelled images"):
        weights(separable(24, 1).images[:0])
    first = weights(separable(24, 1).images)
    assert torch.equal(first, weights(separable(24, 1).images))
    assert not torch.equal(first, weights(separable(24, 2).images))
    assert not torch.equal(first, weights(separable(24, 1).images, seed=1))
    # It trains in the GAN's precision: bf16 autocast is live on the CPU too, and auto is what
    # this machine resolves it to (bf16 where the CPU multiplies bf16 natively).
    in_bf16 = weights(separable(24, 1).images, precision="bf16")
    assert not torch.equal(first, in_bf16)
    native = {"fp32": first, "bf16": in_bf16}[resolve_precision("auto", CPU)]
    assert torch.equal(weights(separable(24, 1).images, precision="auto"), native)


def test_the_strong_view_zeroes_a_square_of_each_image():
    x = torch.ones(64, 1, 28, 28)
    out = pseudo_labels.strong_augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    zeroed = (out == 0).flatten(1).sum(1)
    # Every image loses at least its cutout's share inside the frame: a 9x9 square's quarter or
    # more (its centre can sit in a corner), plus what the wider affine moves out of the frame.
    assert int(zeroed.min()) >= 25
    assert len(set(zeroed.tolist())) > 1  # each image its own square and affine


def test_only_guesses_at_the_threshold_or_above_join_a_class(monkeypatch):
    proba = np.array([[0.95, 0.03, 0.02], [0.5, 0.4, 0.1], [0.05, 0.06, 0.89], [0.0, 0.9, 0.1]])
    monkeypatch.setattr(pseudo_labels, "predict_proba", lambda judge, images: proba)
    extra = np.arange(4, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 8, 8), np.uint8)
    out = pseudo_label(separable(9, 0), extra, CLASSES, threshold=0.9, seed=0, device=CPU)
    np.testing.assert_array_equal(out.labelled.images[9:], extra[[0, 3]])
    np.testing.assert_array_equal(out.labelled.labels[9:], [0, 1])
    np.testing.assert_array_equal(out.unlabelled, extra[[1, 2]])
    np.testing.assert_array_equal(out.kept, [True, False, False, True])
    assert out.summary["labelled"] == 2 and out.summary["of"] == 4
    assert out.summary["per_class"] == {"dark": 1, "grey": 1, "bright": 0}


def test_the_gan_trains_on_the_pseudo_labelled_images(monkeypatch, tmp_path):
    seen = {}
    build = gan_module._ImageGANTask.build

    def spy(self, device, shard=slice(None)):
        seen["labelled"], seen["unlabelled"] = len(self._data), len(self._unlabelled)
        build(self, device, shard)

    monkeypatch.setattr(gan_module._ImageGANTask, "build", spy)
    data, extra = separable(30, 0), separable(24, 1).images
    gan = ImageGAN(**FAST, pseudo_labels=0.5, pseudo_label_judge="supervised")
    summary = gan.fit(data, SCHEMA, seed=0, device="cpu", progress=False, unlabelled=extra)
    kept = summary["pseudo_labels"]["labelled"]
    assert kept == 24 and seen == {"labelled": 30 + kept, "unlabelled": 24 - kept}
    assert summary["images"] == 30 and summary["unlabelled_images"] == 24
    gan.save(tmp_path / "model")
    shown = format_info(model_info(tmp_path / "model"))
    assert (
        "pseudo-labels 24 of 24 unlabelled images (p >= 0.5, supervised judge):"
        " dark=8, grey=8, bright=8"
    ) in shown


def test_a_resumed_run_takes_the_pseudo_labels_from_its_checkpoint(monkeypatch, tmp_path):
    """The judge is not trained again on resume; the resumed run ends on the uninterrupted
    run's weights. A checkpoint whose pseudo-labels were altered is refused in one line."""
    data = separable(30, 0)
    noise = np.random.default_rng(3).integers(0, 255, (12, 1, 8, 8), dtype=np.uint8)
    extra = np.concatenate([separable(12, 1).images.astype(np.uint8), noise])
    options = {**FAST, "steps": 6, "pseudo_labels": 0.97, "class_transition": [0.3, 0.6]}

    def fit(folder):
        gan = ImageGAN(**options)
        checkpoint = Checkpointing(tmp_path / folder, every=3)
        gan.fit(data, SCHEMA, device="cpu", progress=False, unlabelled=extra, checkpoint=checkpoint)
        return gan

    full = fit("uninterrupted")
    assert 0 < full.summary["pseudo_labels"]["labelled"] < 24  # some stay class-free
    end_step = gan_module._ImageGANTask.end_step

    def crash(self, step):
        end_step(self, step)
        if step == 4:
            raise RuntimeError("crashed")

    monkeypatch.setattr(gan_module._ImageGANTask, "end_step", crash)
    with pytest.raises(RuntimeError, match="crashed"):
        fit("crashed")
    monkeypatch.setattr(gan_module._ImageGANTask, "end_step", end_step)
    shutil.copytree(tmp_path / "crashed", tmp_path / "altered")

    def no_judge(*args, **kwargs):
        raise AssertionError("the judge was trained again")

    monkeypatch.setattr(pseudo_labels, "pseudo_label", no_judge)
    resumed = fit("crashed")
    assert resumed.summary["resumed_from"] == 3
    assert (
        resumed.summary["pseudo_labels"]["per_class"] == full.summary["pseudo_labels"]["per_class"]
    )
    for key, value in full.generator.state_dict().items():
        assert torch.equal(resumed.generator.state_dict()[key], value), key

    state = load_file(str(tmp_path / "altered" / "state.safetensors"))
    state["prepared.pseudo_classes"][0] = 7  # no such class
    save_file(state, str(tmp_path / "altered" / "state.safetensors"))
    with pytest.raises(AugmentError, match="pseudo-labels do not fit these images"):
        fit("altered")


def test_without_unlabelled_images_no_judge_is_trained(monkeypatch):
    def no_judge(*args, **kwargs):
        raise AssertionError("a judge was trained")

    monkeypatch.setattr(pseudo_labels, "pseudo_label", no_judge)
    summary = ImageGAN(**FAST, pseudo_labels=0.9).fit(
        separable(30, 0), SCHEMA, seed=0, device="cpu", progress=False
    )
    assert summary["pseudo_labels"] is None
    summary = ImageGAN(**FAST, pseudo_labels=None).fit(
        separable(30, 0), SCHEMA, device="cpu", progress=False, unlabelled=separable(6, 1).images
    )
    assert summary["pseudo_labels"] is None and summary["unlabelled_images"] == 6


@pytest.mark.parametrize("threshold", [0, -0.5, 1.5, "high", True])
def test_a_threshold_outside_0_1_is_refused(threshold):
    with pytest.raises(AugmentError, match="pseudo_labels must be"):
        ImageGAN(pseudo_labels=threshold)


@pytest.mark.parametrize("judge", ["fixmatch", "", None, 3])
def test_an_unknown_judge_is_refused(judge):
    with pytest.raises(AugmentError, match="pseudo_label_judge must be"):
        ImageGAN(pseudo_label_judge=judge)
    with pytest.raises(AugmentError, match="one of consistency, supervised, got 'fixmatch'"):
        ImageGAN(pseudo_label_judge="fixmatch")


def test_a_model_saved_before_the_judge_was_a_setting_says_supervised(tmp_path):
    gan = ImageGAN(**FAST)
    gan.fit(separable(30, 0), SCHEMA, seed=0, device="cpu", progress=False)
    gan.save(tmp_path / "model")
    config = tmp_path / "model" / "config.json"
    saved = json.loads(config.read_text())
    assert saved["hyperparameters"].pop("pseudo_label_judge") == "consistency"
    config.write_text(json.dumps(saved))
    assert ImageGAN.load(tmp_path / "model", "cpu").config.pseudo_label_judge == "supervised"


def test_class_free_images_nothing_draws_are_reported(package_log, monkeypatch):
    data, extra = separable(30, 0), separable(6, 1).images
    ImageGAN(**FAST, pseudo_labels=None).fit(
        data, SCHEMA, device="cpu", progress=False, unlabelled=extra
    )
    assert "6 unlabelled images are not used" in package_log.text
    package_log.clear()
    ImageGAN(**FAST, pseudo_labels=None, keep_unconditional=True).fit(
        data, SCHEMA, device="cpu", progress=False, unlabelled=extra
    )
    assert "not used" not in package_log.text
    proba = np.repeat([[0.95, 0.05, 0.0], [0.6, 0.4, 0.0]], 3, axis=0)
    monkeypatch.setattr(pseudo_labels, "predict_proba", lambda judge, images: proba)
    package_log.clear()
    ImageGAN(**FAST).fit(data, SCHEMA, device="cpu", progress=False, unlabelled=extra)
    assert "pseudo-labelled 3 of 6 unlabelled images (p >= 0.9)" in package_log.text
    assert "the other 3 are not used" in package_log.text
