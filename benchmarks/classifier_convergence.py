"""Does classic augmentation stop losing when the downstream CNN trains to convergence?

For each prepared image bundle (``--data``, optionally cut to ``--per-class`` training images per
class, as the evaluation's low-data sweep does), fit the evaluation's CNN on ``real`` and
``real+classic`` over ``--seeds`` seeds in two modes, through the evaluation's own
:func:`~augment.images.evaluation.classifiers.fit_and_score`:

* ``fixed``: 300 optimizer steps whatever the set (``patience: null, epochs: null``, the
  behaviour before early stopping);
* ``early``: the evaluation's defaults: a budget of ``DEFAULT_EPOCHS`` passes (between ``steps``
  and ``max_steps``), early stopping on a seeded subset of the validation split with at most
  ``max(k, VALIDATION_FLOOR)`` images per class.

Seeds, subsets and validation images are drawn as ``evaluate_images`` draws them. Prints, per
bundle and mode, the paired macro-F1 gain of classic augmentation over real only (mean [95%
interval]), the real-only score, the mean steps and seconds per fit; writes the rows as JSON
(``--out``). The test split is only scored, never used to choose anything.

    python3 benchmarks/classifier_convergence.py --data /tmp/conv/digits --per-class 10 \\
        --seeds 5 --out benchmarks/results/classifier_convergence_digits10.json
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from augment.core.files import write_json
from augment.core.runtime import derive_seed
from augment.evaluation.stats import mean_ci, paired_gains
from augment.images.bundle import ImageBundle
from augment.images.evaluation.classifiers import (
    FitTask,
    fit_and_score,
    resolve_classifier,
    steps_cap,
)
from augment.images.evaluation.recipes import per_class_subset, validation_subset
from augment.images.evaluation.runner import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_MAX_STEPS,
    DEFAULT_PATIENCE,
    DEFAULT_STEPS,
    VALIDATION_FLOOR,
)


def run(
    data: str, per_class: int | None, seeds: int, modes: list[str], seed: int = 0
) -> list[dict]:
    bundle = ImageBundle.load(data)
    schema = bundle.schema
    train, test = bundle.train, bundle.test
    key = "all"
    if per_class:
        rng = np.random.default_rng(derive_seed(seed, "subset", per_class))
        train, key = per_class_subset(train, per_class, rng), str(per_class)
    num_classes = len(schema.classes)
    counts = np.bincount(train.labels, minlength=num_classes)
    val_rng = np.random.default_rng(derive_seed(seed, "validation", key))
    validation = validation_subset(bundle.split("validation"), counts, VALIDATION_FLOOR, val_rng)
    arch = resolve_classifier("auto", schema.size)
    rows = []
    for mode in modes:
        early = mode == "early"
        budget = (
            steps_cap(
                len(train),
                DEFAULT_BATCH_SIZE,
                epochs=DEFAULT_EPOCHS,
                floor=DEFAULT_STEPS,
                ceiling=DEFAULT_MAX_STEPS,
            )
            if early
            else DEFAULT_STEPS
        )
        scores: dict[str, list[float]] = {"real": [], "real+classic": []}
        steps: dict[str, list[int]] = {"real": [], "real+classic": []}
        seconds: dict[str, list[float]] = {"real": [], "real+classic": []}
        for s in range(seeds):
            for recipe in scores:
                task = FitTask(
                    arch=arch,
                    num_classes=num_classes,
                    steps=budget,
                    batch_size=DEFAULT_BATCH_SIZE,
                    seed=derive_seed(seed, "classifier", s),
                    augment=recipe == "real+classic",
                    flip=False,
                    device="cpu",
                    patience=DEFAULT_PATIENCE if early else None,
                    min_steps=DEFAULT_STEPS,
                )
                got, _, secs, _, log = fit_and_score(
                    task,
                    train.images,
                    train.labels,
                    test.images,
                    test.labels,
                    validation.images if early else None,
                    validation.labels if early else None,
                )
                scores[recipe].append(got["macro_f1"])
                steps[recipe].append(log.steps)
                seconds[recipe].append(secs)
                done = f"{log.steps} steps (best {log.best_step}), {secs:.1f} s"
                print(f"  {mode} seed {s} {recipe}: macro-F1 {got['macro_f1']:.4f}, {done}")
        gain = mean_ci(paired_gains(scores["real+classic"], scores["real"]))
        row = {
            "data": str(data),
            "block": key,
            "train_images": len(train),
            "validation_images": len(validation) if early else 0,
            "mode": mode,
            "budget": budget,
            "seeds": seeds,
            "real_macro_f1": float(np.mean(scores["real"])),
            "classic_macro_f1": float(np.mean(scores["real+classic"])),
            "classic_gain": gain,
            "steps": {r: float(np.mean(v)) for r, v in steps.items()},
            "seconds": {r: float(np.mean(v)) for r, v in seconds.items()},
            "per_seed": scores,
        }
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    g = row["classic_gain"]
    return (
        f"| {Path(row['data']).name} {row['block']} | {row['mode']} | {row['real_macro_f1']:.4f} "
        f"| {g['mean']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}] "
        f"| {row['steps']['real']:.0f} / {row['steps']['real+classic']:.0f} "
        f"| {row['seconds']['real']:.1f} / {row['seconds']['real+classic']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, action="append")
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", default="fixed,early", help="fixed, early or both")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    modes = args.modes.split(",")
    rows = [row for data in args.data for row in run(data, args.per_class, args.seeds, modes)]
    print("\n| data | mode | real macro-F1 | classic gain [95% CI] | steps real / classic "
          "| s per fit real / classic |\n|---|---|---|---|---|---|")  # fmt: skip
    for row in rows:
        print(_line(row))
    if args.out:
        out = {
            "machine": platform.processor() or platform.machine(),
            "threads": args.threads,
            "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
            "wall_s": round(time.time() - started, 1),
            "rows": rows,
        }
        write_json(args.out, out)


if __name__ == "__main__":
    main()
