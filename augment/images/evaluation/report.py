"""Write an image evaluation's outputs (the one writer of :mod:`augment.evaluation.output`): the
metrics JSON (the whole typed result), the plot CSVs and the sample grid (``dvc plots``), and a
Markdown summary whose first line is the verdict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augment.evaluation.output import number, plural, wide, wide_columns, write_result
from augment.evaluation.recipes import synth_recipe
from augment.evaluation.results import EvaluationResult, FeatureFidelity, ImageFidelity
from augment.evaluation.summary import summary_markdown as shared_summary
from augment.evaluation.summary import timings_text
from augment.images.evaluation.recipes import CLASSIC, PRETRAINED, classic_synth_recipe

PRDC = ("precision", "recall", "density", "coverage")


def write_image_evaluation(
    result: EvaluationResult,
    *,
    metrics: str | Path = "metrics/images.json",
    plots: str | Path = "plots/images",
    summary: str | Path = "reports/images.md",
    gains: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``metrics`` (the result as JSON), ``plots/gain_vs_ratio.csv``,
    ``plots/gain_vs_per_class.csv``, ``plots/samples.png`` (real next to synthetic images, per
    class, when the result has them), ``summary`` (Markdown) and, if given, ``gains`` (every
    paired gain, a long CSV)."""
    files: dict[str, pd.DataFrame | bytes] = {
        "gain_vs_ratio.csv": gain_vs_ratio(result),
        "gain_vs_per_class.csv": gain_vs_per_class(result),
    }
    if result.samples:
        files["samples.png"] = result.samples
    return write_result(
        result,
        metrics=metrics,
        summary=summary,
        summary_text=summary_markdown(result),
        plots=plots,
        plot_files=files,
        gains=gains,
    )


# -- plot data -----------------------------------------------------------------------------------
def gain_vs_ratio(result: EvaluationResult) -> pd.DataFrame:
    """Primary-metric gain of real + synthetic over real only per ratio (all training images):
    ``ratio, synthetic, synthetic_low, synthetic_high``, and classic augmentation's gain
    (``classic, classic_low, classic_high``, the same on every row: the line to beat)."""
    full, clf, metric = result.full, result.primary_classifier, result.primary_metric
    rows = []
    for ratio in result.settings["ratios"]:
        row: dict[str, float] = {"ratio": ratio}
        row.update(wide("synthetic", full.gain(synth_recipe(ratio), clf, metric)))
        row.update(wide("classic", full.gain(CLASSIC, clf, metric)))
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["ratio", *wide_columns("synthetic"), *wide_columns("classic")]
    )


def gain_vs_per_class(result: EvaluationResult) -> pd.DataFrame:
    """Primary-metric gain over real only per real images per class (the full training set last,
    at its mean images per class): ``per_class, synthetic…, classic…, classic_synthetic…,
    pretrained…`` (empty without synthetic pretraining) with ``_low`` / ``_high`` bounds;
    synthetic at the mix ratio."""
    clf, metric, mix = result.primary_classifier, result.primary_metric, result.sweep_ratio
    names = {
        "synthetic": synth_recipe(mix),
        "classic": CLASSIC,
        "classic_synthetic": classic_synth_recipe(mix),
        "pretrained": PRETRAINED,  # empty without synthetic pretraining
    }
    rows = []
    for block in result.blocks:
        row: dict[str, float | None] = {"per_class": block.per_class}
        for column, recipe in names.items():
            row.update(wide(column, block.gain(recipe, clf, metric)))
        rows.append(row)
    columns = ["per_class", *(c for name in names for c in wide_columns(name))]
    return pd.DataFrame(rows, columns=columns)


# -- Markdown summary ----------------------------------------------------------------------------
def summary_markdown(result: EvaluationResult) -> str:
    """The verdict on the first line, the shared tables, then fidelity and settings."""
    hyper = result.settings["sweep_hyperparameters"]
    sweep_note = (
        "Each point below the full training set draws one seeded stratified subset of k "
        "training images per class and retrains the synthesizer on it alone with the trained "
        "model's hyper-parameters"
        + (f" (overridden: {hyper})" if hyper else "")
        + "; seeds vary the classifier and the synthetic draws, not which real images were "
        "kept. The last column is the full training split."
    )
    assert isinstance(result.fidelity, ImageFidelity)
    sections = ["## Fidelity", "", *_fidelity_lines(result.fidelity)]
    sections += ["", "## Settings", "", *_settings_lines(result)]
    return shared_summary(result, sweep_note=sweep_note, sections=sections)


