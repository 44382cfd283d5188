"""Write an image evaluation's outputs, each atomically: metrics JSON (``dvc metrics``), plot CSVs
and the sample grid (``dvc plots``), and a Markdown summary whose first line is the verdict.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import pandas as pd

from augment.core.files import write_atomic, write_json, write_text
from augment.evaluation.output import ci3, ci_cell, json_ready, plural, rounded, write_csv
from augment.evaluation.recipes import recipe_ratio, synth_recipe
from augment.evaluation.stats import METRIC_LABELS
from augment.images.evaluation.recipes import (
    CLASSIC,
    REAL,
    SYNTH,
    classic_synth_ratio,
    classic_synth_recipe,
)
from augment.images.evaluation.runner import FULL, IMAGE_METRICS

PRDC = ("precision", "recall", "density", "coverage")


def write_image_evaluation(
    result: dict[str, Any],
    *,
    metrics: str | Path = "metrics/images.json",
    plots: str | Path = "plots/images",
    summary: str | Path = "reports/images.md",
    details: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``metrics`` (JSON), ``plots/gain_vs_ratio.csv``, ``plots/gain_vs_per_class.csv``,
    ``plots/samples.png`` (real next to synthetic images, per class), ``summary`` (Markdown) and,
    if given, ``details`` (the whole result as JSON, per-seed scores included)."""
    plots = Path(plots)
    out = {
        "metrics": write_json(metrics, json_ready(metrics_json(result))),
        "gain_vs_ratio": write_csv(plots / "gain_vs_ratio.csv", gain_vs_ratio(result)),
        "gain_vs_per_class": write_csv(plots / "gain_vs_per_class.csv", gain_vs_per_class(result)),
        "summary": write_text(summary, summary_markdown(result)),
    }
    samples = result.get("samples")
    if samples:
        png = base64.b64decode(samples["png_base64"])
        out["samples"] = write_atomic(plots / "samples.png", lambda tmp: tmp.write_bytes(png))
    if details is not None:
        out["details"] = write_json(details, json_ready(result))
    return out


