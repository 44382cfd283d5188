"""Reversible encoding of a table into the GAN's float matrix, and back.

Continuous and datetime columns get mode-specific normalisation (Xu et al. 2019): a variational
Gaussian mixture per column; a value is represented by the one-hot of a mode ``k`` and the scalar
``(x - mean_k) / (4 std_k)`` clipped to [-1, 1]. Beyond the paper, frequent exact values (a spike
at 0, every value of a column of few whole numbers) are point-mass modes that decode to exactly
that value: a Gaussian, rounded and clipped, would smear a spike over its neighbours.
Categorical columns are one-hots, with missing as one more category. A continuous column with
missing values gets a 2-way ``[observed, missing]`` one-hot. The fitted state is plain JSON
(``to_dict`` / ``from_dict``): loading never runs code.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from augment.core.validate import from_json, prefixed
from augment.errors import AugmentError
from augment.tabular.calibration import MarginalCalibration
from augment.tabular.dependencies import Derived, apply, check_rules, find_derived
from augment.tabular.schema import TableSchema

ENCODER_VERSION = 1
_NEG = -1e9  # logit bias that removes a padding slot from a softmax
# torch's CPU softmax runs scalar code on rows shorter than 16 (measured: 7x slower for width 9
# than for width 16): padding every group to 16 keeps it vectorised.
MIN_SOFTMAX_WIDTH = 16


@dataclass(frozen=True)
class Span:
    """A block of matrix columns: a ``tanh`` scalar or a ``softmax`` one-hot."""

    column: str
    start: int
    width: int
    kind: str  # "tanh" | "softmax"
    role: str  # "value" | "mode" | "missing" | "category"

    @property
    def stop(self) -> int:
        return self.start + self.width


@dataclass
class SpanLayout:
    """Span metadata as index tensors, so activations and losses need no per-column loops.

    Softmax spans are grouped by similar width and padded to their group's widest: in group ``g``,
    ``soft_index[g][s, i]`` is the matrix column of slot ``i`` of span ``s`` (padding points at
    column 0 and gets ``soft_bias[g] = -1e9``). Gathering ``raw[:, soft_index[g]]`` gives a
    ``(batch, spans, width)`` block for one fused softmax per group (a handful of groups, however
    many columns); ``assemble`` maps every matrix column back into
    ``cat([tanh(raw[:, value_rows]), block_0.flatten(1), block_1.flatten(1), ...])``.
    The ``cond_*`` tensors pad the condition spans alike, in one group, in condition order:
    condition slot ``cond_offset[j] + category`` belongs to condition span ``j``.
    For sampling (:func:`augment.tabular.networks.draw_spans`), ``value_rows`` are the ``tanh``
    columns, ``choice_spans`` the ``(start, stop)`` of every softmax span in matrix order, and
    ``label_choice`` the label's position among them. ``choice_starts`` (those starts as a
    tensor) and ``value_rows`` rebuild matrix rows from :class:`EncodedRows` (:meth:`dense`);
    ``condition_choices`` are the condition spans' positions among the softmax spans, the
    columns of ``EncodedRows.choices`` that training-by-sampling conditions on.
    """

    data_dim: int
    cond_dim: int
    label_span: int
    soft_index: list[torch.Tensor]
    soft_bias: list[torch.Tensor]
    assemble: torch.Tensor
    cond_index: torch.Tensor
    cond_bias: torch.Tensor
    cond_offset: torch.Tensor
    cond_width: torch.Tensor
    value_rows: torch.Tensor
    choice_spans: list[tuple[int, int]]
    choice_starts: torch.Tensor
    condition_choices: torch.Tensor
    label_choice: int

    def to(self, device: torch.device | str) -> SpanLayout:
        def move(value: Any) -> Any:
            if isinstance(value, list):
                return [move(v) for v in value]
            return value.to(device) if isinstance(value, torch.Tensor) else value

        return SpanLayout(**{k: move(v) for k, v in vars(self).items()})

    def dense(
        self, values: torch.Tensor, choices: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The float matrix rows of encoded rows (:class:`EncodedRows` as tensors): the
        scalars in place, a 1 at each span's chosen slot, zeros elsewhere; written into
        ``out`` ``(rows, data_dim)`` (a view of a larger buffer, say) when given."""
        if out is None:
            out = torch.empty(len(values), self.data_dim, device=values.device)
        out.zero_()
        out[:, self.value_rows] = values
        return out.scatter_(1, self.choice_starts + choices.long(), 1.0)


