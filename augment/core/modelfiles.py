"""A trained GAN's folder: ``weights.safetensors`` + ``config.json`` (+ the model's own JSON).

Both of the project's GANs save and load through here. Loading reads JSON and safetensors only,
never pickle, so opening a model folder cannot run code; and nothing is allocated before the
files are checked: ``config.json``'s keys and types, then the network the config describes
(built on torch's ``meta`` device, which allocates nothing) against the tensor names, shapes and
types in the weights file's header. A tampered ``z_dim: 10**9`` is then a one-line mismatch,
not a 4 TB allocation.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import augment
from augment.core.files import MODEL, atomic_dir, write_json
from augment.core.models import CONFIG, ModelConfigFile, read_model_config
from augment.errors import AugmentError

WEIGHTS = "weights.safetensors"
_SHOWN_KEYS = 3  # tensor names quoted in a mismatch message


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


@dataclass
class ModelFiles:
    """A model folder's checked ``config.json`` (and its raw content) and its weights' path."""

    directory: Path
    config: ModelConfigFile
    raw: dict[str, Any]
    weights: Path

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG


def open_model(directory: str | Path, model: str) -> ModelFiles:
    """``config.json`` of a saved ``model``, its top level checked, and its weights' path."""
    directory = Path(directory)
    config, raw = read_model_config(directory, model)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise AugmentError(f"model weights not found: {weights}")
    return ModelFiles(directory, config, raw, weights)


def load_network(
    build: Callable[[], torch.nn.Module], weights: Path, name: str = "generator"
) -> torch.nn.Module:
    """The network ``build()`` makes, filled with the ``<name>.*`` tensors of a weights file
    saved by :func:`save_model`; the file is checked against the network before either is
    allocated, and the tensors must be finite."""
    with torch.device("meta"):
        expected = build().state_dict()
    prefix = f"{name}."
    try:
        with safe_open(str(weights), framework="pt") as handle:
            keys = [k for k in handle.keys() if k.startswith(prefix)]  # noqa: SIM118 (no __iter__)
            found = {k[len(prefix) :]: handle.get_slice(k) for k in keys}
            _check_header(weights, expected, found, prefix)
            state = {k[len(prefix) :]: handle.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(
            f"cannot read model weights {weights}: {detail} (not a complete safetensors file)"
        ) from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise AugmentError(f"model weights {weights}: {prefix}{key} holds NaN or infinity")
    net = build()
    net.load_state_dict(state)
    return net


_FLOAT_TYPES = {"F16", "BF16", "F32", "F64"}


def _check_header(
    weights: Path, expected: dict[str, torch.Tensor], found: dict[str, Any], prefix: str
) -> None:
    """Names, shapes and kinds (float or not) of the file's tensors are those the config implies."""
    lacking = [prefix + k for k in expected if k not in found]
    if lacking:
        raise AugmentError(
            f"model weights {weights} lack {len(lacking)} tensor(s) that config.json implies,"
            f" e.g. {', '.join(lacking[:_SHOWN_KEYS])}"
        )
    extra = [prefix + k for k in found if k not in expected]
    if extra:
        raise AugmentError(
            f"model weights {weights} hold {len(extra)} tensor(s) that config.json does not"
            f" explain, e.g. {', '.join(extra[:_SHOWN_KEYS])}"
        )
    for key, tensor in expected.items():
        shape, name = tuple(found[key].get_shape()), prefix + key
        if shape != tuple(tensor.shape):
            raise AugmentError(
                f"model weights {weights} do not fit config.json: {name} is {_dims(shape)} in"
                f" the file, the config implies {_dims(tuple(tensor.shape))}"
            )
        dtype = found[key].get_dtype()
        if (dtype in _FLOAT_TYPES) != tensor.is_floating_point():
            wanted = "floats" if tensor.is_floating_point() else "integers"
            raise AugmentError(
                f"model weights {weights}: {name} has type {dtype}, expected {wanted}"
            )


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "a scalar"
