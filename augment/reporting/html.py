"""``augment report``: one self-contained HTML page of an evaluation, for people to look at.

Verdict first, then the headline numbers, the gain plots with their 95% interval bands, the recipe
tables, fidelity and privacy, and real against synthetic data (per class image rows; per column
distributions and the association difference for tables), and the whole Markdown summary folded
away at the end. Figures are PNGs drawn with matplotlib (Agg) and embedded as ``data:`` URIs; the
page has no script and references no file, font or URL outside itself, so it opens offline and
can be mailed or archived as one file. Every text taken from data or files is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import augment.reporting.figures as figures
from augment.core.files import write_text
from augment.errors import AugmentError
from augment.registry import load_bundle
from augment.reporting.figures import Series
from augment.reporting.inputs import (
    Summary,
    finite,
    read_metrics,
    read_plot_csv,
    read_summary,
    read_synthetic_images,
    read_synthetic_table,
    sample_images,
    sample_table,
)
from augment.reporting.markdown import markdown_html

MAX_ROWS = 20_000  # rows per side drawn in the column distributions (a seeded sample beyond)
MODEL_ROWS = 5_000  # rows sampled from the model when no synthetic table is given
MAX_COLUMNS = 36  # columns drawn in the distributions and the association heatmap
IMAGES_PER_CLASS = 8  # real and synthetic images shown per class
MAX_CLASSES = 30  # classes shown in the image grid
METRIC_LABELS = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "roc_auc": "ROC-AUC",
    "minority_recall": "minority recall",
}
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def write_report(
    *,
    metrics: str | Path,
    plots: str | Path,
    data: str | Path,
    out: str | Path,
    synthetic: str | Path | None = None,
    model: str | Path | None = None,
    summary: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Write the evaluation's HTML report to ``out`` (atomically) and return its path.

    ``metrics``: the metrics JSON of ``augment evaluate``; ``plots``: its plot folder (the gain
    CSVs, and ``samples.png`` for images); ``data``: the prepared data it evaluated (either
    modality). Optional: ``summary``, the Markdown summary (its first line is the verdict; without
    it the verdict is derived from the metrics); ``synthetic``, the generated set (a table file or
    the folder ``augment generate`` wrote, or an image folder with ``manifest.csv``); ``model``,
    the trained model, sampled on the CPU when ``synthetic`` is not given. With neither, tables get
    no real-vs-synthetic section and images fall back to ``plots/samples.png``. ``seed`` fixes
    which real rows / images are drawn and the model's samples.

    Example (after a tiny digits run; the default pipeline's stage is ``augment report``):
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "d", per_class=20, progress=False)
        >>> _ = augment.train(data, tmp / "m", steps=5, device="cpu", progress=False)
        >>> _ = augment.evaluate(tmp / "d", tmp / "m", seeds=2, ratios=[1.0], per_class=[],
        ...     steps=5, fidelity_images=50, device="cpu", progress=False,
        ...     metrics=tmp / "m.json", plots=tmp / "p", report=tmp / "r.md")
        >>> page = write_report(metrics=tmp / "m.json", plots=tmp / "p", data=tmp / "d",
        ...                     model=tmp / "m", summary=tmp / "r.md", out=tmp / "r.html")
        >>> page.name, "data:image/png;base64," in page.read_text()
        ('r.html', True)
    """
    page = render_report(
        metrics=metrics,
        plots=plots,
        data=data,
        synthetic=synthetic,
        model=model,
        summary=summary,
        seed=seed,
    )
    return write_text(out, page)


def render_report(
    *,
    metrics: str | Path,
    plots: str | Path,
    data: str | Path,
    synthetic: str | Path | None = None,
    model: str | Path | None = None,
    summary: str | Path | None = None,
    seed: int = 0,
) -> str:
    """The report page as a string (see :func:`write_report`)."""
    bundle = load_bundle(data)
    numbers = read_metrics(metrics)
    image = bundle.schema.modality == "image"
    if image != _is_image_metrics(numbers):
        kinds = ("a table", "an image") if image else ("an image", "a table")
        raise AugmentError(
            f"{metrics} holds {kinds[0]} evaluation but {data} is {kinds[1]} dataset"
        )
    text = read_summary(summary) if summary is not None else None
    report = _ImageReport if image else _TableReport
    return report(bundle, numbers, Path(plots), text, synthetic, model, seed).page(
        {
            "data": data,
            "metrics": metrics,
            "plots": plots,
            "summary": summary,
            "synthetic": synthetic,
            "model": model,
        }  # fmt: skip
    )


def _is_image_metrics(numbers: dict[str, Any]) -> bool:
    first = next(iter(numbers["gain"].values()), {})
    return isinstance(first, dict) and "mean" in first


