"""``augment report``: one self-contained HTML page of an evaluation, for people to look at.

The page is rendered from the typed result ``augment evaluate`` wrote as its metrics JSON (the
same result its Markdown summary was rendered from), with Jinja2 templates (package data under
``templates/``, autoescaping on): the verdict first, then the headline numbers, the gain plots
with their 95% interval bands, the recipe tables, fidelity (and privacy for tables), real against
synthetic data (per-class image rows; per-column distributions and the association difference for
tables), and the whole Markdown summary folded away at the end. Figures are PNGs embedded as
``data:`` URIs; the page has no script and references no file, font or URL outside itself, so it
opens offline and can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.core.files import check_output_file, file_holds, write_text
from augment.core.modalities import IMAGE, TABULAR
from augment.errors import AugmentError
from augment.evaluation.figures import PALETTE, GainLine, gain_figure
from augment.evaluation.recipes import BASELINE, COMBINED, MIX, REAL, Recipe
from augment.evaluation.results import (
    TONE_WORDS,
    EvaluationResult,
    Interval,
    TableFidelity,
)
from augment.evaluation.stats import metric_label
from augment.evaluation.verdict import format_gain, interval_sentence
from augment.images.bundle import ImageBundle
from augment.registry import check_model_data, load_bundle
from augment.reporting.inputs import (
    read_result,
    read_summary,
    read_synthetic_images,
    read_synthetic_table,
    sample_images,
    sample_table,
)
from augment.reporting.markdown import markdown_html
from augment.tabular.batches import sample_positions
from augment.tabular.bundle import TabularBundle

MAX_ROWS = 20_000  # rows per side drawn in the column distributions (a seeded sample beyond)
MODEL_ROWS = 5_000  # rows sampled from the model when no synthetic table is given
MAX_COLUMNS = 36  # columns drawn in the distributions and the association heatmap
IMAGES_PER_CLASS = 8  # real and synthetic images shown per class
MAX_CLASSES = 30  # classes shown in the image grid
KINDS = {TABULAR: "table", IMAGE: "image"}
# In every page's head (report.html.j2): a file that holds it may be replaced by a new report.
REPORT_MARK = b'<meta name="generator" content="augment">'


def write_report(
    *,
    metrics: str | Path,
    data: str | Path,
    out: str | Path,
    plots: str | Path | None = None,
    synthetic: str | Path | None = None,
    model: str | Path | None = None,
    summary: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Write the evaluation's HTML report to ``out`` (atomically) and return its path.

    ``metrics``: the metrics JSON of ``augment evaluate`` (the whole result); ``data``: the
    prepared data it evaluated (either modality; it must be the result's). Optional:
    ``synthetic``, the generated set (a table file or the folder ``augment generate`` wrote, or
    an image folder with ``manifest.csv``); ``model``, the trained model, sampled on the CPU when
    ``synthetic`` is not given; ``plots``, the evaluation's plot folder, whose ``samples.png``
    images fall back to when neither is given; ``summary``, the Markdown summary ``augment
    evaluate`` wrote beside the metrics, folded in at the end of the page as written (without
    it, the summary is rendered afresh from the result: the same text). ``seed`` fixes which
    real rows / images are drawn and the model's samples.

    Example (after a tiny digits run; the default pipeline's stage is ``augment report``):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "d", per_class=20, progress=False)
        >>> _ = augment.train(data, tmp / "m", steps=5, device="cpu", progress=False)
        >>> _ = augment.evaluate(tmp / "d", tmp / "m", seeds=2, ratios=[1.0], per_class=[],
        ...     steps=5, epochs=None, pretrain_steps=5, fidelity_images=50, device="cpu",
        ...     jobs=1, progress=False, metrics=tmp / "m.json", plots=tmp / "p",
        ...     report=tmp / "r.md")
        >>> page = write_report(metrics=tmp / "m.json", data=tmp / "d", model=tmp / "m",
        ...                     out=tmp / "r.html")
        >>> page.name, "data:image/png;base64," in page.read_text()
        ('r.html', True)
    """
    check_output_file(out, "a report", _report_file, "--out")
    page = render_report(
        metrics=metrics,
        data=data,
        plots=plots,
        synthetic=synthetic,
        model=model,
        summary=summary,
        seed=seed,
    )
    return write_text(out, page)


