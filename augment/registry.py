"""The one registry of models and modalities: which model serves which data, what it takes, how
a model folder or a prepared folder is opened again.

Each model's class lives in its modality's package and is imported only when that model is
used (SDV is optional, and ``augment --help`` should not wait for torch). Loading reads JSON and
safetensors only, never pickle, so opening a model folder cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from augment.core.files import read_json
from augment.core.modalities import IMAGE, TABULAR
from augment.core.models import GenerativeModel, model_config, read_model_config
from augment.core.splits import schema_file
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle
from augment.images.schema import ImageSchema
from augment.tabular.bundle import TabularBundle
from augment.tabular.schema import TableSchema


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the code needs to know about one model."""

    name: str
    modality: str
    module: str  # where its class lives
    class_name: str
    own: bool  # the project's own GAN (training curves, checkpoints), not an SDV baseline
    epochs: bool  # its training length is set in epochs over the data (else in steps or none)
    summary: str

    def model_class(self) -> Any:
        return getattr(import_module(self.module), self.class_name)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("tabgan", TABULAR, "augment.tabular.gan", "TabGAN", True, True,
                  "the project's conditional tabular GAN (CTGAN-class)"),
        ModelSpec("imagegan", IMAGE, "augment.images.gan", "ImageGAN", True, False,
                  "the project's class-conditional image GAN"),
        ModelSpec("sdv-ctgan", TABULAR, "augment.tabular.sdv", "SDVSynthesizer", False, True,
                  "SDV's CTGAN (optional [sdv] extra)"),
        ModelSpec("sdv-tvae", TABULAR, "augment.tabular.sdv", "SDVSynthesizer", False, True,
                  "SDV's TVAE (optional [sdv] extra)"),
        ModelSpec("sdv-gaussiancopula", TABULAR, "augment.tabular.sdv", "SDVSynthesizer", False,
                  False, "SDV's Gaussian copula (optional [sdv] extra)"),
    )
}  # fmt: skip
MODEL_CHOICES = tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise AugmentError(f"unknown model {name!r}: use one of {', '.join(MODEL_CHOICES)}")
    return MODELS[name]


def models_for(modality: str) -> tuple[str, ...]:
    """The models that can be trained on a dataset of this modality, the default first."""
    return tuple(name for name, spec in MODELS.items() if spec.modality == modality)


def default_model(modality: str) -> str:
    return models_for(modality)[0]


def resolve_model(name: str | None, modality: str) -> ModelSpec:
    """The model to train on data of ``modality``: ``auto`` (or none) picks the project's GAN."""
    if name in (None, "auto"):
        name = default_model(modality)
    spec = model_spec(name)
    if spec.modality != modality:
        what = "images" if modality == IMAGE else "tables"
        raise AugmentError(
            f"model {name!r} cannot train on {what}: use one of {', '.join(models_for(modality))}"
        )
    return spec


def make_synthesizer(model: str, hyperparameters: dict[str, Any] | None = None) -> GenerativeModel:
    """A new, unfitted model by registry name."""
    spec = model_spec(model)
    hyperparameters = dict(hyperparameters or {})
    if spec.module == "augment.tabular.sdv":
        return spec.model_class()(model, **hyperparameters)
    return spec.model_class()(**hyperparameters)


def load_synthesizer(directory: str | Path, device: str = "auto") -> GenerativeModel:
    """Load a trained model directory written by ``save``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AugmentError(f"model not found: {directory} (run `augment train` first)")
    name = read_model_config(directory)[0].model
    if name not in MODELS:
        raise AugmentError(f"{directory}/config.json names an unknown model {name!r}")
    spec = MODELS[name]
    if spec.own:
        return spec.model_class().load(directory, device=device)
    return spec.model_class().load(directory)


def load_bundle(path: str | Path) -> TabularBundle | ImageBundle:
    """A prepared dataset of either modality, as its ``schema.json`` says."""
    where = schema_file(Path(path))
    schema = read_json(where, "schema")
    if not isinstance(schema, dict):
        raise AugmentError(f"{where} must hold a JSON object, got {type(schema).__name__}")
    modality = schema.get("modality", TABULAR)
    if modality == IMAGE:
        return ImageBundle.load(path)
    if modality == TABULAR:
        return TabularBundle.load(path)
    raise AugmentError(f"{path}/schema.json names an unknown modality {modality!r}")


def check_model_data(model: str | Path, data_schema: Any, data: str | Path, needs: str) -> None:
    """The model folder ``model`` was trained on data like the prepared ``data`` (whose schema
    is ``data_schema``): the same modality, then :func:`check_trained_on`. Read from the model's
    config.json, so it costs no model load and runs before any work."""
    trained = model_config(model).get("schema")
    if not trained:
        return
    modality = data_schema.modality
    trained_on = trained.get("modality", TABULAR) if isinstance(trained, dict) else None
    if trained_on != modality:
        kinds = {IMAGE: "images", TABULAR: "tables"}
        raise AugmentError(
            f"{model} was trained on {kinds.get(trained_on, trained_on)} but {data} holds"
            f" {kinds.get(modality, modality)} ({needs})"
        )
    where = str(Path(model) / "config.json")
    schema = (ImageSchema if modality == IMAGE else TableSchema).from_dict(trained, where)
    check_trained_on(data_schema, schema, data, needs)


def check_trained_on(data_schema: Any, model_schema: Any, data: str | Path, needs: str) -> None:
    """The prepared data ``data`` is what the model was trained on: the same modality and
    classes, and the same columns (tables) or image shape (images). ``needs`` ends the error
    line: what needs that data ("curation needs the data the model was trained on")."""
    ours, theirs = _shape(data_schema), _shape(model_schema)
    for key in ours:
        if ours[key] != theirs.get(key):
            verb = "are" if key.endswith("s") else "is"  # classes, columns, channels
            raise AugmentError(
                f"{data} does not match the model: its {key} {verb} {ours[key]!r}, the model's"
                f" {theirs.get(key)!r} ({needs})"
            )


def _shape(schema: Any) -> dict[str, Any]:
    """What must agree between a model and its data, from a schema object or its dict."""
    fields = schema if isinstance(schema, dict) else schema.to_dict()
    modality = fields.get("modality", TABULAR)
    out: dict[str, Any] = {"modality": modality, "classes": [str(c) for c in fields["classes"]]}
    if modality == IMAGE:
        out.update(size=int(fields["size"]), channels=int(fields["channels"]))
    else:
        columns = [(c["name"], str(c["kind"])) for c in fields["columns"]]
        out.update(label=fields["label"], columns=columns)
    return out
