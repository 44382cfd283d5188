"""``augment ingest`` for images: read a labelled image set, bring it to one size, split, save.

Sources: the built-in ``digits`` (scikit-learn's 8x8 digits, offline), an ImageFolder directory
(one sub-folder per class), MNIST-style IDX files (a folder with ``train-*``/``t10k-*`` or one
``*-images-idx3-ubyte[.gz]`` file), or an ``.npz`` with arrays ``x`` and ``y``.

Every image becomes ``size`` x ``size`` with ``channels`` (1 grey, 3 RGB): the shorter side is
scaled to ``size`` and the centre cropped; transparency is composited onto white; RGB to grey
is luminance. Unreadable files are skipped, named and recorded; too many of them is an error.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from augment.core.files import PREPARED_DATA, check_output_dir
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle, ImageSplit, write_image_bundle
from augment.images.readers import (
    DEFAULT_SIZE,
    IDX_IMAGES_MAGIC,
    FileResult,
    array_layout,
    array_pixels,
    find_idx_files,
    fit_array,
    has_image_files,
    idx_images_for,
    is_idx_images_name,
    is_idx_labels_name,
    label_classes,
    list_image_files,
    load_digits_images,
    own_size_rule,
    read_idx,
    read_idx_pair,
    read_image_file,
    read_npz,
    read_npz_images,
    scan_image_folder,
    to_channels,
)
from augment.images.schema import CHANNELS, MAX_SIZE, MIN_SIZE, ImageSchema
from augment.log import logger

BUILTIN_IMAGES = ("digits",)
MIN_IMAGES_PER_CLASS = 3  # one each for train, validation and test
MAX_NAMED_WARNINGS = 20  # unreadable files named one by one in the log; all are in schema.json


@dataclass
class _Loaded:
    """A source read into memory, before resizing and channel conversion."""

    images: np.ndarray | list[np.ndarray]  # a batch (N, H, W[, 3]) or one array per image
    labels: np.ndarray  # class indices
    classes: list[str]
    info: dict[str, Any]
    own_shapes: set[tuple[int, int]]  # (height, width) as stored in the source
    official_test: np.ndarray | None = None  # indices of the source's own test split
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def grey(self) -> bool:
        if isinstance(self.images, np.ndarray):
            return self.images.ndim == 3
        return all(image.ndim == 2 for image in self.images)


def ingest_images(
    source: str | Path,
    out: str | Path = "data/prepared",
    *,
    size: int | None = None,
    channels: int | None = None,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    per_class: int | None = None,
    max_bad_fraction: float = 0.05,
    unlabelled: str | Path | None = None,
    progress: bool = True,
) -> ImageBundle:
    """Prepare an image set for the other stages and write it to ``out``.

    ``size`` defaults to the images' own size when they are all one square size of 8 to 64 px,
    else 32; ``channels`` to 1 when every image is grey, else 3. Splits are stratified and
    seeded; MNIST's ``t10k`` files, when present, are the test split. ``per_class`` keeps that
    many train images per class (validation and test unchanged). Files that cannot be read are
    skipped; more than ``max_bad_fraction`` of them is an error.

    ``unlabelled`` is a source of images without classes (a folder, searched recursively, whose
    sub-folders mean nothing; an ``.npz`` with ``x``; an IDX images file, or a folder of IDX
    files, whose ``train-*`` file is read): brought to the same size and channels and stored
    as ``unlabelled.safetensors``, for the image GAN's unconditional phase only. No classifier
    trains on them. Exact copies of a train, validation or test image are dropped (counted in
    ``schema.json``), so test images never reach the GAN this way.

    Example:
        >>> bundle = ingest_images("digits", out=tmp_path / "prepared")  # doctest: +SKIP
        >>> bundle.schema.shape
        (1, 8, 8)
    """
    _check_options(size, channels, test_size, validation_size, per_class, max_bad_fraction)
    inputs = () if str(source) in BUILTIN_IMAGES else (source,)
    if unlabelled is not None:
        inputs = (*inputs, unlabelled)
    check_output_dir(out, PREPARED_DATA, inputs)
    loaded = _load(source, size, max_bad_fraction, progress)
    _check_classes(loaded, str(source))

    size, size_rule = _choose_size(loaded, size)
    if channels is not None:
        channels, channels_rule = int(channels), "given"
    else:
        channels, channels_rule = (1, "all grey") if loaded.grey else (3, "some in colour")
    pixels = _finalise(loaded.images, size, channels, progress)

    train, validation, test = _split(loaded, test_size, validation_size, seed)
    info = dict(loaded.info)
    if per_class is not None:
        info["per_class"] = int(per_class)
        info["train_before_per_class"] = len(train)
        train = _keep_per_class(loaded.labels, train, per_class, len(loaded.classes), seed)
    info.update(
        size=size,
        size_rule=size_rule,
        channels=channels,
        channels_rule=channels_rule,
        alpha_background="white",
        seed=seed,
        test_size=test_size,
        validation_size=validation_size,
    )
    labels = loaded.labels
    splits = {
        "train": ImageSplit(pixels[train], labels[train]),
        "validation": ImageSplit(pixels[validation], labels[validation]),
        "test": ImageSplit(pixels[test], labels[test]),
    }
    extra = None
    if unlabelled is not None:
        extra, info["unlabelled"] = _unlabelled(
            unlabelled, size, channels, splits, max_bad_fraction, progress
        )
    schema = ImageSchema(
        classes=loaded.classes,
        size=size,
        channels=channels,
        source=info,
        skipped=loaded.skipped,
    )  # the writer adds the image counts
    bundle = write_image_bundle(out, schema, splits, inputs, unlabelled=extra)
    logger.info(
        "ingested %s: %d classes, %dx%d px, %d channel%s; train %d, validation %d, test %d"
        " images%s%s; %d skipped -> %s",
        source,
        len(schema.classes),
        size,
        size,
        channels,
        "" if channels == 1 else "s",
        len(train),
        len(validation),
        len(test),
        f" (per_class {per_class})" if per_class is not None else "",
        f"; {len(extra)} unlabelled" if extra is not None else "",
        len(loaded.skipped),
        out,
    )
    return bundle


def _unlabelled(
    source: str | Path,
    size: int,
    channels: int,
    splits: dict[str, ImageSplit],
    max_bad: float,
    progress: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The unlabelled images at the labelled set's size and channels, without exact copies of
    any labelled image, and what was done (for ``schema.json``)."""
    path = Path(source)
    if str(source) in BUILTIN_IMAGES and not path.exists():
        raise AugmentError(f"unlabelled: the built-in {source} is labelled; give a folder or file")
    if not path.exists():
        raise AugmentError(f"unlabelled image source not found: {path}")
    skipped: list[dict[str, str]] = []
    if path.is_dir() and _idx_folder(path):
        kind, images = "idx", read_idx(find_idx_files(path)[0], IDX_IMAGES_MAGIC)
    elif path.is_dir():
        kind, (images, skipped) = "folder", _unlabelled_folder(path, size, max_bad, progress)
    elif path.name.lower().endswith(".npz"):
        kind, images = "npz", read_npz_images(path)
    elif is_idx_images_name(path.name.lower()):
        kind, images = "idx", read_idx(path, IDX_IMAGES_MAGIC)
    else:
        raise AugmentError(
            f"unsupported unlabelled image source {path}: use a folder of images, an .npz with"
            " an array x, or an MNIST IDX images file"
        )
    pixels = _finalise(images, size, channels, progress)
    known = {name: {_digest(x) for x in split.images} for name, split in splits.items()}
    keep = np.ones(len(pixels), dtype=bool)
    dropped = dict.fromkeys(splits, 0)
    for i, image in enumerate(pixels):
        digest = _digest(image)
        for name, digests in known.items():
            if digest in digests:
                keep[i] = False
                dropped[name] += 1
                break
    if dropped["test"] or dropped["validation"] or dropped["train"]:
        logger.warning(
            "unlabelled: dropped %d exact copies of labelled images (train %d, validation %d,"
            " test %d)",
            int((~keep).sum()),
            dropped["train"],
            dropped["validation"],
            dropped["test"],
        )
    if not keep.any():
        raise AugmentError(f"unlabelled: every image in {path} is a copy of a labelled image")
    info = {
        "path": str(path),
        "kind": kind,
        "images": len(pixels),
        "kept": int(keep.sum()),
        "dropped_copies": dropped,
        "skipped": skipped,
    }
    return np.ascontiguousarray(pixels[keep]), info


