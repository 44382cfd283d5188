"""The image evaluation: fidelity maths, recipes, classic augmentation, the protocol's isolation of
the test split, and an end-to-end run with its written outputs.

Small and fast: a bundle of 8x8 grey images of three patterns built here, a fake synthesizer that
draws class-dependent images, and a few classifier steps per fit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from augment.errors import AugmentError
from augment.evaluation.results import EvaluationResult
from augment.evaluation.stats import mean_ci, paired_gains
from augment.images.bundle import ImageBundle, ImageSplit, write_image_bundle
from augment.images.evaluation import classifiers as clf_mod
from augment.images.evaluation.classifiers import (
    build_classifier,
    classic_augment,
    evaluation_interval,
    predict_proba,
    resolve_classifier,
    steps_cap,
    train_classifier,
)
from augment.images.evaluation.fidelity import (
    frechet_distance,
    frechet_distance_from_stats,
    inception_features,
    load_inception,
    prdc,
)
from augment.images.evaluation.recipes import (
    ImagePool,
    mix_ratio,
    per_class_subset,
    validation_subset,
)
from augment.images.evaluation.report import summary_markdown, write_image_evaluation
from augment.images.evaluation.runner import evaluate_images
from augment.images.schema import ImageSchema

SIZE = 8
CLASSES = ["stripes", "bars", "square"]
TRAIN_PER_CLASS = (30, 30, 20)  # the smallest class has 20: a sweep point of 25 is skipped


# -- fixtures ------------------------------------------------------------------------------------
def _pattern(c: int) -> np.ndarray:
    img = np.zeros((SIZE, SIZE))
    if c == 0:
        img[::2, :] = 1.0  # horizontal stripes
    elif c == 1:
        img[:, ::2] = 1.0  # vertical bars
    else:
        img[2:6, 2:6] = 1.0  # a centred square
    return img


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image: its class pattern at a random brightness plus noise (so all are distinct)."""
    out = np.empty((len(labels), 1, SIZE, SIZE), dtype=np.uint8)
    for i, c in enumerate(labels):
        level = rng.uniform(150, 230)
        noisy = _pattern(int(c)) * level + rng.uniform(0, 60, (SIZE, SIZE))
        out[i, 0] = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def _split(counts: tuple[int, ...], rng: np.random.Generator) -> ImageSplit:
    labels = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(labels)
    return ImageSplit(_images(labels, rng), labels)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> ImageBundle:
    rng = np.random.default_rng(0)
    splits = {
        "train": _split(TRAIN_PER_CLASS, rng),
        "validation": _split((5, 5, 5), rng),
        "test": _split((8, 8, 8), rng),
    }
    schema = ImageSchema(classes=CLASSES, size=SIZE, channels=1, class_counts=list(TRAIN_PER_CLASS))
    return write_image_bundle(tmp_path_factory.mktemp("patterns") / "prepared", schema, splits)


class PatternSynth:
    """Test double: class means of the images it was fitted on, plus seeded noise.

    Records every split it is fitted on in ``log``, so tests can check no test image reaches a fit.
    """

    name = "patterns"

    def __init__(self, log: list[ImageSplit] | None = None) -> None:
        self.log = log if log is not None else []
        self.schema: ImageSchema | None = None

    def fit(self, data, schema, *, seed=0, device="auto", progress=True, snapshots=None) -> dict:
        self.log.append(ImageSplit(data.images.copy(), data.labels.copy()))
        self.schema = schema
        self.means = np.stack(
            [data.images[data.labels == c].mean(axis=0) for c in range(len(schema.classes))]
        )
        return {}

    def sample(self, labels, *, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        labels = np.asarray(labels, dtype=np.int64)
        noise = rng.normal(0, 25, (len(labels), *self.means.shape[1:]))
        return np.clip(self.means[labels] + noise, 0, 255).astype(np.uint8)

    def save(self, directory) -> None:  # pragma: no cover - not used
        raise NotImplementedError


FITS: list[ImageSplit] = []  # every split a synthesizer was fitted on
TRAINED: list[np.ndarray] = []  # every classifier training set
STOPPED_ON: list[np.ndarray] = []  # the validation images of every early-stopped fit


def pattern_factory(subset: ImageSplit, schema: ImageSchema, seed: int) -> PatternSynth:
    synth = PatternSynth(log=FITS)
    synth.fit(subset, schema, seed=seed)
    return synth


FAST = {
    "steps": 15,
    "epochs": None,
    "batch_size": 32,
    "fidelity_images": 20,
    "samples_per_class": 3,
    "pretrain_steps": 4,
    "pretrain_images": 30,
}


@pytest.fixture(scope="module")
def result(bundle: ImageBundle) -> EvaluationResult:
    FITS.clear()
    TRAINED.clear()
    STOPPED_ON.clear()
    original = clf_mod.train_classifier

    def recording(images, labels, **kwargs):
        TRAINED.append(images.cpu().numpy().copy())
        if kwargs.get("validation_images") is not None:
            STOPPED_ON.append(kwargs["validation_images"].cpu().numpy().copy())
        return original(images, labels, **kwargs)

    synth = PatternSynth(log=FITS)
    synth.fit(bundle.train, bundle.schema)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clf_mod, "train_classifier", recording)
        return evaluate_images(
            bundle,
            ratios=(0.5, 1.0),
            per_class=(5, 25),
            seeds=3,
            progress=False,
            synthesizer=synth,
            factory=pattern_factory,
            jobs=1,  # in this process, where the recording stand-in is patched in
            **FAST,
        )


