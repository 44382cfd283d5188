"""What every prepared dataset shares: the three splits and ``schema.json``.

The test split is held out: nothing that trains a GAN reads it, so evaluation stays honest.
"""

from __future__ import annotations

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


def check_split(name: str) -> None:
    if name not in SPLITS:
        raise AugmentError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
