"""``augment info``: what a trained model is — its data, hyper-parameters and training summary.

Reads ``config.json`` only (JSON, never weights or pickle), so it is safe on any model folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.core.modalities import IMAGE, TABULAR
from augment.core.models import model_config
from augment.errors import AugmentError


def model_info(directory: str | Path) -> dict[str, Any]:
    """A summary of a trained model directory: model, data, hyper-parameters, training.

    Example:
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> info = model_info(tmp / "model")
        >>> info["model"], info["data"]["modality"], info["training"]["steps"]
        ('imagegan', 'image', 5)
    """
    config = model_config(directory)
    schema = config.get("schema")
    if not isinstance(schema, dict) or "model" not in config:
        raise AugmentError(f"{directory}/config.json is not an augment model config")
    classes = [str(c) for c in schema.get("classes", [])]
    counts = schema.get("class_counts") or []
    data: dict[str, Any] = {
        "modality": schema.get("modality", TABULAR),
        "source": schema.get("source", {}),
        "splits": schema.get("splits", {}),
        "classes": dict(zip(classes, counts, strict=False)) if counts else classes,
    }
    if data["modality"] == IMAGE:
        data["image"] = f"{schema['size']}x{schema['size']} px, {schema['channels']} channel(s)"
    else:
        data["label"] = schema.get("label")
        data["columns"] = {c["name"]: c["kind"] for c in schema.get("columns", [])}
    return {
        "model": config["model"],
        "path": str(directory),
        "data": data,
        "hyperparameters": config.get("hyperparameters", {}),
        "training": config.get("training", {}),
        "versions": config.get("versions", {}),
    }


def format_info(info: dict[str, Any]) -> str:
    """The summary as short aligned text for a terminal (what ``augment info`` prints).

    Example:
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> print(format_info(model_info(tmp / "model")).splitlines()[1])
        trained on   scikit-learn load_digits: image, 8x8 px, 1 channel(s)
    """
    data, training = info["data"], info["training"]
    source = data["source"]
    origin = source.get("builtin") or source.get("path") or source.get("kind") or "?"
    lines = [
        f"model        {info['model']}  ({info['path']})",
        f"trained on   {origin}: {data['modality']}"
        + (f", {data['image']}" if "image" in data else f", label {data.get('label')!r}"),
        f"splits       {_pairs(data['splits'])}",
        f"classes      {_pairs(data['classes'])}"
        if isinstance(data["classes"], dict)
        else f"classes      {', '.join(data['classes'])}",
    ]
    if "columns" in data:
        lines.append(f"columns      {len(data['columns']) - 1} features")
    lines.append(f"hyper-params {_pairs(info['hyperparameters'])}")
    budget = training.get("budget")
    if isinstance(budget, dict):
        # What the image GAN chose from the data and the device, and what was given.
        auto = set(budget.get("auto") or [])
        chosen = {
            k: f"{budget[k]} ({'auto' if k in auto else 'given'})"
            for k in ("steps", "channels", "ema_decay")
            if k in budget
        }
        lines.append(f"budget       {_pairs(chosen)}; for {budget.get('for', '?')}")
    pseudo = training.get("pseudo_labels")
    if isinstance(pseudo, dict):
        lines.append(
            f"pseudo-labels {pseudo.get('labelled')} of {pseudo.get('of')} unlabelled images"
            f" (p >= {pseudo.get('threshold')}, {pseudo.get('judge', 'supervised')} judge):"
            f" {_pairs(pseudo.get('per_class') or {})}"
        )
    keys = ("steps", "epochs", "seconds", "fit_seconds", "device", "precision", "seed")
    lines.append(f"training     {_pairs({k: training[k] for k in keys if k in training})}")
    if training.get("final_losses"):
        lines.append(f"final losses {_pairs(training['final_losses'])}")
    if info["versions"]:
        lines.append(f"versions     {_pairs(info['versions'])}")
    return "\n".join(lines)


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items()) or "-"