def render_report(
    *,
    metrics: str | Path,
    data: str | Path,
    plots: str | Path | None = None,
    synthetic: str | Path | None = None,
    model: str | Path | None = None,
    summary: str | Path | None = None,
    seed: int = 0,
) -> str:
    """The report page as a string (see :func:`write_report`)."""
    result = read_result(metrics)
    text = read_summary(summary) if summary is not None else _summary_markdown(result)
    bundle = load_bundle(data)
    if bundle.schema.modality != result.modality:
        have, want = KINDS[result.modality], KINDS.get(bundle.schema.modality, "other")
        raise AugmentError(
            f"{metrics} holds {_a(have)} evaluation but {data} is {_a(want)} dataset"
        )
    _check_evaluated_on(result, bundle, metrics, data)
    if model is not None:
        check_model_data(
            model,
            bundle.schema,
            data,
            "the report compares its samples with the data it was trained on",
        )
    if result.modality == TABULAR:
        samples = _table_samples(result, bundle, synthetic, model, seed)
    else:
        samples = _image_samples(bundle, synthetic, model, seed, plots)
    inputs = {"data": data, "metrics": metrics, "plots": plots, "summary": summary,
              "synthetic": synthetic, "model": model}  # fmt: skip
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            result=result,
            title=f"Does synthetic data help? {result.model.name} on {result.dataset.name}",
            interval_note=interval_sentence(result),
            metric=result.primary_metric,
            metric_label=metric_label(result.primary_metric),
            cards=_cards(result),
            gain_figures=_gain_figures(result),
            samples=samples,
            summary=markdown_html(_body(text)),
            inputs={name: str(value) for name, value in inputs.items() if value is not None},
            version=_version(),
        )
    )


# -- the template environment --------------------------------------------------------------------
@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("augment.reporting", "templates"),
        autoescape=True,  # every text from data or files is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=_num,
        signed=_signed,
        interval=_interval,
        pct=_pct,
        tone=_tone,
        png=_data_uri,
        label=metric_label,
    )
    env.globals.update(REAL=REAL, TONE_WORDS=TONE_WORDS)
    return env


def _check_evaluated_on(
    result: EvaluationResult,
    bundle: TabularBundle | ImageBundle,
    metrics: str | Path,
    data: str | Path,
) -> None:
    """The metrics are an evaluation of this data: the same label and classes (the page puts
    the evaluation's numbers beside the data's rows or images)."""
    evaluated = {"classes": [str(c) for c in result.dataset.classes]}
    ours = {"classes": [str(c) for c in bundle.schema.classes]}
    if result.modality == TABULAR:
        evaluated["label"], ours["label"] = result.dataset.label, bundle.schema.label
    for key, value in evaluated.items():
        if ours[key] != value:
            verb = "are" if key.endswith("s") else "is"
            raise AugmentError(
                f"{metrics} evaluates other data: its {key} {verb} {value!r}, {data}'s"
                f" {ours[key]!r}; give the data it was evaluated on"
            )


def _report_file(path: Path) -> bool:
    return file_holds(path, REPORT_MARK, size=1024)


def _summary_markdown(result: EvaluationResult) -> str:
    if result.modality == IMAGE:
        from augment.images.evaluation.report import summary_markdown
    else:
        from augment.tabular.evaluation.report import summary_markdown
    return summary_markdown(result)


def _body(summary: str) -> str:
    """The summary below its verdict lines (the page shows those at the top): from its title on."""
    lines = summary.splitlines()
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    return "\n".join(lines if title is None else lines[title + 1 :])


def _version() -> str:
    from augment import __version__

    return __version__


# -- headline cards ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """A headline number: a plain value, or a gain with its interval (``gain`` set)."""

    title: str
    value: str = ""
    detail: str = ""
    tone: str = "plain"
    gain: Interval | None = None