def _unlabelled_folder(
    root: Path, size: int, max_bad: float, progress: bool
) -> tuple[list[np.ndarray], list[dict[str, str]]]:
    files = list_image_files(root)
    if not files:
        raise AugmentError(f"no image files (PNG, JPEG, BMP, GIF, WebP, TIFF) found in {root}")
    results = _read_files(root, files, size, progress)
    skipped = _unreadable(results, root, max_bad, "unlabelled image files")
    return [r.image for r in results if r.image is not None], skipped


def _unreadable(
    results: list[FileResult], root: Path, max_bad: float, what: str
) -> list[dict[str, str]]:
    """The files of ``results`` that could not be read, each warned about (the first few by
    name); more than ``max_bad`` of them is an error naming the first."""
    skipped = [{"file": r.relative, "reason": r.reason} for r in results if r.image is None]
    for item in skipped[:MAX_NAMED_WARNINGS]:
        logger.warning("skipping unreadable image %s: %s", root / item["file"], item["reason"])
    if len(skipped) > MAX_NAMED_WARNINGS:
        logger.warning(
            "... and %d more unreadable images (all listed under 'skipped' in schema.json)",
            len(skipped) - MAX_NAMED_WARNINGS,
        )
    if skipped and len(skipped) / len(results) > max_bad:
        first = skipped[0]
        raise AugmentError(
            f"{len(skipped)} of {len(results)} {what} in {root} could not be read"
            f" ({len(skipped) / len(results):.1%}, more than max_bad_fraction {max_bad:.1%});"
            f" first: {first['file']}: {first['reason']}"
        )
    return skipped