# -- fidelity maths ------------------------------------------------------------------------------
def test_frechet_distance_of_identical_sets_is_zero() -> None:
    x = np.random.default_rng(0).normal(size=(500, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_gaussian_closed_form() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 1.0])
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    want = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum())
    got = frechet_distance_from_stats(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(want, rel=1e-9)
    # Equal (full) covariances: only the means differ.
    a = np.random.default_rng(1).normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    assert frechet_distance_from_stats(mu1, cov, mu2, cov) == pytest.approx(
        float(((mu1 - mu2) ** 2).sum()), rel=1e-6
    )
    # From samples of those Gaussians: close to the closed form.
    rng = np.random.default_rng(2)
    x = rng.normal(mu1, np.sqrt(var1), size=(40_000, 3))
    y = rng.normal(mu2, np.sqrt(var2), size=(40_000, 3))
    assert frechet_distance(x, y) == pytest.approx(want, rel=0.03)


def test_frechet_distance_with_fewer_images_than_features_matches_the_covariance_form() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 40)) + 1.0, rng.normal(size=(25, 40)) * 1.5
    stats = frechet_distance_from_stats(
        x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    )
    assert frechet_distance(x, y) == pytest.approx(stats, rel=1e-8)


def test_prdc_identical_and_disjoint_sets() -> None:
    x = np.random.default_rng(0).normal(size=(200, 4))
    same = prdc(x, x, k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    # Each real ball holds its centre and its k neighbours: density (k + 1) / k.
    assert same["density"] == pytest.approx(6 / 5)
    far = prdc(x, x + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    with pytest.raises(ValueError):
        prdc(x[:5], x[:5], k=5)


def test_inception_features_from_local_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp_path / "inception.safetensors"))
    torch.save(state, tmp_path / "inception.pth")
    images = np.random.default_rng(0).integers(0, 256, (3, 1, SIZE, SIZE), dtype=np.uint8)
    feats = []
    for name in ("inception.safetensors", "inception.pth"):
        model = load_inception(tmp_path / name, torch.device("cpu"))
        feats.append(inception_features(model, images, torch.device("cpu")))
    assert feats[0].shape == (3, 2048)
    np.testing.assert_allclose(feats[0], feats[1], rtol=1e-5, atol=1e-6)
    (tmp_path / "bad.pth").write_bytes(b"not a state dict")
    with pytest.raises(AugmentError, match="bad.pth"):
        load_inception(tmp_path / "bad.pth", torch.device("cpu"))


# -- recipes ------------------------------------------------------------------------------------
def test_per_class_subset_has_k_per_class_and_is_seeded(bundle: ImageBundle) -> None:
    train = bundle.train
    a = per_class_subset(train, 7, np.random.default_rng(3))
    b = per_class_subset(train, 7, np.random.default_rng(3))
    c = per_class_subset(train, 7, np.random.default_rng(4))
    assert np.bincount(a.labels).tolist() == [7, 7, 7]
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    rows = {img.tobytes() for img in train.images}
    assert all(img.tobytes() in rows for img in a.images)  # drawn from the training split
    with pytest.raises(AugmentError, match="fewer than 21"):
        per_class_subset(train, 21, np.random.default_rng(0))