def _cards(result: EvaluationResult) -> list[Card]:
    full, clf, metric = result.full, result.primary_classifier, result.primary_metric
    verdict = result.verdict
    headline = result.recipe(verdict.recipe)
    cards = [
        Card(f"Real only · {clf}", _num(full.score(REAL, clf, metric).mean), metric_label(metric)),
        Card(f"{'Best mix' if verdict.chosen else 'Mix'} · {headline.label}", gain=verdict.gain),
    ]
    if verdict.recommended is not None and verdict.validation_gain is not None:
        cards.append(
            Card(
                "Recommended (validation)",
                result.recipe(verdict.recommended).label,  # the real-only recipe's: "real only"
                f"{'the mix' if verdict.recommended == REAL else 'its'} validation gain "
                f"{format_gain(verdict.validation_gain)}",
                tone="neutral" if verdict.recommended == REAL else "good",
            )
        )
    for recipe in result.recipes_in(full):
        if recipe.role in (BASELINE, COMBINED):
            cards.append(Card(recipe.label, gain=full.gain(recipe.name, clf, metric)))
    low = result.low_data_verdict
    if low is not None:
        block = result.block(low.block)
        detail = f"{block.size:,} real {result.unit} · {result.recipe(low.recipe).label}"
        cards.append(Card(f"Scarce data · {block.label}", detail=detail, gain=low.gain))
    fid = result.fidelity
    if isinstance(fid, TableFidelity):
        detail = f"shapes {_num(fid.column_shapes)} · pairs {_num(fid.column_pair_trends)}"
        cards.append(Card("Fidelity (1 = same)", _num(fid.overall), detail))
    else:
        synthetic, reference = fid.classifier.synthetic, fid.classifier.reference
        cards.append(
            Card(
                "Fréchet distance",
                _num(synthetic["frechet_distance"], 3, general=True),
                f"real vs real: {_num(reference['frechet_distance'], 3, general=True)} · "
                f"precision {_num(synthetic['precision'], 2)} · recall "
                f"{_num(synthetic['recall'], 2)}",
            )
        )
    if result.privacy is not None:
        share = result.privacy.dcr_share_closer_to_train
        tone = "neutral" if not math.isfinite(share) else "good" if share < 0.55 else "bad"
        copies = _pct(result.privacy.exact_copies)
        detail = f"0.5 = no memorisation · copies {copies}"
        cards.append(Card("Privacy · nearer train", _num(share), detail, tone))
    return cards


# -- gain figures --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    png: bytes
    caption: str
    wide: bool = False
    pixelated: bool = False


def _gain_figures(result: EvaluationResult) -> list[Figure]:
    full, metric = result.full, result.primary_metric
    ylabel = f"{metric_label(metric)} gain over real only"
    colours = _Colours(result)
    every_mix = [r for r in result.recipes_in(full) if r.role == MIX]
    mixes = [r for r in every_mix if r.plain]  # the ratio curve: weight 1, not curated
    # Curated or reweighted mixes: one line (or point) per family, at the ratios they ran.
    families: dict[str, list[Recipe]] = {}
    for recipe in every_mix:
        if not recipe.plain and recipe.ratio is not None:
            families.setdefault(recipe.family, []).append(recipe)
    # Recipes without a ratio (baselines, a mix that balances the classes): flat lines.
    flat = [r for r in result.recipes_in(full) if r.ratio is None and r.role in (BASELINE, MIX)]
    xs = [r.ratio or 0.0 for r in mixes]
    lines = []
    for clf in result.classifiers:
        gains = [full.gain(r.name, clf, metric) for r in mixes]
        lines.append(_line(colours.name(clf, "real + synthetic"), colours(clf, MIX), xs, gains))
        for family in families.values():
            label = _family_label(family[0])
            lines.append(
                _line(
                    colours.name(clf, label),
                    colours(clf, family[0].family),
                    [r.ratio or 0.0 for r in family],
                    [full.gain(r.name, clf, metric) for r in family],
                )
            )
        for other in flat:  # dashed for a baseline: the line to beat
            gain = full.gain(other.name, clf, metric)
            colour, dashed = colours(clf, other.name), other.role == BASELINE
            label = colours.name(clf, other.label)
            lines.append(_line(label, colour, xs, [gain] * len(xs), dashed))
    figures = [
        Figure(
            gain_figure(
                lines,
                title=f"Gain vs synthetic ratio (all real training {result.unit})",
                xlabel=f"synthetic {result.unit} per real one",
                ylabel=ylabel,
                xticks=xs,
            ),
            "Gain of real + synthetic over real only at each mix"
            + (", per classifier" if len(result.classifiers) > 1 else "")
            + "; flat: recipes without a ratio; dashed: the baselines to beat.",
        )
    ]
    if result.sweep:
        figures.append(_sweep_figure(result, colours, ylabel))
    return figures


