"""``SyntheticImageFolder``: a folder written by ``augment generate`` as a dataset."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from augment.core.files import read_json
from augment.errors import AugmentError
from augment.torchdata.items import Transform, check_index, class_index, make_item, pil_pixels


# ----------------------------------------------------------------- generated folder
class SyntheticImageFolder(Dataset):
    """The images of a folder written by ``augment generate``, as ``(image, label)`` items.

    The folder's ``manifest.csv`` (``file,label``, label a class name) lists the images and
    ``classes.json`` the class names in the real data's order; the label of an item is its class's
    index in ``classes.json``, or in ``class_order`` when one is given, so that the labels line up
    with your real dataset (``class_order=torchvision_folder.classes``, or a list of names, or a
    ``{name: index}`` dict). A class that has images but is missing from ``class_order`` is an
    error; classes of ``class_order`` without images are fine.

    Items are ``(image, label)``: ``image`` a float tensor ``(C, H, W)`` in [0, 1], or
    ``transform(PIL image)`` when ``transform`` is given; ``target_transform`` applies to the label.
    Attributes as in torchvision's ``ImageFolder``: ``classes``, ``class_to_idx``, ``samples``
    (``(path, label)`` pairs) and ``targets``. File names from the manifest may not leave the
    folder (no ``..``, no absolute paths, no symlinks pointing outside).

    Example:
        >>> import tempfile, numpy as np
        >>> from augment.images.writer import ImageFolderWriter
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with ImageFolderWriter(f"{tmp.name}/synth", ["cat", "dog"], workers=1) as writer:
        ...     writer.write(np.full((3, 1, 8, 8), 255, np.uint8), np.array([0, 1, 1]))
        >>> folder = SyntheticImageFolder(f"{tmp.name}/synth")
        >>> folder.classes, folder.targets
        (['cat', 'dog'], [0, 1, 1])
        >>> image, label = folder[1]
        >>> image.shape, image.max().item(), label
        (torch.Size([1, 8, 8]), 1.0, 1)
        >>> SyntheticImageFolder(f"{tmp.name}/synth", class_order=["bird", "dog", "cat"]).targets
        [2, 1, 1]
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        root: str | Path,
        transform: Transform | None = None,
        class_order: Sequence[str] | Mapping[str, int] | None = None,
        *,
        target_transform: Transform | None = None,
    ) -> None:
        self.root = Path(root)
        self.transform = transform
        self.target_transform = target_transform
        folder_classes, rows = _read_generated(self.root)
        used = sorted({label for _, label in rows}, key=folder_classes.index)
        if class_order is None:
            self.classes = list(folder_classes)
            self.class_to_idx = class_index(self.classes)
        else:
            self.classes, self.class_to_idx = _class_order(class_order)
            missing = [name for name in used if name not in self.class_to_idx]
            if missing:
                raise AugmentError(
                    f"{self.root} has images of class(es) {', '.join(map(repr, missing))} that"
                    f" class_order does not list; class_order is {self.classes}"
                )
        self._root_resolved = self.root.resolve()
        self.samples = [(self.root / file, self.class_to_idx[label]) for file, label in rows]
        self.targets = [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, label = self.samples[check_index(index, len(self.samples))]
        pixels = self._load(path)
        target = label if self.target_transform is None else self.target_transform(label)
        return make_item(pixels, self.transform), target

    def _load(self, path: Path) -> np.ndarray:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root_resolved):
            raise AugmentError(f"{path} points outside {self.root}: refusing to read it")
        try:
            with Image.open(resolved) as image:
                return pil_pixels(image)
        except FileNotFoundError:
            raise AugmentError(
                f"image listed in {self.root}/manifest.csv is missing: {path}"
            ) from None
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise AugmentError(f"cannot read image {path}: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"SyntheticImageFolder({str(self.root)!r}, {len(self)} images, classes={self.classes})"
        )


def _class_order(order: Sequence[str] | Mapping[str, int]) -> tuple[list[str], dict[str, int]]:
    """``(classes, class_to_idx)`` from a list of names or a ``{name: index}`` dict."""
    if isinstance(order, str):
        raise AugmentError("class_order must be a list of class names, not one string")
    if isinstance(order, Mapping):
        to_idx = {str(k): int(v) for k, v in order.items()}
        if sorted(to_idx.values()) != list(range(len(to_idx))):
            raise AugmentError(f"class_order's indices must be 0 to {len(to_idx) - 1}, each once")
        classes = sorted(to_idx, key=to_idx.__getitem__)
        return classes, to_idx
    classes = [str(c) for c in order]
    return classes, class_index(classes)


def _read_generated(root: Path) -> tuple[list[str], list[tuple[PurePosixPath, str]]]:
    """``classes.json``'s names and the manifest's ``(relative file, class name)`` rows."""
    if not root.is_dir():
        raise AugmentError(f"synthetic image folder not found: {root}")
    manifest, classes_file = root / "manifest.csv", root / "classes.json"
    for needed in (manifest, classes_file):
        if not needed.is_file():
            raise AugmentError(
                f"{root} is not a generated image set: it has no {needed.name}"
                " (write one with `augment generate`)"
            )
    raw = read_json(classes_file, "classes file")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        raise AugmentError(f"{classes_file} must be a JSON list of class names")
    known = class_index(raw)
    rows: list[tuple[PurePosixPath, str]] = []
    try:
        with open(manifest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
                raise AugmentError(f"{manifest} must have the columns file,label")
            for row in reader:
                line = reader.line_num
                label = row.get("label")
                if label not in known:
                    raise AugmentError(
                        f"{manifest} line {line}: label {label!r} is not in classes.json"
                    )
                rows.append((_relative_file(row.get("file"), manifest, line), label))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AugmentError(f"cannot read {manifest}: {exc}") from None
    return list(raw), rows


def _relative_file(name: str | None, manifest: Path, line: int) -> PurePosixPath:
    """A manifest's file name as a path that stays inside the folder, or a one-line error."""
    text = (name or "").strip()
    path = PurePosixPath(text)
    escapes = (
        not text
        or "\\" in text
        or "\x00" in text
        or path.is_absolute()
        or PureWindowsPath(text).drive != ""
        or ".." in path.parts
    )
    if escapes:
        raise AugmentError(
            f"{manifest} line {line}: file {name!r} is not a path inside the folder; refusing it"
        )
    return path