def _fidelity_lines(fid: ImageFidelity) -> list[str]:
    lines = [
        f"Feature extractor: {fid.classifier.extractor}. Real images: {fid.images} from the "
        f"{fid.real_split} split; synthetic: as many, drawn with the same labels from the "
        "trained model; reference: as many real training images with the same class counts (the "
        "scores a generator that reproduced the training images would get). PRDC: Naeem et al. "
        f"2020, k = {fid.prdc_k}. These numbers compare models scored with the same "
        "extractor; they are not comparable with published (Inception) FIDs.",
        "",
    ]
    rows = [("classifier features", fid.classifier)]
    if fid.inception is not None:
        rows.append(("Inception-v3", fid.inception))
    lines += _fid_table(rows)
    if fid.inception is None:
        lines += ["", f"Inception-v3 features: skipped: {fid.inception_skipped}."]
    else:
        lines += [
            "",
            f"Inception-v3 pool features ({fid.inception.features}) from "
            f"{fid.inception.weights}: images upsampled to 299 px (bilinear), grey repeated to 3 "
            "channels, ImageNet-normalised.",
        ]
    return lines


def _fid_table(rows: list[tuple[str, FeatureFidelity]]) -> list[str]:
    lines = [
        "| features | compared | FD | precision | recall | density | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, fid in rows:
        for what, scores in (
            ("synthetic vs real test", fid.synthetic),
            ("real train vs real test", fid.reference),
        ):
            cells = " | ".join(_num(scores[m]) for m in ("frechet_distance", *PRDC))
            lines.append(f"| {name} | {what} | {cells} |")
    return lines


def _settings_lines(result: EvaluationResult) -> list[str]:
    s = result.settings
    budget = (
        f"a budget of {s['epochs']:g} passes over each recipe's training images, at least "
        f"{s['steps']} and at most {s.get('max_steps', 'any number of')} optimizer steps"
        if s["epochs"] is not None
        else f"{s['steps']} optimizer steps per fit whatever the recipe's size"
    )
    schedule = "AdamW with a one-cycle schedule"
    if s.get("patience") is not None:
        schedule = (
            "AdamW with a warm-up, a constant rate until the validation macro-F1 stops rising, "
            "then a cosine decay as long as the run before it"
        )
        budget += (
            f"; a fit stops after {s['patience']} validation scores (about one per pass) "
            "without a better macro-F1 and the decay, keeping its best weights; validation "
            "images: a seeded subset of the validation split with at most "
            f"max(k, {s.get('validation_floor')}) per class, k the block's training images of "
            "the class"
        )
    return [
        f"- Classifier: {result.primary_classifier} from scratch, {schedule}, {budget}; "
        f"batches of {s['batch_size']}; BatchNorm statistics from training, eval mode for "
        "scoring.",
        f"- Ratios {', '.join(f'{r:g}' for r in s['ratios'])}; mix ratio (classic + synthetic "
        f"and the sweep) {result.sweep_ratio:g}"
        + (" (1.0 is among the ratios)" if result.sweep_ratio == 1.0 else " (the middle ratio)")
        + f"; images per class in the sweep: "
        f"{', '.join(str(k) for k in s['per_class']) or 'none'}; "
        f"{plural(s['seeds'], 'seed')}; base seed {s['seed']}; flip {str(s['flip']).lower()}.",
        f"- Device {s['device']}"
        + (f", {s['n_threads']} CPU thread(s)" if s["n_threads"] else "")
        + f"; fidelity on {s['fidelity_images']} test images.",
        f"- Timings (s): {timings_text(result)}.",
    ]


def _num(value: float | None) -> str:
    if value is not None and abs(value) >= 1:
        return f"{value:.4g}"
    return number(value)


__all__ = ["gain_vs_per_class", "gain_vs_ratio", "summary_markdown", "write_image_evaluation"]