def _family_label(recipe: Recipe) -> str:
    """``real + curated synthetic (weight 0.5)``: a mix family's legend, without its ratio."""
    what = "curated synthetic" if recipe.curated else "synthetic"
    weight = f" (weight {recipe.weight:g})" if recipe.weight != 1 else ""
    return f"real + {what}{weight}"


def _sweep_figure(result: EvaluationResult, colours: _Colours, ylabel: str) -> Figure:
    metric, blocks = result.primary_metric, result.blocks
    images = all(b.per_class is not None for b in blocks)
    xs = [float(b.per_class) if images else b.fraction for b in blocks]  # type: ignore[arg-type]
    ticks = [
        (f"all\n(~{b.per_class:.0f})" if b.full else f"{b.per_class:g}") if images else b.label
        for b in blocks
    ]
    shown: list[Recipe] = []
    for recipe in result.recipes_in(result.sweep[0], reference=False):
        if recipe.role == MIX and recipe.ratio not in (None, result.sweep_ratio):
            continue  # the mixes across the sweep: at the sweep ratio, and those without one
        if recipe.role in (MIX, BASELINE, COMBINED):
            shown.append(recipe)
    lines = []
    for clf in result.classifiers:
        for recipe in shown:
            gains = [b.gain(recipe.name, clf, metric) for b in blocks]
            colour = colours(clf, MIX if recipe.role == MIX and recipe.plain else recipe.name)
            label = colours.name(clf, recipe.label)
            lines.append(_line(label, colour, xs, gains, recipe.role == BASELINE))
    amount = (
        "real training images per class" if images else f"share of the real training {result.unit}"
    )
    return Figure(
        gain_figure(
            lines,
            title="Gain vs amount of real data",
            xlabel=f"{amount} (GAN retrained on each)",
            ylabel=ylabel,
            xticks=xs,
            xticklabels=ticks,
        ),
        f"Where real data is scarce: real + {result.sweep_ratio:g}× synthetic (solid) against "
        "the baselines (dashed).",
    )


class _Colours:
    """A colour per classifier when there are several (a recipe's lines share it), else per
    recipe; and legend labels that name the classifier only when there are several."""

    def __init__(self, result: EvaluationResult) -> None:
        self.by_classifier = len(result.classifiers) > 1
        self.keys: dict[str, str] = {}

    def __call__(self, clf: str, recipe: str) -> str:
        key = clf if self.by_classifier else recipe
        return self.keys.setdefault(key, PALETTE[len(self.keys) % len(PALETTE)])

    def name(self, clf: str, label: str) -> str:
        return f"{clf}: {label}" if self.by_classifier else label


def _line(
    label: str,
    colour: str,
    xs: Sequence[float],
    gains: Sequence[Interval | None],
    dashed: bool = False,
) -> GainLine:
    def pick(attr: str) -> list[float]:
        return [math.nan if g is None else getattr(g, attr) for g in gains]

    return GainLine(label, colour, xs, pick("mean"), pick("low"), pick("high"), dashed)