def _digest(image: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).digest()


def prepare_images(
    source: str | Path | np.ndarray,
    labels: Sequence[Any] | np.ndarray | None = None,
    *,
    size: int | None = None,
    channels: int | None = None,
    max_bad_fraction: float = 0.05,
    progress: bool = True,
) -> tuple[ImageSplit, ImageSchema]:
    """Images in memory made ready to fit, as ingest prepares them, without splits or files.

    ``source`` is an array ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` (uint8, or
    floats in [0, 1]) with one label per image in ``labels`` (ints or strings: the class names
    are their sorted values), or anything :func:`ingest_images` reads (a folder, IDX, .npz,
    ``digits``), whose classes come from the source.
    """
    _check_options(size, channels, 0.2, 0.1, None, max_bad_fraction)
    if isinstance(source, np.ndarray):
        if labels is None:
            raise AugmentError("images given as an array need labels: one per image")
        where = "the image array"
        y = np.asarray(labels).reshape(-1)
        pixels = array_pixels(array_layout(source, where), where)
        if len(y) != len(pixels):
            raise AugmentError(f"{len(pixels)} images but {len(y)} labels")
        classes, codes = label_classes(y, where)
        loaded = _Loaded(pixels, codes, classes, {"in_memory": "array"}, {pixels.shape[1:3]})
    else:
        loaded = _load(source, size, max_bad_fraction, progress)
    if len(loaded.classes) < 2:
        raise AugmentError(f"need images of at least two classes, got {loaded.classes}")
    size, _ = _choose_size(loaded, size)
    if channels is None:
        channels = 1 if loaded.grey else 3
    data = ImageSplit(_finalise(loaded.images, size, int(channels), progress), loaded.labels)
    schema = ImageSchema(
        classes=loaded.classes,
        size=size,
        channels=int(channels),
        class_counts=np.bincount(data.labels, minlength=len(loaded.classes)).tolist(),
        source=loaded.info,
        splits={"train": len(data)},
        skipped=loaded.skipped,
    )
    return data, schema


