"""Unlabelled images: ingest reads them beside a labelled set, keeps them out of every split, and
only the image GAN sees them; no classifier of the evaluation trains or scores on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from augment.cli import app
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle
from augment.images.evaluation import classifiers as clf_mod
from augment.images.evaluation.runner import evaluate_images
from augment.images.ingest import ingest_images
from augment.images.readers import load_digits_images
from augment.steps.train import train

LABELLED = 600  # of scikit-learn's 1,797 digits; the next ones are the unlabelled pool


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits_images()
    return images, labels


@pytest.fixture(scope="module")
def sources(tmp_path_factory, digits):
    """A labelled .npz, and the same unlabelled images as an .npz (x only) and as a folder of
    PNGs in arbitrary sub-folders; the unlabelled set ends with 5 copies of labelled images."""
    images, labels = digits
    root = tmp_path_factory.mktemp("sources")
    np.savez(root / "labelled.npz", x=images[:LABELLED], y=labels[:LABELLED])
    pool = np.concatenate([images[LABELLED : LABELLED + 100], images[:5]])
    np.savez(root / "unlabelled.npz", x=pool)
    for i, image in enumerate(pool):
        folder = root / "unlabelled" / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, sources) -> ImageBundle:
    out = tmp_path_factory.mktemp("prepared") / "data"
    return ingest_images(
        sources / "labelled.npz", out, unlabelled=sources / "unlabelled.npz", progress=False
    )


def _digests(images: np.ndarray) -> set[bytes]:
    return {np.ascontiguousarray(x).tobytes() for x in images}


def test_ingest_stores_unlabelled_apart_and_drops_copies(bundle):
    extra = bundle.unlabelled
    assert extra is not None and extra.dtype == np.uint8
    assert extra.shape == (100, 1, 8, 8)  # the 5 copies of labelled images are gone
    assert bundle.schema.splits["unlabelled"] == 100
    record = bundle.schema.source["unlabelled"]
    assert record["images"] == 105 and record["kept"] == 100
    assert sum(record["dropped_copies"].values()) == 5
    assert (bundle.path / "unlabelled.safetensors").is_file()
    for name in ("train", "validation", "test"):
        assert not _digests(extra) & _digests(bundle.split(name).images)
    assert sum(bundle.schema.splits[n] for n in ("train", "validation", "test")) == LABELLED


def test_a_folder_gives_the_same_images_as_the_npz(tmp_path, sources, bundle):
    other = ingest_images(
        sources / "labelled.npz", tmp_path / "d", unlabelled=sources / "unlabelled", progress=False
    )
    assert _digests(other.unlabelled) == _digests(bundle.unlabelled)
    assert other.schema.source["unlabelled"]["kind"] == "folder"


def test_without_unlabelled_there_is_none(tmp_path, sources):
    plain = ingest_images(sources / "labelled.npz", tmp_path / "d", progress=False)
    assert plain.unlabelled is None and "unlabelled" not in plain.schema.splits


def test_unlabelled_errors_are_user_errors(tmp_path, sources):
    labelled = sources / "labelled.npz"
    with pytest.raises(AugmentError, match="not found"):
        ingest_images(labelled, tmp_path / "a", unlabelled=tmp_path / "none", progress=False)
    np.savez(tmp_path / "copies.npz", x=np.load(labelled)["x"][:10])
    with pytest.raises(AugmentError, match="every image.*copy of a labelled image"):
        ingest_images(labelled, tmp_path / "b", unlabelled=tmp_path / "copies.npz", progress=False)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(AugmentError, match="unsupported unlabelled"):
        ingest_images(labelled, tmp_path / "c", unlabelled=tmp_path / "notes.txt", progress=False)


def test_cli_option_and_one_line_errors(tmp_path, sources, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["--quiet", "ingest", "--source", str(sources / "labelled.npz"), "--out", "prep"]
    ok = runner.invoke(app, [*args, "--unlabelled", str(sources / "unlabelled")])
    assert ok.exit_code == 0, ok.output
    schema = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert schema["splits"]["unlabelled"] == 100
    bad = runner.invoke(app, [*args[:-1], "prep2", "--unlabelled", "missing_folder"])
    assert bad.exit_code != 0
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("augment: error: ")
        and "missing_folder" in (lines[0])
    )


def test_only_the_gan_sees_unlabelled_images(tmp_path, bundle, monkeypatch):
    """The GAN trains on them (its summary counts them); every classifier the evaluation fits
    trains on, and every score is measured on, images that are none of them."""
    gan = train(bundle, tmp_path / "model", device="cpu", progress=False, steps=4,
                batch_size=8, channels=2, z_dim=8, class_transition=[0.0, 0.5])  # fmt: skip
    assert gan.summary["unlabelled_images"] == 100
    unlabelled = _digests(bundle.unlabelled)
    seen: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    original_train, original_predict = clf_mod.train_classifier, clf_mod.predict_proba

    def recording_train(images, labels, **kwargs):
        seen.append(images.cpu().numpy().copy())
        return original_train(images, labels, **kwargs)

    def recording_predict(model, images):
        scored.append(images.cpu().numpy().copy())
        return original_predict(model, images)

    monkeypatch.setattr(clf_mod, "train_classifier", recording_train)
    monkeypatch.setattr(clf_mod, "predict_proba", recording_predict)
    evaluate_images(bundle, tmp_path / "model", ratios=[1.0], per_class=[5], seeds=1,
                    steps=3, epochs=None, fidelity_images=20, samples_per_class=0,
                    pretrain_steps=3, pretrain_images=30,
                    progress=False, sweep_hyperparameters={"steps": 2}, jobs=1)  # fmt: skip
    assert seen and scored
    for images in seen + scored:
        assert not _digests(images) & unlabelled