# -- the two kinds of report ---------------------------------------------------------------------
class _Report:
    modality = ""
    quality_title = ""

    def __init__(
        self,
        bundle: Any,
        numbers: dict[str, Any],
        plots: Path,
        summary: Summary | None,
        synthetic: str | Path | None,
        model: str | Path | None,
        seed: int,
    ) -> None:
        self.bundle, self.m, self.plots, self.summary = bundle, numbers, plots, summary
        self.synthetic, self.model, self.seed = synthetic, model, seed
        self.metric = numbers["primary_metric"]
        self.metric_label = METRIC_LABELS.get(self.metric, self.metric)

    # subclasses fill these in
    def best(self) -> tuple[float, dict[str, float]]:
        raise NotImplementedError

    def derived_verdict(self) -> str:
        raise NotImplementedError

    def subtitle(self) -> str:
        raise NotImplementedError

    def cards(self) -> list[str]:
        raise NotImplementedError

    def gain_figures(self) -> list[str]:
        raise NotImplementedError

    def recipe_tables(self) -> list[str]:
        raise NotImplementedError

    def quality(self) -> list[str]:
        raise NotImplementedError

    def real_vs_synthetic(self) -> list[str]:
        raise NotImplementedError

    # the page
    def page(self, inputs: dict[str, Any]) -> str:
        _, ci = self.best()
        tone = _tone(ci)
        verdict = self.summary.verdict if self.summary and self.summary.verdict else None
        verdict = verdict or self.derived_verdict()
        low = self.summary.low_data_verdict if self.summary else ""
        title = self.summary.title if self.summary and self.summary.title else None
        title = title or f"Does synthetic data help? {Path(self.bundle.path).name}"
        body = [
            "<header>",
            f"<h1>{_e(title)}</h1>",
            f'<p class="sub">{_e(self.subtitle())}</p>',
            "</header>",
            f'<section class="verdict {tone}" id="verdict">',
            f'<div class="tag">Verdict: {_TONE_WORDS[tone]}</div>',
            f'<p class="verdict-text">{_e(verdict)}</p>',
        ]
        if low:
            body.append(f'<p class="verdict-low">{_e(low)}</p>')
        body += ["</section>", '<section class="cards">', *self.cards(), "</section>"]
        body += ['<h2 id="gains">Gain over real only</h2>', '<div class="figs">']
        body += [*self.gain_figures(), "</div>"]
        body += [
            '<p class="note">Lines: mean paired gain over seeds (recipe minus real only, same '
            "seed); bands: 95% Student-t interval. A band that crosses 0 is no evidence of a "
            "gain.</p>"
        ]
        body += ['<h2 id="recipes">Recipes</h2>', *self.recipe_tables()]
        body += [f'<h2 id="quality">{self.quality_title}</h2>', *self.quality()]
        body += ['<h2 id="samples">Real vs synthetic</h2>', *self.real_vs_synthetic()]
        if self.summary and self.summary.body:
            body += [
                '<details id="summary"><summary>The full evaluation summary (every metric, '
                "per-column fidelity, settings, notes)</summary>",
                '<div class="md">',
                markdown_html(self.summary.body),
                "</div></details>",
            ]
        body.append(_footer(inputs))
        return _document(title, "\n".join(body))


def _tone(ci: dict[str, float]) -> str:
    low, high = ci.get("low"), ci.get("high")
    if not (finite(low) and finite(high)):
        return "neutral"
    return "good" if low > 0 else "bad" if high < 0 else "neutral"


_TONE_WORDS = {
    "good": "synthetic data helps",
    "bad": "synthetic data hurts",
    "neutral": "no significant gain",
}


