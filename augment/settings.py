"""Stage settings: built-in defaults, overridden by ``params.yaml``, overridden by CLI options.

``params.yaml`` has one section per stage (``ingest``, ``train``, ``generate``, ``evaluate``),
the same names DVC uses for ``dvc exp run -S train.epochs=50``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from augment.errors import AugmentError

STAGES = ("ingest", "train", "generate", "evaluate")
DEFAULT_PARAMS_FILE = "params.yaml"

DEFAULTS: dict[str, dict[str, Any]] = {
    "ingest": {
        "source": "adult",
        "label": None,
        "out": "data/prepared",
        "test_size": 0.2,
        "validation_size": 0.1,
        "seed": 0,
        "missing_values": ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
        "kinds": {},
        "categorical_threshold": 10,
        "max_categories": 200,
        # Image sources only (an image folder, MNIST IDX, .npz, the built-in digits):
        "size": None,  # square pixels; None: the images' own size when square and 8-64 px
        "channels": None,  # 1 or 3; None: 1 when every image is grey
        "per_class": None,  # keep this many training images per class (low-data runs)
        "max_bad_fraction": 0.05,  # unreadable files tolerated before ingest fails
        "unlabelled": None,  # a folder/file of images without classes (image GAN only)
    },
    "train": {
        "data": "data/prepared",
        "out": "models/tabular",
        "model": "auto",  # tabgan for tables, imagegan for images
        "device": "auto",
        "seed": 0,
        "snapshots": None,  # images: a folder for sample grids during training
        "dvclive": None,  # a folder for DVCLive training curves
        "fidelity_every": 0,  # steps between fidelity points on the curves (0: none)
        # Model hyper-parameters: anything else in this section goes to the synthesizer.
    },
    "generate": {
        "model": "models/tabular",
        "out": "synth",
        "n": 10000,
        "seed": 0,
        "format": None,  # parquet for tables, png for images
        "balance": False,
        "counts": {},
        "chunk_size": 20000,
        "device": "auto",
    },
    "evaluate": {
        "data": "data/prepared",
        "model": "models/tabular",
        "metrics": "metrics/tabular.json",
        "plots": "plots/tabular",
        "report": "reports/summary.md",
        "device": "auto",
        "seed": 0,
        "dvclive": None,  # a folder where the metrics are also logged with DVCLive
    },
}

TRAIN_RUN_KEYS = (
    "data",
    "out",
    "model",
    "device",
    "seed",
    "snapshots",
    "dvclive",
    "fidelity_every",
)


def load_params(path: str | Path | None) -> dict[str, Any]:
    """Read a params file; a missing default ``params.yaml`` is fine, a missing named one is not."""
    if path is None:
        path = Path(DEFAULT_PARAMS_FILE)
        if not path.is_file():
            return {}
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(f"cannot read params file {path}: {first}") from None
    if not isinstance(data, dict):
        raise AugmentError(f"params file {path} must hold a mapping of stage sections")
    for stage in STAGES:
        if stage in data and not isinstance(data[stage], dict | type(None)):
            raise AugmentError(f"params file {path}: section {stage!r} must be a mapping")
    return data


def select_pipeline(params: dict[str, Any], pipeline: str | None) -> dict[str, Any]:
    """The stage sections of one named pipeline in a params file: ``params[pipeline]``.

    One ``params.yaml`` can hold several pipelines (the default tabular one at the top level,
    ``images: {ingest: ..., train: ...}`` beside it); ``--pipeline images`` picks a block.
    """
    if not pipeline:
        return params
    block = params.get(pipeline)
    if not isinstance(block, dict):
        known = [k for k, v in params.items() if isinstance(v, dict) and k not in STAGES]
        hint = f"; pipelines there: {', '.join(known)}" if known else ""
        raise AugmentError(f"no pipeline {pipeline!r} in the params file{hint}")
    for stage in STAGES:
        if stage in block and not isinstance(block[stage], dict | type(None)):
            raise AugmentError(f"params: section {pipeline}.{stage} must be a mapping")
    return block


def stage_settings(
    stage: str, params: dict[str, Any], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults < params.yaml section < CLI options (an option left at ``None`` keeps the rest)."""
    settings = copy.deepcopy(DEFAULTS[stage])
    settings.update(copy.deepcopy(params.get(stage) or {}))
    for key, value in (overrides or {}).items():
        if value is not None:
            settings[key] = value
    return settings


def split_train_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate where/how to run (data, out, model, device, seed) from model hyper-parameters."""
    run = {k: settings[k] for k in TRAIN_RUN_KEYS}
    hyper = {k: v for k, v in settings.items() if k not in TRAIN_RUN_KEYS}
    return run, hyper


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["epochs=50", "lr=2e-4"]`` -> ``{"epochs": 50, "lr": 0.0002}`` (values parsed as YAML)."""
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise AugmentError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            result[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            result[key.strip()] = raw
    return result
