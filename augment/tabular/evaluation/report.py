"""Write an evaluation's outputs, each atomically: metrics JSON (``dvc metrics``), plot CSVs
(``dvc plots``), a Markdown summary whose first line is the verdict, and optionally every number.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from augment.core.files import write_json, write_text
from augment.evaluation.output import ci3, ci_cell, json_ready, plural, rounded, write_csv
from augment.evaluation.recipes import REAL, SYNTH, recipe_ratio, synth_recipe
from augment.evaluation.stats import METRIC_LABELS, METRICS
from augment.tabular.evaluation.recipes import SMOTE

LONG_COLUMNS = ["fraction", "recipe", "ratio", "classifier", "metric", "mean", "low", "high", "n"]


def write_evaluation(
    result: dict[str, Any],
    *,
    metrics: str | Path = "metrics/tabular.json",
    plots: str | Path = "plots/tabular",
    summary: str | Path = "reports/summary.md",
    gains: str | Path | None = None,
    details: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``metrics`` (JSON), ``plots/gain_vs_ratio.csv``, ``plots/gain_vs_fraction.csv``,
    ``summary`` (Markdown) and, if given, ``gains`` (every paired gain, long CSV) and ``details``
    (the whole result as JSON, per-seed scores included).

    The long table is not written into ``plots`` by default: DVC renders every file of a plots
    folder, and a long table makes a meaningless default plot."""
    plots = Path(plots)
    out = {
        "metrics": write_json(metrics, json_ready(metrics_json(result))),
        "gain_vs_ratio": write_csv(plots / "gain_vs_ratio.csv", gain_vs_ratio(result)),
        "gain_vs_fraction": write_csv(plots / "gain_vs_fraction.csv", gain_vs_fraction(result)),
        "summary": write_text(summary, summary_markdown(result)),
    }
    if gains is not None:
        out["gains"] = write_csv(Path(gains), gains_long(result))
    if details is not None:
        out["details"] = write_json(details, json_ready(result))
    return out