def is_image_source(source: str | Path) -> bool:
    """True for ``digits``, an image folder, an ``.npz`` and MNIST IDX files or folders.

    Tables (CSV, TSV, Parquet, ``adult``) are False. A missing ``.npz`` or IDX path is True, so
    that the image reader reports it as not found.
    """
    text = str(source)
    if text in BUILTIN_IMAGES:
        return True
    path = Path(text)
    name = path.name.lower()
    if name.endswith(".npz") or is_idx_images_name(name) or is_idx_labels_name(name):
        return True
    if path.is_dir():
        return _idx_folder(path) or has_image_files(path)
    return False


# ---------------------------------------------------------------- loading each kind of source


def _load(source: str | Path, size: int | None, max_bad: float, progress: bool) -> _Loaded:
    text = str(source)
    if text in BUILTIN_IMAGES:
        if Path(text).exists():
            logger.warning("using the built-in %s; pass ./%s to read the local folder", text, text)
        return _load_digits()
    path = Path(text)
    if not path.exists():
        raise AugmentError(f"image source not found: {path}")
    if path.is_dir():
        if _idx_folder(path):
            train, test = find_idx_files(path)
            return _load_idx(train, test)
        return _load_folder(path, size, max_bad, progress)
    name = path.name.lower()
    if name.endswith(".npz"):
        return _load_npz(path)
    if is_idx_images_name(name):
        return _load_idx(path, None)
    if is_idx_labels_name(name):
        return _load_idx(idx_images_for(path), None)
    raise AugmentError(
        f"unsupported image source {path}: use a folder with one sub-folder of images per class,"
        " an .npz with arrays x and y, MNIST IDX files, or 'digits'"
    )


def _idx_folder(path: Path) -> bool:
    try:
        return any(is_idx_images_name(p.name) for p in path.iterdir() if p.is_file())
    except OSError:
        return False


def _load_digits() -> _Loaded:
    images, targets = load_digits_images()
    classes, labels = label_classes(targets, "digits")
    info = {"kind": "digits", "path": "digits", "builtin": "scikit-learn load_digits"}
    info["images"] = len(images)
    return _Loaded(images, labels, classes, info, {images.shape[1:3]})


def _load_npz(path: Path) -> _Loaded:
    images, y = read_npz(path)
    classes, labels = label_classes(y, str(path))
    info = {"kind": "npz", "path": str(path), "sha256": _sha256_files([path])}
    info["images"] = len(images)
    return _Loaded(images, labels, classes, info, {images.shape[1:3]})


def _load_idx(train_path: Path, test_path: Path | None) -> _Loaded:
    images, raw_labels, labels_path = read_idx_pair(train_path)
    files = [train_path, labels_path]
    official_test = None
    if test_path is not None:
        test_images, test_labels, test_labels_path = read_idx_pair(test_path)
        if test_images.shape[1:] != images.shape[1:]:
            raise AugmentError(
                f"{test_path} holds {test_images.shape[1]}x{test_images.shape[2]} images but"
                f" {train_path} holds {images.shape[1]}x{images.shape[2]}"
            )
        official_test = np.arange(len(images), len(images) + len(test_images))
        images = np.concatenate([images, test_images])
        raw_labels = np.concatenate([raw_labels, test_labels])
        files += [test_path, test_labels_path]
    classes, labels = label_classes(raw_labels, str(train_path))
    info: dict[str, Any] = {
        "kind": "idx",
        "path": str(train_path.parent if test_path is not None else train_path),
        "files": sorted(p.name for p in files),
        "sha256": _sha256_files(files),
        "images": len(images),
    }
    if test_path is not None:
        info["test"] = f"official {test_path.name}"
    return _Loaded(images, labels, classes, info, {images.shape[1:3]}, official_test)


