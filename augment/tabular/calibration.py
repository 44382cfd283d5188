"""Per-class calibration of a trained generator's numeric marginals onto the training rows'.

A GAN's marginals lag its joint structure: after 5,000 steps on Adult the generated ages' 25th
percentile was 23 against the real 28. After training, each numeric column's generated values
are mapped, within each class, through the generator's own distribution function onto the
training rows' quantiles, ``y = Q_real(F_generated(x))``, both held as ``knots`` quantiles
(``F_generated`` from a large sample drawn once, at the end of training). The map is monotone,
so within a class the generator's order of values, and with it the dependence between columns,
is kept. Ties (a point mass, a value clipped at a bound) are spread over their share of the
distribution by a seeded uniform, so a point mass of the wrong size is matched too.

The model then carries ``knots`` quantiles of each numeric column per class of its training
rows (as the encoder already carries each column's range and mixture). Categorical columns are
left alone: the generator's categories come with the rest of their row, which no map per column
could keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from augment.errors import AugmentError

# A class's column is calibrated only with this many observed values in the training rows (and
# in the calibration sample): fewer make quantiles that would pin generated values to a handful
# of real ones.
MIN_ROWS = 20


class MarginalCalibration(nn.Module):
    """The quantile maps of ``columns`` (numeric, in encoder order) for ``classes`` classes.

    Buffers (saved with the generator's weights): ``real`` and ``generated``, ``(classes,
    columns, knots)`` float64 quantiles at levels ``(k + 0.5) / knots``; ``active``
    ``(classes, columns)``, where a map was fitted (elsewhere values pass unchanged)."""

    def __init__(self, columns: list[str], classes: int, knots: int) -> None:
        super().__init__()
        self.columns = list(columns)
        shape = (classes, len(columns), knots)
        self.register_buffer("real", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("generated", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("active", torch.zeros(shape[:2], dtype=torch.bool))
        self._maps: list[_ColumnMap | None] | None = None  # built on first use, see apply()

    @property
    def knots(self) -> int:
        return self.real.shape[-1]

    def levels(self) -> np.ndarray:
        return (np.arange(self.knots) + 0.5) / self.knots

    @classmethod
    def fit(
        cls,
        real: dict[str, np.ndarray],
        real_classes: np.ndarray,
        generated: dict[str, np.ndarray],
        generated_classes: np.ndarray,
        classes: int,
        knots: int,
    ) -> MarginalCalibration:
        """Maps from the training rows' values ``real`` and a calibration sample's
        ``generated`` (floats per column, NaN for missing), with their class indices."""
        calibration = cls(list(real), classes, knots)
        levels = calibration.levels()
        real_rows = [np.flatnonzero(real_classes == c) for c in range(classes)]
        drawn_rows = [np.flatnonzero(generated_classes == c) for c in range(classes)]
        for j, name in enumerate(calibration.columns):
            for c in range(classes):
                observed = _observed(real[name][real_rows[c]])
                drawn = _observed(generated[name][drawn_rows[c]])
                if min(len(observed), len(drawn)) < MIN_ROWS:
                    continue
                calibration.real[c, j] = torch.from_numpy(np.quantile(observed, levels))
                calibration.generated[c, j] = torch.from_numpy(np.quantile(drawn, levels))
                calibration.active[c, j] = True
        return calibration

    def check(self, where: str) -> None:
        """Quantiles must be sorted: a tampered file would otherwise map values out of order."""
        for name in ("real", "generated"):
            steps = getattr(self, name).diff(dim=-1)
            if bool((steps[self.active] < 0).any()):
                raise AugmentError(f"{where}: calibration.{name} holds quantiles out of order")

    def apply(
        self, raw: dict[str, np.ndarray], classes: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Map the numeric columns of decoded rows ``raw`` (floats, NaN: missing) in place;
        ``classes`` are the rows' class indices, ``rng`` breaks ties. The buffers must not
        change after the first call (their lookup tables are built once)."""
        if self._maps is None:
            self._maps = [_ColumnMap.build(self, j) for j in range(len(self.columns))]
        for name, table in zip(self.columns, self._maps, strict=True):
            if table is not None:
                raw[name] = table.map(raw[name], classes, rng)


