"""Read what the report is built from: ``augment evaluate``'s metrics JSON, plot CSVs and Markdown
summary, and a synthetic set (a generated table or image folder, or rows / images sampled from the
trained model). A missing or unreadable input is an :class:`AugmentError` naming the file.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.core.files import read_json
from augment.errors import AugmentError
from augment.images.schema import ImageSchema
from augment.tabular.schema import TableSchema

TABLE_FILES = ("synthetic.parquet", "synthetic.csv", "synthetic.csv.gz")


# -- evaluation outputs --------------------------------------------------------------------------
def read_metrics(path: str | Path) -> dict[str, Any]:
    """The evaluation's metrics JSON (``metrics/tabular.json`` or ``metrics/images.json``)."""
    metrics = read_json(path, "metrics file")
    if not isinstance(metrics, dict) or not {"primary_metric", "real", "gain"} <= set(metrics):
        raise AugmentError(f"{path} is not an `augment evaluate` metrics file")
    return metrics


def read_plot_csv(path: str | Path) -> pd.DataFrame:
    """One of the evaluation's plot CSVs (``gain_vs_ratio.csv`` ...)."""
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"plot data not found: {path} (run `augment evaluate` first)")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise AugmentError(f"cannot read plot data {path}: {_first_line(exc)}") from None
    if frame.empty or len(frame.columns) < 2:
        raise AugmentError(f"plot data {path} is empty")
    return frame


@dataclass
class Summary:
    """The Markdown summary split into the verdict line, the low-data verdict (or ""), the title
    (the ``# `` heading, or "") and the rest (``body``, Markdown)."""

    verdict: str
    low_data_verdict: str = ""
    title: str = ""
    body: str = ""


def read_summary(path: str | Path) -> Summary:
    """``augment evaluate``'s Markdown summary: its first line is the verdict."""
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"summary not found: {path} (run `augment evaluate` first)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AugmentError(f"cannot read summary {path}: {_first_line(exc)}") from None
    return parse_summary(text)


def parse_summary(text: str) -> Summary:
    lines = text.splitlines()
    head: list[str] = []
    title, body_start = "", len(lines)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            title, body_start = line[2:].strip(), i + 1
            break
        head.append(line)
    paragraphs = [p.strip() for p in "\n".join(head).split("\n\n") if p.strip()]
    verdict = paragraphs[0].replace("\n", " ") if paragraphs else ""
    low = next((p for p in paragraphs[1:] if p.lower().startswith("where real")), "")
    body = "\n".join(lines[body_start:]).strip("\n")
    return Summary(verdict=verdict, low_data_verdict=low.replace("\n", " "), title=title, body=body)


# -- synthetic tables ----------------------------------------------------------------------------
def read_synthetic_table(path: str | Path, schema: TableSchema) -> pd.DataFrame:
    """A generated table: a ``.parquet`` / ``.csv`` file, or the folder ``augment generate`` wrote
    it into. It must hold every column of the schema."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in TABLE_FILES if (path / name).is_file()]
        if not found:
            raise AugmentError(f"synthetic set not found: {path} holds no {TABLE_FILES[0]}")
        path = found[0]
    if not path.is_file():
        raise AugmentError(f"synthetic set not found: {path} (run `augment generate` first)")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        raise AugmentError(f"cannot read synthetic set {path}: {_first_line(exc)}") from None
    missing = [c.name for c in schema.columns if c.name not in frame.columns]
    if missing:
        raise AugmentError(f"synthetic set {path} lacks the column {missing[0]!r} of the data")
    return frame


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
            for row in csv.DictReader(handle):
                label = index.get(str(row.get("label")))
                name = row.get("file") or ""
                if label is None or len(files[label]) >= per_class:
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


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


__all__ = [
    "Summary",
    "finite",
    "parse_summary",
    "read_metrics",
    "read_plot_csv",
    "read_summary",
    "read_synthetic_images",
    "read_synthetic_table",
    "sample_images",
    "sample_table",
]