class _TableReport(_Report):
    modality = "table"
    quality_title = "Fidelity and privacy"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.classifiers = list(self.m["real"])
        self.clf = self.classifiers[0]
        self.ratios = sorted(r for r in map(_ratio, self.m["gain"]) if r is not None)
        if not self.ratios:
            raise AugmentError("the metrics file holds no real+synth recipe")

    def best(self) -> tuple[float, dict[str, float]]:
        return _best_ratio(self.m["gain"], self.ratios, lambda per: per[self.clf][self.metric])

    def derived_verdict(self) -> str:
        r, ci = self.best()
        text = (
            f"real + {r:g}× synthetic: {self.metric_label} {_fmt(ci)} vs real only ({self.clf}, "
            f"95% CI, {self.m.get('seeds', '?')} seeds)"
        )
        smote = self.m["gain"].get("real+smote")
        if smote:
            text += f"; SMOTE: {_fmt(smote[self.clf][self.metric])}"
        return text

    def subtitle(self) -> str:
        s = self.bundle.schema
        rows = s.splits.get("train") or sum(s.class_counts)
        return (
            f"Table · {Path(self.bundle.path).name} · label {s.label} ({len(s.classes)} classes) ·"
            f" {rows:,} real training rows · classifiers {', '.join(self.classifiers)} · "
            f"{self.m.get('seeds', '?')} seeds · primary metric {self.metric_label}"
        )

    def cards(self) -> list[str]:
        gain, clf, metric = self.m["gain"], self.clf, self.metric
        r, ci = self.best()
        out = [
            _card(f"Real only · {clf}", _num(self.m["real"][clf][metric]), self.metric_label),
            _gain_card(f"Best mix · real + {r:g}× synthetic", ci),
        ]
        if "real+smote" in gain:
            ci = gain["real+smote"][clf][metric]
            out.append(_gain_card("Real + SMOTE", ci))
        low = self.m.get("low_data") or {}
        if low:
            key = min(low, key=float)
            block = low[key]
            r, ci = _best_ratio(block["gain"], self.ratios, lambda per: per[clf])
            title = f"Scarce data · {float(key):.0%} of rows"
            out.append(_gain_card(title, ci, f"{block['rows']:,} real + {r:g}× synthetic"))
        fid = self.m.get("fidelity") or {}
        if fid:
            out.append(
                _card(
                    "Fidelity (1 = same)",
                    _num(fid.get("overall")),
                    f"shapes {_num(fid.get('column_shapes'))} · pairs "
                    f"{_num(fid.get('column_pair_trends'))}",
                )
            )
        priv = self.m.get("privacy") or {}
        if priv:
            share = priv.get("dcr_share_closer_to_train")
            tone = "neutral" if not finite(share) else "good" if share < 0.55 else "bad"
            out.append(
                _card(
                    "Privacy · nearer train",
                    _num(share),
                    f"0.5 = no memorisation · copies {_pct(priv.get('exact_copies'))}",
                    tone,
                )
            )
        return out

    def gain_figures(self) -> list[str]:
        colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(self.classifiers)}
        ratio = read_plot_csv(self.plots / "gain_vs_ratio.csv")
        series = [Series(c, c, colours.get(c, "#333333")) for c in _series_columns(ratio)]
        out = [
            _figure(
                figures.gain_figure(
                    ratio,
                    "ratio",
                    series,
                    title="Gain vs synthetic ratio (all real training rows)",
                    xlabel="synthetic rows per real row",
                    ylabel=f"{self.metric_label} gain over real only",
                ),
                "Gain of real + synthetic over real only at each mix, per classifier.",
            )
        ]
        fraction = read_plot_csv(self.plots / "gain_vs_fraction.csv")
        plot_ratio = 1.0 if 1.0 in self.ratios else self.ratios[0]
        series = []
        for column in _series_columns(fraction):
            clf = column.removesuffix("_smote")
            smote = column.endswith("_smote")
            what = "real + SMOTE" if smote else f"real + {plot_ratio:g}× synthetic"
            series.append(Series(column, f"{clf}: {what}", colours.get(clf, "#333333"), smote))
        ticks = [f"{v:.0%}" if v >= 0.01 else f"{v:.1%}" for v in fraction["fraction"]]
        out.append(
            _figure(
                figures.gain_figure(
                    fraction,
                    "fraction",
                    series,
                    title="Gain vs real-data fraction",
                    xlabel="fraction of the real training rows (GAN retrained on each)",
                    ylabel=f"{self.metric_label} gain over real only",
                    xticklabels=ticks,
                ),
                "Where real data is scarce: real + synthetic (solid) and real + SMOTE (dashed).",
            )
        )
        return out

    def recipe_tables(self) -> list[str]:
        gain, real = self.m["gain"], self.m["real"]
        head = "".join(
            f"<th>{_e(c)} {_e(self.metric_label)}</th><th>{_e(c)} gain [95% CI]</th>"
            for c in self.classifiers
        )
        rows = ["<tr><td>real only</td>"]
        rows[0] += "".join(
            f'<td class="num">{_num(real[c][self.metric], 4)}</td><td>—</td>'
            for c in self.classifiers
        )
        rows[0] += "</tr>"
        for recipe in _recipe_order(list(gain)):
            cells = ""
            for c in self.classifiers:
                ci = gain[recipe].get(c, {}).get(self.metric)
                score = real[c][self.metric] + ci["mean"] if ci and finite(ci["mean"]) else None
                cells += f'<td class="num">{_num(score, 4)}</td><td>{_gain_cell(ci)}</td>'
            rows.append(f"<tr><td>{_e(_recipe_text(recipe))}</td>{cells}</tr>")
        out = [
            f"<h3>All real training rows ({_e(self.metric_label)}, mean over seeds)</h3>",
            _table(f"<tr><th>recipe</th>{head}</tr>", rows),
        ]
        low = self.m.get("low_data") or {}
        if low:
            keys = sorted(low, key=float)
            heads = (
                "".join(f"<th>{float(k):.0%} ({low[k]['rows']:,} rows)</th>" for k in keys)
                + "<th>100%</th>"
            )
            rows = []
            for c in self.classifiers:
                reals = "".join(f'<td class="num">{_num(low[k]["real"][c], 4)}</td>' for k in keys)
                rows.append(
                    f"<tr><td>real only</td><td>{_e(c)}</td>{reals}"
                    f'<td class="num">{_num(real[c][self.metric], 4)}</td></tr>'
                )
                for recipe in _recipe_order(list(low[keys[0]]["gain"])):
                    cells = "".join(
                        f"<td>{_gain_cell(low[k]['gain'].get(recipe, {}).get(c))}</td>"
                        for k in keys
                    )
                    full = gain.get(recipe, {}).get(c, {}).get(self.metric)
                    rows.append(
                        f"<tr><td>{_e(_recipe_text(recipe))}</td><td>{_e(c)}</td>{cells}"
                        f"<td>{_gain_cell(full)}</td></tr>"
                    )
            out += [
                f"<h3>Low-data sweep ({_e(self.metric_label)}: real-only score, then gain)</h3>",
                _table(f"<tr><th>recipe</th><th>classifier</th>{heads}</tr>", rows),
            ]
        out.append(
            '<p class="note">Green / red: the 95% interval lies above / below 0. Synthetic only: '
            "trained on as many synthetic rows as real ones, tested on real. The other metrics "
            "(accuracy, ROC-AUC, minority recall) are in the full summary below.</p>"
        )
        return out

    def quality(self) -> list[str]:
        fid, priv = self.m.get("fidelity") or {}, self.m.get("privacy") or {}
        rows = [
            f"<tr><td>overall</td><td class='num'>{_num(fid.get('overall'))}</td>"
            "<td>mean of the two scores below (1 = indistinguishable)</td></tr>",
            f"<tr><td>column shapes</td><td class='num'>{_num(fid.get('column_shapes'))}</td>"
            "<td>per column: 1 − KS statistic (numbers) or 1 − total variation (categories)</td>"
            "</tr>",
            f"<tr><td>column pair trends</td><td class='num'>"
            f"{_num(fid.get('column_pair_trends'))}</td><td>per pair with a real trend: "
            "correlation or contingency-table similarity</td></tr>",
            f"<tr><td>privacy: share closer to train</td><td class='num'>"
            f"{_num(priv.get('dcr_share_closer_to_train'))}</td><td>synthetic rows nearer a "
            "training row than any holdout row (0.5 = no memorisation)</td></tr>",
            f"<tr><td>median distance synthetic → train</td><td class='num'>"
            f"{_num(priv.get('median_dcr_synth_train'), 4)}</td><td>vs real holdout → train "
            f"{_num(priv.get('median_dcr_holdout_train'), 4)}</td></tr>",
            f"<tr><td>exact copies</td><td class='num'>{_pct(priv.get('exact_copies'))}</td>"
            "<td>synthetic rows identical to a sampled training row</td></tr>",
        ]
        return [
            _table("<tr><th>score</th><th>value</th><th>what it measures</th></tr>", rows),
            '<p class="note">SDMetrics QualityReport method computed by augment on the training '
            "split; distance to closest record (Gower-like) against the validation split as the "
            "holdout. Per-column and per-pair scores are in the full summary.</p>",
        ]

    def real_vs_synthetic(self) -> list[str]:
        schema = self.bundle.schema
        frame, source = self._synthetic_frame()
        if frame is None:
            return [
                '<p class="note">No synthetic set given: pass the generated table '
                "(<code>--synthetic</code>) or the model (<code>--model</code>) to compare "
                "real and synthetic columns.</p>"
            ]
        real = _sample_rows(self.bundle.train, MAX_ROWS, self.seed)
        synth = _sample_rows(frame, MAX_ROWS, self.seed)
        columns = list(schema.columns[:MAX_COLUMNS])
        more = len(schema.columns) - len(columns)
        png, scores = figures.column_distributions(real, synth, schema, columns)
        out = [
            f'<p class="note">Real: {len(real):,} training rows'
            + (
                f" (a seeded sample of {len(self.bundle.train):,})"
                if len(real) < len(self.bundle.train)
                else ""
            )
            + f"; synthetic: {len(synth):,} rows {_e(source)}."
            + (
                f" The first {len(columns)} of {len(schema.columns)} columns are shown."
                if more > 0
                else ""
            )
            + "</p>",
            "<h3>Column distributions</h3>",
            _figure(
                png,
                "Numbers: density histograms (values beyond the 0.5–99.5% quantiles fall in the "
                "edge bins); categories: relative frequencies of the most frequent real ones. "
                "Panel titles give the column-shape score (1 = same distribution).",
                wide=True,
            ),
        ]
        worst = sorted(scores, key=lambda s: s["score"] if finite(s["score"]) else math.inf)[:8]
        rows = [
            f"<tr><td>{_e(s['column'])}</td><td>{_e(s['kind'])}</td><td>{_e(s['metric'])}</td>"
            f"<td class='num'>{_num(s['score'])}</td><td class='num'>{_pct(s['missing_real'])}"
            f"</td><td class='num'>{_pct(s['missing_synthetic'])}</td></tr>"
            for s in worst
        ]
        out += [
            "<h3>Least faithful columns</h3>",
            _table(
                "<tr><th>column</th><th>kind</th><th>metric</th><th>score</th>"
                "<th>missing (real)</th><th>missing (synthetic)</th></tr>",
                rows,
            ),
        ]
        if len(columns) >= 2:
            png, diff = figures.association_difference(real, synth, columns)
            mean = float(np.nanmean(diff)) if np.isfinite(diff).any() else math.nan
            out += [
                "<h3>Association difference</h3>",
                _figure(
                    png,
                    "|association(real) − association(synthetic)| per pair of columns: Pearson's "
                    "r for two numbers, Cramér's V (numbers cut into 10 bins, missing as a "
                    "category) for a pair with a category. 0: the synthetic rows keep the "
                    f"relationship. Mean over pairs: {_num(mean)}.",
                    wide=len(columns) > 12,
                ),
            ]
        return out

    def _synthetic_frame(self) -> tuple[pd.DataFrame | None, str]:
        schema = self.bundle.schema
        if self.synthetic is not None:
            return read_synthetic_table(self.synthetic, schema), f"from {self.synthetic}"
        if self.model is not None:
            n = min(MODEL_ROWS, max(len(self.bundle.train), 1))
            return sample_table(self.model, schema, n, self.seed), f"sampled from {self.model}"
        return None, ""


