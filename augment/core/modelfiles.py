"""A trained GAN's folder: ``weights.safetensors`` + ``config.json`` (+ the model's own JSON).

Both of the project's GANs save and load through here. Loading reads JSON and safetensors only,
never pickle, so opening a model folder cannot run code.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import augment
from augment.core.files import MODEL, atomic_dir, read_json, write_json
from augment.errors import AugmentError

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"


def versions() -> dict[str, str]:
    return {
        "augment": augment.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def save_model(
    directory: str | Path,
    networks: dict[str, torch.nn.Module],
    config: dict[str, Any],
    extra_json: dict[str, Any] | None = None,
) -> None:
    """Write the networks' weights (keys ``<name>.<parameter>``), ``config.json`` with the
    library versions added, and any ``extra_json`` files, all into place at once."""
    state = {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, net in networks.items()
        for key, value in net.state_dict().items()
    }
    with atomic_dir(directory, MODEL) as tmp:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        for name, obj in (extra_json or {}).items():
            write_json(tmp / name, obj)
        write_json(tmp / CONFIG, {**config, "versions": versions()})


def open_model(directory: str | Path, model: str) -> tuple[dict[str, Any], Path]:
    """``config.json`` of a saved ``model`` and the path of its weights, both checked."""
    directory = Path(directory)
    config = read_json(directory / CONFIG, "model config")
    if config.get("model") != model:
        raise AugmentError(f"{directory} holds a {config.get('model')!r} model, not {model}")
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise AugmentError(f"model weights not found: {weights}")
    return config, weights


def load_network(net: torch.nn.Module, weights: Path, name: str = "generator") -> torch.nn.Module:
    """Fill ``net`` with the ``<name>.*`` tensors of a weights file saved by :func:`save_model`."""
    prefix = f"{name}."
    state = {
        k[len(prefix) :]: v for k, v in load_file(str(weights)).items() if k.startswith(prefix)
    }
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise AugmentError(f"weights in {weights} do not fit the saved config: {exc}") from None
    return net
