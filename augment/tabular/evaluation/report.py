"""Write a table evaluation's outputs (the one writer of :mod:`augment.evaluation.output`): the
metrics JSON (the whole typed result), the plot CSVs (``dvc plots``), a Markdown summary whose
first line is the verdict, and optionally every paired gain as a long CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from augment.evaluation.output import gains_long, number, plural, wide, wide_columns, write_result
from augment.evaluation.recipes import synth_recipe
from augment.evaluation.results import EvaluationResult, Privacy, TableFidelity
from augment.evaluation.summary import summary_markdown as shared_summary
from augment.evaluation.summary import timings_text
from augment.tabular.evaluation.recipes import BALANCED, SMOTE

__all__ = [
    "gain_vs_fraction",
    "gain_vs_ratio",
    "gains_long",
    "summary_markdown",
    "write_evaluation",
]


def write_evaluation(
    result: EvaluationResult,
    *,
    metrics: str | Path = "metrics/tabular.json",
    plots: str | Path = "plots/tabular",
    summary: str | Path = "reports/summary.md",
    gains: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``metrics`` (the result as JSON), ``plots/gain_vs_ratio.csv``,
    ``plots/gain_vs_fraction.csv``, ``summary`` (Markdown) and, if given, ``gains`` (every paired
    gain, a long CSV)."""
    return write_result(
        result,
        metrics=metrics,
        summary=summary,
        summary_text=summary_markdown(result),
        plots=plots,
        plot_files={
            "gain_vs_ratio.csv": gain_vs_ratio(result),
            "gain_vs_fraction.csv": gain_vs_fraction(result),
        },
        gains=gains,
    )


# -- plot data -----------------------------------------------------------------------------------
# DVC's plot definitions draw one line per y column (they have no group-by), so the two plot
# files are wide: one column per classifier, plus its interval bounds.
def gain_vs_ratio(result: EvaluationResult) -> pd.DataFrame:
    """Primary-metric gain over real only (100% real) per ratio: ``ratio, <clf>, <clf>_low,
    <clf>_high...``."""
    full, metric = result.full, result.primary_metric
    rows = []
    for ratio in result.settings["ratios"]:
        row: dict[str, float] = {"ratio": ratio}
        for clf in result.classifiers:
            row.update(wide(clf, full.gain(synth_recipe(ratio), clf, metric)))
        rows.append(row)
    columns = [c for clf in result.classifiers for c in wide_columns(clf)]
    return pd.DataFrame(rows, columns=["ratio", *columns])


def gain_vs_fraction(result: EvaluationResult) -> pd.DataFrame:
    """Primary-metric gain over real only per real-data fraction, for real + ``sweep_ratio`` ×
    synthetic (``<clf>`` columns), for SMOTE (``<clf>_smote``) and for real + synthetic to
    balance (``<clf>_balanced``)."""
    metric = result.primary_metric
    recipe = synth_recipe(result.sweep_ratio)
    rows = []
    for block in result.blocks:
        row: dict[str, float] = {"fraction": block.fraction}
        for clf in result.classifiers:
            row.update(wide(clf, block.gain(recipe, clf, metric)))
        for name, suffix in ((SMOTE, "smote"), (BALANCED, "balanced")):
            if name in block.recipes:
                for clf in result.classifiers:
                    row.update(wide(f"{clf}_{suffix}", block.gain(name, clf, metric)))
        rows.append(row)
    return pd.DataFrame(rows)


