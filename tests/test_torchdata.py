"""PyTorch datasets over synthetic images (a generated folder, a generator on the fly) and mixing
them into a real dataset: labels in the right class order, determinism, safety, a training step."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, Subset

from augment.errors import AugmentError
from augment.images.bundle import ImageBundle, ImageSplit, write_image_bundle
from augment.images.gan import ImageGAN
from augment.images.schema import ImageSchema
from augment.steps.generate import generate
from augment.torchdata import (
    GeneratorDataset,
    MixedDataset,
    RealImageDataset,
    SyntheticImageFolder,
    mix_datasets,
)

CLASSES = ["cat", "dog", "bird"]  # the synthesizer's (the "real data's") order, not alphabetical


class PatternSynthesizer:
    """Class ``k`` is a flat image of grey level 20·k plus seeded noise below 5: easy to check."""

    name = "pattern"

    def __init__(self, classes=CLASSES, channels: int = 1, counts=(2, 1, 1)):
        self.schema = ImageSchema(
            classes=list(classes), size=8, channels=channels, class_counts=list(counts)
        )
        self.calls = 0

    def sample(self, labels, *, seed: int = 0) -> np.ndarray:
        self.calls += 1
        labels = np.asarray(labels, dtype=np.int64)
        rng = np.random.default_rng(seed)
        base = (20 * labels).astype(np.uint8)[:, None, None, None]
        noise = rng.integers(0, 5, (len(labels), self.schema.channels, 8, 8), dtype=np.uint8)
        return base + noise


def level(image: torch.Tensor) -> int:
    """The class a pattern image was drawn for (its grey level // 20)."""
    pixels = (image * 255).round().to(torch.int64)
    assert int(pixels.max()) - int(pixels.min()) < 5
    return int(pixels.min()) // 20


def manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pattern") / "synth"
    generate(PatternSynthesizer(), 24, out, seed=1, chunk_size=7, progress=False)
    return out


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory) -> Path:
    """A real ImageGAN trained for 2 steps on 8x8 data with 3 classes, saved."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 1, 8, 8), dtype=np.uint8)
    split = ImageSplit(images, np.arange(24) % 3)
    schema = ImageSchema(classes=["zero", "one", "two"], size=8, channels=1, class_counts=[8] * 3)
    gan = ImageGAN(steps=2, batch_size=8, channels=2, z_dim=8, threads=1)
    gan.fit(split, schema, device="cpu", progress=False)
    out = tmp_path_factory.mktemp("gan") / "model"
    gan.save(out)
    return out


def real_split(counts=(6, 3, 3), value: int = 200, channels: int = 1) -> ImageSplit:
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.full((len(labels), channels, 8, 8), value, dtype=np.uint8)
    return ImageSplit(images, labels)


# ------------------------------------------------------------------ SyntheticImageFolder
def test_folder_labels_line_up_with_classes_json(folder):
    data = SyntheticImageFolder(folder)
    classes = json.loads((folder / "classes.json").read_text())
    assert data.classes == classes == CLASSES
    assert data.class_to_idx == {"cat": 0, "dog": 1, "bird": 2}
    rows = manifest(folder)
    assert len(data) == len(rows) == 24
    assert data.targets == [classes.index(r["label"]) for r in rows]
    assert Counter(data.targets) == {0: 12, 1: 6, 2: 6}
    for i in range(len(data)):
        image, label = data[i]
        assert image.dtype == torch.float32 and image.shape == (1, 8, 8)
        assert image.min() >= 0 and image.max() <= 1
        assert label == data.targets[i] and level(image) == label  # drawn for that class
    assert torch.equal(data[-1][0], data[23][0])
    with pytest.raises(IndexError):
        data[24]


def test_class_order_remaps_to_the_real_dataset(folder):
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import Compose, Grayscale, ToTensor

    real = ImageFolder(folder, transform=Compose([Grayscale(), ToTensor()]))
    assert real.classes == ["bird", "cat", "dog"]  # alphabetical, unlike classes.json
    data = SyntheticImageFolder(folder, class_order=real.classes)
    assert data.classes == real.classes and data.class_to_idx == real.class_to_idx
    by_path = {Path(path).resolve(): label for path, label in real.samples}
    assert {p.resolve(): label for p, label in data.samples} == by_path
    for i in range(len(data)):
        image, label = data[i]
        assert level(image) == CLASSES.index(data.classes[label])

    # A longer order (a class without images) and a {name: index} dict work too.
    wider = SyntheticImageFolder(folder, class_order=["horse", "dog", "cat", "bird"])
    assert [wider.classes[t] for t in wider.targets] == [r["label"] for r in manifest(folder)]
    as_dict = SyntheticImageFolder(folder, class_order={"dog": 2, "cat": 0, "bird": 1})
    assert as_dict.classes == ["cat", "bird", "dog"]
    with pytest.raises(AugmentError, match="'bird'.*does not list"):
        SyntheticImageFolder(folder, class_order=["cat", "dog"])


def test_transform_gets_a_pil_image(tmp_path):
    out = tmp_path / "rgb"
    generate(PatternSynthesizer(channels=3), 6, out, progress=False)
    seen = []
    data = SyntheticImageFolder(out, transform=lambda im: seen.append(im.mode) or im.size)
    assert data[0][0] == (8, 8) and seen == ["RGB"]
    plain = SyntheticImageFolder(out, target_transform=lambda y: f"#{y}")
    image, label = plain[0]
    assert image.shape == (3, 8, 8) and label == f"#{plain.targets[0]}"


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for item in folder.rglob("*"):
        target = to / item.relative_to(folder)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(item.read_bytes())
    return to


@pytest.mark.parametrize("bad", ["../outside.png", "/etc/passwd", "cat/../../x.png", "cat\\x.png"])
def test_manifest_paths_must_stay_inside(folder, tmp_path, bad):
    copy = _copy(folder, tmp_path / "copy")
    (tmp_path / "outside.png").write_bytes((copy / "cat" / "000000.png").read_bytes())
    with open(copy / "manifest.csv", "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow([bad, "cat"])
    with pytest.raises(AugmentError, match="not a path inside the folder"):
        SyntheticImageFolder(copy)


def test_symlink_out_of_the_folder_is_refused(folder, tmp_path):
    copy = _copy(folder, tmp_path / "copy")
    secret = tmp_path / "secret.png"
    secret.write_bytes((copy / "cat" / "000000.png").read_bytes())
    (copy / "cat" / "000000.png").unlink()
    os.symlink(secret, copy / "cat" / "000000.png")
    data = SyntheticImageFolder(copy)
    index = [str(p.relative_to(copy)) for p, _ in data.samples].index("cat/000000.png")
    with pytest.raises(AugmentError, match="points outside"):
        data[index]


def test_not_a_generated_set(folder, tmp_path):
    with pytest.raises(AugmentError, match="not found"):
        SyntheticImageFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AugmentError, match="not a generated image set.*manifest.csv"):
        SyntheticImageFolder(tmp_path / "empty")

    copy = _copy(folder, tmp_path / "copy")
    (copy / "classes.json").write_text('{"cat": 0}')
    with pytest.raises(AugmentError, match="list of class names"):
        SyntheticImageFolder(copy)
    (copy / "classes.json").write_text('["cat", "dog"]')  # bird is gone
    with pytest.raises(AugmentError, match="label 'bird' is not in classes.json"):
        SyntheticImageFolder(copy)
    (copy / "classes.json").write_text(json.dumps(CLASSES))
    (copy / "manifest.csv").write_text("path,class\n")
    with pytest.raises(AugmentError, match="file,label"):
        SyntheticImageFolder(copy)

    copy2 = _copy(folder, tmp_path / "copy2")
    (copy2 / "dog" / "000000.png").unlink()
    data = SyntheticImageFolder(copy2)
    index = [str(p.relative_to(copy2)) for p, _ in data.samples].index("dog/000000.png")
    with pytest.raises(AugmentError, match="missing"):
        data[index]


# ----------------------------------------------------------------------- GeneratorDataset
def test_generator_dataset_is_deterministic_per_index():
    synth = PatternSynthesizer()
    data = GeneratorDataset(synth, 30, seed=2)
    assert data.classes == CLASSES and Counter(data.targets) == {0: 15, 1: 8, 2: 7}
    assert data.targets != sorted(data.targets)  # the plan is shuffled
    forward = [data[i] for i in range(len(data))]
    for (image, label), target in zip(forward, data.targets, strict=True):
        assert label == target and level(image) == label
    backward = [data[i] for i in reversed(range(len(data)))][::-1]
    fresh = GeneratorDataset(PatternSynthesizer(), 30, seed=2)
    order = np.random.default_rng(5).permutation(30)
    loader = DataLoader(fresh, batch_size=7, sampler=order.tolist(), num_workers=0)
    images, labels = map(torch.cat, zip(*loader, strict=True))
    for k, i in enumerate(order):
        assert torch.equal(forward[i][0], backward[i][0])
        assert torch.equal(forward[i][0], images[k]) and forward[i][1] == labels[k]
    workers = DataLoader(GeneratorDataset(PatternSynthesizer(), 30, seed=2), 4, num_workers=2)
    images, labels = map(torch.cat, zip(*workers, strict=True))
    assert labels.tolist() == data.targets
    assert all(torch.equal(images[i], forward[i][0]) for i in range(30))
    other = GeneratorDataset(synth, 30, seed=3)
    assert other.targets != data.targets or not torch.equal(other[0][0], forward[0][0])


def test_generator_dataset_blocks():
    synth = PatternSynthesizer()
    data = GeneratorDataset(synth, 20, seed=4, block_size=8)
    sequential = [data[i][0] for i in range(20)]
    assert synth.calls == 3  # one call per block, cached while read in order
    shuffled = GeneratorDataset(PatternSynthesizer(), 20, seed=4, block_size=8)
    for i in np.random.default_rng(1).permutation(20):
        image, label = shuffled[i]
        assert torch.equal(image, sequential[i]) and level(image) == label


def test_generator_dataset_label_plans():
    synth = PatternSynthesizer()
    assert Counter(GeneratorDataset(synth, 9, "balanced").targets) == {0: 3, 1: 3, 2: 3}
    assert Counter(GeneratorDataset(synth, 8, "proportional").targets) == {0: 4, 1: 2, 2: 2}
    counted = GeneratorDataset(synth, labels={"bird": 3, "cat": 1})
    assert sorted(counted.targets) == [0, 2, 2, 2]
    with pytest.raises(AugmentError, match="add up to 4"):
        GeneratorDataset(synth, 5, labels={"bird": 3, "cat": 1})
    with pytest.raises(AugmentError, match="does not exist"):
        GeneratorDataset(synth, labels={"horse": 1})
    with pytest.raises(AugmentError, match="'balanced'"):
        GeneratorDataset(synth, 5, labels="even")
    with pytest.raises(AugmentError, match="how many"):
        GeneratorDataset(synth)
    with pytest.raises(AugmentError, match="block_size"):
        GeneratorDataset(synth, 5, block_size=0)

    class Table:
        name = "tabgan"
        schema = type("S", (), {"modality": "tabular", "classes": ["a", "b"]})()

        def sample(self, labels, *, seed=0): ...

    with pytest.raises(AugmentError, match="needs an image model"):
        GeneratorDataset(Table(), 5)
    unfitted = ImageGAN()
    with pytest.raises(AugmentError, match="not fitted"):
        GeneratorDataset(unfitted, 5)


# ------------------------------------------------------------------------ a real ImageGAN
def test_imagegan_folder_and_generator(gan_dir, tmp_path):
    out = tmp_path / "synth"
    generate(gan_dir, 12, out, seed=0, device="cpu", progress=False)
    data = SyntheticImageFolder(out)
    classes = json.loads((out / "classes.json").read_text())
    assert data.classes == classes == ["zero", "one", "two"]
    assert data.targets == [classes.index(r["label"]) for r in manifest(out)]
    assert data[0][0].shape == (1, 8, 8)

    from_dir = GeneratorDataset(gan_dir, 10, seed=1, device="cpu")
    from_obj = GeneratorDataset(ImageGAN.load(gan_dir, device="cpu"), 10, seed=1)
    assert from_dir.classes == classes and from_dir.targets == from_obj.targets
    first = [from_dir[i][0] for i in range(10)]

    def shuffled() -> RandomSampler:
        return RandomSampler(from_obj, generator=torch.Generator().manual_seed(0))

    order = list(shuffled())
    assert order != sorted(order)
    loader = DataLoader(from_obj, batch_size=4, sampler=shuffled(), num_workers=0)
    images = torch.cat([batch[0] for batch in loader])
    for k, i in enumerate(order):
        assert torch.equal(images[k], first[i])
    assert not all(torch.equal(first[0], x) for x in first[1:])  # fresh noise per item


# --------------------------------------------------------------------------------- mixing
def test_mix_maps_labels_by_name_and_follows_the_real_mix(folder):
    real_classes = ["dog", "cat", "bird"]  # the user's own order
    real = RealImageDataset(real_split((6, 3, 3)), classes=real_classes)
    synthetic = SyntheticImageFolder(folder)  # classes.json: cat, dog, bird
    mix = mix_datasets(real, synthetic, ratio=1, seed=0)
    assert isinstance(mix, MixedDataset) and isinstance(mix, torch.utils.data.ConcatDataset)
    assert len(mix) == 24 and (mix.n_real, mix.n_synthetic) == (12, 12)
    assert mix.classes == real_classes
    assert mix.targets[:12] == real.targets
    assert Counter(mix.targets[12:]) == {0: 6, 1: 3, 2: 3}  # the real 2:1:1 mix
    assert len(set(mix.synthetic_indices.tolist())) == 12  # without replacement
    for i in range(len(mix)):
        image, label = mix[i]
        assert label == mix.targets[i]
        if i < 12:
            assert (image * 255).round().min() == 200
        else:  # the picture drawn for this class name
            assert level(image) == CLASSES.index(real_classes[label])
    assert mix.is_synthetic.sum() == 12 and not mix.is_synthetic[:12].any()

    again = mix_datasets(real, synthetic, ratio=1, seed=0)
    assert np.array_equal(again.synthetic_indices, mix.synthetic_indices)
    other = mix_datasets(real, synthetic, ratio=1, seed=1)
    assert not np.array_equal(other.synthetic_indices, mix.synthetic_indices)


def test_mix_sizes_repeats_and_errors(folder):
    synthetic = SyntheticImageFolder(folder)  # 12 cat, 6 dog, 6 bird
    real = RealImageDataset(real_split((2, 2, 2)), classes=CLASSES)
    assert len(mix_datasets(real, synthetic, ratio=0)) == 6
    assert mix_datasets(real, synthetic, ratio=0.25).n_synthetic == 2  # round(1.5) = 2
    big = mix_datasets(real, synthetic, ratio=6, seed=2)  # 36: 12 per class, dog/bird have 6
    assert Counter(big.targets[6:]) == {0: 12, 1: 12, 2: 12}
    uses = Counter(big.synthetic_indices.tolist())
    assert len(uses) == 24 and set(uses.values()) == {1, 2}
    unstratified = mix_datasets(real, synthetic, ratio=4, stratify=False)
    assert len(set(unstratified.synthetic_indices.tolist())) == 24

    only_cat_dog = RealImageDataset(real_split((2, 2)), classes=["cat", "dog"])
    with pytest.raises(AugmentError, match="'bird' are not classes of the real"):
        mix_datasets(only_cat_dog, synthetic, ratio=1)
    # Without bird images in the synthetic set, a real set without bird is fine.
    no_bird = Subset(synthetic, [i for i, t in enumerate(synthetic.targets) if t != 2])
    assert set(mix_datasets(only_cat_dog, no_bird, ratio=2).targets) == {0, 1}
    with pytest.raises(AugmentError, match="ratio"):
        mix_datasets(real, synthetic, ratio=-1)
    with pytest.raises(AugmentError, match="shape"):
        mix_datasets(RealImageDataset(real_split(channels=3), classes=CLASSES), synthetic, 1)


def test_mix_with_plain_datasets_and_bundles(folder, tmp_path):
    synthetic = SyntheticImageFolder(folder)
    # A plain list of (x, y): no classes, no targets -> labels as they are, drawn uniformly.
    plain = [(torch.zeros(1, 8, 8), i % 3) for i in range(9)]
    mix = mix_datasets(plain, synthetic, ratio=1, seed=0)
    assert mix.classes == CLASSES and len(mix) == 18
    assert mix.targets[:9] == [i % 3 for i in range(9)]
    assert mix.targets[9:] == [synthetic.targets[i] for i in mix.synthetic_indices]
    # A Subset of a dataset with classes and targets (as of a torchvision ImageFolder).
    real = RealImageDataset(real_split((3, 3, 3)), classes=["bird", "dog", "cat"])
    part = Subset(Subset(real, [0, 1, 3, 4, 5, 6, 7, 8]), [0, 1, 2, 3, 5])  # 2 bird, 2 dog, 1 cat
    mix = mix_datasets(part, synthetic, ratio=2, seed=0)
    assert mix.classes == real.classes and mix.targets[:5] == [0, 0, 1, 1, 2]
    assert Counter(mix.targets[5:]) == {0: 4, 1: 4, 2: 2}

    # A prepared bundle (its train split) and a generated folder's path.
    schema = ImageSchema(classes=["bird", "cat", "dog"], size=8, channels=1)
    split = real_split((1, 2, 3))
    bundle = write_image_bundle(
        tmp_path / "prepared", schema, {"train": split, "validation": split, "test": split}
    )
    for real in (bundle, ImageBundle.load(tmp_path / "prepared")):
        mix = mix_datasets(real, folder, ratio=2, seed=0)
        assert mix.classes == ["bird", "cat", "dog"] and mix.n_synthetic == 12
        assert Counter(mix.targets[6:]) == {0: 2, 1: 4, 2: 6}
        for i in range(6, 18):
            assert level(mix[i][0]) == CLASSES.index(mix.classes[mix[i][1]])
    assert RealImageDataset(tmp_path / "prepared", "test").classes == ["bird", "cat", "dog"]


def test_a_dataloader_over_the_mix_trains_a_model(gan_dir, tmp_path):
    out = tmp_path / "synth"
    generate(gan_dir, 12, out, seed=0, device="cpu", progress=False)
    classes = json.loads((out / "classes.json").read_text())
    real = RealImageDataset(real_split((4, 4, 4)), classes=classes[::-1])
    for synthetic in (SyntheticImageFolder(out), GeneratorDataset(gan_dir, 12, device="cpu")):
        mix = mix_datasets(real, synthetic, ratio=0.5, seed=0)
        assert len(mix) == 18 and mix.classes == classes[::-1]
        names = [synthetic.classes[synthetic.targets[i]] for i in mix.synthetic_indices]
        assert [mix.classes[t] for t in mix.targets[12:]] == names  # same class, real index

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        images, labels = next(iter(DataLoader(mix, batch_size=18, shuffle=True)))
        assert images.shape == (18, 1, 8, 8) and sorted(labels.tolist()) == sorted(mix.targets)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_mix_on_real_digits_shipped_with_scikit_learn(tmp_path):
    """scikit-learn's digits, prepared by ingest: a GAN's folder mixed into the real split."""
    import augment

    bundle = augment.ingest("digits", out=tmp_path / "digits", per_class=20, progress=False)
    augment.train(bundle, tmp_path / "model", steps=3, device="cpu", progress=False)
    augment.generate(tmp_path / "model", 50, tmp_path / "synth", device="cpu", progress=False)
    classes = json.loads((tmp_path / "synth" / "classes.json").read_text())
    assert classes == bundle.schema.classes == [str(d) for d in range(10)]

    real = RealImageDataset(bundle)  # the train split: 20 per class
    synthetic = SyntheticImageFolder(tmp_path / "synth", class_order=real.classes)
    mix = mix_datasets(real, synthetic, ratio=0.25, seed=0)
    assert (len(mix), mix.n_real, mix.n_synthetic) == (250, 200, 50)
    # Each drawn synthetic image keeps the class its manifest row names, in the real order.
    rows = {row["file"]: row["label"] for row in manifest(tmp_path / "synth")}
    for position, i in enumerate(mix.synthetic_indices):
        path, label = synthetic.samples[i]
        assert rows[path.relative_to(tmp_path / "synth").as_posix()] == real.classes[label]
        assert mix.targets[mix.n_real + position] == label

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 10))  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = next(iter(DataLoader(mix, batch_size=64, shuffle=True)))
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert images.shape == (64, 1, 8, 8) and torch.isfinite(loss)