class _ImageReport(_Report):
    modality = "image"
    quality_title = "Fidelity"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ratios = sorted(r for r in map(_ratio, self.m["gain"]) if r is not None)
        if not self.ratios:
            raise AugmentError("the metrics file holds no real+synth recipe")

    def best(self) -> tuple[float, dict[str, float]]:
        return _best_ratio(self.m["gain"], self.ratios, lambda ci: ci)

    def _classic_synth(self, gains: dict[str, Any]) -> tuple[str, dict[str, float]] | None:
        name = next((k for k in gains if k.startswith("real+classic+synth@")), None)
        return (name, gains[name]) if name else None

    def derived_verdict(self) -> str:
        r, ci = self.best()
        text = (
            f"real + {r:g}× synthetic: {self.metric_label} {_fmt(ci)} vs real only "
            f"({self.m.get('classifier', '?')}, 95% CI, {self.m.get('seeds', '?')} seeds)"
        )
        if "real+classic" in self.m["gain"]:
            text += f"; classic augmentation: {_fmt(self.m['gain']['real+classic'])}"
        return text

    def subtitle(self) -> str:
        s = self.bundle.schema
        return (
            f"Images · {Path(self.bundle.path).name} · {s.size}×{s.size} px, "
            f"{'grey' if s.channels == 1 else 'RGB'} · {len(s.classes)} classes · "
            f"{len(self.bundle.train):,} real training images · classifier "
            f"{self.m.get('classifier', '?')} · {self.m.get('seeds', '?')} seeds · primary metric "
            f"{self.metric_label}"
        )

    def cards(self) -> list[str]:
        gain = self.m["gain"]
        r, ci = self.best()
        out = [
            _card(
                f"Real only · {self.m.get('classifier', '')}",
                _num(self.m["real"][self.metric]),
                self.metric_label,
            ),
            _gain_card(f"Best mix · real + {r:g}× synthetic", ci),
        ]
        if "real+classic" in gain:
            out.append(_gain_card("Classic augmentation", gain["real+classic"]))
        both = self._classic_synth(gain)
        if both:
            out.append(_gain_card(f"Classic + {_ratio(both[0]):g}× synthetic", both[1]))
        low = self.m.get("low_data") or {}
        if low:
            key = min(low, key=int)
            block = low[key]
            name = next((k for k in block["gain"] if k.startswith("real+synth@")), None)
            if name:
                detail = f"{block['images']:,} real + {_ratio(name):g}× synthetic"
                out.append(
                    _gain_card(f"Scarce data · {key} per class", block["gain"][name], detail)
                )
        fid = self.m.get("fidelity") or {}
        if fid:
            out.append(
                _card(
                    "Fréchet distance",
                    _num(fid.get("frechet_distance"), 3, general=True),
                    f"real vs real: {_num(fid.get('reference_frechet_distance'), 3, True)} · "
                    f"precision {_num(fid.get('precision'), 2)} · recall "
                    f"{_num(fid.get('recall'), 2)}",
                )
            )
        return out

    def gain_figures(self) -> list[str]:
        ratio = read_plot_csv(self.plots / "gain_vs_ratio.csv")
        both = self._classic_synth(self.m["gain"])
        mix = _ratio(both[0]) if both else 1.0
        names = {
            "synthetic": ("real + synthetic", PALETTE[0], False),
            "classic": ("real + classic augmentation", PALETTE[2], True),
            "classic_synthetic": (f"real + classic + {mix:g}× synthetic", PALETTE[3], False),
        }

        def series(frame: pd.DataFrame) -> list[Series]:
            out = []
            for i, column in enumerate(_series_columns(frame)):
                label, colour, dashed = names.get(
                    column, (column, PALETTE[i % len(PALETTE)], False)
                )
                out.append(Series(column, label, colour, dashed))
            return out

        out = [
            _figure(
                figures.gain_figure(
                    ratio,
                    "ratio",
                    series(ratio),
                    title="Gain vs synthetic ratio (all real training images)",
                    xlabel="synthetic images per real image",
                    ylabel=f"{self.metric_label} gain over real only",
                ),
                "Real + synthetic at each mix; classic augmentation (dashed) is the line to beat.",
            )
        ]
        per_class = read_plot_csv(self.plots / "gain_vs_per_class.csv")
        values = per_class["per_class"].to_numpy(dtype=np.float64)
        ticks = [f"{v:g}" for v in values]
        if len(ticks):
            ticks[-1] = f"all\n(~{values[-1]:.0f})"  # the last row is the full training set
        out.append(
            _figure(
                figures.gain_figure(
                    per_class,
                    "per_class",
                    series(per_class),
                    title="Gain vs real images per class",
                    xlabel="real training images per class (GAN retrained on each)",
                    ylabel=f"{self.metric_label} gain over real only",
                    xticklabels=ticks,
                ),
                f"Where real images are scarce; synthetic at the mix ratio {mix:g}.",
            )
        )
        return out

    def recipe_tables(self) -> list[str]:
        gain, real = self.m["gain"], self.m["real"][self.metric]
        rows = [f"<tr><td>real only</td><td class='num'>{_num(real, 4)}</td><td>—</td></tr>"]
        for recipe in _recipe_order(list(gain)):
            ci = gain[recipe]
            score = real + ci["mean"] if finite(ci.get("mean")) else None
            rows.append(
                f"<tr><td>{_e(_recipe_text(recipe))}</td><td class='num'>{_num(score, 4)}</td>"
                f"<td>{_gain_cell(ci)}</td></tr>"
            )
        out = [
            f"<h3>All real training images ({_e(self.metric_label)}, mean over seeds)</h3>",
            _table(
                f"<tr><th>recipe</th><th>{_e(self.metric_label)}</th><th>gain [95% CI]</th></tr>",
                rows,
            ),
        ]
        low = self.m.get("low_data") or {}
        if low:
            keys = sorted(low, key=int)
            heads = "".join(
                f"<th>{_e(k)} per class ({low[k]['images']:,} images)</th>" for k in keys
            )
            reals = "".join(f"<td class='num'>{_num(low[k]['real'], 4)}</td>" for k in keys)
            rows = [f"<tr><td>real only</td>{reals}<td class='num'>{_num(real, 4)}</td></tr>"]
            for recipe in _recipe_order(list(low[keys[0]]["gain"])):
                cells = "".join(f"<td>{_gain_cell(low[k]['gain'].get(recipe))}</td>" for k in keys)
                rows.append(
                    f"<tr><td>{_e(_recipe_text(recipe))}</td>{cells}"
                    f"<td>{_gain_cell(gain.get(recipe))}</td></tr>"
                )
            out += [
                f"<h3>Low-data sweep ({_e(self.metric_label)}: real-only score, then gain)</h3>",
                _table(f"<tr><th>recipe</th>{heads}<th>all images</th></tr>", rows),
            ]
        out.append(
            '<p class="note">Green / red: the 95% interval lies above / below 0. Synthetic only: '
            "as many synthetic images as real ones (the classification accuracy score). "
            "Accuracy and the comparisons against classic augmentation are in the full summary "
            "below.</p>"
        )
        return out

    def quality(self) -> list[str]:
        fid = self.m.get("fidelity") or {}
        rows = []
        for name, block in (
            ("classifier features", fid),
            ("Inception-v3", self.m.get("inception")),
        ):
            if not block:
                continue
            rows.append(
                f"<tr><td>{name}</td><td>synthetic vs real test</td>"
                + "".join(
                    f"<td class='num'>{_num(block.get(k), 3, general=True)}</td>"
                    for k in ("frechet_distance", "precision", "recall", "density", "coverage")
                )
                + "</tr>"
            )
            rows.append(
                f"<tr><td>{name}</td><td>real train vs real test</td><td class='num'>"
                f"{_num(block.get('reference_frechet_distance'), 3, general=True)}</td>"
                + "<td></td>" * 4
                + "</tr>"
            )
        return [
            _table(
                "<tr><th>features</th><th>compared</th><th>Fréchet distance</th><th>precision</th>"
                "<th>recall</th><th>density</th><th>coverage</th></tr>",
                rows,
            ),
            '<p class="note">Fréchet distance and precision / recall / density / coverage (Naeem '
            "et al. 2020) on the penultimate features of the real-only classifier; the real "
            "train vs test row is the floor a perfect generator would reach. Comparable between "
            "models scored with the same extractor only.</p>",
        ]

    def real_vs_synthetic(self) -> list[str]:
        schema = self.bundle.schema
        synth, source = self._synthetic_images()
        if synth is None:
            samples = self.plots / "samples.png"
            if samples.is_file():
                return [
                    f'<p class="note">Per class: real images beside synthetic ones ({_e(samples)}).'
                    "</p>",
                    _figure(
                        samples.read_bytes(), "Real and synthetic images per class.", pixelated=True
                    ),
                ]
            return [
                '<p class="note">No synthetic images given: pass the generated folder '
                "(<code>--synthetic</code>) or the model (<code>--model</code>).</p>"
            ]
        train = self.bundle.train
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(train))
        classes = list(range(len(schema.classes)))[:MAX_CLASSES]
        rows = []
        for c in classes:
            pick = order[train.labels[order] == c][:IMAGES_PER_CLASS]
            real = _strip(train.images[pick]) if len(pick) else "<span class='note'>none</span>"
            fake = synth.get(c)
            fake_html = (
                _strip(fake) if fake is not None and len(fake) else "<span class='note'>none</span>"
            )
            rows.append(
                f"<tr><th class='cls'>{_e(schema.classes[c])}</th><td>{real}</td>"
                f"<td>{fake_html}</td></tr>"
            )
        more = len(schema.classes) - len(classes)
        return [
            f'<p class="note">Per class: up to {IMAGES_PER_CLASS} real training images (a seeded '
            f"draw) and {IMAGES_PER_CLASS} synthetic ones {_e(source)}."
            + (
                f" The first {len(classes)} of {len(schema.classes)} classes are shown."
                if more > 0
                else ""
            )
            + "</p>",
            _table("<tr><th>class</th><th>real</th><th>synthetic</th></tr>", rows, cls="grid"),
        ]

    def _synthetic_images(self) -> tuple[dict[int, np.ndarray] | None, str]:
        schema = self.bundle.schema
        if self.synthetic is not None:
            images = read_synthetic_images(self.synthetic, schema, IMAGES_PER_CLASS)
            return images, f"from {self.synthetic}"
        if self.model is not None:
            images = sample_images(self.model, schema, IMAGES_PER_CLASS, self.seed)
            return images, f"sampled from {self.model}"
        return None, ""


