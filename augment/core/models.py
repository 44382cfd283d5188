"""What every generative model offers, whatever its modality, and how its config is read.

A model directory holds ``config.json`` (``{"model": <name>, ...}``) plus the model's own files.
Loading reads JSON and safetensors only: never pickle, so loading a model cannot run code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from augment.core.files import MODEL, output_kind, read_json
from augment.core.validate import from_json
from augment.errors import AugmentError

CONFIG = "config.json"

C = TypeVar("C")


@runtime_checkable
class GenerativeModel(Protocol):
    """A fitted-or-not class-conditional generator, of table rows or of images.

    ``sample(labels)`` returns one sample per entry of ``labels`` whose class is exactly that
    label (conditioning, not rejection): a DataFrame in ``schema.names`` order and dtypes for
    tables, a uint8 ``(N, C, H, W)`` array for images (labels are class indices there).
    """

    name: str
    schema: Any  # TableSchema or ImageSchema; None until fitted

    def fit(
        self,
        data: Any,
        schema: Any,
        *,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> dict[str, Any]: ...

    def sample(self, labels: Sequence[Any], *, seed: int = 0) -> Any: ...

    def save(self, directory: str | Path) -> None: ...


def checked_config(
    config_class: type[C], model: str, hyperparameters: Any, where: str | None = None
) -> C:
    """``config_class(**hyperparameters)``, with every key and value type checked first: a
    one-line error names an unknown key or a value of the wrong type. ``where`` names the
    source in messages (default: "MODEL hyper-parameters")."""
    where = where or f"{model} hyper-parameters"
    if not isinstance(hyperparameters, dict):
        raise AugmentError(f"{where} must be a mapping of names to values, got {hyperparameters!r}")
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(hyperparameters) - known)
    if unknown:
        source = "" if where.startswith(model) else f" in {where}"
        raise AugmentError(
            f"unknown {model} hyper-parameter(s) {', '.join(unknown)}{source};"
            f" known: {', '.join(sorted(known))}"
        )
    return from_json(config_class, hyperparameters, where)


@dataclass
class ModelConfigFile:
    """What every model's ``config.json`` holds, checked before any of it is used; each model
    then checks its own ``hyperparameters`` and ``schema``. Other keys are kept for the reader."""

    model: str
    schema: dict[str, Any]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)


def read_model_config(
    directory: str | Path, model: str | None = None
) -> tuple[ModelConfigFile, dict[str, Any]]:
    """``config.json`` of a trained model, checked, and its raw content (for keys a model adds).
    With ``model`` given, a config of another model is refused first, by name."""
    path = Path(directory) / CONFIG
    if not path.is_file() and (owner := output_kind(Path(directory))) not in (None, MODEL):
        raise AugmentError(
            f"{directory} holds {owner}, not a model: pass a folder `augment train` wrote"
        )
    raw = read_json(path, "model config")
    named = raw.get("model") if isinstance(raw, dict) else None
    if model is not None and isinstance(named, str) and named != model:
        raise AugmentError(f"{directory} holds a {named!r} model, not {model}")
    return from_json(ModelConfigFile, raw, str(path), allow_extra=True), raw


def model_config(directory: str | Path) -> dict[str, Any]:
    """The JSON config of a trained model (its name, hyper-parameters, schema, training summary),
    its top-level keys checked."""
    return read_model_config(directory)[1]
