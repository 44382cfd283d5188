"""SDV's CTGAN, TVAE and GaussianCopula as optional baselines, saved as a bank of sampled rows.

``SDVSynthesizer("sdv-ctgan" | "sdv-tvae" | "sdv-gaussiancopula", **hyperparameters)`` follows
the ``GenerativeModel`` protocol. SDV (Business Source License) is an optional extra: it is
imported inside the functions that need it, through its public API only, and a missing install
is a one-line ``MissingExtraError``.

Why a sample bank. SDV saves and loads a fitted synthesizer with cloudpickle, and this project
never unpickles: loading a model must not run code. So ``fit`` ends by drawing ``bank_size`` rows
from the fitted SDV synthesizer (per class in the training mix, classes topped up with SDV's
conditional sampling where the unconditional draw fell short), and ``save`` writes those rows
as ``bank.parquet`` beside ``config.json``. ``load`` reads only those two files, so a saved
baseline loads and samples even where SDV is not installed. ``sample(labels, seed=...)`` draws,
for each requested class, rows of that class from the bank without replacement, with a numpy
Generator seeded by ``seed``: deterministic per seed. The same path serves right after ``fit``.

The limit: a bank is finite. One call can return at most the bank's rows of each class, and two
calls with different seeds may return some of the same rows; a class that runs short is an
error naming the class and its count (retrain with a larger ``bank_size`` or
``bank_min_per_class``). Defaults: ``bank_size = max(100_000, 4 x training rows)`` split in the
training class mix, and at least ``bank_min_per_class = min(training rows, bank_size / classes)``
rows of every class seen in training, so any class mix of up to the real data's size fits.
Where SDV's conditional sampling cannot reach a class's target (its reject sampling gives up on
a class the model rarely produces), the bank holds fewer rows and ``config.json`` records the
shortfall per class.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.core.files import MODEL, atomic_dir, write_json
from augment.core.models import read_model_config
from augment.core.runtime import resolve_device, seed_everything
from augment.errors import AugmentError, MissingExtraError
from augment.log import logger
from augment.tabular.schema import TableSchema

SDV_CLASSES = {
    "sdv-ctgan": "CTGANSynthesizer",
    "sdv-tvae": "TVAESynthesizer",
    "sdv-gaussiancopula": "GaussianCopulaSynthesizer",
}
CONFIG_FILE = "config.json"
BANK_FILE = "bank.parquet"
TABLE = "data"  # SDV 2.x takes and returns {table name: DataFrame}, even for one table
DEFAULT_MIN_BANK = 100_000
BANK_ROWS_PER_TRAINING_ROW = 4
OWN_KEYS = ("bank_size", "bank_min_per_class")


def require_sdv(model: str) -> ModuleType:
    """The ``sdv`` package, or a one-line error naming the model that needs it."""
    try:
        import sdv
        import sdv.metadata
        import sdv.sampling
        import sdv.single_table
    except ImportError:
        raise MissingExtraError(
            f"model {model!r} needs the optional SDV extra: pip install 'augment[sdv]'"
        ) from None
    return sdv


def sdv_metadata(schema: TableSchema, model: str = "sdv") -> Any:
    """SDV ``Metadata`` for one table, built from our schema rather than SDV's own detection."""
    sdv = require_sdv(model)
    columns: dict[str, dict[str, str]] = {}
    for col in schema.columns:
        if col.kind == "continuous":
            columns[col.name] = {"sdtype": "numerical"}
        elif col.kind == "datetime":
            columns[col.name] = {"sdtype": "datetime"}
        elif col.dtype == "bool":
            columns[col.name] = {"sdtype": "boolean"}
        else:
            columns[col.name] = {"sdtype": "categorical"}
    spec = {"tables": {TABLE: {"columns": columns}}, "METADATA_SPEC_VERSION": "V2"}
    return sdv.metadata.Metadata.load_from_dict(spec)


def build_sdv_synthesizer(
    model: str,
    schema: TableSchema,
    params: dict[str, Any] | None = None,
    device: torch.device | str = "cpu",
    verbose: bool = False,
) -> Any:
    """A new, unfitted SDV synthesizer for ``schema``, on ``device`` where the model supports it.

    ``params`` go to the SDV class; its defaults apply to everything not named.
    """
    cls = _sdv_class(model)
    params = dict(params or {})
    accepted = inspect.signature(cls).parameters
    if "enable_gpu" in accepted:
        params["enable_gpu"] = torch.device(device).type == "cuda"
    if "verbose" in accepted:
        params.setdefault("verbose", verbose)
    with sdv_quiet(True):
        return cls(sdv_metadata(schema, model), **params)