# -- recipes and numbers -------------------------------------------------------------------------
def _ratio(recipe: str) -> float | None:
    """The synthetic ratio of ``real+synth@r`` (and ``real+classic+synth@r``), else None."""
    if "@" not in recipe:
        return None
    try:
        return float(recipe.rsplit("@", 1)[1])
    except ValueError:
        return None


def _best_ratio(gains: dict[str, Any], ratios: Sequence[float], pick: Any) -> tuple[float, dict]:
    """The plain ``real+synth@r`` recipe with the highest mean gain (ties: the smaller ratio)."""
    best, best_ci = ratios[0], None
    for r in ratios:
        per = gains.get(f"real+synth@{float(r)}")
        if per is None:
            continue
        ci = pick(per)
        mean = ci.get("mean") if ci else None
        if finite(mean) and (best_ci is None or mean > best_ci["mean"]):
            best, best_ci = r, ci
    return best, best_ci or {"mean": math.nan, "low": math.nan, "high": math.nan}


def _recipe_order(names: list[str]) -> list[str]:
    def key(name: str) -> tuple[int, float, str]:
        ratio = _ratio(name) or 0.0
        if name == "real+classic":
            return (0, 0.0, name)
        if name.startswith("real+synth@"):
            return (1, ratio, name)
        if name.startswith("real+classic+synth@"):
            return (2, ratio, name)
        if name == "synth":
            return (3, 0.0, name)
        if name == "real+smote":
            return (4, 0.0, name)
        return (5, ratio, name)

    return sorted((n for n in names if n != "real"), key=key)