# -- metrics JSON --------------------------------------------------------------------------------
def metrics_json(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth tracking across runs, nested for ``dvc metrics show`` / ``diff``.

    ``real.<clf>.<metric>``: mean score of real only (100% real), every metric;
    ``gain.<recipe>.<clf>.<primary metric>.{mean,low,high}``: paired gain over real only;
    ``low_data.<fraction>.{rows, real.<clf>, gain.<recipe>.<clf>.{mean,low,high}}``: the same at
    each reduced fraction; ``fidelity.*``; ``privacy.*``. Gains in the other metrics are in the
    summary (and the optional long table), so that ``dvc metrics show`` stays readable.
    """
    metric = result["primary_metric"]
    full = result["fractions"]["1.0"]
    out: dict[str, Any] = {
        "primary_metric": metric,
        "seeds": result["settings"]["seeds"],
        "real": {
            c: {m: ci["mean"] for m, ci in per.items()} for c, per in full["summary"][REAL].items()
        },
        "gain": {
            recipe: {c: {metric: ci3(per[metric])} for c, per in by_clf.items()}
            for recipe, by_clf in full["gains"].items()
        },
    }
    low = {}
    for key, block in result["fractions"].items():
        if key == "1.0":
            continue
        low[key] = {
            "rows": block["rows"],
            "real": {c: per[metric]["mean"] for c, per in block["summary"][REAL].items()},
            "gain": {
                recipe: {c: ci3(per[metric]) for c, per in by_clf.items()}
                for recipe, by_clf in block["gains"].items()
            },
        }
    if low:
        out["low_data"] = low
    fid = result["fidelity"]
    out["fidelity"] = {k: fid[k] for k in ("overall", "column_shapes", "column_pair_trends")}
    priv = result["privacy"]
    out["privacy"] = {
        "dcr_share_closer_to_train": priv["share_closer_to_train"],
        "median_dcr_synth_train": priv["median_dcr_synth_train"],
        "median_dcr_holdout_train": priv["median_dcr_holdout_train"],
        "exact_copies": priv["exact_copies"],
    }
    return rounded(out)


# -- plot data -----------------------------------------------------------------------------------
# DVC's plot definitions draw one line per y column (they have no group-by), so the two plot
# files are wide: one column per classifier, plus its interval bounds. ``gains_long`` holds
# every number in long form for other tools.
def gain_vs_ratio(result: dict[str, Any]) -> pd.DataFrame:
    """Primary-metric gain over real only (100% real) per ratio: ``ratio, <clf>..., <clf>_low,
    <clf>_high...``."""
    metric = result["primary_metric"]
    gains = result["fractions"]["1.0"]["gains"]
    classifiers = result["settings"]["classifiers"]
    rows = []
    for ratio in result["settings"]["ratios"]:
        per = gains[synth_recipe(ratio)]
        rows.append({"ratio": ratio, **_wide(per, classifiers, metric)})
    return pd.DataFrame(rows, columns=["ratio", *_wide_columns(classifiers)])


def gain_vs_fraction(result: dict[str, Any]) -> pd.DataFrame:
    """Primary-metric gain over real only per real-data fraction, for real + ``plot_ratio`` ×
    synthetic (``<clf>`` columns) and for SMOTE (``<clf>_smote``)."""
    metric = result["primary_metric"]
    classifiers = result["settings"]["classifiers"]
    recipe = synth_recipe(fraction_plot_ratio(result))
    rows = []
    for key in sorted(result["fractions"], key=float):
        gains = result["fractions"][key]["gains"]
        row: dict[str, Any] = {"fraction": float(key), **_wide(gains[recipe], classifiers, metric)}
        if SMOTE in gains:
            for clf in classifiers:
                ci = gains[SMOTE][clf][metric]
                row.update({f"{clf}_smote": ci["mean"]})
                row.update({f"{clf}_smote_low": ci["low"], f"{clf}_smote_high": ci["high"]})
        rows.append(row)
    return pd.DataFrame(rows)


def fraction_plot_ratio(result: dict[str, Any]) -> float:
    """The mix drawn in ``gain_vs_fraction.csv``: 1.0 when evaluated, else the smallest ratio."""
    ratios = result["settings"]["ratios"]
    return 1.0 if 1.0 in ratios else float(min(ratios))


def gains_long(result: dict[str, Any]) -> pd.DataFrame:
    """Every paired gain: ``fraction, recipe, ratio, classifier, metric, mean, low, high, n``."""
    rows = []
    for key in sorted(result["fractions"], key=float):
        for recipe, by_clf in result["fractions"][key]["gains"].items():
            for clf, per in by_clf.items():
                for metric in METRICS:
                    ci = per[metric]
                    rows.append(
                        [float(key), recipe, recipe_ratio(recipe), clf, metric]
                        + [ci["mean"], ci["low"], ci["high"], ci["n"]]
                    )
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _wide(per: dict[str, Any], classifiers: list[str], metric: str) -> dict[str, float]:
    row = {}
    for clf in classifiers:
        ci = per[clf][metric]
        row.update({clf: ci["mean"], f"{clf}_low": ci["low"], f"{clf}_high": ci["high"]})
    return row


def _wide_columns(classifiers: list[str]) -> list[str]:
    return [name for clf in classifiers for name in (clf, f"{clf}_low", f"{clf}_high")]


# -- Markdown summary ----------------------------------------------------------------------------
def summary_markdown(result: dict[str, Any]) -> str:
    """The verdict on the first line, then tables per recipe, classifier and metric."""
    s = result["settings"]
    ds = result["dataset"]
    metric = result["primary_metric"]
    label = METRIC_LABELS[metric]
    smote_name = result["smote_variant"] or "SMOTE"
    lines = [result["verdict"], ""]
    if result.get("low_data_verdict"):
        lines += [f"Where real data is scarce: {result['low_data_verdict']}.", ""]
    lines += [
        f"# Does synthetic data help? {result['model']['name']} on {Path(ds['path']).name}",
        "",
        f"Downstream classifiers ({', '.join(s['classifiers'])}) trained on each recipe and scored "
        f"on the held-out real test split ({ds['rows']['test']} rows; label `{ds['label']}`, "
        f"minority class `{ds['minority_class']}`). Gains are paired per seed (recipe minus real "
        "only, same seed) and shown as mean [95% Student-t interval] over "
        f"{plural(s['seeds'], 'seed')}. "
        "An interval that contains 0 is no evidence of a gain. The best ratio is the one with the "
        f"highest mean {label} gain for {result['primary_classifier']}; its interval is not "
        "adjusted for picking the best of several ratios.",
        "",
        "Recipes: `real` (the real training split), `real+synth@r` (real plus r × as many "
        "synthetic rows, labels in the real proportions), `synth` (synthetic only, as many rows "
        f"as real: train on synthetic, test on real), `real+smote` (real plus {smote_name} rows "
        "bringing every class up to the majority's count).",
        "",
    ]
    full = result["fractions"]["1.0"]
    lines += [f"## Gains over real only ({ds['rows']['train']} real training rows)", ""]
    lines += _gain_table(full, s["classifiers"])
    lines += ["", "## Scores (mean over seeds)", ""]
    lines += _score_table(full, s["classifiers"])

    sweep = [k for k in result["fractions"] if k != "1.0"]
    if sweep:
        lines += ["", f"## Low-data sweep ({label} gain over real only at each fraction)", ""]
        lines += _fraction_table(result)
        policy = s["sweep_retrain"]
        lines += [
            "",
            f"Each fraction below 100% draws a stratified subset of the real training split (at "
            f"least {s['min_rows_per_class']} rows per class) and retrains the synthesizer on it "
            "alone with the trained model's hyper-parameters"
            + (f" (overridden: {s['sweep_hyperparameters']})" if s["sweep_hyperparameters"] else "")
            + f"; {plural(s['sweep_seeds'], 'seed')} per fraction. "
            + (
                "Retrain policy `fraction`: one subset and one synthesizer per fraction; seeds "
                "vary the synthetic draws, the SMOTE draw and the classifiers, so the interval "
                "does not cover which real rows happened to be available (cheaper; use "
                "`sweep_retrain='seed'` for that, at seeds × the GAN cost)."
                if policy == "fraction"
                else "Retrain policy `seed`: every seed draws its own subset and retrains the "
                "synthesizer on it, so the interval also covers which real rows were available."
            ),
        ]

    lines += ["", "## Fidelity (SDMetrics QualityReport method, computed by augment)", ""]
    lines += _fidelity_lines(result["fidelity"])
    lines += ["", "## Privacy (distance to closest record)", ""]
    lines += _privacy_lines(result["privacy"])
    lines += ["", "## Notes", ""]
    lines += [
        f"- {smote_name}: continuous features standardised for the neighbour search and mapped "
        "back; missing continuous values median-imputed first (new rows never carry a missing "
        "number; original rows keep theirs); a missing category is a category of its own.",
        "- Both classifiers are deterministic given their training rows (no early stopping, "
        "lbfgs), so at 100% real the real-only score is the same for every seed and an interval "
        "measures how much the gain moves with the synthetic (or SMOTE) rows drawn.",
        "- hgb: HistGradientBoosting with native categoricals (schema category codes), fixed "
        "boosting rounds, no early stopping; logreg: one-hot categoricals (missing = all zeros) "
        "plus median-imputed, standardised numbers; datetimes as epoch seconds.",
        "- Timings (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in result["timings"].items()),
        "",
    ]
    return "\n".join(lines)


def _recipe_order(names: list[str]) -> list[str]:
    ratios = sorted((recipe_ratio(n), n) for n in names if recipe_ratio(n) is not None)
    rest = [n for n in (SYNTH, SMOTE) if n in names]
    return [n for _, n in ratios] + rest


def _gain_table(block: dict[str, Any], classifiers: list[str]) -> list[str]:
    header = "| recipe | classifier | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (2 + len(METRICS))]
    for recipe in _recipe_order(list(block["gains"])):
        for clf in classifiers:
            per = block["gains"][recipe][clf]
            lines.append(
                f"| {recipe} | {clf} | " + " | ".join(ci_cell(per[m]) for m in METRICS) + " |"
            )
    lines += ["", "`*`: the 95% interval excludes 0."]
    return lines


def _score_table(block: dict[str, Any], classifiers: list[str]) -> list[str]:
    header = "| recipe | classifier | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (2 + len(METRICS))]
    for recipe in [REAL, *_recipe_order(list(block["gains"]))]:
        for clf in classifiers:
            per = block["summary"][recipe][clf]
            cells = " | ".join(f"{per[m]['mean']:.4f}" for m in METRICS)
            lines.append(f"| {recipe} | {clf} | {cells} |")
    return lines


def _fraction_table(result: dict[str, Any]) -> list[str]:
    metric = result["primary_metric"]
    keys = sorted(result["fractions"], key=float)
    blocks = [result["fractions"][k] for k in keys]
    header = (
        "| recipe | classifier | "
        + " | ".join(
            f"{float(k):.0%} ({b['rows']} rows)" for k, b in zip(keys, blocks, strict=True)
        )
        + " |"
    )
    lines = [header, "|" + "---|" * (2 + len(keys))]
    for clf in result["settings"]["classifiers"]:
        reals = " | ".join(f"{b['summary'][REAL][clf][metric]['mean']:.4f}" for b in blocks)
        lines.append(f"| real ({METRIC_LABELS[metric]}) | {clf} | {reals} |")
        for recipe in _recipe_order(list(blocks[0]["gains"])):
            cells = " | ".join(ci_cell(b["gains"][recipe][clf][metric]) for b in blocks)
            lines.append(f"| {recipe} | {clf} | {cells} |")
    return lines


def _fidelity_lines(fid: dict[str, Any]) -> list[str]:
    lines = [
        f"Overall {fid['overall']:.3f} = mean of column shapes {fid['column_shapes']:.3f} and "
        f"column pair trends {_num(fid['column_pair_trends'])} (pairs with a real trend: "
        f"|r| > {fid['thresholds']['correlation']} or Cramér's V > "
        f"{fid['thresholds']['association']}, as SDMetrics 0.32; over all pairs "
        f"{_num(fid['column_pair_trends_all_pairs'])}). Real: {fid['rows']['real']} training rows; "
        f"synthetic: {fid['rows']['synthetic']} rows.",
        "",
        "| column | metric | score |",
        "|---|---|---|",
    ]
    for c in sorted(fid["columns"], key=lambda c: _sort_key(c["score"])):
        lines.append(f"| {c['column']} | {c['metric']} | {_num(c['score'])} |")
    scored = [p for p in fid["pairs"] if p["meets_threshold"] and not _isnan(p["score"])]
    worst = sorted(scored, key=lambda p: p["score"])[:5]
    if worst:
        lines += ["", "Weakest column pairs:", "", "| pair | metric | score |", "|---|---|---|"]
        for p in worst:
            pair = f"{p['column_1']} × {p['column_2']}"
            lines.append(f"| {pair} | {p['metric']} | {p['score']:.3f} |")
    return lines


def _privacy_lines(priv: dict[str, Any]) -> list[str]:
    share = priv["share_closer_to_train"]
    reading = (
        "no sign of memorisation"
        if share < 0.55
        else "synthetic rows lean towards the training rows: check for memorisation"
    )
    return [
        f"Share of synthetic rows closer to a training row than to any holdout row: {share:.3f} "
        f"(0.5 = no memorisation; {reading}). Median distance synthetic → train "
        f"{priv['median_dcr_synth_train']:.4f}, synthetic → holdout "
        f"{priv['median_dcr_synth_holdout']:.4f}, real holdout → train "
        f"{priv['median_dcr_holdout_train']:.4f}; exact copies of a sampled training row "
        f"{priv['exact_copies']:.2%}. Gower-like distance on {priv['rows']['train']} train and "
        f"{priv['rows']['holdout']} holdout (validation split) rows, {priv['rows']['synthetic']} "
        "synthetic rows.",
    ]


def _num(value: float | None) -> str:
    return "n/a" if _isnan(value) else f"{value:.3f}"


def _isnan(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _sort_key(value: float | None) -> float:
    return math.inf if _isnan(value) else float(value)  # type: ignore[arg-type]


__all__ = [
    "LONG_COLUMNS",
    "gain_vs_fraction",
    "gain_vs_ratio",
    "gains_long",
    "metrics_json",
    "summary_markdown",
    "write_evaluation",
]
