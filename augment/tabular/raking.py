"""Per-class raking of a trained generator's categorical columns onto the training rows' shares.

Given its class, the generator draws that class's typical categories and drops the rest: on the
default Adult model P(>50K | Masters) is 0.565 in the training rows and 0.985 in generated
ones, and its ``<=50K`` rows hold almost no Masters (BENCHMARKS.md, "Why train-on-synthetic
lags"). A classifier trained on such rows learns boundaries that are too sharp.

So at sampling, each row asked for is one of ``pool`` candidates of its class drawn by the
generator. A class's candidates are weighted by raking (iterative proportional fitting: each
categorical column's weighted category shares are matched to the targets in turn,
``ITERATIONS`` times, the weights capped at ``CAP`` times their mean), and as many as were asked
are kept without replacement, with probability proportional to the weight. Rows are kept whole,
so everything within a row stays the generator's.

The targets are the training rows' category shares per class, shrunk towards the generator's
own by ``prior_rows`` rows, so that a class of a few real rows is not pinned to its noisy shares.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from augment.errors import AugmentError
from augment.tabular.encoder import TableEncoder

ITERATIONS = 10  # raking passes over the columns (Adult: the weights settle within 10)
CAP = 20.0  # the largest weight, as a multiple of the mean: no candidate stands for too many
# How far a column's target shares may sum away from 1 in a model file.
SUM_TOLERANCE = 1e-6


class CategoryRaking(nn.Module):
    """Target category shares of the categorical columns ``columns`` (not the label) per class.

    ``positions``: the columns' rows in the decoded ``choices`` (among the softmax spans);
    ``widths``: their categories (a missing value is the last). Buffer (saved with the
    generator's weights): ``target`` ``(classes, sum(widths))`` float64, each class's block of a
    column a distribution."""

    def __init__(
        self, columns: list[str], positions: list[int], widths: list[int], classes: int
    ) -> None:
        super().__init__()
        self.columns, self.positions, self.widths = list(columns), list(positions), list(widths)
        edges = np.cumsum([0, *widths])
        self.blocks = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        self.register_buffer("target", torch.zeros(classes, int(edges[-1]), dtype=torch.float64))

    @classmethod
    def for_encoder(cls, encoder: TableEncoder, classes: int) -> CategoryRaking:
        """An unfitted raking of ``encoder``'s categorical columns other than the label."""
        softmax = [s for s in encoder.spans if s.kind == "softmax"]
        label = encoder.schema.label
        raked = [
            (i, s) for i, s in enumerate(softmax) if s.role == "category" and s.column != label
        ]
        return cls(
            [s.column for _, s in raked], [i for i, _ in raked], [s.width for _, s in raked],
            classes,
        )  # fmt: skip

    @property
    def active(self) -> bool:
        """Whether there is anything to rake (a table with categorical columns)."""
        return bool(self.columns)

    def fit(
        self,
        real: np.ndarray,
        real_classes: np.ndarray,
        generated: np.ndarray,
        generated_classes: np.ndarray,
        prior_rows: float,
    ) -> CategoryRaking:
        """Targets from the training rows' choices ``real`` and a sample's ``generated`` (both
        ``(softmax spans, rows)``, as decoded), with their class indices."""
        for c in range(self.target.shape[0]):
            mine, drawn = real_classes == c, generated_classes == c
            for position, (lo, hi) in zip(self.positions, self.blocks, strict=True):
                width = hi - lo
                counts = np.bincount(real[position, mine], minlength=width).astype(np.float64)
                own = np.bincount(generated[position, drawn], minlength=width).astype(np.float64)
                own = own / own.sum() if own.sum() else np.full(width, 1.0 / width)
                total = counts.sum() + prior_rows
                shares = (counts + prior_rows * own) / total if total else own
                self.target[c, lo:hi] = torch.from_numpy(shares)
        return self

    def check(self, where: str) -> None:
        """Each target must be a distribution: a tampered file would weight rows at random."""
        target = self.target
        if bool((target < 0).any()):
            raise AugmentError(f"{where}: raking.target holds a negative share")
        for (lo, hi), column in zip(self.blocks, self.columns, strict=True):
            sums = target[:, lo:hi].sum(dim=1)
            if bool(((sums - 1).abs() > SUM_TOLERANCE).any()):
                raise AugmentError(
                    f"{where}: raking.target's shares of column {column!r} do not sum to 1"
                )

    def weights(self, choices: np.ndarray, c: int) -> np.ndarray:
        """Raking weights (mean 1) of candidates of class ``c`` with decoded ``choices``."""
        target = self.target[c].numpy()
        weight = np.ones(choices.shape[1])
        codes = [choices[position] for position in self.positions]
        for _ in range(ITERATIONS):
            for code, (lo, hi) in zip(codes, self.blocks, strict=True):
                wanted = target[lo:hi]
                share = np.bincount(code, weights=weight, minlength=hi - lo) / weight.sum()
                # A category the target lacks (no prior, absent in the class's training rows)
                # is left as drawn rather than removed.
                usable = (share > 0) & (wanted > 0)
                ratio = np.ones(hi - lo)
                ratio[usable] = wanted[usable] / share[usable]
                weight *= ratio[code]
                weight = np.minimum(weight / weight.mean(), CAP)
        return weight

    def select(
        self,
        choices: np.ndarray,
        candidates: np.ndarray,
        wanted: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Indices of candidates to keep, one per entry of ``wanted`` (class indices) and of
        its class, without replacement: of a class's candidates each is kept with probability
        proportional to its raking weight (:func:`proportional_sample`). The kept ones go to
        the class's entries in the candidates' order: candidates are independent draws, so
        that order is a random one."""
        keep = np.empty(len(wanted), dtype=np.int64)
        for c in np.unique(wanted):
            at = np.flatnonzero(wanted == c)
            pool = np.flatnonzero(candidates == c)
            weights = self.weights(choices[:, pool], int(c))
            keep[at] = pool[np.sort(proportional_sample(weights, len(at), rng))]
        return keep


def proportional_sample(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices, index ``i`` kept with probability proportional to
    ``weights[i]`` (capped at 1: the heaviest are then always kept and the rest share what is
    left). Systematic sampling over a random order gives these probabilities exactly; drawing
    one by one without replacement (numpy's ``choice``) keeps heavy rows less often than their
    weight says: on a pool ten times the sample, a category raked from 8% to 20% ended at 18%.
    """
    n = len(weights)
    if k > n:
        raise AugmentError(f"raking: {n} candidates for {k} rows")
    if k == n:
        return np.arange(n)
    inclusion = np.zeros(n)
    free = np.ones(n, dtype=bool)  # not yet capped at 1
    while True:
        left = k - (n - free.sum())
        inclusion[free] = left * weights[free] / weights[free].sum()
        over = free & (inclusion >= 1)
        if not over.any():
            break
        inclusion[over], free[over] = 1.0, False
    order = rng.permutation(n)
    edges = np.cumsum(inclusion[order])
    edges *= k / edges[-1]  # exactly k, whatever the rounding
    points = rng.random() + np.arange(k)
    return order[np.searchsorted(edges, points, side="right")]