def _recipe_text(name: str) -> str:
    ratio = _ratio(name)
    if name.startswith("real+synth@") and ratio is not None:
        return f"real + {ratio:g}× synthetic"
    if name.startswith("real+classic+synth@") and ratio is not None:
        return f"real + classic + {ratio:g}× synthetic"
    return {
        "synth": "synthetic only",
        "real+smote": "real + SMOTE",
        "real+classic": "real + classic augmentation",
    }.get(name, name)


def _series_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a plot CSV that have ``_low`` and ``_high`` bounds beside them."""
    cols = set(frame.columns)
    return [c for c in frame.columns[1:] if f"{c}_low" in cols and f"{c}_high" in cols]


def _fmt(ci: dict[str, float]) -> str:
    if not finite(ci.get("low")) or not finite(ci.get("high")):
        return f"{_signed(ci.get('mean'))} (no interval)"
    return f"{_signed(ci['mean'])} [{_signed(ci['low'])}, {_signed(ci['high'])}]"


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if finite(value) else "n/a"


def _interval(ci: dict[str, float]) -> str:
    if not finite(ci.get("low")) or not finite(ci.get("high")):
        return "n/a (one seed)"
    return f"[{_signed(ci['low'])}, {_signed(ci['high'])}]"


def _num(value: Any, digits: int = 3, general: bool = False) -> str:
    if not finite(value):
        return "n/a"
    if general and abs(value) >= 1:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return f"{value:.1%}" if finite(value) else "n/a"


def _sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


# -- HTML pieces ---------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, caption: str, *, wide: bool = False, pixelated: bool = False) -> str:
    cls = "fig wide" if wide else "fig"
    style = ' class="pixelated"' if pixelated else ""
    return (
        f'<figure class="{cls}"><img{style} src="{_data_uri(png)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _strip(images: np.ndarray) -> str:
    png = figures.image_strip(images)
    return f'<img class="pixelated" src="{_data_uri(png)}" alt="{len(images)} images">'


def _card(title: str, value: str, detail: str, tone: str = "plain") -> str:
    return (
        f'<div class="card {tone}"><div class="card-title">{_e(title)}</div>'
        f'<div class="card-value">{_e(value)}</div>'
        f'<div class="card-detail">{_e(detail)}</div></div>'
    )


def _gain_card(title: str, ci: dict[str, float], detail: str = "") -> str:
    """A headline gain: its mean, the detail, and the 95% interval on a line of its own."""
    return (
        f'<div class="card {_tone(ci)}"><div class="card-title">{_e(title)}</div>'
        f'<div class="card-value">{_e(_signed(ci.get("mean")))}</div>'
        + (f'<div class="card-detail">{_e(detail)}</div>' if detail else "")
        + f'<div class="card-detail ci-line">95% CI {_e(_interval(ci))}</div></div>'
    )


def _gain_cell(ci: dict[str, float] | None) -> str:
    if not ci or not finite(ci.get("mean")):
        return "<span class='ns'>n/a</span>"
    tone = {"good": "pos", "bad": "neg"}.get(_tone(ci), "ns")
    return (
        f"<span class='{tone}'>{_signed(ci['mean'])}</span> <span class='ci'>{_interval(ci)}</span>"
    )


def _table(head: str, rows: list[str], cls: str = "data") -> str:
    return f'<table class="{cls}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _footer(inputs: dict[str, Any]) -> str:
    from augment import __version__

    items = "".join(
        f"<li>{_e(name)}: <code>{_e(value)}</code></li>"
        for name, value in inputs.items()
        if value is not None
    )
    return (
        f"<footer><p>Written by <code>augment report</code> (augment {_e(__version__)}) from:</p>"
        f"<ul>{items}</ul></footer>"
    )


CSS = """
:root { --good:#1a7f37; --good-bg:#e7f5ea; --bad:#b42318; --bad-bg:#fdecea;
  --neutral:#8a5a00; --neutral-bg:#fff4d6; --ink:#1f2328; --muted:#59636e; --line:#d8dee4; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f8fa; color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1160px; margin:0 auto; padding:24px 28px 48px; background:#fff;
  min-height:100vh; box-shadow:0 0 0 1px var(--line); }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:20px; margin:36px 0 10px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:16px; margin:22px 0 8px; }
