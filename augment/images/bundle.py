"""The prepared image dataset on disk: ``<split>.safetensors`` per split + ``schema.json``.

Each split file holds two tensors: ``images``, uint8 of shape ``(N, C, H, W)``, and ``labels``,
int64 class indices into ``schema.classes``. safetensors, not pickle or .npy with objects, so
reading a dataset cannot run code. The test split is held out: no GAN ever reads it.

A bundle may also hold ``unlabelled.safetensors`` (``images`` only, recorded in
``schema.splits["unlabelled"]``): images without a class, for the image GAN's unconditional
phase. It is not a split of the evaluation: no classifier trains or scores on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from augment.core.files import PREPARED_DATA, atomic_dir
from augment.core.splits import SPLITS, check_counts, check_split, schema_file
from augment.errors import AugmentError
from augment.images.schema import ImageSchema

UNLABELLED = "unlabelled"  # the file stem and schema.splits key of the unlabelled images


@dataclass
class ImageSplit:
    """Images ``(N, C, H, W)`` uint8 and their class indices ``(N,)`` int64."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.images = np.ascontiguousarray(self.images, dtype=np.uint8)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise AugmentError(
                f"an image split needs images (N, C, H, W) and N labels, got {self.images.shape}"
                f" and {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ImageSplit:
        return ImageSplit(self.images[index], self.labels[index])


@dataclass
class ImageBundle:
    """A prepared image dataset. Splits load lazily from ``path`` and are cached."""

    path: Path
    schema: ImageSchema
    _splits: dict[str, ImageSplit] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> ImageBundle:
        path = Path(path)
        return cls(path=path, schema=ImageSchema.load(schema_file(path)))

    def split(self, name: str) -> ImageSplit:
        check_split(name)
        if name not in self._splits:
            file = split_file(self.path, name)
            tensors = self._read(name)
            if "labels" not in tensors:
                raise AugmentError(f"cannot read {file}: it holds no 'labels'")
            images, labels = tensors["images"], tensors["labels"]
            _check_labels(labels, len(images), len(self.schema.classes), file)
            if name == "train":
                held = np.bincount(labels, minlength=len(self.schema.classes)).tolist()
                check_counts(self.path, file, "images", None, len(images),
                             self.schema.class_counts, held, self.schema.classes)  # fmt: skip
            self._splits[name] = ImageSplit(images, labels)
        return self._splits[name]

    def _read(self, name: str) -> dict[str, np.ndarray]:
        """Split ``name``'s tensors, checked against schema.json: uint8 images of its shape, as
        many as it records."""
        file = split_file(self.path, name)
        if not file.is_file():
            raise AugmentError(f"prepared data is incomplete: {file} is missing")
        try:
            tensors = load_file(file)
            images = tensors["images"]
        except (SafetensorError, KeyError, OSError) as exc:
            raise AugmentError(f"cannot read {file}: {exc}") from None
        if images.dtype != np.uint8:
            raise AugmentError(f"{file} holds {images.dtype} images; augment writes uint8")
        if images.ndim != 4 or images.shape[1:] != self.schema.shape:
            raise AugmentError(
                f"{file} holds images of shape {images.shape[1:]}, schema.json says"
                f" {self.schema.shape}"
            )
        check_counts(self.path, file, "images", self.schema.splits.get(name), len(images))
        return tensors

    def has_split(self, name: str) -> bool:
        """Whether the folder holds split ``name``'s file (a bundle may lack validation)."""
        return split_file(self.path, name).is_file()

    @property
    def train(self) -> ImageSplit:
        return self.split("train")

    @property
    def validation(self) -> ImageSplit:
        return self.split("validation")

    @property
    def test(self) -> ImageSplit:
        return self.split("test")

    @property
    def unlabelled(self) -> np.ndarray | None:
        """The unlabelled images ``(M, C, H, W)`` uint8, or None when ingest was given none."""
        if UNLABELLED not in self.schema.splits:
            return None
        return np.ascontiguousarray(self._read(UNLABELLED)["images"], dtype=np.uint8)


def split_file(folder: Path, name: str) -> Path:
    """Where split ``name`` of a prepared image folder is stored."""
    return folder / f"{name}.safetensors"


def _check_labels(labels: np.ndarray, images: int, classes: int, file: Path) -> None:
    """One class index per image, each naming one of schema.json's ``classes``."""
    if labels.ndim != 1 or len(labels) != images or labels.dtype.kind not in "iu":
        raise AugmentError(
            f"{file} holds labels of shape {labels.shape} and type {labels.dtype} for {images}"
            " images; augment writes one integer class index per image"
        )
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        raise AugmentError(
            f"{file} holds label {labels[outside][0]}, but schema.json lists {classes} classes"
        )


def write_image_bundle(
    out: str | Path,
    schema: ImageSchema,
    splits: dict[str, ImageSplit],
    inputs: tuple[str | Path, ...] = (),
    unlabelled: np.ndarray | None = None,
) -> ImageBundle:
    """Write all splits (and any ``unlabelled`` images) and the schema into a fresh directory,
    swapped into place at the end; ``out`` may not hold any of ``inputs``. The schema's image
    counts (``splits``, ``class_counts``) are those of the images written, which the reader
    checks them against."""
    out = Path(out)
    counts = {name: len(splits[name]) for name in SPLITS}
    if unlabelled is not None:
        counts[UNLABELLED] = len(unlabelled)
    train = np.bincount(splits["train"].labels, minlength=len(schema.classes)).tolist()
    schema = replace(schema, splits=counts, class_counts=train)
    with atomic_dir(out, PREPARED_DATA, inputs) as tmp:
        for name in SPLITS:
            data = splits[name]
            tensors = {"images": data.images, "labels": data.labels}
            save_file(tensors, str(split_file(tmp, name)))
        if unlabelled is not None:
            pixels = np.ascontiguousarray(unlabelled, dtype=np.uint8)
            save_file({"images": pixels}, str(split_file(tmp, UNLABELLED)))
        schema.save(tmp / "schema.json")
    return ImageBundle.load(out)