def restore_dtypes(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """``frame`` in the schema's column order and dtypes (whole numbers rounded first)."""
    out = frame[schema.names].reset_index(drop=True).copy()
    for col in schema.columns:
        values = out[col.name]
        if str(values.dtype) == col.dtype:
            continue
        if col.kind == "continuous" and col.integer and pd.api.types.is_float_dtype(values):
            values = values.round()
        # A missing value in an integer column cannot be cast: keep the wider type, not a crash.
        with contextlib.suppress(TypeError, ValueError):
            out[col.name] = values.astype(col.dtype)
    return out


class SDVSynthesizer:
    """One of SDV's single-table synthesizers behind the ``GenerativeModel`` protocol.

    Hyper-parameters: ``bank_size`` and ``bank_min_per_class`` (see the module notes); every
    other keyword goes to the SDV class (``epochs``, ``batch_size``, ``enforce_min_max_values``,
    ``verbose``...). ``verbose`` defaults to ``fit``'s ``progress``.

    Example:
        >>> synth = SDVSynthesizer("sdv-ctgan", epochs=300, bank_size=200_000)  # doctest: +SKIP
        >>> summary = synth.fit(train, schema, seed=0)
        >>> rows = synth.sample([">50K"] * 1000, seed=1)
    """

    def __init__(self, model: str, **hyperparameters: Any) -> None:
        if model not in SDV_CLASSES:
            raise AugmentError(f"unknown SDV model {model!r}: use one of {', '.join(SDV_CLASSES)}")
        require_sdv(model)
        self._validate(model, hyperparameters)
        self._setup(model, hyperparameters)

    def _setup(self, model: str, hyperparameters: dict[str, Any]) -> None:
        self.name = model
        self.hyperparameters = _jsonable(hyperparameters)
        self.schema: TableSchema | None = None
        self.summary: dict[str, Any] = {}
        self._bank: pd.DataFrame | None = None
        self._class_rows: dict[Any, np.ndarray] = {}

    @staticmethod
    def _validate(model: str, hyperparameters: dict[str, Any]) -> None:
        for key in OWN_KEYS:
            value = hyperparameters.get(key)
            minimum = 1 if key == "bank_size" else 0
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < minimum
            ):
                raise AugmentError(f"{model}: {key} must be an integer >= {minimum}, got {value!r}")
        accepted = set(inspect.signature(_sdv_class(model)).parameters) - {"metadata"}
        unknown = sorted(set(hyperparameters) - accepted - set(OWN_KEYS))
        if unknown:
            raise AugmentError(
                f"{model}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(accepted | set(OWN_KEYS)))}"
            )
        try:
            json.dumps(_jsonable(hyperparameters))
        except TypeError as exc:
            raise AugmentError(f"{model}: hyper-parameters must be JSON values ({exc})") from None

    # -- fit -------------------------------------------------------------------------------

    def fit(
        self,
        data: pd.DataFrame,
        schema: TableSchema,
        *,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> dict[str, Any]:
        """Fit SDV on ``data`` (columns per ``schema``), then draw the sample bank."""
        sdv = require_sdv(self.name)
        missing = [name for name in schema.names if name not in data.columns]
        if missing:
            raise AugmentError(f"training data lacks schema column(s): {', '.join(missing)}")
        frame = data[schema.names].reset_index(drop=True)
        if frame[schema.label].isna().any():
            raise AugmentError(f"label column {schema.label!r} has missing values")
        counts = {c: int((frame[schema.label] == c).sum()) for c in schema.classes}
        torch_device = resolve_device(device)
        params = {k: v for k, v in self.hyperparameters.items() if k not in OWN_KEYS}
        bank_size, min_per_class = self._bank_sizes(len(frame), len(schema.classes))

        seed_everything(seed)  # SDV and CTGAN draw from the global numpy and torch streams
        synthesizer = build_sdv_synthesizer(self.name, schema, params, torch_device, progress)
        with sdv_quiet(progress), on_device(torch_device):
            start = time.perf_counter()
            synthesizer.fit({TABLE: frame})
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            bank, classes = _draw_bank(
                synthesizer, schema, counts, bank_size, min_per_class, sdv.sampling.Condition
            )
            bank_seconds = time.perf_counter() - start

        self.schema = schema
        self._set_bank(bank)
        shortfall = sum(c["shortfall"] for c in classes)
        self.summary = {
            "model": self.name,
            "sdv_class": SDV_CLASSES[self.name],
            "sdv_version": getattr(sdv, "__version__", "unknown"),
            "rows": len(frame),
            "columns": len(schema.columns),
            "seed": seed,
            "device": str(torch_device),
            "fit_seconds": round(fit_seconds, 3),
            "bank_seconds": round(bank_seconds, 3),
            "bank": {
                "rows": len(bank),
                "bank_size": bank_size,
                "min_per_class": min_per_class,
                "shortfall": shortfall,
                "classes": classes,
            },
        }
        logger.info(
            "%s: fitted on %d rows in %.1f s; sample bank of %d rows in %.1f s%s",
            self.name, len(frame), fit_seconds, len(bank), bank_seconds,
            f" ({shortfall} rows short of target, see config.json)" if shortfall else "",
        )  # fmt: skip
        return self.summary

    def _bank_sizes(self, n_rows: int, n_classes: int) -> tuple[int, int]:
        size = self.hyperparameters.get("bank_size")
        if size is None:
            size = max(DEFAULT_MIN_BANK, BANK_ROWS_PER_TRAINING_ROW * n_rows)
        floor = self.hyperparameters.get("bank_min_per_class")
        if floor is None:
            floor = min(n_rows, size // max(n_classes, 1))
        return int(size), int(floor)

    # -- sample ----------------------------------------------------------------------------

    def sample(self, labels: Sequence[Any] | np.ndarray, *, seed: int = 0) -> pd.DataFrame:
        """One bank row per entry of ``labels``, drawn without replacement within each class."""
        if self._bank is None or self.schema is None:
            raise AugmentError(f"{self.name} is not fitted: call fit() or load a trained model")
        wanted = np.asarray(labels, dtype=object).reshape(-1)
        rng = np.random.default_rng(seed)
        take = np.full(len(wanted), -1, dtype=np.int64)
        for cls in self.schema.classes:  # the schema's order, so each seed gives one answer
            positions = np.flatnonzero(wanted == cls)
            if not len(positions):
                continue
            pool = self._class_rows[cls]
            if len(positions) > len(pool):
                raise AugmentError(
                    f"{self.name}: asked for {len(positions)} rows of class {cls!r} but the "
                    f"sample bank holds {len(pool)}; retrain with a larger bank (train params: "
                    f"bank_size, bank_min_per_class) or ask for fewer rows of {cls!r}"
                )
            take[positions] = rng.choice(pool, size=len(positions), replace=False)
        if (take < 0).any():
            unknown = wanted[take < 0][0]
            raise AugmentError(
                f"unknown class {unknown!r} for label {self.schema.label!r}; "
                f"classes: {', '.join(map(repr, self.schema.classes))}"
            )
        return self._bank.iloc[take].reset_index(drop=True)

    def _set_bank(self, bank: pd.DataFrame) -> None:
        assert self.schema is not None
        self._bank = restore_dtypes(bank, self.schema)
        values = self._bank[self.schema.label].to_numpy(dtype=object)
        self._class_rows = {c: np.flatnonzero(values == c) for c in self.schema.classes}

    # -- save / load -----------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``bank.parquet`` into ``directory``, swapped in atomically."""
        if self._bank is None or self.schema is None:
            raise AugmentError(f"{self.name} is not fitted: nothing to save")
        config = {
            "model": self.name,
            "hyperparameters": self.hyperparameters,
            "schema": self.schema.to_dict(),
            "training": self.summary,
            "bank": {
                "file": BANK_FILE,
                "rows": len(self._bank),
                "classes": [
                    {"class": c, "rows": len(self._class_rows[c])} for c in self.schema.classes
                ],
            },
            "versions": {"torch": torch.__version__, "pandas": pd.__version__},
        }
        with atomic_dir(directory, MODEL) as tmp:
            self._bank.to_parquet(tmp / BANK_FILE, index=False)
            write_json(tmp / CONFIG_FILE, config)

    @classmethod
    def load(cls, directory: str | Path) -> SDVSynthesizer:
        """Read ``config.json`` and ``bank.parquet``; needs neither SDV nor pickle."""
        directory = Path(directory)
        config, _ = read_model_config(directory)
        where = str(directory / CONFIG_FILE)
        model = config.model
        if model not in SDV_CLASSES:
            raise AugmentError(f"{where} is not an SDV baseline ({model!r})")
        bank_path = directory / BANK_FILE
        if not bank_path.is_file():
            raise AugmentError(f"model is incomplete: {bank_path} is missing")
        schema = TableSchema.from_dict(config.schema, f"{where}: schema")
        try:
            bank = pd.read_parquet(bank_path)
        except Exception as exc:  # pyarrow's own error types for a corrupt file
            raise AugmentError(f"cannot read {bank_path}: {str(exc).splitlines()[0]}") from None
        lacking = [name for name in schema.names if name not in bank.columns]
        if lacking:
            raise AugmentError(f"{bank_path} lacks schema column(s): {', '.join(lacking)}")
        synth = cls.__new__(cls)  # skips __init__'s SDV check: sampling a bank needs no SDV
        synth._setup(model, config.hyperparameters)
        synth.schema = schema
        synth.summary = config.training
        synth._set_bank(bank)
        return synth


def _sdv_class(model: str) -> type:
    sdv = require_sdv(model)
    return getattr(sdv.single_table, SDV_CLASSES[model])


def _draw_bank(
    synthesizer: Any,
    schema: TableSchema,
    counts: dict[Any, int],
    bank_size: int,
    min_per_class: int,
    condition: type,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``bank_size`` rows drawn unconditionally, trimmed per class to its target, then topped up."""
    targets = _class_targets(counts, bank_size, min_per_class)
    synthesizer.reset_sampling()  # the bank is a function of the fitted model alone
    drawn = synthesizer.sample(bank_size)[TABLE]
    labels = drawn[schema.label].to_numpy(dtype=object)
    parts: list[pd.DataFrame] = []
    report: list[dict[str, Any]] = []
    for cls in schema.classes:
        target = targets[cls]
        rows = drawn.loc[labels == cls].head(target)
        unconditional = len(rows)
        error = None
        if unconditional < target:
            extra, error = _top_up(
                synthesizer, schema.label, cls, target - unconditional, condition
            )
            rows = pd.concat([rows, extra.head(target - unconditional)], ignore_index=True)
        parts.append(rows[schema.names])
        item = {
            "class": cls,
            "training_rows": counts[cls],
            "target": target,
            "unconditional": unconditional,
            "conditional": len(rows) - unconditional,
            "rows": len(rows),
            "shortfall": target - len(rows),
        }
        if error:
            item["error"] = error
        report.append(item)
    bank = pd.concat(parts, ignore_index=True)
    return restore_dtypes(bank, schema), report


def _class_targets(counts: dict[Any, int], bank_size: int, min_per_class: int) -> dict[Any, int]:
    """Each class's share of ``bank_size`` in the training mix, raised to ``min_per_class``."""
    total = max(sum(counts.values()), 1)
    targets = {}
    for cls, n in counts.items():
        # A class absent from training is one SDV cannot produce: target none, report it.
        targets[cls] = 0 if n == 0 else max(int(round(bank_size * n / total)), min_per_class, 1)
    return targets


def _top_up(
    synthesizer: Any, label: str, cls: Any, n: int, condition: type
) -> tuple[pd.DataFrame, str | None]:
    """Up to ``n`` rows of class ``cls`` from SDV's conditional sampling, and why it fell short."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the shortfall is recorded, not only warned
            result = synthesizer.sample_from_conditions(
                [condition({label: cls}, num_rows=n)], batch_size=min(n, 10_000)
            )[TABLE]
    except Exception as exc:  # SDV raises ValueError and its own errors when reject sampling fails
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.warning("class %r: SDV conditional sampling failed: %s", cls, message)
        return pd.DataFrame(), message
    result = result.loc[result[label].to_numpy(dtype=object) == cls]
    if len(result) < n:
        return result, f"conditional sampling returned {len(result)} of {n} rows"
    return result, None


@contextlib.contextmanager
def sdv_quiet(progress: bool = True) -> Iterator[None]:
    """Keep SDV's prints off stdout (which may carry data), mute its advisory warnings and,
    unless ``progress``, its progress bars."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*save_to_json.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        if not progress:
            stack.enter_context(contextlib.redirect_stderr(_Discard()))
        yield


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def on_device(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    # CTGAN places tensors on "cuda", the current device: make that the one asked for.
    if device.type == "cuda":
        return torch.cuda.device(device)
    return contextlib.nullcontext()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