.sub { color:var(--muted); margin:0 0 18px; }
.verdict { border-radius:8px; padding:14px 18px; border-left:6px solid; margin:8px 0 18px; }
.verdict.good { background:var(--good-bg); border-color:var(--good); }
.verdict.bad { background:var(--bad-bg); border-color:var(--bad); }
.verdict.neutral { background:var(--neutral-bg); border-color:var(--neutral); }
.verdict .tag { font-weight:700; text-transform:uppercase; letter-spacing:.04em; font-size:13px; }
.verdict.good .tag { color:var(--good); } .verdict.bad .tag { color:var(--bad); }
.verdict.neutral .tag { color:var(--neutral); }
.verdict-text { font-size:17px; font-weight:600; margin:6px 0 0; }
.verdict-low { margin:8px 0 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(165px, 1fr)); gap:12px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 12px; border-top-width:4px; }
.card.good { border-top-color:var(--good); } .card.bad { border-top-color:var(--bad); }
.card.neutral { border-top-color:#d4a72c; } .card.plain { border-top-color:#8c959f; }
.card-title { font-size:12.5px; color:var(--muted); }
.card-value { font-size:24px; font-weight:700; font-variant-numeric:tabular-nums; }
.card-detail { font-size:12.5px; color:var(--muted); }
.ci-line { white-space:nowrap; font-variant-numeric:tabular-nums; }
.figs { display:grid; grid-template-columns:repeat(auto-fit, minmax(480px, 1fr)); gap:14px; }
figure { margin:0; }
figure img { display:block; max-width:100%; height:auto; margin:0 auto; }
figcaption { font-size:13px; color:var(--muted); margin-top:4px; }
img.pixelated { image-rendering:pixelated; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13.5px; }
table.data th, table.data td, .md th, .md td { border-bottom:1px solid var(--line);
  padding:4px 10px; text-align:left; vertical-align:top; }
table.data thead th, .md thead th { background:#f6f8fa; font-weight:600; }
table.data tbody tr:nth-child(even), .md tbody tr:nth-child(even) { background:#fafbfc; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.pos { color:var(--good); font-weight:700; } .neg { color:var(--bad); font-weight:700; }
.ns { color:var(--ink); } .ci { color:var(--muted); font-size:12.5px; white-space:nowrap; }
table.grid td, table.grid th { padding:3px 8px; border-bottom:1px solid var(--line); }
table.grid th.cls { text-align:right; font-weight:600; }
table.grid img { max-width:100%; }
.note { color:var(--muted); font-size:13.5px; }
details { margin-top:36px; border:1px solid var(--line); border-radius:8px; padding:8px 14px; }
details > summary { cursor:pointer; font-weight:600; }
.md h3 { font-size:17px; } .md h4 { font-size:15px; }
code { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px;
  background:#f2f4f6; padding:1px 4px; border-radius:4px; }
footer { margin-top:32px; color:var(--muted); font-size:12.5px; }
footer ul { margin:4px 0; padding-left:20px; }
"""


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # No script, and no loads from anywhere but this page (images are data: URIs).
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">\n"
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


__all__ = ["render_report", "write_report"]
