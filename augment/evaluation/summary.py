"""The Markdown summary of an evaluation, rendered from its typed result: the verdict on the first
line, what an interval covers, then the gain, score and low-data tables both modalities share.
Each modality adds its own sections (fidelity, privacy, settings) after them."""

from __future__ import annotations

from collections.abc import Sequence

from augment.evaluation.output import gain_cell, number, plural, score_cell
from augment.evaluation.recipes import REAL
from augment.evaluation.results import Dataset, EvaluationResult
from augment.evaluation.stats import metric_label
from augment.evaluation.verdict import interval_sentence


def summary_markdown(
    result: EvaluationResult, *, sweep_note: str = "", sections: Sequence[str] = ()
) -> str:
    """The summary: verdict first; ``sweep_note`` explains how the low-data sweep was run and
    ``sections`` (Markdown lines) follow the shared tables."""
    lines = [result.verdict.text, ""]
    low = result.low_data_verdict
    if low is not None:
        lines += [f"Where real data is scarce: {low.text}.", ""]
    lines += [interval_sentence(result), ""]
    lines += [
        f"# Does synthetic data help? {result.model.name} on {result.dataset.name}",
        "",
        _intro(result),
        "",
        _legend(result),
        "",
    ]
    full = result.full
    lines += [f"## Gains over real only ({full.size:,} real training {result.unit})", ""]
    lines += gain_table(result)
    lines += ["", "## Scores (mean [95% interval] over seeds)", ""]
    lines += score_table(result)
    label = metric_label(result.primary_metric)
    lines += ["", f"## Low-data sweep ({label} gain over real only with less real data)", ""]
    if result.sweep:
        lines += sweep_table(result)
        if sweep_note:
            lines += ["", sweep_note]
    else:
        lines.append("No point of the low-data sweep ran.")
    for item in result.skipped:
        lines += ["", f"- {item['reason']}"]
    if any(b.costs for b in result.blocks):
        lines += ["", "## Classifier cost (mean per fit over seeds)", ""]
        lines += cost_table(result)
    lines += curation_lines(result)
    if sections:
        lines += ["", *sections]
    lines.append("")
    return "\n".join(lines)


def _intro(result: EvaluationResult) -> str:
    ds = result.dataset
    clfs = result.classifiers
    who = (
        f"Downstream classifiers ({', '.join(clfs)}) are"
        if len(clfs) > 1
        else f"The downstream classifier ({clfs[0]}) is"
    )
    detail = ""
    if ds.label is not None:
        detail = f"; label `{ds.label}`, minority class `{ds.minority_class}`"
    elif ds.image_size is not None:
        detail = f" of {ds.image_size}×{ds.image_size} px, {len(ds.classes)} classes"
    label = metric_label(result.primary_metric)
    return (
        f"{who} trained on each recipe and scored on the held-out real test split "
        f"({ds.test:,} {result.unit}{detail}), which no synthesizer or classifier ever trains "
        f"on. Gains are paired per seed (recipe minus real only, same seed) and shown as mean "
        f"[95% Student-t interval] over {plural(result.seeds, 'seed')}. {_choice(result, label)}"
        f"{_sampled(ds, result.unit)}"
    )


def _sampled(ds: Dataset, unit: str) -> str:
    """The sentence saying which splits the evaluation read as a sample, if any."""
    if not ds.sampled_from:
        return ""
    read = {"train": ds.train, "validation": ds.validation, "test": ds.test}
    parts = [f"{read[name]:,} of the {total:,} {name} {unit}" for name, total in
             ds.sampled_from.items()]  # fmt: skip
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return (
        f" The splits are larger than this evaluation reads (`max_rows`): it used a seeded "
        f"uniform sample of {listed}; the low-data sweep's fractions are fractions of the "
        "training sample."
    )


def _choice(result: EvaluationResult, label: str) -> str:
    """How the verdict's mix was chosen, in the words of its chooser."""
    clf = result.primary_classifier
    if any("validation" in v.chosen for v in result.verdicts):
        return (
            f"The verdict's mix is the one with the highest mean {label} gain for {clf} on the "
            "validation split; the test split scores it once."
        )
    return (
        f"The best mix is the one with the highest mean {label} gain for {clf} on the test "
        "split; its interval is not adjusted for picking the best of several."
    )


def _legend(result: EvaluationResult) -> str:
    seen: dict[str, str] = {}
    for recipe in result.recipes:
        seen.setdefault(recipe.family or recipe.name, recipe.description)
    return "Recipes: " + "; ".join(f"`{name}` ({text})" for name, text in seen.items()) + "."


def _head(result: EvaluationResult, columns: Sequence[str]) -> list[str]:
    first = ["recipe", "classifier"] if len(result.classifiers) > 1 else ["recipe"]
    cells = [*first, *columns]
    return ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]


