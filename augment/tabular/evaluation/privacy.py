"""Distance to closest record (DCR): do synthetic rows sit closer to the rows the GAN trained on
than to real rows it never saw?

For each synthetic row, the distance to its nearest row in a sample of the training split is
compared with the distance to its nearest row in an equally large sample of a real holdout (the
validation split, which the synthesizer never saw). If the synthesizer generalises, a synthetic
row is as likely to be nearer to either: the share closer to train is about 0.5. Well above 0.5
means synthetic rows copy or hug training rows (memorisation). Ties count one half.

The distance is Gower-like, on a mixed-type space: a continuous or datetime value is scaled to
[0, 1] by the column's range over train + holdout and contributes ``|a - b|``; a categorical
contributes 1 on a mismatch (missing is a category of its own); a continuous column with missing
values adds a missing-indicator that contributes 1 when exactly one side is missing (the value
itself is then the column median). The sum is divided by the number of feature columns (the label
included, as it is part of every row). Computed in chunks with torch (``cdist`` for the numbers,
a one-hot product for the mismatches), so memory stays bounded at about
``chunk x reference_rows`` floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.core.runtime import resolve_device
from augment.tabular.evaluation.classifiers import numeric_values
from augment.tabular.schema import TableSchema

CHUNK_ROWS = 2048


def dcr_report(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    max_rows: int = 2000,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """DCR share and medians.

    Train and holdout are subsampled to the same size ``n = min(len(train), len(holdout),
    max_rows)`` and at most ``max_rows`` synthetic rows are used. Returns
    ``{"share_closer_to_train", "median_dcr_synth_train", "median_dcr_synth_holdout",
    "median_dcr_holdout_train", "exact_copies", "rows"}``;
    ``median_dcr_holdout_train`` (real unseen rows to train) is the yardstick for
    ``median_dcr_synth_train``: a much smaller synthetic median means copying.
    """
    rng = np.random.default_rng(seed)
    n = min(len(train), len(holdout), max_rows)
    m = min(len(synthetic), max_rows)
    train_s = train.iloc[rng.choice(len(train), n, replace=False)]
    holdout_s = holdout.iloc[rng.choice(len(holdout), n, replace=False)]
    synth_s = synthetic.iloc[rng.choice(len(synthetic), m, replace=False)]

    dev = resolve_device(device)
    encode = _Encoder(schema, pd.concat([train_s, holdout_s], ignore_index=True))
    t_num, t_cat = encode(train_s, dev)
    h_num, h_cat = encode(holdout_s, dev)
    s_num, s_cat = encode(synth_s, dev)

    d_st = nearest_distance(s_num, s_cat, t_num, t_cat) / encode.width
    d_sh = nearest_distance(s_num, s_cat, h_num, h_cat) / encode.width
    d_ht = nearest_distance(h_num, h_cat, t_num, t_cat) / encode.width
    closer = (d_st < d_sh).double().mean().item() + 0.5 * (d_st == d_sh).double().mean().item()
    return {
        "share_closer_to_train": float(closer),
        "median_dcr_synth_train": float(d_st.median().item()),
        "median_dcr_synth_holdout": float(d_sh.median().item()),
        "median_dcr_holdout_train": float(d_ht.median().item()),
        "exact_copies": float((d_st == 0).double().mean().item()),
        "rows": {"train": n, "holdout": n, "synthetic": m},
    }


def nearest_distance(
    q_num: torch.Tensor,
    q_cat: torch.Tensor,
    r_num: torch.Tensor,
    r_cat: torch.Tensor,
    chunk: int = CHUNK_ROWS,
) -> torch.Tensor:
    """Unnormalised mixed distance from each query row to its nearest reference row.

    ``*_num`` are [0, 1]-scaled numbers (L1), ``*_cat`` one-hot blocks with exactly one 1 per
    categorical column: mismatches = n_categorical - <one-hot a, one-hot b>.
    """
    n_cat = float(q_cat.sum(dim=1)[0].item()) if q_cat.shape[0] and q_cat.shape[1] else 0.0
    out = []
    for start in range(0, q_num.shape[0], chunk):
        d = torch.zeros(
            (min(chunk, q_num.shape[0] - start), r_num.shape[0]),
            dtype=torch.float32,
            device=r_num.device,
        )
        if q_num.shape[1]:
            d += torch.cdist(q_num[start : start + chunk], r_num, p=1.0)
        if q_cat.shape[1]:
            d += n_cat - q_cat[start : start + chunk] @ r_cat.T
        out.append(d.clamp_min_(0).min(dim=1).values)
    if not out:
        return torch.empty(0)
    return torch.cat(out).cpu()


class _Encoder:
    """Fixed scaling and categories, fitted on train + holdout, applied to every table alike."""

    def __init__(self, schema: TableSchema, reference: pd.DataFrame) -> None:
        self.schema = schema
        self.lo: dict[str, float] = {}
        self.span: dict[str, float] = {}
        self.median: dict[str, float] = {}
        self.indicator: list[str] = []
        self.cats: dict[str, pd.Index] = {}
        for col in schema.columns:
            if col.kind == "categorical":
                values = reference[col.name].dropna().unique().tolist()
                self.cats[col.name] = pd.Index(
                    list(dict.fromkeys([*(col.categories or []), *values]))
                )
                continue
            values = numeric_values(reference[col.name], col.kind)
            present = values[~np.isnan(values)]
            lo, hi = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
            self.lo[col.name], self.span[col.name] = lo, (hi - lo) or 1.0
            self.median[col.name] = float(np.median(present)) if present.size else 0.0
            if col.has_missing or np.isnan(values).any():
                self.indicator.append(col.name)
        self.width = float(len(schema.columns))

    def __call__(
        self, frame: pd.DataFrame, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        nums, onehots = [], []
        for col in self.schema.columns:
            if col.kind == "categorical":
                index = self.cats[col.name]
                codes = index.get_indexer(frame[col.name].to_numpy(dtype=object))
                # Missing and never-seen values get their own slots: missing == missing.
                missing = frame[col.name].isna().to_numpy()
                codes = np.where(missing, len(index), np.where(codes < 0, len(index) + 1, codes))
                block = np.zeros((len(frame), len(index) + 2), dtype=np.float32)
                block[np.arange(len(frame)), codes] = 1.0
                onehots.append(block)
                continue
            values = numeric_values(frame[col.name], col.kind)
            missing = np.isnan(values)
            values = np.where(missing, self.median[col.name], values)
            nums.append(np.clip((values - self.lo[col.name]) / self.span[col.name], -1, 2))
            if col.name in self.indicator:
                nums.append(missing.astype(np.float64))
        num = np.stack(nums, axis=1) if nums else np.zeros((len(frame), 0))
        cat = np.concatenate(onehots, axis=1) if onehots else np.zeros((len(frame), 0))
        return (
            torch.as_tensor(num, dtype=torch.float32, device=device),
            torch.as_tensor(cat, dtype=torch.float32, device=device),
        )
