"""Stage settings: one definition per stage, used by the CLI, the Python API and params.yaml.

Each stage (``ingest``, ``train``, ``generate``, ``evaluate``) is a dataclass below, and its
field defaults are the only defaults: the step functions (:mod:`augment.steps`) take theirs
from it and the CLI's help shows them. A setting comes from, the last one winning: the field's
default, the stage's section of ``params.yaml`` (of a named pipeline block with ``--pipeline``),
the command's options, ``--set KEY=VALUE``. Every value is checked against its field's type, so
a wrong one is one error line naming the key and the value.

``train`` and ``evaluate`` also take open-ended settings, checked where they are defined:
model hyper-parameters (flat, or in a sub-section named after a model: ``tabgan:``,
``imagegan:``; checked by the model's config) and evaluation options (flat, or in a sub-section
named after a modality: ``tabular:``, ``image:``; checked against the evaluation's signature).
Only the chosen model's, or the data's modality's, sub-section applies; flat keys win over it.
``--set`` reaches into a sub-section with a dotted key (``tabgan.epochs=50``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import yaml

from augment.core.validate import check_values, type_hints
from augment.errors import AugmentError

STAGES = ("ingest", "train", "generate", "evaluate")
DEFAULT_PARAMS_FILE = "params.yaml"
# Read as missing in a table (augment.tabular.ingest.DEFAULT_MISSING_VALUES says the same).
MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")


class StageSettings:
    """What the stage dataclasses share: type checks, and layering params < options < --set."""

    STAGE: ClassVar[str]
    # The field that gathers the section's keys that are not fields (None: those are errors).
    EXTRA: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for key, value in self.check(values).items():
            object.__setattr__(self, key, value)  # converted: "1e-4" -> 0.0001, [1, 2] -> (1, 2)

    @classmethod
    def hints(cls) -> dict[str, Any]:
        return _field_hints(cls)

    @classmethod
    def check(
        cls, values: Mapping[str, Any], where: str | None = None, origin: str | None = None
    ) -> dict[str, Any]:
        """``values`` checked against the fields' types: one error line naming a wrong one.

        ``where`` is their dotted path (default: the stage), ``origin`` the file or option they
        were read from, both for the error line.
        """
        return check_values(values, cls.hints(), where or cls.STAGE, origin)

    @classmethod
    def default(cls, name: str) -> Any:
        return getattr(cls(), name)

    @classmethod
    def resolve(
        cls,
        params: Params,
        options: Mapping[str, Any] | None = None,
        sets: Mapping[str, Any] | None = None,
    ) -> Self:
        """Defaults < the params section < ``options`` (``None``: not given) < ``sets``.

        A dotted key in ``sets`` names one entry of a sub-section, as params.yaml nests it
        (``tabgan.epochs``, ``tabular.fractions``): the section's other entries stay."""
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        section = params.section(cls.STAGE)
        given = {k: v for k, v in (options or {}).items() if v is not None}
        layers = (
            (section, params.file, params.path(cls.STAGE)),
            (given, None, cls.STAGE),
            (_nest(sets or {}, {**section, **given}), "--set", cls.STAGE),
        )
        for values, origin, where in layers:
            known = {k: v for k, v in values.items() if k in cls.hints() and k != cls.EXTRA}
            rest = {k: v for k, v in values.items() if k not in known}
            if rest and cls.EXTRA is None:
                cls.check(rest, where, origin)  # the unknown-key error, naming the keys
            fields.update(cls.check(known, where, origin))
            extra.update(rest)
        if cls.EXTRA is not None:
            fields[cls.EXTRA] = extra
        return cls(**fields)

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of the stage's step function (open-ended settings spread)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        extra = values.pop(self.EXTRA) if self.EXTRA else {}
        return {**values, **extra}


