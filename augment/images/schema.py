"""The prepared image dataset's schema: image size, channels, class names and provenance.

Written by ``augment ingest`` as ``schema.json`` beside the splits, like the tabular schema; its
``modality`` is ``"image"``, which is how every later stage knows which pieces to use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from augment.core.files import read_json, write_json
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
    modality: str = "image"
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

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's array shape: ``(channels, size, size)``."""
        return (int(self.channels), int(self.size), int(self.size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSchema:
        data = dict(data)
        if data.get("modality") != "image":
            raise AugmentError(f"not an image schema (modality {data.get('modality')!r})")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> ImageSchema:
        raw = read_json(path, "schema")
        try:
            return cls.from_dict(raw)
        except (TypeError, KeyError) as exc:
            raise AugmentError(f"malformed schema {path}: {exc}") from None