def _row(result: EvaluationResult, recipe: str, clf: str, cells: Sequence[str]) -> str:
    first = [recipe, clf] if len(result.classifiers) > 1 else [recipe]
    return "| " + " | ".join([*first, *cells]) + " |"


def gain_table(result: EvaluationResult) -> list[str]:
    """Every recipe's paired gain over real only in every metric (and over each other baseline
    the gains were taken against, e.g. classic augmentation) on the whole training split."""
    full = result.full
    labels = [metric_label(m) for m in result.metrics]
    extra = [b for b in full.versus if b != REAL]
    columns = labels + [f"{label} vs {b}" for b in extra for label in labels]
    lines = _head(result, columns)
    for recipe in result.recipes_in(full, reference=False):
        for clf in result.classifiers:
            cells = [gain_cell(full.gain(recipe.name, clf, m)) for m in result.metrics]
            for b in extra:
                cells += [
                    gain_cell(full.gain(recipe.name, clf, m, versus=b)) if recipe.name != b else ""
                    for m in result.metrics
                ]
            lines.append(_row(result, recipe.name, clf, cells))
    note = "`*`: the 95% interval excludes 0."
    for b in extra:
        note += (
            f" *vs {b}*: the paired difference from `{b}` (does the recipe beat "
            f"{result.recipe(b).label}?)."
        )
    return [*lines, "", note]


def score_table(result: EvaluationResult) -> list[str]:
    full = result.full
    lines = _head(result, [metric_label(m) for m in result.metrics])
    for recipe in result.recipes_in(full):
        for clf in result.classifiers:
            cells = [score_cell(full.score(recipe.name, clf, m)) for m in result.metrics]
            lines.append(_row(result, recipe.name, clf, cells))
    return lines


def sweep_table(result: EvaluationResult) -> list[str]:
    """Primary-metric real-only score, then each recipe's gain, for every amount of real data
    (the whole training split last)."""
    metric = result.primary_metric
    blocks = result.blocks
    lines = _head(result, [f"{b.label} ({b.size:,} {result.unit})" for b in blocks])
    recipes = result.recipes_in(result.sweep[0], reference=False)
    for clf in result.classifiers:
        reals = [number(b.score(REAL, clf, metric).mean, 4) for b in blocks]
        lines.append(_row(result, f"real ({metric_label(metric)})", clf, reals))
        for recipe in recipes:
            cells = [gain_cell(b.gain(recipe.name, clf, metric)) for b in blocks]
            lines.append(_row(result, recipe.name, clf, cells))
    return lines


def cost_table(result: EvaluationResult) -> list[str]:
    """Every recipe's mean optimizer steps and seconds per fit, for every amount of real data:
    what judging each recipe at its best cost (a fit that stops early runs fewer steps)."""
    blocks = [b for b in result.blocks if b.costs]
    lines = _head(result, [f"{b.label} ({b.size:,} {result.unit})" for b in blocks])
    for recipe in result.recipes:
        cells = [_cost_cell(b.cost(recipe.name)) for b in blocks]
        if any(cells):
            lines.append(_row(result, recipe.name, result.primary_classifier, cells))
    return lines


def _cost_cell(cost: dict[str, float] | None) -> str:
    if not cost:
        return ""
    text = f"{cost['steps']:,.0f} steps" if "steps" in cost else ""
    if "seconds" in cost:
        text += f", {cost['seconds']:.1f} s" if text else f"{cost['seconds']:.1f} s"
    return text


def timings_text(result: EvaluationResult) -> str:
    return ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in result.timings.items())


__all__ = [
    "cost_table",
    "curation_lines",
    "gain_table",
    "score_table",
    "summary_markdown",
    "sweep_table",
    "timings_text",
]


def curation_lines(result: EvaluationResult) -> list[str]:
    """The curated recipes' numbers: per block, synthetic samples asked, drawn and kept."""
    blocks = result.settings.get("curation") or {}
    if not blocks:
        return []
    first = next(iter(blocks.values()))
    lines = [
        "",
        f"## Curation (kept where p(class) >= {first['threshold']:g}; judge: "
        f"{first['classifier']}, one per block)",
        "",
        "| real data | class | asked | drawn | kept |",
        "|---|---|---|---|---|",
    ]
    labels = {b.key: b.label for b in result.blocks}
    for key, report in blocks.items():
        for name, n in report["per_class"].items():
            lines.append(
                f"| {labels.get(key, key)} | {name} | {n['asked']:,} | {n['drawn']:,} | "
                f"{n['kept']:,} |"
            )
    short = [
        f"{labels.get(k, k)}: {', '.join(r['short'])}" for k, r in blocks.items() if r["short"]
    ]
    if short:
        lines += ["", "Classes short of what was asked (kept what passed): " + "; ".join(short)]
    return lines