def _load_folder(root: Path, size: int | None, max_bad: float, progress: bool) -> _Loaded:
    classes, files, ignored = scan_image_folder(root)
    if not files:
        if has_image_files(root):
            raise AugmentError(
                f"{root} holds images but no class sub-folders: put each class's images in a"
                " sub-folder named after the class"
            )
        raise AugmentError(f"no image files (PNG, JPEG, BMP, GIF, WebP, TIFF) found in {root}")
    if ignored:
        logger.info(
            "%s: ignored %d files that are not images (by extension), e.g. %s",
            root,
            len(ignored),
            ignored[0],
        )
    results = _read_files(root, [path for path, _ in files], size, progress)
    skipped = _unreadable(results, root, max_bad, "image files")

    images = [r.image for r in results if r.image is not None]
    labels = np.array(
        [label for r, (_, label) in zip(results, files, strict=True) if r.image is not None],
        dtype=np.int64,
    )
    listing = "".join(f"{r.relative}\t{r.sha256}\n" for r in sorted(results, key=_relative))
    info = {
        "kind": "folder",
        "path": str(root),
        "sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "sha256_of": "the sorted list of relative paths with each file's SHA-256",
        "files": len(results),
        "images": len(images),
    }
    shapes = {r.own_shape for r in results if r.own_shape is not None}
    return _Loaded(images, labels, classes, info, shapes, skipped=skipped)


def _relative(result: FileResult) -> str:
    return result.relative


