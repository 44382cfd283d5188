"""Training-by-sampling (Xu et al. 2019), entirely with tensor ops on the training device.

Each draw picks a condition column (categorical, or numeric of a few values: see
``TableEncoder.layout``), then one of its categories (or values) by log-frequency, then a real
row holding it. The rows of every (column, category) pair are one flat index tensor
sorted by pair, with offsets and counts, so a batch is a handful of gathers: no numpy, no
per-row Python, no host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augment.tabular.encoder import SpanLayout


@dataclass
class Conditions:
    """One batch of conditions: the one-hot ``vector``, its ``column`` and ``category``, and
    ``rows``, real rows that satisfy it."""

    vector: torch.Tensor
    column: torch.Tensor
    category: torch.Tensor
    rows: torch.Tensor


class ConditionSampler:
    """Draws condition vectors (and matching real rows) for a batch.

    ``codes`` is ``(rows, condition columns)`` category indices, any integer type
    (``EncodedRows.choices`` at the layout's ``condition_choices``), on the device.
    ``label_weight``: probability of conditioning on the label column; ``None`` means uniform
    over columns, as in the paper.
    """

    def __init__(
        self,
        codes: torch.Tensor,
        layout: SpanLayout,
        *,
        log_frequency: bool = True,
        label_weight: float | None = None,
    ) -> None:
        n_rows, n_cols = codes.shape
        width = layout.cond_index.shape[1]
        device = codes.device
        # The rows of every (column, category) pair, one column after another, each column's
        # rows sorted by category: a stable sort keeps rows in order within a pair. Column by
        # column, and int32 where it fits, so ten million rows need no gigabytes of keys.
        index_type = torch.int32 if n_rows < 2**31 else torch.int64
        rows, counts = [], []
        for column in codes.T:
            column = column.long()
            rows.append(torch.argsort(column, stable=True).to(index_type))
            counts.append(torch.bincount(column, minlength=width))
        self.rows = torch.cat(rows)
        counts = torch.cat(counts)
        self.offsets = (torch.cumsum(counts, 0) - counts).reshape(n_cols, width)
        self.counts = counts.reshape(n_cols, width)

        weights = self.counts.double()
        if log_frequency:
            weights = torch.log1p(weights)  # log(count + 1): rare categories are seen often
        self.category_cdf = _cdf(weights)
        column_weights = torch.ones(n_cols, dtype=torch.float64, device=device)
        if label_weight is not None and n_cols > 1:
            column_weights.fill_((1 - label_weight) / (n_cols - 1))
            column_weights[layout.label_span] = label_weight
        self.column_cdf = _cdf(column_weights[None, :])[0]
        self.layout = layout
        self.device = device

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Conditions:
        u = torch.rand(3, batch, 1, device=self.device, generator=generator, dtype=torch.float64)
        column = (u[0] > self.column_cdf).sum(1)
        category = (u[1] > self.category_cdf[column]).sum(1)
        count = self.counts[column, category]
        pick = (u[2, :, 0] * count).long().minimum(count - 1)
        rows = self.rows[self.offsets[column, category] + pick]
        return Conditions(self.vector(column, category), column, category, rows)

    def vector(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """One-hot condition vectors; slot = the column's condition offset + the category."""
        return one_hot_condition(self.layout, column, category)


def one_hot_condition(
    layout: SpanLayout, column: torch.Tensor, category: torch.Tensor
) -> torch.Tensor:
    slot = (layout.cond_offset[column] + category).unsqueeze(1)
    vector = torch.zeros(len(column), layout.cond_dim, device=slot.device)
    return vector.scatter_(1, slot, 1.0)


def _cdf(weights: torch.Tensor) -> torch.Tensor:
    # Normalise by the last cumulative value so every row ends at exactly 1.0: a uniform draw
    # in [0, 1) can then never land past the last category with a non-zero weight.
    cumulative = torch.cumsum(weights, dim=1)
    return cumulative / cumulative[:, -1:]