@dataclass
class EncodedRows:
    """An encoded table without its one-hots, about 10x smaller than the float matrix.

    ``values`` ``(rows, tanh spans)`` float32 are the scalars; ``choices`` ``(rows, softmax
    spans)`` small ints are each one-hot's index, both in matrix order.
    :meth:`SpanLayout.dense` makes matrix rows of any of them, so training keeps the table in
    this form (on the device, or memory-mapped from disk for a table larger than memory) and
    builds only its batches as matrices.
    """

    values: np.ndarray
    choices: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: slice) -> EncodedRows:
        return EncodedRows(self.values[rows], self.choices[rows])


class TableEncoder:
    """Fit on a DataFrame and its :class:`TableSchema`; ``transform`` / ``inverse_transform``.

    ``max_modes`` Gaussians per column are fitted on at most ``fit_sample`` values; modes
    weighing under ``weight_threshold`` are pruned. ``mode_assignment``: ``"argmax"`` gives each
    value its most probable mode, so the encoding is a pure function of the value (no RNG state:
    re-encoding, sharding or resuming gives the same matrix), and it trained the GAN as well as
    or slightly better than the paper's ``"sample"`` (draw from the posterior, seeded) on Adult.
    Values seen in at least ``point_mass_fraction`` of the rows, up to ``max_point_masses`` of
    them (every value, for a column with no more distinct values), become point-mass modes.
    """

    def __init__(
        self,
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        fit_sample: int = 5000,
        mode_assignment: str = "argmax",
        max_point_masses: int = 20,
        point_mass_fraction: float = 0.05,
        derive_columns: bool = True,
        seed: int = 0,
    ) -> None:
        if mode_assignment not in ("sample", "argmax"):
            raise AugmentError(
                f"mode_assignment must be 'sample' or 'argmax', got {mode_assignment!r}"
            )
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.fit_sample = fit_sample
        self.mode_assignment = mode_assignment
        self.max_point_masses = max_point_masses
        self.point_mass_fraction = point_mass_fraction
        self.derive_columns = derive_columns
        self.seed = seed
        self.schema: TableSchema | None = None
        self.columns: list[dict[str, Any]] = []
        self.spans: list[Span] = []
        self.derived: list[Derived] = []  # columns set from another (see dependencies.py)

    # ----------------------------------------------------------------- fitting
    def fit(self, data: pd.DataFrame, schema: TableSchema) -> TableEncoder:
        missing = [name for name in schema.names if name not in data.columns]
        if missing:
            raise AugmentError(f"the data lacks the schema's columns: {', '.join(missing)}")
        if len(data) == 0:
            raise AugmentError("cannot fit the encoder on an empty table")
        rng = np.random.default_rng(self.seed)
        self.schema = schema
        self.columns = []
        for spec in schema.columns:
            series = data[spec.name]
            if spec.kind == "categorical":
                self.columns.append(self._fit_categorical(series, spec))
            else:
                self.columns.append(self._fit_continuous(series, spec, rng))
        self.spans = _build_spans(self.columns)
        self.derived = []
        if self.derive_columns:
            self.derived = find_derived(self.columns, self.raw_frame(data), schema.label)
        return self

    def raw_frame(
        self, data: pd.DataFrame, names: Iterable[str] | None = None
    ) -> dict[str, np.ndarray]:
        """``data``'s columns (or those ``names``) as :meth:`raw_columns` holds generated ones:
        category indices (categorical) or floats (numeric), NaN for missing."""
        wanted = None if names is None else set(names)
        return {
            col["name"]: self._raw(data[col["name"]], col)
            for col in self.columns
            if wanted is None or col["name"] in wanted
        }

    def calibrated_columns(self) -> list[str]:
        """The numeric and datetime columns that no rule sets: those a
        :class:`MarginalCalibration` maps, in column order."""
        derived = {rule.column for rule in self.derived}
        return [
            col["name"]
            for col in self.columns
            if col["kind"] != "categorical" and col["name"] not in derived
        ]

    @staticmethod
    def _raw(series: pd.Series, col: dict[str, Any]) -> np.ndarray:
        """A column as category indices (categorical) or floats (numeric), NaN for missing."""
        if col["kind"] == "categorical":
            return _category_codes(series, col)
        return _as_float(series, col["kind"])

    def _fit_categorical(self, series: pd.Series, spec: Any) -> dict[str, Any]:
        categories = list(spec.categories or [])
        if not categories:
            raise AugmentError(
                f"schema column {spec.name!r} is categorical but lists no categories"
            )
        has_missing = bool(spec.has_missing or series.isna().any())
        col = {"name": spec.name, "kind": "categorical", "categories": categories}
        col["missing"] = has_missing
        _category_codes(series, col)  # fail early on a value the schema does not know
        return col

    def _fit_continuous(
        self, series: pd.Series, spec: Any, rng: np.random.Generator
    ) -> dict[str, Any]:
        values = _as_float(series, spec.kind)
        observed = values[~np.isnan(values)]
        if observed.size == 0:
            raise AugmentError(f"column {spec.name!r} has no observed values to fit")
        masses = self._point_masses(observed)
        rest = observed[~np.isin(observed, masses)]
        # Standardise first: datetimes in epoch ns would otherwise defeat the mixture's numerics.
        loc = float(observed.mean())
        scale = float(observed.std()) or 1.0
        means, stds, weights = self._fit_mixture((rest - loc) / scale, rng)
        return {
            "name": spec.name,
            "kind": spec.kind,
            "loc": loc,
            "scale": scale,
            "means": means.tolist(),
            "stds": stds.tolist(),
            "weights": weights.tolist(),
            "point_masses": masses.tolist(),
            "missing": bool(spec.has_missing or np.isnan(values).any()),
            "min": float(spec.min) if spec.min is not None else float(observed.min()),
            "max": float(spec.max) if spec.max is not None else float(observed.max()),
            "integer": bool(spec.integer),
        }

    def _point_masses(self, observed: np.ndarray) -> np.ndarray:
        """Values that are modes of their own (a spike at 0, a column of a few whole numbers).

        A Gaussian fits a spike badly: its spread, rounded and clipped, smears the spike over
        its neighbours. A point mass decodes to exactly its value.
        """
        values, counts = np.unique(observed, return_counts=True)
        if values.size <= self.max_point_masses:
            return values
        frequent = counts >= self.point_mass_fraction * observed.size
        top = np.argsort(-counts[frequent], kind="stable")[: self.max_point_masses]
        return np.sort(values[frequent][top])

    def _fit_mixture(
        self, z: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gaussian modes (means, stds, weights) of standardised values; none for no values."""
        if z.size == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        if z.size > self.fit_sample:
            z = rng.choice(z, self.fit_sample, replace=False)
        n_modes = int(min(self.max_modes, np.unique(z).size))
        if n_modes < 2:
            return np.array([z.mean()]), np.array([max(z.std(), 1e-3)]), np.ones(1)
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        gmm = BayesianGaussianMixture(
            n_components=n_modes,
            # For one column "diag" is the same model as the default "full" (Adult's modes agree
            # to 1e-12) without its per-component Cholesky factors: 30% faster.
            covariance_type="diag",
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3,
            max_iter=200,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            # Not converging within max_iter only means slightly rougher modes: not worth a warning.
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(z.reshape(-1, 1))
        keep = gmm.weights_ > self.weight_threshold
        means = gmm.means_[keep, 0]
        stds = np.sqrt(gmm.covariances_[keep].reshape(-1))
        weights = gmm.weights_[keep]
        order = np.argsort(means)  # readable layout: modes from low to high
        return means[order], np.maximum(stds[order], 1e-6), weights[order] / weights.sum()

    # --------------------------------------------------------------- encoding
    @property
    def output_dim(self) -> int:
        return self.spans[-1].stop if self.spans else 0

    def transform(self, data: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        """The ``(rows, output_dim)`` float32 matrix; mode draws use ``seed`` (default: fit's)."""
        encoded = self.encode(data, seed)
        layout = self.layout()
        return layout.dense(
            torch.from_numpy(encoded.values), torch.from_numpy(encoded.choices)
        ).numpy()

    def encode_batches(
        self, batches: Iterable[pd.DataFrame], rows: int, folder: Path
    ) -> EncodedRows:
        """``rows`` rows arriving in ``batches``, encoded into memory-mapped files in ``folder``
        (``values.npy``, ``choices.npy``): a table larger than memory, encoded once, whose
        pages the OS keeps or drops as memory allows. Batch ``i``'s mode draws use
        ``(seed, i)``."""
        self._check_fitted()
        softmax = [s for s in self.spans if s.kind == "softmax"]
        values = np.lib.format.open_memmap(
            folder / "values.npy", "w+", np.float32, (rows, len(self.spans) - len(softmax))
        )
        choices = np.lib.format.open_memmap(
            folder / "choices.npy", "w+", choice_dtype(softmax), (rows, len(softmax))
        )
        start = 0
        for index, frame in enumerate(batches):
            encoded = self.encode(frame, (self.seed, index))
            stop = start + len(encoded)
            if stop > rows:
                break
            values[start:stop], choices[start:stop] = encoded.values, encoded.choices
            start = stop
        if start != rows:
            raise AugmentError(f"expected {rows} rows to encode, the batches held {start}")
        values.flush()
        choices.flush()
        return EncodedRows(values, choices)

    def encode(self, data: pd.DataFrame, seed: int | tuple[int, int] | None = None) -> EncodedRows:
        """``data`` as :class:`EncodedRows`; mode draws use ``seed`` (default: fit's)."""
        self._check_fitted()
        rng = np.random.default_rng(self.seed if seed is None else seed)
        softmax = [s for s in self.spans if s.kind == "softmax"]
        values = np.zeros((len(data), len(self.spans) - len(softmax)), dtype=np.float32)
        choices = np.zeros((len(data), len(softmax)), dtype=choice_dtype(softmax))
        value_at = choice_at = 0
        for col in self.columns:
            if col["name"] not in data.columns:
                raise AugmentError(f"the data lacks column {col['name']!r}")
            series = data[col["name"]]
            if col["kind"] == "categorical":
                choices[:, choice_at] = _category_codes(series, col)
                choice_at += 1
                continue
            scalar, modes, absent = self._encode_continuous(series, col, rng)
            values[:, value_at] = scalar
            choices[:, choice_at] = modes
            value_at, choice_at = value_at + 1, choice_at + 1
            if col["missing"]:
                choices[:, choice_at] = absent
                choice_at += 1
        return EncodedRows(values, choices)

    def _encode_continuous(
        self, series: pd.Series, col: dict[str, Any], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each value's scalar, mode and whether it is missing."""
        values = _as_float(series, col["kind"])
        absent = np.isnan(values)
        means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
        masses = np.asarray(col["point_masses"])
        n = len(values)
        modes = np.zeros(n, dtype=np.int64)
        scalar = np.zeros(n)
        # Point masses: the value sits exactly on one (nearest one if there are no Gaussians).
        near = np.clip(np.searchsorted(masses, values), 0, max(len(masses) - 1, 0))
        if len(masses) > 1:
            left = np.maximum(near - 1, 0)
            closer = np.abs(values - masses[left]) < np.abs(values - masses[near])
            near = np.where(closer, left, near)
        on_mass = np.zeros(n, dtype=bool)
        if len(masses):
            on_mass = (values == masses[near]) | (len(means) == 0)
        gaussian = ~on_mass & ~absent
        if gaussian.any():
            z = (values[gaussian] - col["loc"]) / col["scale"]
            picked = self._assign_modes(z, means, stds, np.asarray(col["weights"]), rng)
            modes[gaussian] = picked
            scalar[gaussian] = np.clip((z - means[picked]) / (4 * stds[picked]), -1, 1)
        modes[on_mass] = len(means) + near[on_mass]
        # Missing rows sit on the heaviest mode with scalar 0; the missing span drops them.
        modes[absent] = self._heaviest_mode(col)
        return scalar, modes, absent

    def _assign_modes(
        self,
        z: np.ndarray,
        means: np.ndarray,
        stds: np.ndarray,
        weights: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Each value's Gaussian mode, for all rows at once."""
        log_post = np.log(weights) - np.log(stds) - 0.5 * ((z[:, None] - means) / stds) ** 2
        if self.mode_assignment == "argmax":
            return log_post.argmax(axis=1)
        # Draw from the posterior, as in the paper: overlapping modes share their values.
        post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        cdf = np.cumsum(post, axis=1)
        u = rng.random(len(z)) * cdf[:, -1]
        return np.minimum((u[:, None] > cdf).sum(axis=1), len(means) - 1)

    @staticmethod
    def _heaviest_mode(col: dict[str, Any]) -> int:
        """The heaviest Gaussian mode; the first point mass when there are no Gaussians."""
        return int(np.argmax(col["weights"])) if col["means"] else 0

    # --------------------------------------------------------------- decoding
    def inverse_transform(self, matrix: np.ndarray | torch.Tensor) -> pd.DataFrame:
        """Rows in the original schema: column order, dtypes, categories, ranges and missing."""
        self._check_fitted()
        if isinstance(matrix, torch.Tensor):
            matrix = matrix.detach().float().cpu().numpy()
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.output_dim:
            raise AugmentError(
                f"expected a matrix with {self.output_dim} columns, got shape {matrix.shape}"
            )
        values = [matrix[:, s.start] for s in self.spans if s.kind == "tanh"]
        choices = [matrix[:, s.start : s.stop].argmax(1) for s in self.spans if s.kind == "softmax"]
        return self.decode(np.stack(values) if values else np.zeros((0, len(matrix))), choices)

    def decode(
        self,
        values: np.ndarray,
        choices: np.ndarray | list[np.ndarray],
        *,
        categorical: bool = False,
        calibration: MarginalCalibration | None = None,
        rng: np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """Rows from their decoded spans, one array per span: ``values`` ``(tanh spans, rows)``
        holds the scalars in [-1, 1], ``choices`` ``(softmax spans, rows)`` each one-hot
        span's category, both in matrix order (what ``inverse_transform`` reads off a matrix,
        and what the sampler draws without building one).

        ``categorical``: categorical columns of Python objects (strings) come as pandas
        Categoricals of the same values, built from the codes without a Python object per
        row (for writers that store dictionaries). ``calibration`` maps the numeric columns
        per class before derived columns are set and whole numbers rounded; ``rng`` (seeded by
        the caller) breaks its ties."""
        raw = self.raw_columns(values, choices)
        if calibration is not None:
            calibration.apply(raw, raw[self.schema.label], rng or np.random.default_rng(0))
        for rule in self.derived:
            raw[rule.column] = apply(rule, raw[rule.source], raw[rule.column])
        columns: dict[str, Any] = {}
        for col, spec in zip(self.columns, self.schema.columns, strict=True):
            values_of = raw[col["name"]]
            if col["kind"] != "categorical" and col["integer"]:
                values_of = np.round(values_of)
            if col["kind"] == "categorical":
                columns[col["name"]] = _restore_categorical(values_of, col, spec.dtype, categorical)
            elif col["kind"] == "datetime":
                columns[col["name"]] = _restore_datetime(values_of, spec.dtype)
            else:
                columns[col["name"]] = _restore_numeric(values_of, spec.dtype)
        return pd.DataFrame(columns, columns=self.schema.names, copy=False)

    def raw_columns(
        self, values: np.ndarray, choices: np.ndarray | list[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Decoded spans (as :meth:`decode` takes them) as one array per column: category
        indices for categorical columns, unrounded floats (NaN: missing; datetimes: epoch
        nanoseconds) for the others. Derived columns hold what was generated."""
        self._check_fitted()
        values_at = iter(values)
        choices_at = iter(choices)
        raw: dict[str, np.ndarray] = {}
        for col in self.columns:
            if col["kind"] == "categorical":
                raw[col["name"]] = next(choices_at)
                continue
            scalar, modes = next(values_at), next(choices_at)
            absent = next(choices_at) == 1 if col["missing"] else None
            raw[col["name"]] = self._decode_continuous(scalar, modes, absent, col)
        return raw

    def _decode_continuous(
        self,
        scalar: np.ndarray,
        modes: np.ndarray,
        absent: np.ndarray | None,
        col: dict[str, Any],
    ) -> np.ndarray:
        """The column's float values, unrounded (NaN: missing; datetimes: epoch nanoseconds)."""
        means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
        masses = np.asarray(col["point_masses"], dtype=np.float64)
        # One lookup table per mode (Gaussian: scale and offset; point mass: 0 and its value),
        # so every row decodes with two takes and one multiply-add.
        slope = np.concatenate([4 * stds * col["scale"], np.zeros(len(masses))])
        offset = np.concatenate([means * col["scale"] + col["loc"], masses])
        values = np.clip(scalar.astype(np.float64), -1, 1) * slope[modes] + offset[modes]
        values = np.clip(values, col["min"], col["max"])
        if absent is not None:
            values[absent] = np.nan
        return values

    # ------------------------------------------------------------ span layout
    def layout(
        self, device: torch.device | str = "cpu", *, condition_discrete: bool = False
    ) -> SpanLayout:
        """Span metadata as tensors on ``device`` (see :class:`SpanLayout`). The condition spans
        are the categorical columns', and with ``condition_discrete`` also the modes of every
        numeric column of a few values (each value a point mass, see ``max_point_masses``)."""
        self._check_fitted()
        discrete = {
            c["name"]
            for c in self.columns
            if c["kind"] != "categorical" and not c["means"] and len(c["point_masses"]) > 1
        }
        cond = [
            s
            for s in self.spans
            if s.role == "category"
            or (condition_discrete and s.role == "mode" and s.column in discrete)
        ]
        cond_index, cond_bias = _padded(cond)
        soft_index, soft_bias = [], []
        values = [s for s in self.spans if s.kind == "tanh"]  # each one column wide
        assemble = torch.empty(self.output_dim, dtype=torch.long)
        assemble[[s.start for s in values]] = torch.arange(len(values))
        offset = len(values)
        for group in _width_groups([s for s in self.spans if s.kind == "softmax"]):
            index, bias = _padded(group, MIN_SOFTMAX_WIDTH)
            for i, span in enumerate(group):
                slots = offset + i * index.shape[1] + torch.arange(span.width)
                assemble[span.start : span.stop] = slots
            offset += index.numel()
            soft_index.append(index)
            soft_bias.append(bias)
        widths = torch.tensor([s.width for s in cond])
        offsets = torch.cumsum(widths, 0) - widths
        label = self.schema.label
        choices = [s for s in self.spans if s.kind == "softmax"]
        return SpanLayout(
            data_dim=self.output_dim,
            cond_dim=int(widths.sum()),
            label_span=next(
                i for i, s in enumerate(cond) if s.column == label and s.role == "category"
            ),
            soft_index=soft_index,
            soft_bias=soft_bias,
            assemble=assemble,
            cond_index=cond_index,
            cond_bias=cond_bias,
            cond_offset=offsets,
            cond_width=widths,
            value_rows=torch.tensor([s.start for s in values], dtype=torch.long),
            choice_spans=[(s.start, s.stop) for s in choices],
            choice_starts=torch.tensor([s.start for s in choices], dtype=torch.long),
            condition_choices=torch.tensor([choices.index(s) for s in cond], dtype=torch.long),
            label_choice=next(i for i, s in enumerate(choices) if s.column == label),
        ).to(device)

    def category_index(self, column: str) -> dict[str, Any]:
        """The fitted categorical column ``column`` (its categories and missing flag)."""
        for col in self.columns:
            if col["name"] == column and col["kind"] == "categorical":
                return col
        raise AugmentError(f"{column!r} is not a categorical column of this encoder")

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "version": ENCODER_VERSION,
            "settings": {
                "max_modes": self.max_modes,
                "weight_threshold": self.weight_threshold,
                "fit_sample": self.fit_sample,
                "mode_assignment": self.mode_assignment,
                "max_point_masses": self.max_point_masses,
                "point_mass_fraction": self.point_mass_fraction,
                "derive_columns": self.derive_columns,
                "seed": self.seed,
            },
            "schema": self.schema.to_dict(),
            "columns": self.columns,
            "derived": [asdict(rule) for rule in self.derived],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "encoder") -> TableEncoder:
        """The fitted encoder from its JSON form, every key, type and size checked against its
        own schema first (``where`` names the source in errors, e.g. ``model/encoder.json``)."""
        state = from_json(_EncoderFile, data, where)
        if state.version != ENCODER_VERSION:
            raise AugmentError(f"{where}: unsupported encoder version {state.version!r}")
        with prefixed(where):
            encoder = cls(**asdict(state.settings))
        encoder.schema = TableSchema.from_dict(state.schema, f"{where}: schema")
        encoder.columns = [
            _check_column(col, spec, where)
            for col, spec in _pair_columns(state.columns, encoder.schema, where)
        ]
        encoder.spans = _build_spans(encoder.columns)
        label = encoder.schema.label
        encoder.derived = check_rules(state.derived, encoder.columns, label, where)
        return encoder

    # ---------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if self.schema is None or not self.columns:
            raise AugmentError("the encoder is not fitted")


def _build_spans(columns: list[dict[str, Any]]) -> list[Span]:
    spans: list[Span] = []
    start = 0

    def add(name: str, width: int, kind: str, role: str) -> None:
        nonlocal start
        spans.append(Span(name, start, width, kind, role))
        start += width

    for col in columns:
        if col["kind"] == "categorical":
            add(col["name"], len(col["categories"]) + int(col["missing"]), "softmax", "category")
        else:
            add(col["name"], 1, "tanh", "value")
            n_modes = len(col["means"]) + len(col["point_masses"])
            add(col["name"], n_modes, "softmax", "mode")
            if col["missing"]:
                add(col["name"], 2, "softmax", "missing")
    return spans


def choice_dtype(softmax: list[Span]) -> np.dtype:
    """The smallest integer type that holds every softmax span's index."""
    widest = max((s.width for s in softmax), default=1)
    return np.dtype(np.uint8 if widest <= 256 else np.int16 if widest <= 32768 else np.int32)


def _width_groups(spans: list[Span], ratio: float = 2.0) -> list[list[Span]]:
    """Spans sorted by width, cut into groups whose widest is at most ``ratio`` x the narrowest
    (or ``MIN_SOFTMAX_WIDTH``): little padding (one 42-way column no longer pads every 2-way one
    to 42), and few groups."""
    groups: list[list[Span]] = []
    for span in sorted(spans, key=lambda s: s.width):
        if groups and span.width <= max(MIN_SOFTMAX_WIDTH, ratio * groups[-1][0].width):
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _padded(spans: list[Span], min_width: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(min_width, *(s.width for s in spans)) if spans else min_width
    index = torch.zeros(max(len(spans), 1), width, dtype=torch.long)
    bias = torch.full((max(len(spans), 1), width), _NEG)
    for i, span in enumerate(spans):  # built once per fit, never in the training step
        index[i, : span.width] = torch.arange(span.start, span.stop)
        bias[i, : span.width] = 0.0
    return index, bias


def _as_float(series: pd.Series, kind: str) -> np.ndarray:
    """Numbers as float64 with NaN for missing; datetimes as epoch nanoseconds."""
    if kind == "datetime":
        stamps = series
        if not pd.api.types.is_datetime64_any_dtype(stamps):
            stamps = pd.to_datetime(stamps, errors="coerce", format="mixed")
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = stamps.astype("datetime64[ns]")
        values = stamps.to_numpy().astype("int64").astype(np.float64)
        values[stamps.isna().to_numpy()] = np.nan
        return values
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise AugmentError(f"column {series.name!r} should be numeric: {exc}") from None


def _category_codes(series: pd.Series, col: dict[str, Any]) -> np.ndarray:
    """Index of each value in the column's categories; missing maps to the extra last slot."""
    index = pd.Index(col["categories"], dtype=object)
    values = series.astype(object)
    absent = values.isna().to_numpy()
    codes = index.get_indexer(pd.Index(values.where(~absent, None), dtype=object))
    unknown = (codes < 0) & ~absent
    if unknown.any():
        value = values[unknown].iloc[0]
        raise AugmentError(
            f"column {col['name']!r} holds {value!r}, which is not among its known categories"
        )
    if absent.any():
        if not col["missing"]:
            raise AugmentError(f"column {col['name']!r} has missing values the encoder never saw")
        codes[absent] = len(col["categories"])
    return codes.astype(np.int64)


def _restore_categorical(
    codes: np.ndarray, col: dict[str, Any], dtype: str, categorical: bool = False
) -> pd.Series:
    """The column's values from its codes (the last code: missing) in ``dtype``; a pandas
    Categorical where ``dtype`` is ``category``, or, with ``categorical``, strings."""
    categories = col["categories"]

    def from_codes() -> pd.Series:
        missing = codes >= len(categories)
        return pd.Series(pd.Categorical.from_codes(np.where(missing, -1, codes), categories))

    if dtype == "category":
        return from_codes()
    try:
        target = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        target = np.dtype(object)
    plain_objects = isinstance(target, np.dtype) and target.kind in "OUS"
    if categorical and plain_objects and all(isinstance(c, str) for c in categories):
        return from_codes()
    table = np.empty(len(categories) + 1, dtype=object)
    table[: len(categories)] = categories
    table[-1] = None
    values = pd.Series(table[np.minimum(codes, len(table) - 1)], dtype=object)
    if isinstance(target, np.dtype):
        if target.kind in "OUS":  # plain Python objects; None stays None
            return values
        if target.kind in "biu" and values.isna().any():
            # numpy bools and ints cannot hold a missing value: use pandas' nullable types.
            target = "boolean" if target.kind == "b" else "Int64"
    try:
        return values.astype(target)
    except (TypeError, ValueError):
        return values


def _restore_numeric(values: np.ndarray, dtype: str) -> pd.Series:
    series = pd.Series(values)
    try:
        target = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return series
    if (
        pd.api.types.is_integer_dtype(target)
        and series.isna().any()
        and isinstance(target, np.dtype)
    ):
        return series.astype("Int64")  # numpy ints cannot hold a missing value
    try:
        return series.astype(target)
    except (TypeError, ValueError):
        return series


def _restore_datetime(values: np.ndarray, dtype: str) -> pd.Series:
    absent = np.isnan(values)
    ns = np.where(absent, 0, values).astype(np.int64)
    stamps = pd.Series(pd.to_datetime(ns, unit="ns"))
    stamps[absent] = pd.NaT
    try:
        target = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return stamps
    if isinstance(target, pd.DatetimeTZDtype):
        return stamps.dt.tz_localize("UTC").dt.tz_convert(target.tz)
    try:
        return stamps.astype(target)
    except (TypeError, ValueError):
        return stamps


# ------------------------------------------------------------ encoder.json, checked on reading
@dataclass
class _EncoderSettings:
    max_modes: int = 10
    weight_threshold: float = 0.005
    fit_sample: int = 5000
    mode_assignment: Literal["sample", "argmax"] = "argmax"
    max_point_masses: int = 20
    point_mass_fraction: float = 0.05
    derive_columns: bool = True
    seed: int = 0


@dataclass
class _EncoderFile:
    version: int
    settings: _EncoderSettings
    schema: dict[str, Any]
    columns: list[dict[str, Any]]
    derived: list[Derived] = field(default_factory=list)  # none in files before it existed


@dataclass
class _CategoricalColumn:
    name: str
    kind: Literal["categorical"]
    categories: list[Any]
    missing: bool


@dataclass
class _NumericColumn:
    name: str
    kind: Literal["continuous", "datetime"]
    loc: float
    scale: float
    means: list[float]
    stds: list[float]
    weights: list[float]
    point_masses: list[float]
    missing: bool
    min: float
    max: float
    integer: bool


def _pair_columns(
    columns: list[dict[str, Any]], schema: TableSchema, where: str
) -> list[tuple[dict[str, Any], Any]]:
    """Each encoded column with the schema column of the same position, name and kind."""
    names = [str(c.get("name")) for c in columns]
    if names != schema.names:
        missing = [n for n in schema.names if n not in names]
        extra = [n for n in names if n not in schema.names]
        detail = (
            f"the schema's column {missing[0]!r} is not encoded"
            if missing
            else f"column {extra[0]!r} is not in the schema"
            if extra
            else "the columns are in another order than the schema's"
        )
        raise AugmentError(f"{where}: {detail}")
    return list(zip(columns, schema.columns, strict=True))


def _check_column(col: dict[str, Any], spec: Any, where: str) -> dict[str, Any]:
    """One encoded column, checked; returned as the plain dict the encoder works with."""
    path = f"columns[{col.get('name')!r}]"
    if col.get("kind") != spec.kind:
        raise AugmentError(
            f"{where}: {path} is encoded as {col.get('kind')!r} but the schema says {spec.kind!r}"
        )
    if spec.kind == "categorical":
        checked = asdict(from_json(_CategoricalColumn, col, where, path=path))
        if checked["categories"] != spec.categories:  # the schema's are checked
            raise AugmentError(f"{where}: {path} lists other categories than the schema")
        return checked
    checked = asdict(from_json(_NumericColumn, col, where, path=path))
    modes = len(checked["means"])
    if not len(checked["stds"]) == len(checked["weights"]) == modes:
        raise AugmentError(f"{where}: {path} needs as many means, stds and weights")
    if modes + len(checked["point_masses"]) == 0:
        raise AugmentError(f"{where}: {path} has no modes (no means and no point masses)")
    if checked["scale"] <= 0 or any(s <= 0 for s in checked["stds"]):
        raise AugmentError(f"{where}: {path} needs a positive scale and positive stds")
    if any(w <= 0 for w in checked["weights"]) or (
        modes and not math.isclose(sum(checked["weights"]), 1, rel_tol=1e-3)
    ):
        raise AugmentError(f"{where}: {path} needs positive mode weights that sum to 1")
    if checked["min"] > checked["max"]:
        raise AugmentError(f"{where}: {path} has min above max")
    return checked
