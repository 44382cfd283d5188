"""TabGAN's training budget on UCI Adult, scored on a validation split (never adult.test).

For choosing defaults and judging shorter budgets (issue 12's "a fit in 1/30 of CTGAN's time"):
adult.data is split once, seeded, 80/20; each configuration trains on the 80% per seed, samples
as many rows in the real class mix, and is scored as ``tabular_adult.py`` scores: SDMetrics
quality against the 80% it trained on, and train-on-synthetic macro-F1 and ROC-AUC of
HistGradientBoosting on the held-out 20%.

    python3 benchmarks/tabgan_adult_budget.py --seeds 0 \\
        --configs '{"default": {}, "3000 steps": {"max_steps": 3000}}'

Without ``../shared/datasets/adult`` the built-in copy of adult.data is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine import cpu_model  # benchmarks/machine.py, beside this script
from tabular_adult import (
    DEFAULT_ADULT_DIR,
    LABEL,
    adult_schema,
    curated_tstr,
    load_data,
    quality,
    tstr,
)

from augment.core.files import write_json
from augment.registry import make_synthesizer

SPLIT_SEED = 12345  # the 80/20 split of adult.data, fixed across configurations and seeds
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tabgan_adult_budget.json"


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(frame))
    cut = int(0.8 * len(frame))
    rows = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    return tuple(part.reset_index(drop=True) for part in rows)  # type: ignore[return-value]


def run(name: str, params: dict[str, Any], seed: int, train: pd.DataFrame,
        validation: pd.DataFrame, schema: Any, curated: bool) -> dict[str, Any]:  # fmt: skip
    synth = make_synthesizer("tabgan", params)
    started = time.perf_counter()
    summary = synth.fit(train, schema, seed=seed, device="cpu", progress=False)
    fit_seconds = time.perf_counter() - started
    labels = np.random.default_rng(seed).permutation(train[LABEL].to_numpy(dtype=object))
    synthetic = synth.sample(labels, seed=seed)
    record = {
        "name": name,
        "params": params,
        "seed": seed,
        "steps": summary["steps"],
        "fit_seconds": round(fit_seconds, 1),
        **quality(train, synthetic, schema),
        **tstr(synthetic, validation, schema),
    }
    if curated:
        record["curated"] = curated_tstr(synth, labels, seed, train, validation, schema)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", required=True, help="JSON object: name -> TabGAN settings")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--adult-dir", type=Path, default=DEFAULT_ADULT_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--curated", action="store_true", help="also score rows curated as generate --curate does"
    )
    args = parser.parse_args(argv)
    configs = json.loads(args.configs)
    seeds = [int(s) for s in args.seeds.split(",")]
    full, _test, source = load_data(args.adult_dir)  # adult.test is never read here
    train, validation = split(full)
    schema = adult_schema(full)
    results = {
        "command": " ".join(sys.argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": cpu_model(),
        "data": source,
        "rows": {"train": len(train), "validation": len(validation)},
        "runs": [],
    }
    for name, params in configs.items():
        for seed in seeds:
            record = run(name, params, seed, train, validation, schema, args.curated)
            results["runs"].append(record)
            print(
                f"{name} seed {seed}: {record['steps']} steps, {record['fit_seconds']} s, "
                f"quality {record['quality']:.3f} (pairs {record['pair_trends']:.3f}), "
                f"TSTR macro-F1 {record['macro_f1']:.3f}"
                + (f", curated {record['curated']['macro_f1']:.3f}" if args.curated else ""),
                flush=True,
            )
            write_json(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
