"""Per-class tilting of a trained generator's categorical columns onto the training rows' shares.

Given its class, the generator draws that class's typical categories and drops the rest: on the
default Adult model P(>50K | Masters) is 0.565 in the training rows and 0.985 in generated
ones, and its ``<=50K`` rows hold almost no Masters (BENCHMARKS.md, "Why train-on-synthetic
lags"). A classifier trained on such rows learns boundaries that are too sharp.

So after training, each categorical column's logits get one offset per class and category,
solved so that the column's expected category shares over the generator's draws of that class
equal the targets (exponential tilting: ``p(category | row) * exp(offset)``, renormalised). The
offsets are a per-class bias on the generator's output, folded into the sampling network
(:class:`augment.tabular.networks.SamplingNetwork`), so sampling costs nothing more. The
generator's other outputs (numeric columns, modes) are unchanged, and given the generator's
hidden state its columns are drawn independently, so matching one column's shares leaves the
others' as they were: each column is solved on its own.

The targets are the training rows' category shares per class, shrunk towards the generator's
own by ``prior_rows`` rows, so that a class of a few real rows is not pinned to its noisy
shares. On Adult's validation split (8 seeds, the same fits) tilting gave train-on-synthetic
macro-F1 0.787 and quality 0.962, against 0.783 and 0.956 for the raking it replaced (each row
kept from 4 candidates by raking weights, at 4 times the sampling cost) and 0.760 and 0.910
for neither (BENCHMARKS.md, "Tilting").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from augment.errors import AugmentError
from augment.tabular.encoder import SpanLayout, TableEncoder

PASSES = 200  # the most passes of the offsets' solver (see solve_offsets)
TOLERANCE = 1e-6  # largest share error at which the solver stops
# Largest offset in a model file: e^30 is beyond any share a float can tell from 0 or 1.
MAX_OFFSET = 30.0
# How far a column's saved raking target shares may sum away from 1 (models saved before tilting).
SUM_TOLERANCE = 1e-6


class CategoryTilt(nn.Module):
    """Logit offsets of the categorical columns ``columns`` (not the label) per class.

    ``positions``: the columns' places among the softmax spans (rows of decoded ``choices``);
    ``widths``: their categories (a missing value is the last). Buffer (saved with the
    generator's weights): ``offsets`` ``(classes, sum(widths))`` float32, added to the class's
    logits of each column."""

    def __init__(
        self, columns: list[str], positions: list[int], widths: list[int], classes: int
    ) -> None:
        super().__init__()
        self.columns, self.positions = list(columns), list(positions)
        edges = np.cumsum([0, *widths])
        self.blocks = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        self.register_buffer("offsets", torch.zeros(classes, int(edges[-1])))

    @classmethod
    def for_encoder(cls, encoder: TableEncoder, classes: int) -> CategoryTilt:
        """An unfitted (zero) tilt of ``encoder``'s categorical columns other than the label."""
        softmax = [s for s in encoder.spans if s.kind == "softmax"]
        label = encoder.schema.label
        tilted = [
            (i, s) for i, s in enumerate(softmax) if s.role == "category" and s.column != label
        ]
        return cls(
            [s.column for _, s in tilted], [i for i, _ in tilted], [s.width for _, s in tilted],
            classes,
        )  # fmt: skip

    @property
    def active(self) -> bool:
        """Whether there is anything to tilt (a table with categorical columns)."""
        return bool(self.columns)

    @property
    def classes(self) -> int:
        return self.offsets.shape[0]

    def fit(
        self,
        logits: Callable[[int], torch.Tensor],
        layout: SpanLayout,
        real: np.ndarray,
        real_classes: np.ndarray,
        prior_rows: float,
    ) -> CategoryTilt:
        """Offsets from the training rows' choices ``real`` (``(softmax spans, rows)``, as
        decoded) and their classes, and ``logits(c)``: the generator's raw outputs
        ``(data_dim, rows)`` for rows of class ``c``."""

        def target(c: int, position: int, lo: int, hi: int, own: torch.Tensor) -> torch.Tensor:
            counts = np.bincount(real[position, real_classes == c], minlength=hi - lo)
            return shrunk_shares(torch.from_numpy(counts).double(), own, prior_rows)

        return self._solve(logits, layout, target)

    def from_targets(
        self, logits: Callable[[int], torch.Tensor], layout: SpanLayout, target: torch.Tensor
    ) -> CategoryTilt:
        """Offsets for given target shares ``(classes, sum(widths))``: a model saved with the
        raking that tilting replaced kept its targets only."""
        return self._solve(logits, layout, lambda c, _, lo, hi, own: target[c, lo:hi].double())

    def _solve(
        self,
        logits: Callable[[int], torch.Tensor],
        layout: SpanLayout,
        target: Callable[[int, int, int, int, torch.Tensor], torch.Tensor],
    ) -> CategoryTilt:
        """Each column's offsets for each class ``c``, onto ``target(c, position, lo, hi,
        own)`` (the column's place among the softmax spans, its block of the offsets, and
        ``own``, the generator's expected shares of it)."""
        for c in range(self.classes):
            raw = logits(c)
            for position, (lo, hi) in zip(self.positions, self.blocks, strict=True):
                start, stop = layout.choice_spans[position]
                column = raw[start:stop].double()
                own = torch.softmax(column, 0).mean(1)
                shares = target(c, position, lo, hi, own)
                self.offsets[c, lo:hi] = solve_offsets(column, shares).float()
        return self

    def check(self, where: str) -> None:
        """Offsets must be finite and bounded: a tampered file could make NaN shares."""
        offsets = self.offsets
        if not bool(torch.isfinite(offsets).all()) or bool((offsets.abs() > MAX_OFFSET).any()):
            raise AugmentError(
                f"{where}: tilt.offsets holds a value that is not a number within ±{MAX_OFFSET:g}"
            )

    def output_offsets(self, layout: SpanLayout) -> torch.Tensor:
        """The offsets as a per-class bias on the generator's outputs, ``(data_dim, classes)``:
        zero outside the tilted columns' spans."""
        out = torch.zeros(layout.data_dim, self.classes)
        for position, (lo, hi) in zip(self.positions, self.blocks, strict=True):
            start, stop = layout.choice_spans[position]
            out[start:stop] = self.offsets[:, lo:hi].T.cpu()
        return out


class RakingTargets(nn.Module):
    """What a model saved with the raking that tilting replaced kept of it: its target shares
    ``target`` ``(classes, sum(widths))`` float64, laid out as ``tilt``'s offsets."""

    def __init__(self, tilt: CategoryTilt) -> None:
        super().__init__()
        self.columns, self.blocks = tilt.columns, tilt.blocks
        self.register_buffer("target", torch.zeros(tilt.offsets.shape, dtype=torch.float64))

    def check(self, where: str) -> None:
        """Each target must be a distribution."""
        target = self.target
        if not bool((target >= 0).all()):  # NaN too
            raise AugmentError(f"{where}: raking.target holds a negative share")
        for (lo, hi), column in zip(self.blocks, self.columns, strict=True):
            if bool(((target[:, lo:hi].sum(dim=1) - 1).abs() > SUM_TOLERANCE).any()):
                raise AugmentError(
                    f"{where}: raking.target's shares of column {column!r} do not sum to 1"
                )


def shrunk_shares(counts: torch.Tensor, own: torch.Tensor, prior_rows: float) -> torch.Tensor:
    """The category shares of ``counts`` real rows, shrunk towards the generator's shares
    ``own`` by ``prior_rows`` rows (``own`` alone where there are neither)."""
    total = counts.sum() + prior_rows
    return (counts + prior_rows * own) / total if total > 0 else own


def solve_offsets(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Offsets ``d`` (one per row of ``logits`` ``(width, rows)``) such that the mean over
    rows of ``softmax(logits + d)`` is ``target`` (Berry's contraction: each pass multiplies a
    category's odds by its target over its share). A category the target lacks is tilted to
    nothing (``-MAX_OFFSET``)."""
    offsets = torch.zeros_like(target)
    live = target > 0
    offsets[~live] = -MAX_OFFSET
    for _ in range(PASSES):
        shares = torch.softmax(logits + offsets[:, None], 0).mean(1)
        if float((shares - target)[live].abs().max()) < TOLERANCE:
            break
        # A share that underflowed to 0 is raised as far as a pass can, not to infinity.
        offsets[live] += torch.log(target[live] / shares[live].clamp_min(1e-300))
        offsets -= offsets[live].max()  # softmax ignores a common shift
        offsets.clamp_(-MAX_OFFSET, 0)
    return offsets