@dataclass
class _ColumnMap:
    """One column's maps for every class as a few flat lookup tables, so that a chunk of rows
    of any classes is mapped in one interpolation (sorting a chunk by class and mapping class
    by class took 1.8 times as long).

    Class ``c``'s values are clipped to ``[low, high]`` and shifted by ``c * span``: its
    generated knots, shifted alike and fenced by ``low`` and ``high``, then map linearly onto
    its real knots (``xp`` -> ``fp``), which is ``Q_real(F_generated(x))`` between knots. A
    value equal to a knot repeated in the generated ones (a point mass) is looked up in
    ``tied`` instead; its level, drawn uniformly over the repeated knots' levels, is mapped
    through the real knots on a class-shifted level axis (``level_xp`` -> ``level_fp``)."""

    low: float
    high: float
    span: float
    knots: int
    active: np.ndarray  # (classes,) bool
    xp: np.ndarray
    fp: np.ndarray
    tied: np.ndarray  # shifted values of repeated knots, ascending
    tied_first: np.ndarray  # index of the first and one past the last knot equal to it
    tied_stop: np.ndarray
    tied_class: np.ndarray
    level_xp: np.ndarray
    level_fp: np.ndarray

    @classmethod
    def build(cls, calibration: MarginalCalibration, j: int) -> _ColumnMap | None:
        active = calibration.active[:, j].numpy()
        if not active.any():
            return None
        generated = calibration.generated[:, j].numpy()
        real = calibration.real[:, j].numpy()
        levels = calibration.levels()
        low, high = generated[active, 0].min(), generated[active, -1].max()
        span = high - low + 1.0
        xp, fp, level_xp, level_fp, tied, first, stop, owner = ([] for _ in range(8))
        for c in np.flatnonzero(active):
            knots, values, shift = generated[c], real[c], c * span
            xp += [[low + shift], knots + shift, [high + shift]]
            fp += [values[:1], values, values[-1:]]
            level_xp += [[2.0 * c], levels + 2.0 * c, [2.0 * c + 1]]
            level_fp += [values[:1], values, values[-1:]]
            distinct, starts, counts = np.unique(knots, return_index=True, return_counts=True)
            repeated = counts > 1
            tied.append(distinct[repeated] + shift)
            first.append(starts[repeated])
            stop.append(starts[repeated] + counts[repeated])
            owner.append(np.full(int(repeated.sum()), c))
        return cls(
            float(low), float(high), float(span), len(levels), active,
            *(np.concatenate(parts) for parts in (xp, fp, tied, first, stop, owner)),
            *(np.concatenate(parts) for parts in (level_xp, level_fp)),
        )  # fmt: skip

    def map(self, values: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # NaN (missing) passes through clip, interp and the tie test as NaN.
        shifted = np.clip(values, self.low, self.high) + self.span * classes
        out = np.interp(shifted, self.xp, self.fp)
        if len(self.tied):
            at = np.minimum(np.searchsorted(self.tied, shifted), len(self.tied) - 1)
            hits = np.flatnonzero(self.tied[at] == shifted)
            if len(hits):
                tie = at[hits]
                first, stop = self.tied_first[tie], self.tied_stop[tie]
                level = (first + rng.random(len(hits)) * (stop - first)) / self.knots
                out[hits] = np.interp(
                    level + 2.0 * self.tied_class[tie], self.level_xp, self.level_fp
                )
        if not self.active.all():
            passed = ~self.active[classes]
            out[passed] = values[passed]
        return out


def _observed(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)].astype(np.float64, copy=False)
