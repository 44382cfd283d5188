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
    },
    "train": {
        "data": "data/prepared",
        "out": "models/tabular",
        "model": "tabgan",
        "device": "auto",
        "seed": 0,
        # Model hyper-parameters: anything else in this section goes to the synthesizer.
    },
    "generate": {
        "model": "models/tabular",
        "out": "synth",
        "n": 10000,
        "seed": 0,
        "format": "parquet",
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
    },
}

TRAIN_RUN_KEYS = ("data", "out", "model", "device", "seed")


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
