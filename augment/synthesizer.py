"""What every synthesizer offers, and how a model directory is turned back into one.

A model directory holds ``config.json`` (``{"model": <name>, ...}``) plus the model's own files.
Loading reads JSON and safetensors only: never pickle, so loading a model cannot run code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from augment.errors import AugmentError
from augment.fsutil import read_json
from augment.schema import TableSchema

TABLE_MODELS = ("tabgan",)
IMAGE_MODELS = ("imagegan",)
OWN_MODELS = TABLE_MODELS + IMAGE_MODELS
SDV_MODELS = ("sdv-ctgan", "sdv-tvae", "sdv-gaussiancopula")
MODEL_CHOICES = OWN_MODELS + SDV_MODELS
C = TypeVar("C")


@runtime_checkable
class TabularSynthesizer(Protocol):
    """A fitted-or-not generator of labelled rows in the original schema.

    ``sample(labels)`` returns one row per entry of ``labels``, in ``schema.names`` order and
    dtypes, whose label column equals ``labels`` exactly (conditioning, not rejection).
    """

    name: str
    schema: TableSchema | None

    def fit(
        self,
        data: pd.DataFrame,
        schema: TableSchema,
        *,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> dict[str, Any]: ...

    def sample(self, labels: Sequence[Any] | np.ndarray, *, seed: int = 0) -> pd.DataFrame: ...

    def save(self, directory: str | Path) -> None: ...


def checked_config(config_class: type[C], model: str, hyperparameters: dict[str, Any]) -> C:
    """``config_class(**hyperparameters)``, with a one-line error naming any unknown key."""
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise AugmentError(
            f"unknown {model} hyper-parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return config_class(**hyperparameters)


def make_synthesizer(
    model: str, hyperparameters: dict[str, Any] | None = None
) -> TabularSynthesizer:
    """A new, unfitted synthesizer: ``tabgan`` or ``imagegan`` (this project's GANs) or an
    ``sdv-*`` baseline for tables."""
    hyperparameters = dict(hyperparameters or {})
    if model == "tabgan":
        from augment.tabular.gan import TabGAN

        return TabGAN(**hyperparameters)
    if model == "imagegan":
        from augment.images.gan import ImageGAN

        return ImageGAN(**hyperparameters)
    if model in SDV_MODELS:
        from augment.baselines.sdv import SDVSynthesizer

        return SDVSynthesizer(model, **hyperparameters)
    raise AugmentError(f"unknown model {model!r}: use one of {', '.join(MODEL_CHOICES)}")


def load_synthesizer(directory: str | Path, device: str = "auto") -> TabularSynthesizer:
    """Load a trained model directory written by ``save``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AugmentError(f"model not found: {directory} (run `augment train` first)")
    config = read_json(directory / "config.json", "model config")
    model = config.get("model")
    if model == "tabgan":
        from augment.tabular.gan import TabGAN

        return TabGAN.load(directory, device=device)
    if model == "imagegan":
        from augment.images.gan import ImageGAN

        return ImageGAN.load(directory, device=device)
    if model in SDV_MODELS:
        from augment.baselines.sdv import SDVSynthesizer

        return SDVSynthesizer.load(directory)
    raise AugmentError(f"{directory}/config.json names an unknown model {model!r}")


def models_for(modality: str) -> tuple[str, ...]:
    """The models that can be trained on a dataset of this modality."""
    return IMAGE_MODELS if modality == "image" else TABLE_MODELS + SDV_MODELS


def default_model(modality: str) -> str:
    return models_for(modality)[0]


def model_config(directory: str | Path) -> dict[str, Any]:
    """The JSON config of a trained model (its name, hyper-parameters, schema, training summary)."""
    return read_json(Path(directory) / "config.json", "model config")