def _nest(sets: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """``sets`` with each dotted key made an entry of its sub-section: ``tabgan.epochs=50``
    over ``base``'s ``tabgan: {epochs: 150, batch_size: 500}`` gives ``tabgan: {epochs: 50,
    batch_size: 500}``."""
    result: dict[str, Any] = {}
    for key, value in sets.items():
        path = key.split(".")
        if not all(part.strip() for part in path):
            raise AugmentError(f"--set expects KEY=VALUE with a key like a.b, got {key!r}")
        mapping = result
        for depth, part in enumerate(path[:-1]):
            inner = mapping.get(part, base.get(part) if depth == 0 else None)
            if inner is not None and not isinstance(inner, Mapping):
                raise AugmentError(
                    f"--set {key}: {'.'.join(path[: depth + 1])} is {inner!r}, not a section"
                )
            mapping[part] = dict(inner or {})
            mapping = mapping[part]
        mapping[path[-1]] = value
    return result


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in type_hints(cls).items() if k in names}


@dataclass(frozen=True)
class IngestSettings(StageSettings):
    """``augment ingest``: where the data comes from and how it is split and read."""

    STAGE: ClassVar[str] = "ingest"

    source: str | Path = "adult"  # a table or image source, or built-in adult / digits
    label: str | None = None  # tables: the label column (adult: income)
    out: str | Path = "data/prepared"
    test_size: float = 0.2  # adult uses its official test file instead
    validation_size: float = 0.1  # the privacy holdout; never seen by the GAN
    seed: int = 0
    # Tables only:
    missing_values: tuple[str, ...] = MISSING_VALUES
    kinds: dict[str, str] = field(default_factory=dict)  # column: continuous | categorical | ...
    categorical_threshold: int = 10  # numbers with at most this many values are categories
    max_categories: int = 200  # text columns with more values are dropped (ids, free text)
    # Read in batches, never whole (tables larger than memory): auto does when the file would
    # not fit in the memory available (augment.tabular.ingest_stream).
    stream: Literal["auto", "always", "never"] = "auto"
    # Images only:
    size: int | None = None  # square pixels; None: the images' own size when square, 8-64 px
    channels: int | None = None  # 1 or 3; None: 1 when every image is grey
    per_class: int | None = None  # keep this many training images per class (low-data runs)
    max_bad_fraction: float = 0.05  # unreadable files tolerated before ingest fails
    unlabelled: str | Path | None = None  # images without classes: for the GAN only


@dataclass(frozen=True)
class TrainSettings(StageSettings):
    """``augment train``: where and how to run; ``hyperparameters`` gathers the section's rest."""

    STAGE: ClassVar[str] = "train"
    EXTRA: ClassVar[str | None] = "hyperparameters"

    data: str | Path = "data/prepared"
    out: str | Path = "models/tabular"
    model: str = "auto"  # tabgan for tables, imagegan for images
    device: str = "auto"  # CUDA when present
    seed: int = 0
    snapshots: str | Path | None = None  # images: a folder for sample grids during training
    dvclive: str | Path | None = None  # a folder for DVCLive training curves
    fidelity_every: int = 0  # steps between fidelity points on the curves (0: none)
    restart: bool = False  # start over instead of resuming an interrupted run's checkpoint
    # Steps between checkpoints (and one on SIGINT/SIGTERM); the loop's own rollback points
    # follow core.checkpoint.DEFAULT_EVERY, kept equal (importing it here would load torch).
    checkpoint_every: int = 1000
    checkpoint_dir: str | Path | None = None  # default: .NAME.checkpoint beside out
    # Flat keys (epochs: 50) and model sub-sections (tabgan: {epochs: 50}); see train().
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerateSettings(StageSettings):
    """``augment generate``: how many samples of which classes, and where to write them."""

    STAGE: ClassVar[str] = "generate"

    model: str | Path = "models/tabular"
    n: int | None = 10_000  # in the real label mix unless balance or counts
    out: str | Path = "synth/tabular"
    seed: int = 0
    format: str | None = None  # tables: parquet (default) or csv; images: png
    balance: bool = False  # equal samples per class
    counts: dict[Any, int] = field(default_factory=dict)  # exact samples per class, over n
    chunk_size: int = 20_000  # samples generated and written at a time (bounds memory)
    # Samples per output part (part-00000.parquet, ...); None: 1,000,000 rows / 10,000 images.
    part_size: int | None = None
    shard: str | None = None  # "I/N": write only parts p with p % N == I (I from 0)
    device: str = "auto"
    # Curation: keep only samples that a classifier trained on the real training split of
    # `data` assigns to their class with probability >= curate_threshold. 0.5: "more likely
    # this class than all others together"; higher keeps fewer, more typical samples.
    data: str | Path = "data/prepared"  # read only with curate; must be the model's data
    curate: bool = False
    curate_threshold: float = 0.5