# -- Markdown summary ----------------------------------------------------------------------------
def summary_markdown(result: EvaluationResult) -> str:
    """The verdict on the first line, the shared tables, then fidelity, privacy and notes."""
    s = result.settings
    hyper = s["sweep_hyperparameters"]
    policy = (
        "Retrain policy `fraction`: one subset and one synthesizer per fraction; seeds vary the "
        "synthetic draws, the SMOTE draw and the classifiers, so the interval does not cover "
        "which real rows happened to be available (cheaper; use `sweep_retrain='seed'` for "
        "that, at seeds × the GAN cost)."
        if s["sweep_retrain"] == "fraction"
        else "Retrain policy `seed`: every seed draws its own subset and retrains the "
        "synthesizer on it, so the interval also covers which real rows were available."
    )
    sweep_note = (
        "Each fraction below 100% draws a stratified subset of the real training split (at "
        f"least {s['min_rows_per_class']} rows per class) and retrains the synthesizer on it "
        "alone with the trained model's hyper-parameters"
        + (f" (overridden: {hyper})" if hyper else "")
        + f"; {plural(s['sweep_seeds'], 'seed')} per fraction. {policy}"
    )
    assert isinstance(result.fidelity, TableFidelity) and result.privacy is not None
    sections = [
        "## Fidelity (SDMetrics QualityReport method, computed by augment)",
        "",
        *_fidelity_lines(result.fidelity),
        "",
        "## Privacy (distance to closest record)",
        "",
        *_privacy_lines(result.privacy),
        "",
        "## Notes",
        "",
        *_notes(result),
    ]
    return shared_summary(result, sweep_note=sweep_note, sections=sections)


def _fidelity_lines(fid: TableFidelity) -> list[str]:
    lines = [
        f"Overall {number(fid.overall)} = mean of column shapes {number(fid.column_shapes)} and "
        f"column pair trends {number(fid.column_pair_trends)} (pairs with a real trend: "
        f"|r| > {fid.correlation_threshold} or Cramér's V > {fid.association_threshold}, as "
        f"SDMetrics 0.32; over all pairs {number(fid.column_pair_trends_all_pairs)}). Real: "
        f"{fid.real_rows} training rows; synthetic: {fid.synthetic_rows} rows.",
        "",
        "| column | metric | score |",
        "|---|---|---|",
    ]
    for c in sorted(fid.columns, key=lambda c: c.score if math.isfinite(c.score) else math.inf):
        lines.append(f"| {c.column} | {c.metric} | {number(c.score)} |")
    scored = [p for p in fid.pairs if p.meets_threshold and math.isfinite(p.score)]
    worst = sorted(scored, key=lambda p: p.score)[:5]
    if worst:
        lines += ["", "Weakest column pairs:", "", "| pair | metric | score |", "|---|---|---|"]
        for p in worst:
            lines.append(f"| {p.column_1} × {p.column_2} | {p.metric} | {p.score:.3f} |")
    return lines


def _privacy_lines(priv: Privacy) -> list[str]:
    share = priv.dcr_share_closer_to_train
    reading = (
        "no sign of memorisation"
        if share < 0.55
        else "synthetic rows lean towards the training rows: check for memorisation"
    )
    return [
        f"Share of synthetic rows closer to a training row than to any holdout row: {share:.3f} "
        f"(0.5 = no memorisation; {reading}). Median distance synthetic → train "
        f"{priv.median_dcr_synth_train:.4f}, synthetic → holdout "
        f"{priv.median_dcr_synth_holdout:.4f}, real holdout → train "
        f"{priv.median_dcr_holdout_train:.4f}; exact copies of a sampled training row "
        f"{priv.exact_copies:.2%}. Gower-like distance on {priv.train_rows} train and "
        f"{priv.holdout_rows} holdout (validation split) rows, {priv.synthetic_rows} synthetic "
        "rows.",
    ]


def _notes(result: EvaluationResult) -> list[str]:
    notes = []
    if any(r.name == SMOTE for r in result.recipes):
        notes.append(
            f"- {result.recipe(SMOTE).label.removeprefix('real + ')}: continuous features "
            "standardised for the neighbour search and mapped back; missing continuous values "
            "median-imputed first (new rows never carry a missing number; original rows keep "
            "theirs); a missing category is a category of its own."
        )
    return notes + [
        "- Both classifiers are deterministic given their training rows (no early stopping, "
        "lbfgs), so at 100% real the real-only score is the same for every seed and an interval "
        "measures how much the gain moves with the synthetic (or SMOTE) rows drawn.",
        "- hgb: HistGradientBoosting with native categoricals (schema category codes), fixed "
        "boosting rounds, no early stopping; logreg: one-hot categoricals (missing = all zeros) "
        "plus median-imputed, standardised numbers; datetimes as epoch seconds.",
        f"- Timings (s): {timings_text(result)}.",
    ]
