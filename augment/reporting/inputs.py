"""Read what the report is built from: the typed result ``augment evaluate`` wrote as its metrics
JSON, and a synthetic set (a generated table or image folder, or rows / images sampled from the
trained model). A missing or unreadable input is an :class:`AugmentError` naming the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from augment.core.files import read_json
from augment.errors import AugmentError
from augment.evaluation.output import without_mark
from augment.evaluation.results import EvaluationResult
from augment.images.schema import ImageSchema
from augment.tabular.schema import TableSchema

# What `augment generate` writes in its folder: a folder of parts (earlier versions: one file).
TABLE_FILES = ("synthetic.parquet", "synthetic.csv", "synthetic.csv.gz")
PART_SUFFIXES = (".parquet", ".csv")


# -- the evaluation ------------------------------------------------------------------------------
def read_result(path: str | Path) -> EvaluationResult:
    """The evaluation's metrics JSON (``metrics/tabular.json`` or ``metrics/images.json``): the
    whole typed result, modality included."""
    data = read_json(path, "metrics file")
    if not isinstance(data, dict) or not {"primary_metric", "real", "gain"} <= set(data):
        raise AugmentError(f"{path} is not an `augment evaluate` metrics file")
    if "blocks" not in data:
        raise AugmentError(
            f"{path} was written by an older `augment evaluate` (it lacks the full result): "
            "run `augment evaluate` again"
        )
    try:
        return EvaluationResult.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as exc:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise AugmentError(f"{path} is not a readable `augment evaluate` result ({what})") from None


def read_summary(path: str | Path) -> str:
    """``augment evaluate``'s Markdown summary."""
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"summary not found: {path} (run `augment evaluate` first)")
    try:
        return without_mark(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AugmentError(f"cannot read summary {path}: {_first_line(exc)}") from None


# -- synthetic tables ----------------------------------------------------------------------------
def read_synthetic_table(path: str | Path, schema: TableSchema) -> pd.DataFrame:
    """A generated table: a ``.parquet`` / ``.csv`` file, a folder of parts (``synthetic.parquet/
    part-00000.parquet``, ...: read in name order, i.e. part order, like a dataset reader), or the
    folder ``augment generate`` wrote. It must hold every column of the schema."""
    path = Path(path)
    if path.is_dir():
        inner = [path / name for name in TABLE_FILES if (path / name).exists()]
        path = inner[0] if inner else path
    files = [path]
    if path.is_dir():
        # Dataset readers' convention: names starting with "." or "_" (temporaries, markers)
        # are not data.
        files = sorted(
            p
            for p in path.iterdir()
            if p.suffix in PART_SUFFIXES and p.is_file() and not p.name.startswith((".", "_"))
        )
        if not files:
            raise AugmentError(
                f"synthetic set not found: {path} holds no synthetic.parquet/part-00000.parquet"
            )
    elif not path.is_file():
        raise AugmentError(f"synthetic set not found: {path} (run `augment generate` first)")
    try:
        frame = pd.concat([_read_table(file) for file in files], ignore_index=True)
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        raise AugmentError(f"cannot read synthetic set {path}: {_first_line(exc)}") from None
    missing = [c.name for c in schema.columns if c.name not in frame.columns]
    if missing:
        raise AugmentError(f"synthetic set {path} lacks the column {missing[0]!r} of the data")
    return frame


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", low_memory=False)


def sample_table(model: str | Path, schema: TableSchema, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows from the trained model, labels in the training split's proportions (CPU)."""
    from augment.registry import load_synthesizer

    synth = load_synthesizer(model, device="cpu")
    weights = np.asarray(schema.class_counts or [1] * len(schema.classes), dtype=np.float64)
    per_class = np.maximum(1, np.round(n * weights / weights.sum())).astype(int)
    labels = np.repeat(np.asarray(schema.classes, dtype=object), per_class)
    return synth.sample(labels, seed=seed)


# -- synthetic images ----------------------------------------------------------------------------
def read_synthetic_images(
    path: str | Path, schema: ImageSchema, per_class: int
) -> dict[int, np.ndarray]:
    """Up to ``per_class`` images per class (uint8 ``(N, C, H, W)``, the data's size and channels)
    from a folder written by ``augment generate``, in its ``manifest.csv`` order."""
    from PIL import Image, UnidentifiedImageError

    from augment.images.readers import fit_array, pil_to_array, to_channels

    root = Path(path)
    manifest = root / "manifest.csv"
    if not root.is_dir():
        raise AugmentError(f"synthetic set not found: {root} (run `augment generate` first)")
    if not manifest.is_file():
        raise AugmentError(f"{root} is not a generated image folder: manifest.csv is missing")
    index = {str(name): i for i, name in enumerate(schema.classes)}
    files: dict[int, list[Path]] = {i: [] for i in range(len(schema.classes))}
    base = root.resolve()
    try:
        with open(manifest, newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                label = index.get(str(row.get("label")))
                name = row.get("file") or ""
                if label is None:  # images of another data set: judged against the wrong one
                    raise AugmentError(
                        f"{manifest} line {line}: label {row.get('label')!r} is not a class of"
                        f" the data ({', '.join(map(str, schema.classes))})"
                    )
                if len(files[label]) >= per_class:
                    continue
                file = (root / name).resolve()
                if not file.is_relative_to(base):
                    raise AugmentError(f"{manifest} names a file outside its folder: {name!r}")
                files[label].append(file)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AugmentError(f"cannot read {manifest}: {_first_line(exc)}") from None
    out: dict[int, np.ndarray] = {}
    for label, paths in files.items():
        images = []
        for file in paths:
            try:
                with Image.open(file) as picture:
                    pixels = pil_to_array(picture)
            except (OSError, UnidentifiedImageError) as exc:
                raise AugmentError(
                    f"cannot read synthetic image {file}: {_first_line(exc)}"
                ) from None
            pixels = fit_array(pixels, schema.size)
            pixels = to_channels(pixels, schema.channels, colour=pixels.ndim == 3)
            images.append(pixels.transpose(2, 0, 1))
        if images:
            out[label] = np.stack(images).astype(np.uint8)
    return out


def sample_images(
    model: str | Path, schema: ImageSchema, per_class: int, seed: int = 0
) -> dict[int, np.ndarray]:
    """``per_class`` images of every class from the trained model (CPU)."""
    from augment.registry import load_synthesizer

    synth = load_synthesizer(model, device="cpu")
    labels = np.repeat(np.arange(len(schema.classes)), per_class)
    images = synth.sample(labels, seed=seed)
    return {c: images[labels == c] for c in range(len(schema.classes))}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "read_result",
    "read_summary",
    "read_synthetic_images",
    "read_synthetic_table",
    "sample_images",
    "sample_table",
]