# -- real vs synthetic ---------------------------------------------------------------------------
def _table_samples(
    result: EvaluationResult,
    bundle: Any,
    synthetic: str | Path | None,
    model: str | Path | None,
    seed: int,
) -> dict[str, Any]:
    from augment.tabular.figures import association_difference, column_distributions

    schema = bundle.schema
    if synthetic is not None:
        frame, source = read_synthetic_table(synthetic, schema), f"from {synthetic}"
    elif model is not None:
        n = min(MODEL_ROWS, max(bundle.split_rows("train"), 1))
        frame, source = sample_table(model, schema, n, seed), f"sampled from {model}"
    else:
        return {"source": None}
    real = bundle.rows("train", MAX_ROWS, seed)
    synth = _sample_rows(frame, MAX_ROWS, seed)
    columns = list(schema.columns[:MAX_COLUMNS])
    distributions, scores = column_distributions(real, synth, schema, columns)
    worst = sorted(scores, key=lambda s: s["score"] if math.isfinite(s["score"]) else math.inf)
    out: dict[str, Any] = {
        "source": source,
        "real_rows": len(real),
        "train_rows": bundle.split_rows("train"),
        "synthetic_rows": len(synth),
        "columns_shown": len(columns),
        "columns": len(schema.columns),
        "distributions": Figure(
            distributions,
            "Numbers: density histograms (values beyond the 0.5–99.5% quantiles fall in the edge "
            "bins); categories: relative frequencies of the most frequent real ones. Panel titles "
            "give the column-shape score (1 = same distribution).",
            wide=True,
        ),
        "worst": worst[:8],
        "association": None,
    }
    if len(columns) >= 2:
        png, diff = association_difference(real, synth, columns)
        mean = float(np.nanmean(diff)) if np.isfinite(diff).any() else math.nan
        out["association"] = Figure(
            png,
            "|association(real) − association(synthetic)| per pair of columns: Pearson's r for "
            "two numbers, Cramér's V (numbers cut into 10 bins, missing as a category) for a "
            f"pair with a category. 0: the synthetic rows keep the relationship. Mean over "
            f"pairs: {_num(mean)}.",
            wide=len(columns) > 12,
        )
    return out


def _image_samples(
    bundle: Any,
    synthetic: str | Path | None,
    model: str | Path | None,
    seed: int,
    plots: str | Path | None,
) -> dict[str, Any]:
    from augment.images.figures import image_strip

    schema = bundle.schema
    if synthetic is not None:
        images = read_synthetic_images(synthetic, schema, IMAGES_PER_CLASS)
        source = f"from {synthetic}"
    elif model is not None:
        images = sample_images(model, schema, IMAGES_PER_CLASS, seed)
        source = f"sampled from {model}"
    else:
        grid = Path(plots) / "samples.png" if plots is not None else None
        if grid is not None and grid.is_file():
            caption = "Real and synthetic images per class."
            return {"source": None, "grid": Figure(grid.read_bytes(), caption, pixelated=True),
                    "grid_path": str(grid)}  # fmt: skip
        return {"source": None, "grid": None}
    train = bundle.train
    order = np.random.default_rng(seed).permutation(len(train))
    classes = list(range(len(schema.classes)))[:MAX_CLASSES]
    rows = []
    for c in classes:
        pick = order[train.labels[order] == c][:IMAGES_PER_CLASS]
        fake = images.get(c)
        rows.append(
            {
                "name": schema.classes[c],
                "real": image_strip(train.images[pick]) if len(pick) else None,
                "synthetic": image_strip(fake) if fake is not None and len(fake) else None,
            }
        )
    return {
        "source": source,
        "rows": rows,
        "per_class": IMAGES_PER_CLASS,
        "classes_shown": len(classes),
        "classes": len(schema.classes),
    }


def _sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.iloc[sample_positions(len(frame), n, seed)].reset_index(drop=True)


# -- formatting (the templates' filters) ---------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: Any, digits: int = 3, general: bool = False) -> str:
    if not _finite(value):
        return "n/a"
    if general and abs(value) >= 1:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if _finite(value) else "n/a"


def _interval(gain: Interval | None) -> str:
    if gain is None or not (_finite(gain.low) and _finite(gain.high)):
        return "n/a (one seed)"
    return gain.bounds_text()


def _pct(value: Any) -> str:
    return f"{value:.1%}" if _finite(value) else "n/a"


def _tone(gain: Interval | None) -> str:
    """The CSS tone of a gain: ``good`` / ``bad`` when its interval lies above / below 0."""
    direction = gain.direction if gain is not None else "unknown"
    return {"up": "good", "down": "bad"}.get(direction, "neutral")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


__all__ = ["render_report", "write_report"]
