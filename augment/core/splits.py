"""What every prepared dataset shares: the three splits and ``schema.json``.

The test split is held out: nothing that trains a GAN reads it, so evaluation stays honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from augment.core.files import PREPARED_DATA, output_kind
from augment.errors import AugmentError

SPLITS = ("train", "validation", "test")


def schema_file(path: Path) -> Path:
    """``path/schema.json`` of a prepared dataset, or an error saying what is missing."""
    if not path.is_dir():
        raise AugmentError(f"prepared data not found: {path} (run `augment ingest` first)")
    schema_path = path / "schema.json"
    if not schema_path.is_file():
        owner = output_kind(path)
        if owner is not None and owner != PREPARED_DATA:
            raise AugmentError(
                f"{path} holds {owner}, not prepared data: pass a folder `augment ingest` wrote"
            )
        raise AugmentError(f"{path} is not a prepared dataset: schema.json is missing")
    return schema_path


def check_counts(
    path: Path,
    file: Path,
    unit: str,
    recorded: int | None,
    held: int,
    class_counts: Sequence[int] = (),
    held_per_class: Sequence[int] = (),
    classes: Sequence[object] = (),
) -> None:
    """A split ``file`` of the prepared data at ``path`` holds what its schema.json records:
    ``recorded`` rows or images (``unit``; None: not recorded), and for the train split its
    ``class_counts`` (generate's default mix), aligned with ``classes``."""
    where = schema_file(path)
    if recorded is not None and recorded != held:
        raise AugmentError(f"{file} holds {held} {unit}, {where} says {recorded}")
    for cls, expected, got in zip(classes, class_counts, held_per_class, strict=False):
        if expected != got:
            raise AugmentError(
                f"{where} counts {expected} training {unit} of class {cls!r}, but {file} holds"
                f" {got}"
            )


def check_split(name: str) -> None:
    if name not in SPLITS:
        raise AugmentError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