# -- metrics JSON --------------------------------------------------------------------------------
def metrics_json(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth tracking across runs, for ``dvc metrics show`` / ``diff``.

    ``real.<metric>``: mean real-only score on all training images; ``gain.<recipe>.{mean,low,
    high}``: paired primary-metric gain over real only; ``low_data.<k>.{images, real, gain.<recipe>
    .{mean,low,high}}``: the same with k real images per class; ``fidelity.*`` (and
    ``inception.*`` when computed). Per-seed scores and accuracy gains are in the summary.
    """
    metric = result["primary_metric"]
    full = result["per_class"][FULL]
    out: dict[str, Any] = {
        "primary_metric": metric,
        "classifier": result["classifier"],
        "seeds": result["settings"]["seeds"],
        "real": {m: ci["mean"] for m, ci in full["summary"][REAL].items()},
        "gain": {recipe: ci3(per[metric]) for recipe, per in full["gains"].items()},
    }
    low = {}
    for key in _sweep_keys(result):
        block = result["per_class"][key]
        low[key] = {
            "images": block["images"],
            "real": block["summary"][REAL][metric]["mean"],
            "gain": {recipe: ci3(per[metric]) for recipe, per in block["gains"].items()},
        }
    if low:
        out["low_data"] = low
    fid = result["fidelity"]
    out["fidelity"] = _fid_numbers(fid)
    if "frechet_distance" in fid.get("inception", {}):
        out["inception"] = _fid_numbers(fid["inception"])
    return rounded(out)


def _fid_numbers(fid: dict[str, Any]) -> dict[str, Any]:
    return {
        "frechet_distance": fid["frechet_distance"],
        "reference_frechet_distance": fid["reference"]["frechet_distance"],
        **{m: fid[m] for m in PRDC},
    }


def _sweep_keys(result: dict[str, Any]) -> list[str]:
    return sorted((k for k in result["per_class"] if k != FULL), key=int)


# -- plot data -----------------------------------------------------------------------------------
def gain_vs_ratio(result: dict[str, Any]) -> pd.DataFrame:
    """Primary-metric gain of real + synthetic over real only per ratio (all training images):
    ``ratio, synthetic, synthetic_low, synthetic_high``, and classic augmentation's gain
    (``classic, classic_low, classic_high``, the same on every row: the line to beat)."""
    metric = result["primary_metric"]
    gains = result["per_class"][FULL]["gains"]
    rows = []
    for ratio in result["settings"]["ratios"]:
        row: dict[str, Any] = {"ratio": ratio}
        row.update(_wide("synthetic", gains[synth_recipe(ratio)][metric]))
        row.update(_wide("classic", gains[CLASSIC][metric]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["ratio", *_columns("synthetic"), *_columns("classic")])


def gain_vs_per_class(result: dict[str, Any]) -> pd.DataFrame:
    """Primary-metric gain over real only per real images per class (the full training set last,
    at its mean images per class): ``per_class, synthetic…, classic…, classic_synthetic…`` with
    ``_low`` / ``_high`` bounds; synthetic at the mix ratio."""
    metric = result["primary_metric"]
    mix = result["mix_ratio"]
    names = {
        "synthetic": synth_recipe(mix),
        "classic": CLASSIC,
        "classic_synthetic": classic_synth_recipe(mix),
    }
    rows = []
    for key in [*_sweep_keys(result), FULL]:
        block = result["per_class"][key]
        row: dict[str, Any] = {"per_class": block["per_class"]}
        for column, recipe in names.items():
            row.update(_wide(column, block["gains"][recipe][metric]))
        rows.append(row)
    columns = ["per_class", *(c for name in names for c in _columns(name))]
    return pd.DataFrame(rows, columns=columns)


def _wide(name: str, ci: dict[str, float]) -> dict[str, float]:
    return {name: ci["mean"], f"{name}_low": ci["low"], f"{name}_high": ci["high"]}


def _columns(name: str) -> list[str]:
    return [name, f"{name}_low", f"{name}_high"]


# -- Markdown summary ----------------------------------------------------------------------------
def summary_markdown(result: dict[str, Any]) -> str:
    """The verdict on the first line, then the score, gain, sweep and fidelity tables."""
    s = result["settings"]
    ds = result["dataset"]
    metric = result["primary_metric"]
    label = METRIC_LABELS[metric]
    mix = result["mix_ratio"]
    full = result["per_class"][FULL]
    lines = [result["verdict"], ""]
    if result.get("low_data_verdict"):
        lines += [f"Where real images are scarce: {result['low_data_verdict']}.", ""]
    lines += [
        f"# Does synthetic data help? {result['model']['name']} on {Path(ds['path']).name}",
        "",
        f"A {result['classifier']} trained on each recipe and scored on the held-out real test "
        f"split ({ds['images']['test']} images of {ds['size']}×{ds['size']} px, "
        f"{len(ds['classes'])} classes; no synthesizer or classifier ever trains on it). Gains "
        "are paired per seed (recipe minus real only, same seed) and shown as mean [95% "
        f"Student-t interval] over {plural(s['seeds'], 'seed')}. An interval that contains 0 "
        f"is no evidence of a gain (not significant). The best ratio is the one with the highest "
        f"mean {label} gain; its interval is not adjusted for picking the best of several ratios.",
        "",
        "Recipes: `real` (the real training split); `real+classic` (classic augmentation per "
        f"batch: {_classic_text(s['flip'])}); `real+synth@r` (real plus r × as many synthetic "
        "images, classes in the real proportions); `real+classic+synth@r` (both: classic "
        "augmentation on real and synthetic images alike); `synth` (as many synthetic images as "
        "real ones only: the classification accuracy score, CAS). Classic + synthetic and the "
        f"low-data sweep use the mix ratio {mix:g}"
        + (" (1.0 is among the ratios)." if mix == 1.0 else " (the middle of the ratios)."),
        "",
        f"## Scores ({full['images']} real training images; mean [95% interval] over seeds)",
        "",
    ]
    lines += _score_table(full)
    lines += ["", "## Gains over real only", ""]
    lines += _gain_table(full)

    sweep = _sweep_keys(result)
    lines += ["", f"## Low-data sweep ({label} gain over real only by real images per class)", ""]
    if sweep:
        lines += _sweep_table(result)
        hyper = s["sweep_hyperparameters"]
        lines += [
            "",
            "Each point below the full training set draws one seeded stratified subset of k "
            "training images per class and retrains the synthesizer on it alone with the trained "
            "model's hyper-parameters"
            + (f" (overridden: {hyper})" if hyper else "")
            + "; seeds vary the classifier and the synthetic draws, not which real images were "
            "kept. The last column is the full training split (its mean images per class).",
        ]
    else:
        lines += ["No point of the sweep ran (no `per_class` value was usable)."]
    for item in result.get("skipped", []):
        lines += ["", f"- {item['reason']}"]

    lines += ["", "## Fidelity", ""]
    lines += _fidelity_lines(result["fidelity"])
    lines += ["", "## Settings", ""]
    lines += _settings_lines(result)
    lines.append("")
    return "\n".join(lines)


def _classic_text(flip: bool) -> str:
    from augment.images.evaluation.classifiers import AUG_DEGREES, AUG_SCALE, AUG_SHIFT_SHARE

    text = (
        f"random shift (crop of the zero-padded image) of up to 1/{1 / AUG_SHIFT_SHARE:.0f} of "
        f"the size each way, rotation up to {AUG_DEGREES:g}°, scale "
        f"{AUG_SCALE[0]:g}–{AUG_SCALE[1]:g}"
    )
    return text + (", horizontal flip" if flip else ", no flip")


def _recipe_order(names: list[str]) -> list[str]:
    synth = sorted((recipe_ratio(n), n) for n in names if recipe_ratio(n) is not None)
    both = sorted((classic_synth_ratio(n), n) for n in names if classic_synth_ratio(n) is not None)
    head = [n for n in (REAL, CLASSIC) if n in names]
    tail = [SYNTH] if SYNTH in names else []
    return head + [n for _, n in synth] + [n for _, n in both] + tail


def _interval(ci: dict[str, float]) -> str:
    if math.isnan(ci["low"]):
        return f"{ci['mean']:.4f}"
    return f"{ci['mean']:.4f} [{ci['low']:.4f}, {ci['high']:.4f}]"


def _score_table(block: dict[str, Any]) -> list[str]:
    header = "| recipe | " + " | ".join(METRIC_LABELS[m] for m in IMAGE_METRICS) + " |"
    lines = [header, "|" + "---|" * (1 + len(IMAGE_METRICS))]
    for recipe in _recipe_order(list(block["summary"])):
        per = block["summary"][recipe]
        lines.append(f"| {recipe} | " + " | ".join(_interval(per[m]) for m in IMAGE_METRICS) + " |")
    return lines


def _gain_table(block: dict[str, Any]) -> list[str]:
    cols = [METRIC_LABELS[m] for m in IMAGE_METRICS]
    header = "| recipe | " + " | ".join(cols) + " | " + " | ".join(f"{c} vs classic" for c in cols)
    lines = [header + " |", "|" + "---|" * (1 + 2 * len(IMAGE_METRICS))]
    for recipe in _recipe_order(list(block["gains"])):
        cells = [ci_cell(block["gains"][recipe][m]) for m in IMAGE_METRICS]
        vs = block["vs_classic"].get(recipe)
        cells += [ci_cell(vs[m]) if vs else "" for m in IMAGE_METRICS]
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`*`: the 95% interval excludes 0. *vs classic*: the paired difference from "
        "`real+classic` (does the recipe beat classic augmentation?).",
    ]
    return lines


def _sweep_table(result: dict[str, Any]) -> list[str]:
    metric = result["primary_metric"]
    keys = [*_sweep_keys(result), FULL]
    blocks = [result["per_class"][k] for k in keys]
    heads = [
        f"{k} per class ({b['images']} images)" if k != FULL else f"all ({b['images']} images)"
        for k, b in zip(keys, blocks, strict=True)
    ]
    lines = ["| recipe | " + " | ".join(heads) + " |", "|" + "---|" * (1 + len(keys))]
    reals = " | ".join(f"{b['summary'][REAL][metric]['mean']:.4f}" for b in blocks)
    lines.append(f"| real ({METRIC_LABELS[metric]}) | {reals} |")
    for recipe in _recipe_order(result["sweep_recipes"]):
        if recipe == REAL:
            continue
        cells = " | ".join(ci_cell(b["gains"][recipe][metric]) for b in blocks)
        lines.append(f"| {recipe} | {cells} |")
    return lines


def _fidelity_lines(fid: dict[str, Any]) -> list[str]:
    lines = [
        f"Feature extractor: {fid['extractor']}. Real images: {fid['images']} from the "
        f"{fid['real_split']} split; synthetic: as many, drawn with the same labels from the "
        "trained model; reference: as many real training images with the same class counts (the "
        "scores a generator that reproduced the training images would get). PRDC: Naeem et al. "
        f"2020, k = {fid['prdc_k']}. These numbers compare models scored with the same "
        "extractor; they are not comparable with published (Inception) FIDs.",
        "",
    ]
    lines += _fid_table([("classifier features", fid)] + _inception_row(fid))
    inc = fid.get("inception", {})
    if "skipped" in inc:
        lines += ["", f"Inception-v3 features: skipped: {inc['skipped']}."]
    elif inc:
        lines += [
            "",
            f"Inception-v3 pool features ({inc['features']}) from {inc['weights']}: images "
            "upsampled to 299 px (bilinear), grey repeated to 3 channels, ImageNet-normalised.",
        ]
    return lines


def _inception_row(fid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    inc = fid.get("inception", {})
    return [("Inception-v3", inc)] if "frechet_distance" in inc else []


def _fid_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "| features | compared | FD | precision | recall | density | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, fid in rows:
        for what, scores in (("synthetic vs real test", fid), ("real train vs real test", None)):
            scores = scores if scores is not None else fid["reference"]
            cells = " | ".join(_num(scores[m]) for m in ("frechet_distance", *PRDC))
            lines.append(f"| {name} | {what} | {cells} |")
    return lines


def _settings_lines(result: dict[str, Any]) -> list[str]:
    s = result["settings"]
    budget = (
        f"{s['epochs']:g} epochs over each recipe's training set"
        if s["epochs"] is not None
        else f"{s['steps']} optimizer steps per fit whatever the recipe's size"
    )
    timings = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in result["timings"].items())
    return [
        f"- Classifier: {result['classifier']} from scratch, AdamW with a one-cycle schedule, "
        f"{budget}, batches of {s['batch_size']}; BatchNorm statistics from training, eval mode "
        "for scoring.",
        f"- Ratios {', '.join(f'{r:g}' for r in s['ratios'])}; mix ratio {result['mix_ratio']:g};"
        f" images per class in the sweep: {', '.join(str(k) for k in s['per_class']) or 'none'}; "
        f"{plural(s['seeds'], 'seed')}; base seed {s['seed']}; flip {str(s['flip']).lower()}.",
        f"- Device {s['device']}"
        + (f", {s['n_threads']} CPU thread(s)" if s["n_threads"] else "")
        + f"; fidelity on {s['fidelity_images']} test images.",
        f"- Timings (s): {timings}.",
    ]


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3f}"


__all__ = [
    "gain_vs_per_class",
    "gain_vs_ratio",
    "metrics_json",
    "summary_markdown",
    "write_image_evaluation",
]
