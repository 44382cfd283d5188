"""The prepared image dataset's schema: image size, channels, class names and provenance.

Written by ``augment ingest`` as ``schema.json`` beside the splits, like the tabular schema; its
``modality`` is ``"image"``, which is how every later stage knows which pieces to use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from augment.core.files import read_json, write_json
from augment.core.modalities import IMAGE
from augment.core.validate import from_json
from augment.errors import AugmentError

IMAGE_SCHEMA_VERSION = 1
MIN_SIZE, MAX_SIZE = 8, 64
CHANNELS = (1, 3)


@dataclass
class ImageSchema:
    """Square images of ``size`` x ``size`` pixels with ``channels`` (1 grey, 3 RGB).

    ``classes`` are the class names in label-index order: label ``i`` in the splits is
    ``classes[i]``. ``class_counts`` are the train split's images per class, aligned with
    ``classes``: the default label mix for generation. ``skipped`` lists the input files that
    could not be read (``{"file": ..., "reason": ...}``).
    """

    classes: list[str]
    size: int
    channels: int
    class_counts: list[int] = field(default_factory=list)
    modality: str = IMAGE
    source: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    version: int = IMAGE_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not MIN_SIZE <= int(self.size) <= MAX_SIZE:
            raise AugmentError(f"image size must be {MIN_SIZE} to {MAX_SIZE} px, got {self.size}")
        if int(self.channels) not in CHANNELS:
            raise AugmentError(f"images must have 1 or 3 channels, got {self.channels}")
        if len(self.classes) < 2:
            raise AugmentError(f"need at least 2 classes, got {len(self.classes)}")
        if len(set(map(str, self.classes))) != len(self.classes):
            raise AugmentError(f"class names must be distinct, got {self.classes}")
        if self.class_counts and len(self.class_counts) != len(self.classes):
            raise AugmentError(
                f"{len(self.class_counts)} class_counts for {len(self.classes)} classes"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's array shape: ``(channels, size, size)``."""
        return (int(self.channels), int(self.size), int(self.size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "schema") -> ImageSchema:
        """A schema from its JSON form, every key and type checked (``where`` names the source
        in errors)."""
        if not isinstance(data, dict) or data.get("modality") != IMAGE:
            modality = data.get("modality") if isinstance(data, dict) else None
            raise AugmentError(f"{where}: not an image schema (modality {modality!r})")
        return from_json(cls, data, where)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> ImageSchema:
        return cls.from_dict(read_json(path, "schema"), str(path))
