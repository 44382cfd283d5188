"""TabGAN's training budget on UCI Adult, scored on a validation split (never adult.test).

For choosing defaults and judging shorter budgets (issue 12's "a fit in 1/30 of CTGAN's time"):
adult.data is split once, seeded, 80/20; each configuration trains on the 80% per seed, samples
as many rows in the real class mix, and is scored as ``tabular_adult.py`` scores: SDMetrics
quality against the 80% it trained on, and train-on-synthetic macro-F1 and ROC-AUC of
HistGradientBoosting on the held-out 20%.

    python3 benchmarks/tabgan_adult_budget.py --seeds 0 \\
        --configs '{"default": {}, "3000 steps": {"max_steps": 3000}}'

``--calibration-knots 0,100,1000`` also scores each fit's rows sampled again with its marginal
calibration (``augment/tabular/calibration.py``) refitted at that many knots (0: none), the
same generator and seed: an exact pairing of the calibration's effect. A count ending in ``i``
(``1000i``) refits it with every column interpolated (``calibration_steps`` off).

``--untilted`` also scores each fit's rows drawn without TabGAN's categorical tilt (the same
seed): an exact pairing of the tilt's effect (``augment/tabular/tilting.py``; its prior is a
setting in ``--configs``).

``--snapshots EVERY`` also scores the EMA generator every EVERY steps while it trains (as it
would be kept if training stopped there): train-on-synthetic macro-F1 on the rows it trains on (a
criterion that model selection may use) and on the validation split; then the snapshot that
criterion picks, and rows drawn in equal shares from the last 2 and 4 snapshots, against the
final generator alone.

Without ``../shared/datasets/adult`` the built-in copy of adult.data is used.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
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
    warm_lazy_imports,
)

from augment.core.files import write_json
from augment.registry import make_synthesizer
from augment.tabular import gan as tabgan

SPLIT_SEED = 12345  # the 80/20 split of adult.data, fixed across configurations and seeds
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tabgan_adult_budget.json"


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(frame))
    cut = int(0.8 * len(frame))
    rows = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    return tuple(part.reset_index(drop=True) for part in rows)  # type: ignore[return-value]


def run(name: str, params: dict[str, Any], seed: int, train: pd.DataFrame,
        validation: pd.DataFrame, schema: Any, curated: bool,
        snapshots: int = 0, knots: Sequence[str] = (),
        untilted: bool = False) -> dict[str, Any]:  # fmt: skip
    labels = np.random.default_rng(seed).permutation(train[LABEL].to_numpy(dtype=object))
    kept: dict[int, Any] = {}
    synth = _Snapshotting(kept, **params) if snapshots else make_synthesizer("tabgan", params)
    started = time.perf_counter()
    summary = synth.fit(
        train, schema, seed=seed, device="cpu", progress=False,
        curves=_NoCurves() if snapshots else None, fidelity_every=snapshots,
    )  # fmt: skip
    fit_seconds = time.perf_counter() - started  # with the snapshots' copies, when asked
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
    if snapshots:
        record["snapshots"] = score_snapshots(kept, synth, labels, seed, train, validation, schema)
    if untilted:
        drawn = synth.without_tilt().sample(labels, seed=seed)
        record["untilted"] = {**quality(train, drawn, schema), **tstr(drawn, validation, schema)}
    if knots:
        record["calibrations"] = score_calibrations(knots, synth, labels, seed, train,
                                                    validation, schema)  # fmt: skip
    return record


def score_calibrations(knots: Sequence[str], synth: Any, labels: np.ndarray, seed: int,
                       train: pd.DataFrame, validation: pd.DataFrame,
                       schema: Any) -> dict[str, Any]:  # fmt: skip
    """Quality and TSTR of the fit's rows sampled again (same seed) with its calibration
    refitted at each count of ``knots`` (0: none; ``i`` after it: no stepped columns), as fit()
    fits it (same rows, same seed)."""
    out = {}
    for knot in knots:
        synth.calibration = None
        count = int(knot.removesuffix("i"))
        if count:
            config = dataclasses.replace(
                synth.config,
                calibration_knots=count,
                tilt_categories=False,
                calibration_steps=not knot.endswith("i"),
            )  # the model keeps its own
            synth.calibration, _ = tabgan._corrections(synth.encoder, synth.layout,
                                                       synth.generator, train, None, config,
                                                       seed)  # fmt: skip
        rows = synth.sample(labels, seed=seed)
        out[knot] = {**quality(train, rows, schema), **tstr(rows, validation, schema)}
    return out


class _NoCurves:
    """Training curves that go nowhere: fit() probes the generator only when it logs them."""

    def curve(self, step: int, values: dict[str, float]) -> None:
        pass


class _Snapshotting(tabgan.TabGAN):
    """TabGAN whose fidelity probe keeps a sampling copy of the EMA generator as it would be
    kept if training stopped at that step (BatchNorm re-measured; on forked random streams, so
    training takes the same path)."""

    def __init__(self, kept: dict[int, Any], **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self._kept = kept

    def _fidelity_probe(self, task, encoder, data, schema, seed, rows=1000):  # type: ignore[override]
        def probe(step: int) -> dict[str, float]:
            generator = copy.deepcopy(task.final_generator())
            network = tabgan.sampling_network(generator, task.layout, self.config.precision)
            self._kept[step] = (network, task.layout)
            return {}

        return probe


def score_snapshots(kept: dict[int, Any], synth: Any, labels: np.ndarray, seed: int,
                    train: pd.DataFrame, validation: pd.DataFrame,
                    schema: Any) -> dict[str, Any]:  # fmt: skip
    """Train-on-synthetic macro-F1 of each snapshot's rows on the training rows and on the
    validation split; then the snapshot the training rows pick, and rows drawn in equal shares
    from the last 2 and the last 4 snapshots."""
    codes = tabgan.label_codes(synth.encoder, schema, labels)

    def rows_from(steps: list[int]) -> pd.DataFrame:
        shares = np.array_split(np.arange(len(codes)), len(steps))
        parts = []
        for i, (step, share) in enumerate(zip(steps, shares, strict=True)):
            network, layout = kept[step]
            chunks = tabgan.generate_rows(network, layout, codes[share], seed + i)
            parts.append(tabgan.decode_rows(synth.encoder, chunks))
        return pd.concat(parts, ignore_index=True)

    per_step = {}
    for step in sorted(kept):
        rows = rows_from([step])
        per_step[step] = {
            "train_macro_f1": tstr(rows, train, schema)["macro_f1"],
            "validation_macro_f1": tstr(rows, validation, schema)["macro_f1"],
        }
    steps = sorted(kept)
    picked = max(steps, key=lambda s: per_step[s]["train_macro_f1"])
    out: dict[str, Any] = {"per_step": per_step, "picked_step": picked,
                           "picked": per_step[picked]["validation_macro_f1"]}  # fmt: skip
    for k in (2, 4):
        if len(steps) >= k:
            mixed = rows_from(steps[-k:])
            out[f"last_{k}"] = {**tstr(mixed, validation, schema), **quality(train, mixed, schema)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", required=True, help="JSON object: name -> TabGAN settings")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--adult-dir", type=Path, default=DEFAULT_ADULT_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--curated", action="store_true", help="also score rows curated as generate --curate does"
    )
    parser.add_argument(
        "--snapshots", type=int, default=0, metavar="EVERY",
        help="also score the EMA generator every EVERY steps, and mixtures of its last snapshots",
    )  # fmt: skip
    parser.add_argument(
        "--calibration-knots", default="", metavar="K,...",
        help="also score each fit resampled with its calibration at K knots (0: none; Ki: "
        "interpolated, no stepped columns)",
    )  # fmt: skip
    parser.add_argument(
        "--untilted", action="store_true", help="also score each fit's rows drawn without the tilt"
    )
    args = parser.parse_args(argv)
    knots = [k for k in args.calibration_knots.split(",") if k]
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
    warm_lazy_imports()  # else the first fit's time includes them
    for name, params in configs.items():
        for seed in seeds:
            record = run(name, params, seed, train, validation, schema, args.curated,
                         args.snapshots, knots, args.untilted)  # fmt: skip
            results["runs"].append(record)
            print(
                f"{name} seed {seed}: {record['steps']} steps, {record['fit_seconds']} s, "
                f"quality {record['quality']:.3f} (pairs {record['pair_trends']:.3f}), "
                f"TSTR macro-F1 {record['macro_f1']:.3f}"
                + (f", curated {record['curated']['macro_f1']:.3f}" if args.curated else "")
                + (_snapshot_brief(record["snapshots"]) if args.snapshots else "")
                + (
                    f"; untilted {record['untilted']['quality']:.3f}"
                    f" / {record['untilted']['macro_f1']:.3f}"
                    if args.untilted
                    else ""
                )
                + "".join(
                    f"; {k} knots {c['quality']:.3f} / {c['macro_f1']:.3f}"
                    for k, c in record.get("calibrations", {}).items()
                ),
                flush=True,
            )
            write_json(args.out, results)
    return 0


def _snapshot_brief(snapshots: dict[str, Any]) -> str:
    mixes = "".join(
        f", last {k} mixed {snapshots[f'last_{k}']['macro_f1']:.3f}"
        for k in (2, 4)
        if f"last_{k}" in snapshots
    )
    return f"; step {snapshots['picked_step']} picked {snapshots['picked']:.3f}{mixes}"


if __name__ == "__main__":
    raise SystemExit(main())