def test_image_pool_is_class_proportional_and_nested(bundle: ImageBundle) -> None:
    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    pool = ImagePool(synth, bundle.train.labels, 3, (1, SIZE, SIZE), 160, seed=0)
    half, full = pool.take(40), pool.take(80)
    assert np.bincount(full.labels).tolist() == [30, 30, 20]  # the real mix 30:30:20
    assert np.bincount(half.labels).tolist() == [15, 15, 10]
    for c in range(3):  # the first images of each class block: nested prefixes
        np.testing.assert_array_equal(
            half.images[half.labels == c], full.images[full.labels == c][: (half.labels == c).sum()]
        )
    with pytest.raises(AugmentError, match="fewer than"):
        pool.take(1000)


def test_mix_ratio_is_one_or_the_middle_ratio() -> None:
    assert mix_ratio([0.5, 1.0, 2.0]) == 1.0
    assert mix_ratio([0.5, 2.0, 4.0]) == 2.0
    assert mix_ratio([3.0]) == 3.0


# -- classifiers and classic augmentation -----------------------------------------------------
def test_classic_augmentation_keeps_shape_and_flips_only_when_asked() -> None:
    x = torch.zeros(256, 1, 16, 16)
    x[:, :, 3:13, 2:6] = 1.0  # a bright block on the left
    gen = torch.Generator().manual_seed(0)
    out = classic_augment(x, gen)
    assert out.shape == x.shape and out.dtype == x.dtype
    left, right = out[..., :8].sum(dim=(1, 2, 3)), out[..., 8:].sum(dim=(1, 2, 3))
    assert (left > right).all()  # never mirrored
    assert not torch.equal(out[0], out[1])  # each image gets its own parameters
    flipped = classic_augment(x, gen, flip=True)
    left, right = flipped[..., :8].sum(dim=(1, 2, 3)), flipped[..., 8:].sum(dim=(1, 2, 3))
    assert 0.3 < (right > left).float().mean() < 0.7
    # With every parameter at zero the map is the identity.
    same = classic_augment(x, gen, degrees=0.0, scale=(1.0, 1.0), shift_share=0.0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_classifier_choice_and_shapes() -> None:
    assert resolve_classifier("auto", 8) == "cnn"
    assert resolve_classifier("auto", 64) == "resnet18"
    with pytest.raises(AugmentError, match="'vgg'"):
        resolve_classifier("vgg", 8)
    for name, channels, size in (("cnn", 1, 28), ("resnet18", 3, 40), ("resnet18", 1, 8)):
        net = build_classifier(name, channels, size, 4).eval()
        with torch.no_grad():
            assert net(torch.zeros(2, channels, size, size)).shape == (2, 4)


def test_training_is_deterministic_per_seed(bundle: ImageBundle) -> None:
    images = torch.from_numpy(bundle.train.images)
    labels = torch.from_numpy(bundle.train.labels)
    test = torch.from_numpy(bundle.test.images)
    kw = {"arch": "cnn", "num_classes": 3, "steps": 10, "batch_size": 16, "augment": True}
    a = predict_proba(train_classifier(images, labels, seed=1, **kw), test)
    b = predict_proba(train_classifier(images, labels, seed=1, **kw), test)
    c = predict_proba(train_classifier(images, labels, seed=2, **kw), test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# -- early stopping ------------------------------------------------------------------------------
def _fit(bundle: ImageBundle, **kw: Any):
    split = bundle.split("validation")
    return train_classifier(
        torch.from_numpy(bundle.train.images),
        torch.from_numpy(bundle.train.labels),
        arch="cnn",
        num_classes=3,
        batch_size=16,
        validation_images=torch.from_numpy(split.images),
        validation_labels=torch.from_numpy(split.labels),
        **{"seed": 1, **kw},
    )


def test_fine_tuning_starts_from_a_copy_of_init(bundle: ImageBundle) -> None:
    pretrained = _fit(bundle, steps=5)
    before = {k: v.clone() for k, v in pretrained.named_parameters()}
    # lr 0: the fine-tuned network keeps the weights it started from, which are init's
    tuned = dict(_fit(bundle, steps=3, lr=0.0, init=pretrained).named_parameters())
    fresh = dict(_fit(bundle, steps=3, lr=0.0).named_parameters())
    for name, value in before.items():
        assert torch.equal(tuned[name], value)
        assert torch.equal(dict(pretrained.named_parameters())[name], value)  # init untouched
    assert not all(torch.equal(fresh[name], value) for name, value in before.items())


def test_early_stopping_stops_well_before_the_cap_when_validation_is_easy(
    bundle: ImageBundle,
) -> None:
    model = _fit(bundle, steps=2000, patience=2, eval_every=10)
    log = model.training_log
    assert log.best_macro_f1 == 1.0  # three clean patterns: perfect soon
    assert log.stopped_early and log.steps < 200 and log.best_step <= log.steps
    assert log.evaluations == math.ceil(log.steps / 10)
    # min_steps: the same easy set, but no fit ends sooner (the former fixed budget's floor)
    floored = _fit(bundle, steps=2000, patience=2, eval_every=10, min_steps=150).training_log
    assert 150 <= floored.steps < 400 and floored.stopped_early


def test_early_stopping_returns_the_best_weights_not_the_last(
    bundle: ImageBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted validation scores: the second is the best, so the weights at that point come
    back, not those the fit ended with."""
    scripted = iter([(0.5, 1.0), (0.9, 0.5), *[(0.6, 0.4)] * 50])
    seen: list[dict[str, torch.Tensor]] = []

    def scores(model, images, labels, num_classes):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(clf_mod, "_validation_scores", scores)
    model = _fit(bundle, steps=400, patience=3, eval_every=5)
    log = model.training_log
    assert log.best_step == 10 and log.best_macro_f1 == 0.9 and log.steps < 400
    state = model.state_dict()
    for key, value in seen[1].items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert any(not torch.equal(state[k], v) for k, v in seen[-1].items())


def test_early_stopping_is_deterministic_per_seed(bundle: ImageBundle) -> None:
    test = torch.from_numpy(bundle.test.images)
    kw = {"steps": 60, "patience": 2, "eval_every": 10, "augment": True}
    a, b, c = _fit(bundle, **kw), _fit(bundle, **kw), _fit(bundle, seed=2, **kw)
    assert a.training_log == b.training_log
    np.testing.assert_array_equal(predict_proba(a, test), predict_proba(b, test))
    assert not np.array_equal(predict_proba(a, test), predict_proba(c, test))


def test_without_patience_a_fit_runs_its_fixed_steps(bundle: ImageBundle) -> None:
    test = torch.from_numpy(bundle.test.images)
    fixed = _fit(bundle, steps=23, patience=None)
    assert fixed.training_log.steps == 23 and fixed.training_log.evaluations == 0
    # The validation images are then unused: the fit is the one without them.
    plain = train_classifier(
        torch.from_numpy(bundle.train.images), torch.from_numpy(bundle.train.labels),
        arch="cnn", num_classes=3, batch_size=16, seed=1, steps=23,
    )  # fmt: skip
    np.testing.assert_array_equal(predict_proba(fixed, test), predict_proba(plain, test))


def test_the_step_cap_grows_with_the_training_set() -> None:
    caps = [steps_cap(n, 128, epochs=100, floor=300, ceiling=3000) for n in (10, 500, 2000, 10**6)]
    assert caps == [300, 391, 1563, 3000]  # floor, 100 passes, 100 passes, ceiling
    assert steps_cap(50, 128, epochs=100, floor=30, ceiling=3000) == 100  # one step a pass
    assert [evaluation_interval(n, 128) for n in (50, 2000, 60_000)] == [10, 15, 100]


def test_validation_subset_keeps_at_most_k_or_the_floor_per_class() -> None:
    labels = np.repeat([0, 1, 2], [50, 50, 8])
    split = ImageSplit(np.arange(108, dtype=np.uint8).reshape(108, 1, 1, 1), labels)
    picked = validation_subset(split, np.array([5, 40, 5]), 20, np.random.default_rng(0))
    assert np.bincount(picked.labels).tolist() == [20, 40, 8]
    again = validation_subset(split, np.array([5, 40, 5]), 20, np.random.default_rng(0))
    np.testing.assert_array_equal(picked.images, again.images)


def test_the_pretrained_recipe_fine_tunes_a_network_trained_on_synthetic_images(
    bundle: ImageBundle,
) -> None:
    calls: list[dict[str, Any]] = []
    original = clf_mod.train_classifier

    def recording(images, labels, **kwargs):
        model = original(images, labels, **kwargs)
        calls.append({"images": images.cpu().numpy(), "model": model, **kwargs})
        return model

    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    settings = {**FAST, "pretrain_steps": 7, "pretrain_images": 40, "samples_per_class": 0}
    kw = {"ratios": (1.0,), "per_class": (), "seeds": 1, "progress": False, "jobs": 1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clf_mod, "train_classifier", recording)
        result = evaluate_images(bundle, synthesizer=synth, **kw, **settings)
    tuned = [i for i, call in enumerate(calls) if call.get("init") is not None]
    assert len(tuned) == 1  # one seed, one block
    first, then = calls[tuned[0] - 1], calls[tuned[0]]
    assert then["init"] is first["model"]  # fine-tuned from the pretrained network
    train_images = {img.tobytes() for img in bundle.train.images}
    # pretraining: 40 synthetic images (none a real one), classic augmentation, fixed steps
    assert len(first["images"]) == 40 and first["steps"] == 7 and first["augment"]
    assert not any(img.tobytes() in train_images for img in first["images"])
    assert first.get("patience") is None
    # then real + classic, exactly as that recipe trains
    classic = next(c for c in calls if c.get("init") is None and c["augment"] and c is not first)
    assert np.array_equal(then["images"], classic["images"]) and then["augment"]
    assert then["steps"] == classic["steps"] and then["seed"] == classic["seed"]
    # its cost counts both fits
    fine_tune = then["model"].training_log.steps
    assert result.full.costs["real+classic+pretrained"]["steps"] == [fine_tune + 7]
    assert result.recipe("real+classic+pretrained").role == "combined"
    assert "7 steps on 40 synthetic images" in result.recipe("real+classic+pretrained").description
    assert result.settings["pretrain_steps"] == 7 and result.settings["pretrain_images"] == 40
    off = evaluate_images(bundle, synthesizer=synth, **kw, **{**settings, "pretrain_steps": 0})
    assert "real+classic+pretrained" not in off.full.recipes
    with pytest.raises(AugmentError, match="pretrain_steps"):
        evaluate_images(bundle, synthesizer=synth, **kw, **{**settings, "pretrain_steps": -1})


def test_the_fixed_budget_is_still_an_option(bundle: ImageBundle) -> None:
    """``patience: null, epochs: null``: every fit runs ``steps``, as before early stopping;
    with them the budget grows with the recipe's images."""
    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    common = {**FAST, "steps": 12, "samples_per_class": 0, "fidelity_images": 8}
    kw = {"ratios": (2.0,), "per_class": (), "seeds": 1, "progress": False, "synthesizer": synth}
    kw["jobs"] = 1  # the budgets are under test, not the fan-out: no worker processes to start
    fixed = evaluate_images(bundle, **kw, **{**common, "patience": None})
    # the pretrained recipe's cost counts its pretraining steps too
    assert {r: c["steps"] for r, c in fixed.full.costs.items()} == {
        r: [12 + 4 * (r == "real+classic+pretrained")] for r in fixed.full.recipes
    }
    assert fixed.settings["patience"] is None
    grown = evaluate_images(bundle, **kw, **{**common, "epochs": 6, "patience": 50})
    steps = {r: c["steps"][0] for r, c in grown.full.costs.items()}
    assert steps["real"] == 15 and steps["real+synth@2.0"] == 45  # 6 passes of 80 / 240


# -- the protocol --------------------------------------------------------------------------------
def test_test_images_never_reach_a_fit(result: EvaluationResult, bundle: ImageBundle) -> None:
    test_images = {img.tobytes() for img in bundle.test.images}
    train_images = {img.tobytes() for img in bundle.train.images}
    assert FITS and TRAINED
    for split in FITS:
        assert not any(img.tobytes() in test_images for img in split.images)
        assert all(img.tobytes() in train_images for img in split.images)
    for images in TRAINED:
        assert not any(img.tobytes() in test_images for img in images)
    # Early stopping looks at validation images only, in every fit.
    validation = {img.tobytes() for img in bundle.split("validation").images}
    # Per seed and block the pretrained recipe's first fit, a fixed budget on synthetic images.
    pretraining = 3 * len(result.blocks)
    assert len(STOPPED_ON) == len(TRAINED) - pretraining
    for images in STOPPED_ON:
        assert all(img.tobytes() in validation for img in images)
    # One GAN retrain per usable sweep point, on exactly k images per class.
    assert [np.bincount(s.labels).tolist() for s in FITS[1:]] == [[5, 5, 5]]
    main, sweep = len(result.full.recipes), len(result.sweep[0].recipes)
    assert len(TRAINED) == 3 * main + 3 * sweep + pretraining


def test_the_sweep_can_draw_a_subset_and_retrain_per_seed(bundle: ImageBundle) -> None:
    fits: list[ImageSplit] = []

    def logging_factory(subset: ImageSplit, schema: ImageSchema, seed: int) -> PatternSynth:
        synth = PatternSynth(log=fits)
        synth.fit(subset, schema, seed=seed)
        return synth

    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    common = {**FAST, "samples_per_class": 0, "fidelity_images": 8, "patience": None}
    got = evaluate_images(
        bundle, ratios=(1.0,), per_class=(5,), seeds=2, progress=False, synthesizer=synth,
        factory=logging_factory, sweep_retrain="seed", jobs=1, **common,
    )  # fmt: skip
    assert [np.bincount(s.labels).tolist() for s in fits] == [[5, 5, 5]] * 2
    assert fits[0].images.tobytes() != fits[1].images.tobytes()  # each seed its own subset
    assert got.sweep[0].synthesizer == "retrained per seed"
    assert "also which real images were kept" in got.interval_covers


def test_result_blocks_recipes_and_skipped_points(result: EvaluationResult) -> None:
    assert result.modality == "image" and result.classifiers == ["cnn"]
    assert [b.key for b in result.blocks] == ["5", "all"]
    assert [r.name for r in result.recipes_in(result.full)] == [
        "real",
        "real+classic",
        "real+synth@0.5",
        "real+synth@1.0",
        "real+classic+synth@1.0",
        "real+classic+pretrained",
        "synth",
    ]
    assert [r.name for r in result.recipes_in(result.block("5"))] == [
        "real",
        "real+classic",
        "real+synth@1.0",
        "real+classic+synth@1.0",
        "real+classic+pretrained",
    ]
    roles = {r.name: r.role for r in result.recipes}
    assert roles["real+classic"] == "baseline" and roles["real+classic+synth@1.0"] == "combined"
    assert roles["real+classic+pretrained"] == "combined"
    assert result.block("5").size == 15 and result.block("5").per_class == 5
    assert [s["per_class"] for s in result.skipped] == [25]
    assert "'square' has only 20" in result.skipped[0]["reason"]
    fid = result.fidelity
    assert fid.images == 20 and fid.real_split == "test"
    assert fid.classifier.synthetic["frechet_distance"] >= 0
    assert 0 <= fid.classifier.synthetic["precision"] <= 1
    assert fid.inception is None and "never downloaded" in fid.inception_skipped
    assert result.samples.startswith(b"\x89PNG")


def test_gains_are_paired_per_seed(result: EvaluationResult) -> None:
    for block in result.blocks:
        for recipe in block.recipes:
            values = block.values(recipe, "cnn", "macro_f1")
            assert len(values) == 3
            if recipe == "real":
                continue
            want = mean_ci(paired_gains(values, block.values("real", "cnn", "macro_f1")))
            got = block.gain(recipe, "cnn", "macro_f1")
            for key in ("mean", "low", "high"):
                assert getattr(got, key) == pytest.approx(want[key], nan_ok=True)
            vs = block.gain(recipe, "cnn", "macro_f1", versus="real+classic")
            if recipe != "real+classic":
                classic = block.values("real+classic", "cnn", "macro_f1")
                assert vs.mean == pytest.approx(mean_ci(paired_gains(values, classic))["mean"])
            else:
                assert vs is None


def test_outputs_are_written(result: EvaluationResult, tmp_path: Path) -> None:
    metrics, plots, summary = tmp_path / "m.json", tmp_path / "plots", tmp_path / "s.md"
    write_image_evaluation(result, metrics=metrics, plots=plots, summary=summary)
    data = json.loads(metrics.read_text())
    # the tracked numbers, under the keys dvc metrics show reads
    assert data["primary_metric"] == "macro_f1" and data["classifier"] == "cnn"
    assert set(data["real"]) == {"accuracy", "macro_f1"}
    assert set(data["gain"]) == {r.name for r in result.recipes} - {"real"}
    assert set(data["gain"]["real+synth@1.0"]) == {"mean", "low", "high"}
    assert set(data["low_data"]) == {"5"} and data["low_data"]["5"]["images"] == 15
    assert {"frechet_distance", "reference_frechet_distance", "precision"} <= set(data["fidelity"])
    # and the whole result, which reads back to the same numbers and summary
    back = EvaluationResult.from_dict(data)
    assert back.tracked() == result.tracked() and back.verdicts == result.verdicts
    assert summary_markdown(back) == summary_markdown(result)
    # every fit's cost is recorded and shown; a results file from before has none and still reads
    assert result.full.costs["real"]["steps"] == [15, 15, 15]
    assert back.full.cost("real")["steps"] == 15 and back.full.cost("real")["seconds"] > 0
    assert "## Classifier cost (mean per fit over seeds)" in summary_markdown(result)
    for block in data["blocks"]:
        del block["costs"]
    old = EvaluationResult.from_dict(data)
    assert old.full.costs == {} and old.full.cost("real") is None
    assert "Classifier cost" not in summary_markdown(old)

    ratio = pd.read_csv(plots / "gain_vs_ratio.csv")
    assert list(ratio.columns) == [
        "ratio",
        "synthetic",
        "synthetic_low",
        "synthetic_high",
        "classic",
        "classic_low",
        "classic_high",
    ]
    assert ratio["ratio"].tolist() == [0.5, 1.0]
    per_class = pd.read_csv(plots / "gain_vs_per_class.csv")
    assert per_class.columns[0] == "per_class"
    assert {"synthetic", "classic_low", "classic_synthetic_high"} <= set(per_class.columns)
    assert {"pretrained", "pretrained_low", "pretrained_high"} <= set(per_class.columns)
    assert per_class["per_class"].tolist() == [5, round(80 / 3, 1)]  # the full set last
    gain = result.block("5").gain("real+synth@1.0", "cnn", "macro_f1").mean
    assert per_class["synthetic"].iloc[0] == pytest.approx(gain, abs=1e-5)

    png = (plots / "samples.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    from PIL import Image

    with Image.open(plots / "samples.png") as picture:
        width, height = picture.size
    assert width > height  # 3 class rows of 3 real + 1 + 3 synthetic cells

    text = summary.read_text()
    first = text.splitlines()[0]
    assert first == result.verdict.text
    assert first.startswith(
        ("synthetic data helps: ", "no significant gain: ", "synthetic data hurts: ")
    )
    assert "vs real only (cnn, 95% CI over 3 seeds, chosen on validation among 2 ratios)" in first
    assert "; real + classic augmentation: " in first
    assert "; real + classic + 1× synthetic: " in first
    assert "Where real data is scarce: with 5 real images per class (15 images): " in text
    assert "which synthetic images are drawn" in text.splitlines()[4]
    for heading in ("## Scores", "## Gains over real only", "## Low-data sweep", "## Fidelity"):
        assert heading in text
    assert "Feature extractor: penultimate layer" in text
    assert "25 images per class skipped" in text


@pytest.mark.slow
def test_inception_fidelity_in_a_run(bundle: ImageBundle, tmp_path: Path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    result = evaluate_images(
        bundle,
        ratios=(1.0,),
        per_class=(),
        seeds=1,
        progress=False,
        synthesizer=synth,
        inception_weights=path,
        jobs=1,  # Inception features are under test, not the fan-out: no worker processes
        **{**FAST, "epochs": 2, "fidelity_images": 8, "samples_per_class": 0},
    )
    inc = result.fidelity.inception
    assert inc.features == 2048 and math.isfinite(inc.synthetic["frechet_distance"])
    assert "precision" in inc.reference and "precision" in inc.synthetic
    assert result.samples is None
    assert result.settings["epochs"] == 2.0
    assert result.verdict.tone == "untested" and result.low_data_verdict is None
    write_image_evaluation(
        result, metrics=tmp_path / "m.json", plots=tmp_path / "p", summary=tmp_path / "s.md"
    )
    assert not (tmp_path / "p" / "samples.png").exists()
    data = json.loads((tmp_path / "m.json").read_text())
    assert set(data["inception"]) >= {"frechet_distance", "reference_frechet_distance", "weights"}
    assert EvaluationResult.from_dict(data).fidelity.inception == inc
    text = (tmp_path / "s.md").read_text()
    assert "Inception-v3 pool features (2048)" in text
    assert "No point of the low-data sweep ran." in text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ratios": (0.0, 1.0)}, r"ratios must be positive numbers, got \[0.0, 1.0\]"),
        ({"ratios": (-1,)}, "-1"),
        ({"classifier": "vgg"}, "unknown classifier 'vgg'"),
        ({"per_class": (10, 0)}, "got 0"),
        ({"seeds": 0}, "seeds must be at least 1, got 0"),
        ({"steps": 0}, "steps must be at least 1, got 0"),
        ({"steps": 400, "max_steps": 300}, r"max_steps must be at least steps \(400\), got 300"),
        ({"patience": 0}, "patience must be at least 1"),
        ({"sweep_retrain": "fraction"}, "sweep_retrain must be one of per_class, seed"),
        ({"inception_weights": "/nowhere/inception.pth"}, "/nowhere/inception.pth"),
    ],
)
def test_bad_settings_are_user_errors(
    bundle: ImageBundle, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(AugmentError, match=message):
        evaluate_images(bundle, synthesizer=PatternSynth(), progress=False, **settings)


def test_a_synthesizer_with_wrong_images_is_an_error(bundle: ImageBundle) -> None:
    class Wrong(PatternSynth):
        def sample(self, labels, *, seed=0):
            return np.zeros((len(labels), 3, SIZE, SIZE), dtype=np.uint8)

    with pytest.raises(AugmentError, match="shape"):
        evaluate_images(
            bundle, per_class=(), seeds=1, progress=False, synthesizer=Wrong(), jobs=1, **FAST
        )


# -- the fan-out of the classifier fits ----------------------------------------------------------
@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> ImageBundle:
    from augment.steps.ingest import ingest

    return ingest("digits", out=tmp_path_factory.mktemp("digits") / "prepared", progress=False)


def digits_run(bundle: ImageBundle, **fanout: Any) -> dict[str, Any]:
    """A tiny evaluation of scikit-learn's 8x8 digits (2 seeds, one low-data point) as its
    metrics dict, less the wall times, which are all that may differ between backends."""
    synth = PatternSynth()
    synth.fit(bundle.train, bundle.schema)
    result = evaluate_images(
        bundle,
        ratios=(1.0,),
        per_class=(5,),
        seeds=2,
        progress=False,
        synthesizer=synth,
        factory=pattern_factory_quiet,
        **{**FAST, "steps": 10, "samples_per_class": 0},
        **fanout,
    )
    out = result.to_dict()
    assert out.pop("timings")["classifiers_s"] > 0
    for block in out["blocks"]:  # each fit's own time differs too; its steps do not
        assert all(sum(cost.pop("seconds")) > 0 for cost in block["costs"].values())
    return out


def pattern_factory_quiet(subset: ImageSplit, schema: ImageSchema, seed: int) -> PatternSynth:
    synth = PatternSynth()  # not logged in FITS: these runs are not the protocol's fixture
    synth.fit(subset, schema, seed=seed)
    return synth


@pytest.fixture(scope="module")
def digits_one_job(digits: ImageBundle) -> dict[str, Any]:
    return digits_run(digits, jobs=1)


@pytest.mark.parametrize("backend", [pytest.param("loky", marks=pytest.mark.slow), "threading"])
def test_image_fits_in_two_jobs_give_the_numbers_of_one(
    digits: ImageBundle, digits_one_job: dict[str, Any], backend: str
) -> None:
    assert [b["key"] for b in digits_one_job["blocks"]] == ["5", "all"]
    assert digits_run(digits, jobs=2, backend=backend) == digits_one_job
