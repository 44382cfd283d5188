"""ImageGAN: network shapes, the discriminator's make-up, DiffAugment, a short fit, exact
class-conditional sampling, determinism, save/load without pickle, snapshots, grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from augment.errors import AugmentError
from augment.images.bundle import ImageSplit
from augment.images.diffaugment import color, cutout, diff_augment, parse_policy, translation
from augment.images.gan import (
    ImageGAN,
    ImageGANConfig,
    _ImageGANTask,
    ada_adjust,
    default_budget,
    lecam_penalty,
    mode_seeking_penalty,
    pack_images,
    resolve_budget,
    transition_weight,
)
from augment.images.grid import make_grid, save_grid
from augment.images.networks import Discriminator, Generator, base_resolution, resolutions
from augment.images.schema import ImageSchema

# Tiny settings: the point is behaviour, not quality.
FAST = {"steps": 6, "batch_size": 8, "channels": 2, "z_dim": 8, "threads": 1, "log_every": 3}


def make_data(n: int = 40, size: int = 8, channels: int = 1, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    labels = np.arange(n) % classes
    schema = ImageSchema(classes=[f"c{i}" for i in range(classes)], size=size, channels=channels)
    return ImageSplit(images, labels), schema


def task_config(schema: ImageSchema, **settings) -> ImageGANConfig:
    """FAST with the budget resolved, as fit() hands it to the training task."""
    config = ImageGANConfig(**{**FAST, **settings})
    return resolve_budget(config, 40, schema, torch.device("cpu"))[0]


@pytest.fixture(scope="module")
def fitted() -> ImageGAN:
    data, schema = make_data()
    gan = ImageGAN(**FAST)
    gan.fit(data, schema, seed=0, device="cpu", progress=False)
    return gan


# ----------------------------------------------------------------------------- networks
@pytest.mark.parametrize(
    ("size", "base"), [(8, 4), (28, 7), (32, 4), (64, 4), (10, 5), (9, 9), (12, 6)]
)
def test_base_resolution(size, base):
    assert base_resolution(size) == base
    assert resolutions(size)[0] == base and resolutions(size)[-1] == size


@pytest.mark.parametrize("size", [8, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_network_shapes(size, channels):
    gen = Generator(size, channels, num_classes=4, z_dim=8, channels=2)
    disc = Discriminator(size, channels, num_classes=4, channels=2)
    y = torch.tensor([0, 3, 1])
    images = gen(torch.randn(3, 8), y)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert disc(images, y).shape == (3,)


def test_discriminator_has_spectral_norm_and_no_batchnorm():
    disc = Discriminator(28, 3, num_classes=5, channels=2)
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)
    assert not any(isinstance(m, norms) for m in disc.modules())
    layers = [
        m
        for m in disc.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | torch.nn.Embedding)
    ]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    # The projection term: the score depends on the label through the class embedding.
    x = torch.randn(2, 3, 28, 28)
    assert not torch.equal(disc(x, torch.tensor([0, 0])), disc(x, torch.tensor([1, 1])))


# --------------------------------------------------------------------------- DiffAugment
def test_diffaugment_shapes_and_ranges():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 12, 12) * 2 - 1
    for fn in (translation, cutout):
        out = fn(x)
        assert out.shape == x.shape
        # Moving pixels and zeroing squares never leaves the input's range.
        assert out.min() >= -1 and out.max() <= 1
    assert (cutout(x) == 0).any()
    out = color(x)
    assert out.shape == x.shape and torch.isfinite(out).all() and out.abs().max() < 5
    full = diff_augment(x, "color,translation,cutout")
    assert full.shape == x.shape and not torch.equal(full, x)
    grey = torch.rand(4, 1, 8, 8) * 2 - 1
    assert diff_augment(grey, "color,translation,cutout").shape == grey.shape


def test_diffaugment_empty_policy_is_identity_and_gradients_flow():
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    assert diff_augment(x, "") is x
    diff_augment(x, "color,translation,cutout").sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diffaugment_policy_errors():
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(AugmentError, match="zoom"):
        parse_policy("color,zoom")
    with pytest.raises(AugmentError, match="zoom"):
        ImageGAN(diffaugment="zoom")


def test_diffaugment_probability_zero_is_identity_one_changes_every_image():
    x = torch.rand(8, 1, 8, 8) + 1  # no zero pixels: cutout and translation change every image
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(diff_augment(x, "color,translation,cutout", gen, p=0.0), x)
    changed = diff_augment(x, "cutout", gen, p=torch.tensor(1.0))
    assert all(not torch.equal(a, b) for a, b in zip(changed, x, strict=True))
    half = diff_augment(x.repeat(50, 1, 1, 1), "cutout", gen, p=0.5)
    share = (half != x.repeat(50, 1, 1, 1)).flatten(1).any(1).float().mean()
    assert 0.35 < share < 0.65


# ------------------------------------------------------------ conditioning and regularisers
def test_transition_weight_schedule():
    span = (0.2, 0.6)
    weights = [transition_weight(s, 100, span) for s in (1, 20, 30, 40, 50, 60, 100)]
    assert weights == pytest.approx([0, 0, 0.25, 0.5, 0.75, 1, 1])
    assert transition_weight(1, 100, None) == 1.0
    assert transition_weight(5, 100, (0.0, 0.0)) == 1.0
    with pytest.raises(AugmentError, match="class_transition"):
        ImageGAN(class_transition=[0.6, 0.2])
    assert ImageGAN(class_transition=[0.1, 0.5]).config.to_dict()["class_transition"] == [0.1, 0.5]


def test_class_weight_zero_makes_both_networks_unconditional():
    torch.manual_seed(0)
    gen = Generator(8, 1, num_classes=3, z_dim=8, channels=2).eval()
    disc = Discriminator(8, 1, num_classes=3, channels=2).eval()  # no power iteration per call
    z, x = torch.randn(2, 8), torch.randn(2, 1, 8, 8)
    a, b = torch.tensor([0, 0]), torch.tensor([2, 1])
    gen.class_weight = 0.0
    assert torch.equal(gen(z, a), gen(z, b))
    assert torch.equal(disc(x, a, 0.0), disc(x, b, 0.0))
    unconditional, projection = disc(x, a, split=True)
    assert torch.allclose(disc(x, a, 0.5), unconditional + 0.5 * projection)
    gen.class_weight = 1.0
    assert not torch.equal(gen(z, a), gen(z, b))


def test_generator_from_a_mix_of_class_embeddings():
    # Images between two classes (benchmarks/image_synthetic_labels_validation.py, "mix"): a
    # class's own embedding gives its images, a mix gives others, weighted like a label.
    torch.manual_seed(0)
    gen = Generator(8, 1, num_classes=3, z_dim=8, channels=2).eval()
    z, a, b = torch.randn(2, 8), torch.tensor([0, 1]), torch.tensor([2, 2])
    assert torch.equal(gen.from_embedding(z, gen.embed(a)), gen(z, a))
    mixed = gen.from_embedding(z, 0.5 * gen.embed(a) + 0.5 * gen.embed(b))
    assert not torch.equal(mixed, gen(z, a)) and not torch.equal(mixed, gen(z, b))
    gen.class_weight = 0.0  # the class weight applies to a given embedding too
    assert torch.equal(gen.from_embedding(z, gen.embed(a)), gen.from_embedding(z, gen.embed(b)))


def test_lecam_penalty_on_known_scores():
    real, fake = torch.tensor([1.0, -1.0, 3.0]), torch.tensor([0.0, -2.0])
    # relu(real - (-1))^2 = [4, 0, 16] -> 20/3; relu(0.5 - fake)^2 = [0.25, 6.25] -> 3.25
    value = lecam_penalty(real, fake, torch.tensor(0.5), torch.tensor(-1.0))
    assert value.item() == pytest.approx(20 / 3 + 3.25)
    assert lecam_penalty(real, fake, torch.tensor(-9.0), torch.tensor(9.0)).item() == 0


def test_ada_raises_p_when_d_calls_real_images_real_and_lowers_it_otherwise():
    p = torch.tensor(0.5)
    assert ada_adjust(p, torch.tensor(0.9), 0.6, 0.1).item() == pytest.approx(0.6)
    assert ada_adjust(p, torch.tensor(0.2), 0.6, 0.1).item() == pytest.approx(0.4)
    assert ada_adjust(torch.tensor(0.0), torch.tensor(-1.0), 0.6, 0.1).item() == 0
    assert ada_adjust(torch.tensor(1.0), torch.tensor(1.0), 0.6, 0.1).item() == 1
    # In the task: D scores every real image as real -> p rises after each interval.
    data, schema = make_data()
    task = _ImageGANTask(task_config(schema, ada_target=0.6), data, schema, 0, None)
    task.build(torch.device("cpu"))
    assert task.augment_p.item() == 0
    for _ in range(8):
        task._d_calls += 1
        task._ada_update(torch.ones(8))
    assert task.augment_p.item() > 0
    before = task.augment_p.item()
    for _ in range(4):
        task._d_calls += 1
        task._ada_update(-torch.ones(8))
    assert task.augment_p.item() < before


def test_unlabelled_images_are_drawn_only_while_the_class_is_out():
    data, schema = make_data(n=12)
    extra = np.full((30, 1, 8, 8), 7, dtype=np.uint8)  # no labelled image is all 7s
    task = _ImageGANTask(task_config(schema), data, schema, 0, None, unlabelled=extra)
    task.build(torch.device("cpu"))
    marker = 7 * 2 / 255 - 1

    def unlabelled_drawn(unconditional: bool) -> int:
        images, labels = task._real(400, unconditional=unconditional)
        assert labels.max() < 3  # placeholders are valid class indices
        return int(torch.isclose(images, torch.tensor(marker)).flatten(1).all(1).sum())

    assert unlabelled_drawn(False) == 0
    assert unlabelled_drawn(True) > 200  # 30 of 42 images are unlabelled


def test_fit_with_transition_lecam_ada_and_unlabelled():
    data, schema = make_data()
    extra = make_data(n=20, seed=1)[0].images
    settings = {"class_transition": [0.3, 0.6], "lecam": 0.3, "ada_target": 0.6}
    gan = ImageGAN(**{**FAST, **settings})
    summary = gan.fit(data, schema, seed=0, device="cpu", progress=False, unlabelled=extra)
    assert summary["unlabelled_images"] == 20
    assert {"lecam", "augment_p"} <= set(summary["final_losses"])
    assert gan.generator.class_weight == 1.0
    with pytest.raises(AugmentError, match="unlabelled images must be uint8"):
        gan.fit(data, schema, device="cpu", progress=False, unlabelled=extra[:, :, :4])


def test_packs_hold_one_class_and_stack_channels():
    data, schema = make_data(n=30)
    config = task_config(schema, pack=3, batch_size=9, mode_seeking=0)
    task = _ImageGANTask(config, data, schema, 0, None)
    task.build(torch.device("cpu"))
    images, labels = task._real(9)
    assert images.shape == (9, 1, 8, 8)
    assert all(len(set(labels[i : i + 3].tolist())) == 1 for i in range(0, 9, 3))
    by_image = {x.tobytes(): c for x, c in zip(data.images, data.labels, strict=True)}
    pixels = ((images + 1) * 127.5).round().to(torch.uint8).numpy()
    assert [by_image[x.tobytes()] for x in pixels] == labels.tolist()
    packed, pack_labels = pack_images(images, labels, 3)
    assert packed.shape == (3, 3, 8, 8) and torch.equal(packed[1, 2], images[5, 0])
    assert torch.equal(pack_labels, labels[::3])
    assert task._fake_labels(9).reshape(3, 3).unique(dim=1).shape[1] == 1
    assert task.discriminator(packed, pack_labels).shape == (3,)
    with pytest.raises(AugmentError, match="multiple of pack"):
        ImageGAN(batch_size=10, pack=3)


def test_mode_seeking_pairs_fakes_of_one_class_and_punishes_alike_images():
    data, schema = make_data(n=30)
    task = _ImageGANTask(task_config(schema, pack=2, batch_size=12), data, schema, 0, None)
    task.build(torch.device("cpu"))
    labels = task._fake_labels(12)
    assert torch.equal(labels[:6], labels[6:])  # fake i and i + 6 are a pair
    assert all(len(set(labels[i : i + 2].tolist())) == 1 for i in range(0, 12, 2))  # packs
    z = torch.randn(4, 8)
    varied = torch.rand(4, 1, 8, 8) * 2 - 1
    alike = torch.cat([varied[:2], varied[:2] + 0.01])
    assert mode_seeking_penalty(alike, z) > 10 * mode_seeking_penalty(varied, z)
    # |x1 - x2| = 0.5 everywhere, |z1 - z2| = 1: the ratio is 0.5, the penalty 1 / 0.5.
    x = torch.cat([torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)])
    z = torch.cat([torch.zeros(2, 3), torch.ones(2, 3)])
    assert mode_seeking_penalty(x, z).item() == pytest.approx(2.0, rel=1e-4)
    task.d_step(1)
    assert torch.isfinite(task.g_step(1)["mode_seeking"])
    with pytest.raises(AugmentError, match="twice pack"):
        ImageGAN(batch_size=6, pack=2)
    with pytest.raises(AugmentError, match="mode_seeking"):
        ImageGAN(mode_seeking=-1)
    ImageGAN(batch_size=6, pack=2, mode_seeking=0)  # no pairs, no constraint


def test_keep_unconditional_and_projection_weight_train_and_sample():
    data, schema = make_data()
    extra = make_data(n=20, seed=1)[0].images
    settings = {"class_transition": [0.0, 0.5], "keep_unconditional": True,
                "projection_weight": 0.5, "pack": 2}  # fmt: skip
    gan = ImageGAN(**{**FAST, **settings})
    gan.fit(data, schema, seed=0, device="cpu", progress=False, unlabelled=extra)
    assert gan.sample([0, 2]).shape == (2, 1, 8, 8)
    with pytest.raises(AugmentError, match="keep_unconditional"):
        ImageGAN(keep_unconditional="yes")
    with pytest.raises(AugmentError, match="projection_weight"):
        ImageGAN(projection_weight=-1)


# -------------------------------------------------------------------------------- budget
def test_default_budget_follows_images_size_and_device():
    fewer, small = default_budget(100, 28, "cpu"), default_budget(500, 28, "cpu")
    assert fewer["steps"] < small["steps"]
    assert small["steps"] == 3700  # the budget measured on 500 MNIST digits (BENCHMARKS.md)
    assert default_budget(10, 28, "cpu")["steps"] == 2500  # never below the floor
    assert default_budget(10**6, 28, "cpu")["steps"] == 3700  # nor past the largest measured
    assert default_budget(500, 8, "cpu")["channels"] < small["channels"]
    gpu = default_budget(500, 28, "cuda")
    assert gpu["steps"] > small["steps"] and gpu["channels"] > small["channels"]
    # The EMA's memory (1 / (1 - decay) steps) scales with the budget.
    memory = lambda budget: 1 / (1 - budget["ema_decay"])  # noqa: E731
    assert memory(gpu) / memory(small) == pytest.approx(gpu["steps"] / small["steps"], rel=0.01)


def test_budget_is_resolved_at_fit_recorded_and_saved(tmp_path):
    data, schema = make_data()
    gan = ImageGAN(**{**FAST, "steps": None, "channels": None, "max_seconds": 0.01})
    summary = gan.fit(data, schema, seed=0, device="cpu", progress=False)
    budget = summary["budget"]
    assert budget["auto"] == ["channels", "ema_decay", "steps"]
    assert budget["for"] == "40 images of 8 px on cpu"
    assert gan.config.steps == budget["steps"] == default_budget(40, 8, "cpu")["steps"]
    gan.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["hyperparameters"]
    assert saved["channels"] == budget["channels"] and saved["ema_decay"] == budget["ema_decay"]
    assert ImageGAN.load(tmp_path / "m", device="cpu").sample([0]).shape == (1, 1, 8, 8)
    # Given values are kept; only what is left to the defaults is chosen.
    kept = ImageGAN(**FAST, ema_decay=0.5)
    kept.fit(data, schema, seed=0, device="cpu", progress=False)
    assert kept.summary["budget"]["auto"] == [] and kept.config.ema_decay == 0.5


# ------------------------------------------------------------------------------ training
def test_one_training_step_changes_weights():
    data, schema = make_data()
    task = _ImageGANTask(task_config(schema), data, schema, seed=0, snapshots=None)
    torch.manual_seed(0)
    task.build(torch.device("cpu"))
    before_g = [p.detach().clone() for p in task.generator.parameters()]
    before_d = [p.detach().clone() for p in task.discriminator.parameters()]
    before_ema = [p.detach().clone() for p in task.ema.parameters()]
    losses = {**task.d_step(1), **task.g_step(1)}
    task.end_step(1)
    assert all(torch.isfinite(v) for v in losses.values())
    changed = lambda old, net: any(  # noqa: E731
        not torch.equal(a, b) for a, b in zip(old, net.parameters(), strict=True)
    )
    assert changed(before_g, task.generator)
    assert changed(before_d, task.discriminator)
    assert changed(before_ema, task.ema)


def test_fit_summary(fitted):
    summary = fitted.summary
    assert summary["steps"] == FAST["steps"] and summary["device"] == "cpu"
    for key in ("seconds", "images_per_second", "precision", "threads", "final_losses"):
        assert key in summary
    assert set(summary["final_losses"]) >= {"loss_d", "loss_g"}


def test_sample_exact_labels_dtype_shape(fitted):
    labels = [2, 0, 0, 1, 2, 2, 1]
    images = fitted.sample(labels, seed=3)
    assert images.shape == (len(labels), 1, 8, 8) and images.dtype == np.uint8
    assert fitted.sample(np.array([], dtype=np.int64)).shape == (0, 1, 8, 8)
    with pytest.raises(AugmentError, match="class index"):
        fitted.sample([0, 3])
    with pytest.raises(AugmentError, match="integers"):
        fitted.sample([0.5])


def test_sample_is_conditional_and_chunked(fitted, monkeypatch):
    # Same noise, different class -> different image: the label steers the generator.
    a = fitted.sample([0] * 4, seed=5)
    b = fitted.sample([1] * 4, seed=5)
    assert not np.array_equal(a, b)
    # Neither the chunk size nor what follows changes an image.
    monkeypatch.setattr("augment.images.gan.SAMPLE_PIXELS", 3 * 64)
    assert np.array_equal(fitted.sample([0] * 4, seed=5), a)
    assert np.array_equal(fitted.sample([0] * 6, seed=5)[:4], a)


def test_sampling_is_seeded(fitted):
    labels = np.arange(12) % 3
    first = fitted.sample(labels, seed=1)
    assert np.array_equal(first, fitted.sample(labels, seed=1))
    assert not np.array_equal(first, fitted.sample(labels, seed=2))


def test_training_is_seeded():
    data, schema = make_data()
    gans = [ImageGAN(**FAST) for _ in range(3)]
    for gan, seed in zip(gans, (4, 4, 5), strict=True):
        gan.fit(data, schema, seed=seed, device="cpu", progress=False)
    same = [g.generator.state_dict() for g in gans[:2]]
    assert all(torch.equal(same[0][k], same[1][k]) for k in same[0])
    samples = [g.sample([0, 1, 2], seed=0) for g in gans]
    assert np.array_equal(samples[0], samples[1])
    assert not np.array_equal(samples[0], samples[2])


def test_save_load_round_trip(fitted, tmp_path):
    out = tmp_path / "model"
    fitted.save(out)
    assert sorted(p.name for p in out.iterdir()) == [
        ".augment-output.json",
        "config.json",
        "weights.safetensors",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "imagegan"
    assert config["hyperparameters"]["steps"] == FAST["steps"]
    assert config["schema"]["size"] == 8 and config["training"]["steps"] == FAST["steps"]
    assert {"augment", "torch"} <= set(config["versions"])
    loaded = ImageGAN.load(out, device="cpu")
    labels = np.arange(10) % 3
    assert np.array_equal(loaded.sample(labels, seed=9), fitted.sample(labels, seed=9))
    assert loaded.schema == fitted.schema


def test_a_model_saved_before_mode_seeking_loads_as_trained_without_it(fitted, tmp_path):
    out = tmp_path / "model"
    fitted.save(out)
    config = json.loads((out / "config.json").read_text())
    del config["hyperparameters"]["mode_seeking"]
    config["hyperparameters"]["batch_size"] = 7  # allowed before fakes came in pairs
    (out / "config.json").write_text(json.dumps(config))
    loaded = ImageGAN.load(out, device="cpu")
    assert loaded.config.mode_seeking == 0 and loaded.config.batch_size == 7
    assert loaded.sample([0, 1]).shape == (2, 1, 8, 8)


def test_load_rejects_other_models(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": "tabgan"}))
    with pytest.raises(AugmentError, match="not imagegan"):
        ImageGAN.load(tmp_path)


def test_snapshots_written(tmp_path):
    data, schema = make_data(size=10, channels=3)
    gan = ImageGAN(**{**FAST, "steps": 5, "snapshot_every": 2})
    gan.fit(data, schema, seed=0, device="cpu", progress=False, snapshots=tmp_path / "snaps")
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert names == ["step_000002.png", "step_000004.png", "step_000005.png"]
    from PIL import Image

    with Image.open(tmp_path / "snaps" / names[-1]) as picture:
        assert picture.mode == "RGB"
        width, height = picture.size
    # One row per class (3), 8 columns: the grid is wider than tall.
    assert width > height


def test_snapshots_do_not_change_training(tmp_path):
    data, schema = make_data()
    plain, snapped = ImageGAN(**FAST), ImageGAN(**{**FAST, "snapshot_every": 2})
    plain.fit(data, schema, seed=1, device="cpu", progress=False)
    snapped.fit(data, schema, seed=1, device="cpu", progress=False, snapshots=tmp_path)
    assert np.array_equal(plain.sample([0, 1, 2], seed=0), snapped.sample([0, 1, 2], seed=0))


def test_no_diffaugment_and_no_ema_still_train():
    data, schema = make_data()
    gan = ImageGAN(**{**FAST, "diffaugment": "", "ema_decay": None, "d_steps": 2})
    summary = gan.fit(data, schema, seed=0, device="cpu", progress=False)
    assert summary["d_steps"] == 2
    assert gan.sample([1, 1]).shape == (2, 1, 8, 8)


def test_fit_checks_data():
    data, schema = make_data(size=8)
    _, other = make_data(size=12)
    with pytest.raises(AugmentError, match="shape"):
        ImageGAN(**FAST).fit(data, other, device="cpu", progress=False)
    bad = ImageSplit(data.images, np.full(len(data), 7))
    with pytest.raises(AugmentError, match="class index"):
        ImageGAN(**FAST).fit(bad, schema, device="cpu", progress=False)


def test_unknown_and_bad_hyperparameters():
    with pytest.raises(AugmentError, match="unknown imagegan hyper-parameter.*epochz"):
        ImageGAN(epochz=3)
    with pytest.raises(AugmentError, match="batch_size"):
        ImageGAN(batch_size=1)
    with pytest.raises(AugmentError, match="precision"):
        ImageGAN(precision="fp8")
    with pytest.raises(AugmentError, match="not fitted"):
        ImageGAN().sample([0])


# ---------------------------------------------------------------------------------- grid
def test_grid(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 1, 8, 8), dtype=np.uint8)
    sheet = make_grid(images, nrow=4)
    assert sheet.dtype == np.uint8 and sheet.shape[2] == 1
    # 3 rows x 4 columns of enlarged cells: an 8 px image is blown up to at least 56 px.
    assert sheet.shape[0] >= 3 * 56 and sheet.shape[1] >= 4 * 56
    path = save_grid(images, tmp_path / "grid.png", nrow=4)
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(AugmentError):
        make_grid(images[:0], nrow=4)
    with pytest.raises(AugmentError):
        make_grid(images.astype(np.float32), nrow=4)