@dataclass(frozen=True)
class EvaluateSettings(StageSettings):
    """``augment evaluate``: inputs, outputs; ``options`` gathers the evaluation's settings."""

    STAGE: ClassVar[str] = "evaluate"
    EXTRA: ClassVar[str | None] = "options"

    data: str | Path = "data/prepared"
    model: str | Path = "models/tabular"
    metrics: str | Path = "metrics/tabular.json"
    plots: str | Path = "plots/tabular"
    report: str | Path = "reports/summary.md"
    device: str = "auto"
    seed: int = 0
    dvclive: str | Path | None = None  # a folder where the metrics are also logged by DVCLive
    jobs: int | None = None  # joblib workers for the classifier fits (None: the free cores)
    backend: str = "loky"  # loky (processes), threading, or dask (with scheduler)
    scheduler: str | None = None  # a Dask scheduler's address, for backend dask
    # Flat keys (seeds: 5) and modality sub-sections (tabular: {...}, image: {...}); the
    # evaluation functions' signatures define them (see augment.steps.evaluate).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Params:
    """The stage sections of a params file, of its top level or of one named pipeline block."""

    sections: dict[str, Any]
    file: str | None = None  # where they were read, for error lines
    pipeline: str | None = None

    def section(self, stage: str) -> dict[str, Any]:
        return dict(self.sections.get(stage) or {})

    def path(self, stage: str) -> str:
        return f"{self.pipeline}.{stage}" if self.pipeline else stage


def load_params(path: str | Path | None = None, pipeline: str | None = None) -> Params:
    """Read a params file (a missing default ``params.yaml`` is fine, a missing named one is
    not) and pick its top level or the block ``pipeline``.

    One params file can hold several pipelines: the default one at the top level, and named
    blocks beside it (``digits: {ingest: ..., train: ...}``); ``--pipeline digits`` picks one.
    """
    if path is None:
        path = Path(DEFAULT_PARAMS_FILE)
        if not path.is_file():
            if pipeline:
                raise AugmentError(f"no pipeline {pipeline!r}: there is no {path} here")
            return Params({})
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(f"cannot read params file {path}: {first}") from None
    if not isinstance(data, dict):
        raise AugmentError(f"params file {path} must hold a mapping of stage sections")
    if pipeline:
        block = data.get(pipeline)
        if not isinstance(block, dict):
            known = [k for k, v in data.items() if isinstance(v, dict) and k not in STAGES]
            hint = f"; pipelines there: {', '.join(known)}" if known else ""
            raise AugmentError(f"no pipeline {pipeline!r} in {path}{hint}")
        data = block
    params = Params(data, str(path), pipeline)
    for stage in STAGES:
        if not isinstance(data.get(stage) or {}, dict):
            raise AugmentError(f"{path}: section {params.path(stage)} must be a mapping")
    return params


def parse_assignments(
    items: list[str] | None, option: str, *, last: bool = False
) -> dict[str, Any]:
    """``["epochs=50", "lr=2e-4"]`` -> ``{"epochs": 50, "lr": "2e-4"}`` (values read as YAML;
    the setting's type decides the rest, so ``lr``'s ``"2e-4"`` becomes a number there).

    ``last``: split at the last ``=``, for keys that may hold one (``--count '<=50K=2000'``).
    """
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.rpartition("=") if last else item.partition("=")
        if not sep or not key.strip():
            raise AugmentError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            result[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            result[key.strip()] = raw
    return result
