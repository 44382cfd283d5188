"""How a trained table model's rows tie the label to each categorical column, against the
training rows: P(class | category) in both, per categorical column.

Given a model folder (``augment train``'s output) and its prepared data (``augment ingest``'s),
the model samples as many rows as the training split holds, in its class mix (seeded), and for
each categorical column the script prints the largest categories' share of the class
``--positive`` among the training rows and among the generated ones, and one number per
column: the gap ``sum_k share_k |P_syn(positive | k) - P_real(positive | k)|`` weighted by the
training rows' category shares. Reads the training split only.

Usage:
    python3 benchmarks/tabgan_label_shares.py --model models/tabular --data data/prepared \\
        --positive '>50K' --out /tmp/shares.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.files import write_json
from augment.registry import load_synthesizer
from augment.tabular.bundle import TabularBundle


def label_shares(
    real: pd.DataFrame, synthetic: pd.DataFrame, column: str, label: str, positive: Any
) -> pd.DataFrame:
    """Per category of ``column``: its share of the real rows, and P(positive | category) in
    the real and the synthetic rows (categories absent from the synthetic rows: NaN)."""

    def rate(frame: pd.DataFrame) -> pd.Series:
        return frame.groupby(column, observed=True)[label].agg(
            lambda s: float((s == positive).mean())
        )

    table = pd.DataFrame(
        {
            "share": real[column].value_counts(normalize=True),
            "p_real": rate(real),
            "p_synthetic": rate(synthetic),
        }
    )
    return table.sort_values("share", ascending=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the model's prepared data")
    p.add_argument("--positive", required=True, help="the class whose share is compared")
    p.add_argument("--top", type=int, default=6, help="categories printed per column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    bundle = TabularBundle.load(args.data)
    real, schema = bundle.train, bundle.schema
    label = schema.label
    model = load_synthesizer(args.model, "cpu")
    labels = np.random.default_rng(args.seed).permutation(real[label].to_numpy(dtype=object))
    synthetic = model.sample(labels, seed=args.seed)
    result: dict[str, Any] = {"model": str(args.model), "positive": args.positive, "columns": {}}
    for column in [c.name for c in schema.columns if c.kind == "categorical" and c.name != label]:
        table = label_shares(real, synthetic, column, label, args.positive)
        gap = float((table["share"] * (table["p_synthetic"] - table["p_real"]).abs()).sum())
        result["columns"][column] = {"gap": round(gap, 4), "top": table.head(args.top).round(3)}
        print(f"== {column}: gap {gap:.3f}\n{table.head(args.top).round(3).to_string()}")
    gaps = [c["gap"] for c in result["columns"].values()]
    result["mean_gap"] = round(float(np.mean(gaps)), 4) if gaps else None
    print(f"mean gap over {len(gaps)} columns: {result['mean_gap']}")
    if args.out:
        for entry in result["columns"].values():
            entry["top"] = json.loads(entry["top"].to_json(orient="index"))
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
