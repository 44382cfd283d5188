"""What every generative model offers, whatever its modality, and how its config is read.

A model directory holds ``config.json`` (``{"model": <name>, ...}``) plus the model's own files.
Loading reads JSON and safetensors only: never pickle, so loading a model cannot run code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from augment.core.checks import check_value, type_hints
from augment.core.files import read_json
from augment.errors import AugmentError

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


def checked_config(config_class: type[C], model: str, hyperparameters: dict[str, Any]) -> C:
    """``config_class(**hyperparameters)``, with a one-line error naming any unknown key or any
    value of the wrong type (``model.key must be a number, got 'abc'``)."""
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise AugmentError(
            f"unknown {model} hyper-parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    hints = type_hints(config_class)
    checked = {k: check_value(f"{model}.{k}", v, hints[k]) for k, v in hyperparameters.items()}
    return config_class(**checked)


def model_config(directory: str | Path) -> dict[str, Any]:
    """The JSON config of a trained model (its name, hyper-parameters, schema, training summary)."""
    return read_json(Path(directory) / "config.json", "model config")
