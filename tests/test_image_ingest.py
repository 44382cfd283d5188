"""Image ingest: every source format, bad files, conversion, splits. Tiny data built here."""

from __future__ import annotations

import gzip
import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.errors import AugmentError
from augment.images.ingest import ingest_images, is_image_source
from augment.images.readers import luminance
from augment.log import logger


@pytest.fixture
def records() -> list[logging.LogRecord]:
    """Log records of the ``augment`` logger, whether or not the CLI configured it."""
    caught: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = caught.append  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield caught
    logger.removeHandler(handler)
    logger.setLevel(level)


def _messages(records: list[logging.LogRecord], level: int = logging.WARNING) -> str:
    return "\n".join(r.getMessage() for r in records if r.levelno >= level)


def _marked(value: int, size: int = 12) -> np.ndarray:
    """A grey image whose pixels all hold ``value``: lets a test identify an image later."""
    return np.full((size, size), value, dtype=np.uint8)


def _folder(root: Path, per_class: dict[str, int], size: int = 12, ext: str = "png") -> Path:
    """An ImageFolder of grey images; image k of the whole set has every pixel equal to k."""
    k = 0
    for name, count in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(_marked(k, size)).save(root / name / f"{i:03d}.{ext}")
            k += 1
    return root


def _write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    magic = 0x00000803 if array.ndim == 3 else 0x00000801
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    data += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _mnist(root: Path, n_train: int, n_test: int, *, compress: bool, test: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    gz = ".gz" if compress else ""
    parts = [("train", n_train, 0)] + ([("t10k", n_test, n_train)] if test else [])
    for prefix, n, start in parts:
        ids = np.arange(start, start + n)
        images = np.broadcast_to((ids % 251)[:, None, None], (n, 28, 28)).astype(np.uint8)
        labels = (ids % 3).astype(np.uint8)
        _write_idx(root / f"{prefix}-images-idx3-ubyte{gz}", images, compress=compress)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte{gz}", labels, compress=compress)
    return root


def _all_splits(bundle):
    return {name: bundle.split(name) for name in ("train", "validation", "test")}


# ---------------------------------------------------------------- sources


def test_digits_builtin(tmp_path):
    bundle = ingest_images("digits", tmp_path / "prep", progress=False)
    schema = bundle.schema
    assert schema.classes == [str(i) for i in range(10)]
    assert (schema.size, schema.channels, schema.modality) == (8, 1, "image")
    splits = _all_splits(bundle)
    assert sum(len(s) for s in splits.values()) == 1797
    assert schema.splits == {name: len(s) for name, s in splits.items()}
    train = splits["train"]
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64 and train.images.max() == 255
    assert schema.class_counts == np.bincount(train.labels, minlength=10).tolist()
    for split in splits.values():  # stratified: class shares match the whole set's
        shares = np.bincount(split.labels, minlength=10) / len(split)
        assert np.all(np.abs(shares - 0.1) < 0.03)
    saved = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert saved["modality"] == "image" and saved["source"]["kind"] == "digits"


def test_a_bundle_written_from_other_splits_records_their_counts(tmp_path):
    """The writer counts what it writes, so a bundle remade from another's splits (as the
    benchmarks' validation halves are) reads back: its reader checks the counts."""
    from augment.images.bundle import write_image_bundle

    bundle = ingest_images("digits", tmp_path / "prep", progress=False)
    half = {name: bundle.split(name).subset(np.arange(len(bundle.split(name)) // 2))
            for name in ("train", "validation", "test")}  # fmt: skip
    again = write_image_bundle(tmp_path / "half", bundle.schema, half)
    assert again.schema.splits == {name: len(split) for name, split in half.items()}
    assert again.train.labels.tolist() == half["train"].labels.tolist()
    assert sum(again.schema.class_counts) == len(half["train"])
    assert bundle.schema.splits["train"] == len(bundle.train)  # the input's, unchanged


def test_image_folder_png_and_jpeg(tmp_path, records):
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for name in ("dog", "cat", "bird"):  # class names come back sorted
        (root / name).mkdir(parents=True)
        for i in range(4):
            colour = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
            ext = "jpg" if i % 2 else "png"
            Image.fromarray(colour).save(root / name / f"img{i}.{ext}")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (root / ".hidden").mkdir()
    Image.fromarray(_marked(0)).save(root / ".hidden" / "x.png")
    bundle = ingest_images(root, tmp_path / "prep", size=16, progress=False)
    schema = bundle.schema
    assert schema.classes == ["bird", "cat", "dog"]
    assert (schema.size, schema.channels) == (16, 3)
    assert sum(schema.splits.values()) == 12 and schema.skipped == []
    assert bundle.train.images.shape[1:] == (3, 16, 16)
    assert schema.source["kind"] == "folder" and len(schema.source["sha256"]) == 64
    assert schema.source["files"] == 12
    assert "notes.txt" in _messages(records, logging.INFO)
    assert "ingested" in _messages(records, logging.INFO)


def test_mixed_modes_in_one_folder(tmp_path):
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    grey = Image.fromarray(_marked(100, 10))
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red, fully transparent: must come out white
    palette = Image.new("P", (10, 10))
    palette.putpalette([0, 0, 255] * 256)
    transparent_palette = palette.copy()
    transparent_palette.info["transparency"] = 0
    sixteen = Image.fromarray(np.full((10, 10), 40000, dtype=np.uint16))
    modes = {
        "a/l.png": grey,
        "a/rgb.png": Image.new("RGB", (10, 10), (255, 0, 0)),
        "a/rgba.png": Image.fromarray(rgba, "RGBA"),
        "a/p.png": palette,
        "b/p_transparent.png": transparent_palette,
        "b/one.bmp": Image.new("1", (10, 10), 1),
        "b/la.png": Image.new("LA", (10, 10), (30, 255)),
        "b/i16.png": sixteen,
        "b/gif.gif": Image.new("RGB", (10, 10), (0, 255, 0)).convert("P"),
        "b/tiff.tiff": Image.new("RGB", (10, 10), (0, 0, 255)),
        "b/webp.webp": Image.new("RGBA", (10, 10), (0, 0, 0, 255)),
    }
    for name, image in modes.items():
        if name.endswith("p_transparent.png"):
            image.save(root / name, transparency=0)
        else:
            image.save(root / name)
    bundle = ingest_images(root, tmp_path / "prep", test_size=0.3, progress=False)
    schema = bundle.schema
    assert schema.skipped == [] and (schema.size, schema.channels) == (10, 3)
    # Find each image again by its (unique) colour.
    pixels = np.concatenate([s.images for s in _all_splits(bundle).values()])
    colours = {tuple(int(v) for v in image[:, 0, 0]) for image in pixels}
    assert (255, 255, 255) in colours  # transparent RGBA / palette -> white background
    assert {(100, 100, 100), (255, 0, 0), (0, 0, 255), (0, 255, 0)} <= colours
    assert (40000 >> 8,) * 3 in colours  # 16-bit grey scaled to 8 bits
    assert (30, 30, 30) in colours  # opaque LA

    grey_only = ingest_images(
        root, tmp_path / "grey", channels=1, size=8, test_size=0.3, progress=False
    )
    assert grey_only.train.images.shape[1:] == (1, 8, 8)


def test_grey_folder_defaults_to_one_channel_and_own_size(tmp_path):
    root = _folder(tmp_path / "g", {"x": 4, "y": 4}, size=20)
    Image.fromarray(_marked(7, 20)).convert("LA").save(root / "x" / "la.png")
    bundle = ingest_images(root, tmp_path / "prep", progress=False)
    assert (bundle.schema.size, bundle.schema.channels) == (20, 1)
    assert bundle.schema.source["size_rule"] == "own size"


def test_resize_and_channel_conversion(tmp_path, records):
    root = tmp_path / "odd"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            # Wide images: left third red, middle third green, right third blue.
            array = np.zeros((40, 120, 3), dtype=np.uint8)
            array[:, :40, 0] = array[:, 40:80, 1] = array[:, 80:, 2] = 255
            Image.fromarray(array).save(root / name / f"{i}.png")
    bundle = ingest_images(root, tmp_path / "prep", progress=False)
    assert (bundle.schema.size, bundle.schema.channels) == (32, 3)
    assert bundle.schema.source["size_rule"] == "default 32"
    assert "resizing to 32x32" in _messages(records, logging.INFO)
    image = bundle.train.images[0]
    # The centre crop of the wide image is the green band.
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8
    assert image[1, 16, 16] == 255 and image[0, 16, 16] == 0 and image[2, 16, 16] == 0

    grey = ingest_images(root, tmp_path / "grey", size=16, channels=1, progress=False)
    image = grey.train.images[0]
    assert image.shape == (1, 16, 16)
    green = Image.new("RGB", (1, 1), (0, 255, 0)).convert("L").getpixel((0, 0))
    assert abs(int(image[0, 8, 8]) - green) <= 1  # luminance, as Pillow's "L"
    assert luminance(np.array([[255, 0, 0]], dtype=np.uint8))[0] == Image.new(
        "RGB", (1, 1), (255, 0, 0)
    ).convert("L").getpixel((0, 0))


def test_corrupt_files_are_skipped_and_named(tmp_path, records):
    root = _folder(tmp_path / "c", {"a": 30, "b": 30})
    good = (root / "a" / "000.png").read_bytes()
    (root / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "b" / "text.png").write_text("hello, I am not a PNG")
    (root / "b" / "empty.jpg").write_bytes(b"")
    bundle = ingest_images(root, tmp_path / "prep", max_bad_fraction=0.1, progress=False)
    skipped = {item["file"]: item["reason"] for item in bundle.schema.skipped}
    assert set(skipped) == {"a/truncated.png", "b/text.png", "b/empty.jpg"}
    assert skipped["b/empty.jpg"] == "empty file"
    assert all(skipped.values())
    assert sum(bundle.schema.splits.values()) == 60
    warnings = _messages(records)
    for name in ("truncated.png", "text.png", "empty.jpg"):
        assert name in warnings
    saved = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert len(saved["skipped"]) == 3

    # 3 of 63 files (4.8%) is within the default max_bad_fraction of 5%.
    assert len(ingest_images(root, tmp_path / "default", progress=False).schema.skipped) == 3


def test_too_many_bad_files_fail(tmp_path):
    root = _folder(tmp_path / "c", {"a": 5, "b": 5})
    (root / "a" / "bad.png").write_text("nope")
    with pytest.raises(AugmentError, match=r"1 of 11 image files .* first: a/bad.png"):
        ingest_images(root, tmp_path / "prep", progress=False)
    assert not (tmp_path / "prep").exists()
    bundle = ingest_images(root, tmp_path / "prep", max_bad_fraction=0.2, progress=False)
    assert len(bundle.schema.skipped) == 1


def test_class_with_too_few_images(tmp_path):
    root = _folder(tmp_path / "f", {"many": 6, "rare": 2})
    with pytest.raises(AugmentError, match=r"class 'rare' .* only 2 readable images"):
        ingest_images(root, tmp_path / "prep", progress=False)
    with pytest.raises(AugmentError, match="single class"):
        ingest_images(_folder(tmp_path / "one", {"only": 5}), tmp_path / "p2", progress=False)


def test_loose_images_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.fromarray(_marked(1)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(AugmentError, match="no class sub-folders"):
        ingest_images(tmp_path / "flat", tmp_path / "prep", progress=False)


# ---------------------------------------------------------------- IDX and npz


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_uses_t10k_as_test(tmp_path, compress):
    root = _mnist(tmp_path / "mnist", 60, 15, compress=compress)
    bundle = ingest_images(root, tmp_path / "prep", progress=False)
    schema = bundle.schema
    assert schema.classes == ["0", "1", "2"] and (schema.size, schema.channels) == (28, 1)
    assert schema.splits["test"] == 15
    assert schema.splits["train"] + schema.splits["validation"] == 60
    assert schema.source["kind"] == "idx" and schema.source["test"].startswith("official t10k")
    test_ids = set(bundle.test.images[:, 0, 0, 0].tolist())
    assert test_ids == set(range(60, 75))  # exactly the t10k images
    train_ids = set(bundle.train.images[:, 0, 0, 0].tolist())
    assert not train_ids & test_ids


def test_idx_single_file(tmp_path):
    root = _mnist(tmp_path / "m", 40, 0, compress=True, test=False)
    path = root / "train-images-idx3-ubyte.gz"
    assert is_image_source(path)
    bundle = ingest_images(path, tmp_path / "prep", size=16, progress=False)
    assert bundle.schema.splits == {"train": 28, "validation": 4, "test": 8}
    assert bundle.train.images.shape[1:] == (1, 16, 16)
    raw = _mnist(tmp_path / "raw", 40, 0, compress=False, test=False)
    bundle = ingest_images(raw / "train-images-idx3-ubyte", tmp_path / "p2", progress=False)
    assert sum(bundle.schema.splits.values()) == 40


def test_malformed_idx(tmp_path):
    root = _mnist(tmp_path / "m", 30, 0, compress=False, test=False)
    images = root / "train-images-idx3-ubyte"
    data = images.read_bytes()
    images.write_bytes(data[:-10])
    with pytest.raises(AugmentError, match=r"malformed IDX file .*train-images-idx3-ubyte"):
        ingest_images(images, tmp_path / "prep", progress=False)
    images.write_bytes(b"\x00\x00\x08\x01" + data[4:])
    with pytest.raises(AugmentError, match=r"magic number 0x00000801, expected 0x00000803"):
        ingest_images(root, tmp_path / "prep", progress=False)
    images.write_bytes(data)
    _write_idx(root / "train-labels-idx1-ubyte", np.zeros(29, dtype=np.uint8))
    with pytest.raises(AugmentError, match="29 labels but .* 30 images"):
        ingest_images(root, tmp_path / "prep", progress=False)
    (root / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(AugmentError, match="labels file for .* not found"):
        ingest_images(images, tmp_path / "prep", progress=False)
    (tmp_path / "bad-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(AugmentError, match="bad-images-idx3-ubyte.gz"):
        ingest_images(tmp_path / "bad-images-idx3-ubyte.gz", tmp_path / "prep", progress=False)


def test_npz_int_labels_grey(tmp_path):
    n = 30
    x = np.stack([_marked(i, 10) for i in range(n)])
    y = np.array([2, 10, 1] * 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    bundle = ingest_images(tmp_path / "d.npz", tmp_path / "prep", progress=False)
    assert bundle.schema.classes == ["1", "2", "10"]  # numeric order
    assert (bundle.schema.size, bundle.schema.channels) == (10, 1)
    splits = _all_splits(bundle)
    for split in splits.values():  # the label travels with its image
        ids = split.images[:, 0, 0, 0]
        names = [bundle.schema.classes[k] for k in split.labels]
        assert names == [str(y[i]) for i in ids]


def test_npz_string_labels_float_rgba(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((24, 8, 8, 4)).astype(np.float32)
    x[..., 3] = 1.0
    x[0, ..., 3] = 0.0  # one fully transparent image: white
    y = np.array(["cat", "dog"] * 12)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    bundle = ingest_images(tmp_path / "d.npz", tmp_path / "prep", size=12, progress=False)
    assert bundle.schema.classes == ["cat", "dog"]
    assert bundle.train.images.shape[1:] == (3, 12, 12)
    pixels = np.concatenate([s.images for s in _all_splits(bundle).values()])
    assert any((image == 255).all() for image in pixels)
    np.savez(tmp_path / "bad.npz", x=x * 3, y=y)
    with pytest.raises(AugmentError, match=r"bad.npz: float images must hold values in \[0, 1\]"):
        ingest_images(tmp_path / "bad.npz", tmp_path / "p2", progress=False)
    np.savez(tmp_path / "nox.npz", images=x, y=y)
    with pytest.raises(AugmentError, match="needs arrays 'x'"):
        ingest_images(tmp_path / "nox.npz", tmp_path / "p2", progress=False)
    x[3, 2, 2, 0] = np.nan  # named as what it is, not as a range that excludes it
    np.savez(tmp_path / "nan.npz", x=x, y=y)
    with pytest.raises(AugmentError, match=r"nan.npz: x holds 1 value\(s\) that are not numbers"):
        ingest_images(tmp_path / "nan.npz", tmp_path / "p2", progress=False)


def test_npz_binary_images_are_black_and_white(tmp_path):
    """A boolean image's True is white (255), not the pixel value 1 of 255."""
    masks = np.random.default_rng(0).random((30, 8, 8)) > 0.5
    np.savez(tmp_path / "masks.npz", x=masks, y=np.array([0, 1, 2] * 10))
    bundle = ingest_images(tmp_path / "masks.npz", tmp_path / "prep", progress=False)
    pixels = np.concatenate([s.images for s in _all_splits(bundle).values()])
    assert set(np.unique(pixels).tolist()) == {0, 255}
    assert (pixels == 255).sum() == masks.sum()


# ---------------------------------------------------------------- splits


def test_splits_stratified_deterministic_and_disjoint(tmp_path):
    root = _folder(tmp_path / "s", {"a": 40, "b": 20, "c": 10})
    a = ingest_images(root, tmp_path / "a", seed=3, progress=False)
    b = ingest_images(root, tmp_path / "b", seed=3, progress=False)
    c = ingest_images(root, tmp_path / "c", seed=4, progress=False)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(a.split(name).images, b.split(name).images)
        np.testing.assert_array_equal(a.split(name).labels, b.split(name).labels)
    assert not np.array_equal(a.test.images, c.test.images)
    ids = {name: set(a.split(name).images[:, 0, 0, 0].tolist()) for name in a.schema.splits}
    assert ids["train"].isdisjoint(ids["test"]) and ids["validation"].isdisjoint(ids["test"])
    assert ids["train"].isdisjoint(ids["validation"])
    assert set().union(*ids.values()) == set(range(70))
    assert a.schema.splits == {"train": 49, "validation": 7, "test": 14}
    assert np.bincount(a.test.labels).tolist() == [8, 4, 2]  # stratified
    assert a.schema.class_counts == np.bincount(a.train.labels).tolist()


def test_per_class_keeps_train_only(tmp_path):
    root = _folder(tmp_path / "s", {"a": 40, "b": 20, "c": 10})
    full = ingest_images(root, tmp_path / "full", seed=1, progress=False)
    few = ingest_images(root, tmp_path / "few", seed=1, per_class=5, progress=False)
    fewer = ingest_images(root, tmp_path / "fewer", seed=1, per_class=2, progress=False)
    assert few.schema.class_counts == [5, 5, 5] and fewer.schema.class_counts == [2, 2, 2]
    assert few.schema.splits["train"] == 15
    assert few.schema.source["per_class"] == 5
    assert few.schema.source["train_before_per_class"] == full.schema.splits["train"]
    for name in ("validation", "test"):  # unchanged
        np.testing.assert_array_equal(few.split(name).images, full.split(name).images)
    ids = [set(b.train.images[:, 0, 0, 0].tolist()) for b in (fewer, few, full)]
    assert ids[0] <= ids[1] <= ids[2]  # nested: a smaller budget is a subset
    big = ingest_images(root, tmp_path / "big", seed=1, per_class=10, progress=False)
    assert big.schema.class_counts == [10, 10, 7]  # class c has only 7 train images


def test_options_are_checked(tmp_path):
    with pytest.raises(AugmentError, match="size must be 8 to 64"):
        ingest_images("digits", tmp_path / "p", size=4, progress=False)
    with pytest.raises(AugmentError, match="channels must be 1"):
        ingest_images("digits", tmp_path / "p", channels=2, progress=False)
    with pytest.raises(AugmentError, match="per_class"):
        ingest_images("digits", tmp_path / "p", per_class=0, progress=False)
    with pytest.raises(AugmentError, match="image source not found"):
        ingest_images(tmp_path / "missing", tmp_path / "p", progress=False)


def test_is_image_source(tmp_path):
    assert is_image_source("digits")
    assert not is_image_source("adult")
    for name in ("t.csv", "t.tsv", "t.parquet", "t.csv.gz"):
        (tmp_path / name).write_text("a,b\n1,2\n")
        assert not is_image_source(tmp_path / name)
    assert is_image_source(tmp_path / "x.npz")
    assert is_image_source(_folder(tmp_path / "f", {"a": 1}))
    assert is_image_source(_mnist(tmp_path / "m", 3, 3, compress=True))
    (tmp_path / "empty").mkdir()
    assert not is_image_source(tmp_path / "empty")