def _read_files(
    root: Path, paths: Sequence[Path], size: int | None, progress: bool
) -> list[FileResult]:
    """Read every file (in order) on a thread pool: Pillow decodes without holding the GIL."""
    workers = min(16, (os.cpu_count() or 1) + 2, max(1, len(paths) // 16))
    bar = tqdm(
        total=len(paths),
        desc="reading images",
        unit="img",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    results: list[FileResult] = []
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda p: read_image_file(p, root, size), paths):
            results.append(result)
            bar.update()
    return results


# ---------------------------------------------------------------- size, channels, pixels


def _choose_size(loaded: _Loaded, size: int | None) -> tuple[int, str]:
    if size is not None:
        return int(size), "given"
    own = own_size_rule(loaded.own_shapes)
    if own is not None:
        return own, "own size"
    shapes = sorted(loaded.own_shapes)
    example = ", ".join(f"{w}x{h}" for h, w in shapes[:3])
    logger.info(
        "images are not all one square size of %d to %d px (%d size%s, e.g. %s): resizing to"
        " %dx%d (set size to choose another)",
        MIN_SIZE,
        MAX_SIZE,
        len(shapes),
        "" if len(shapes) == 1 else "s",
        example,
        DEFAULT_SIZE,
        DEFAULT_SIZE,
    )
    return DEFAULT_SIZE, f"default {DEFAULT_SIZE}"


def _finalise(
    images: np.ndarray | list[np.ndarray], size: int, channels: int, progress: bool
) -> np.ndarray:
    """All images as one uint8 array ``(N, channels, size, size)``."""
    if isinstance(images, np.ndarray):
        colour = images.ndim == 4
        if images.shape[1:3] != (size, size):
            bar = tqdm(images, "resizing", unit="img", file=sys.stderr, disable=not progress)
            images = np.stack([fit_array(image, size) for image in bar])
        out = to_channels(images, channels, colour=colour)
    else:
        out = np.empty((len(images), size, size, channels), dtype=np.uint8)
        for i, image in enumerate(images):
            out[i] = to_channels(fit_array(image, size), channels, colour=image.ndim == 3)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------- checks and splits


def _check_options(
    size: Any,
    channels: Any,
    test_size: Any,
    validation_size: Any,
    per_class: Any,
    max_bad_fraction: Any,
) -> None:
    """Every option's type and range (they may come from params.yaml), named when wrong."""
    for name, value in (("size", size), ("channels", channels), ("per_class", per_class)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise AugmentError(f"{name} must be a whole number, got {value!r}")
    for name, value in (
        ("test_size", test_size),
        ("validation_size", validation_size),
        ("max_bad_fraction", max_bad_fraction),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AugmentError(f"{name} must be a number, got {value!r}")
    if size is not None and not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise AugmentError(f"image size must be {MIN_SIZE} to {MAX_SIZE} px, got {size}")
    if channels is not None and int(channels) not in CHANNELS:
        raise AugmentError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    for name, value in (("test_size", test_size), ("validation_size", validation_size)):
        if not 0 < value < 1:
            raise AugmentError(f"{name} must be between 0 and 1, got {value}")
    if test_size + validation_size >= 1:
        raise AugmentError("test_size + validation_size must leave images for training")
    if per_class is not None and int(per_class) < 1:
        raise AugmentError(f"per_class must be at least 1, got {per_class}")
    if not 0 <= max_bad_fraction <= 1:
        raise AugmentError(f"max_bad_fraction must be between 0 and 1, got {max_bad_fraction}")


def _check_classes(loaded: _Loaded, source: str) -> None:
    if len(loaded.classes) < 2:
        only = loaded.classes[0] if loaded.classes else "none"
        raise AugmentError(f"{source} holds a single class ({only!r}): need at least two")
    pool = _pool(loaded)
    counts = np.bincount(loaded.labels[pool], minlength=len(loaded.classes))
    needed = MIN_IMAGES_PER_CLASS if loaded.official_test is None else 2
    where = "" if loaded.official_test is None else " outside the official test split"
    for name, count in zip(loaded.classes, counts.tolist(), strict=True):
        if count < needed:
            raise AugmentError(
                f"class {name!r} in {source} has only {count} readable image"
                f"{'' if count == 1 else 's'}{where}: need at least {needed} for stratified"
                " train/validation/test splits"
            )


def _pool(loaded: _Loaded) -> np.ndarray:
    """Indices of the images to split (all but the source's own test split)."""
    everything = np.arange(len(loaded.labels))
    if loaded.official_test is None:
        return everything
    return np.setdiff1d(everything, loaded.official_test)


def _split(
    loaded: _Loaded, test_size: float, validation_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, pool = loaded.labels, _pool(loaded)
    if loaded.official_test is not None:
        logger.info("test split: the source's own test file (test_size is not used)")
        train, validation = _stratified(pool, labels, validation_size, seed)
        return train, validation, loaded.official_test
    rest, test = _stratified(pool, labels, test_size, seed)
    train, validation = _stratified(rest, labels, validation_size / (1 - test_size), seed + 1)
    return train, validation, test


def _stratified(
    index: np.ndarray, labels: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    strata = labels[index]
    n_classes = len(np.unique(strata))
    n_holdout = max(int(round(share * len(index))), n_classes)
    try:
        keep, holdout = train_test_split(
            index, test_size=n_holdout, random_state=seed, stratify=strata, shuffle=True
        )
    except ValueError as exc:
        raise AugmentError(
            f"cannot split {len(index)} images of {n_classes} classes into {share:.0%} held out:"
            f" {str(exc).splitlines()[0]}"
        ) from None
    return np.asarray(keep), np.asarray(holdout)


def _keep_per_class(
    labels: np.ndarray, train: np.ndarray, per_class: int, n_classes: int, seed: int
) -> np.ndarray:
    """A seeded choice of ``per_class`` train images per class, in the split's order.

    Each class's images are permuted once per seed and the first ``per_class`` kept, so a
    smaller ``per_class`` keeps a subset of a larger one's images.
    """
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(train), dtype=bool)
    short: list[int] = []
    for c in range(n_classes):
        members = np.flatnonzero(labels[train] == c)
        keep[rng.permutation(members)[:per_class]] = True
        if len(members) < per_class:
            short.append(c)
    if short:
        logger.info(
            "per_class %d: %d class%s had fewer train images and keep all of them",
            per_class,
            len(short),
            "" if len(short) == 1 else "es",
        )
    return train[keep]


def _sha256_files(paths: Sequence[Path]) -> str:
    """SHA-256 of the files' bytes, concatenated in sorted order of their names."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        with path.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
