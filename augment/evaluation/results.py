"""The typed result of an evaluation, for tables and images alike.

:class:`EvaluationResult` records the modality, the dataset, the recipes, every per-seed score
and, from them, the means and paired gains with 95% intervals (:class:`Block`, one per amount of
real data), fidelity, privacy and the verdicts. It is written once, as the metrics JSON
(:meth:`EvaluationResult.to_dict`); the Markdown summary and the HTML report are both rendered
from it, and :meth:`EvaluationResult.from_dict` reads it back.

The JSON holds two views of the same numbers:

* the tracked numbers, at the top level under the keys ``dvc metrics show`` / ``diff`` read
  (``real``, ``gain``, ``low_data``, ``fidelity``, ``privacy``, ``inception``): primary-metric
  means and gains, rounded to 6 digits, see :meth:`EvaluationResult.tracked`;
* everything else in lists (``recipes``, ``blocks``, ``verdicts``), which DVC does not show, so
  its tables stay readable. ``real``, ``gain`` and ``low_data`` are rebuilt from ``blocks`` when
  the file is read; means and intervals are recomputed from the per-seed scores, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from augment.core.modalities import MODALITIES, TABULAR
from augment.evaluation.recipes import REAL, Recipe, ordered
from augment.evaluation.stats import mean_ci, paired_gains

CI_LEVEL = 0.95
TRACKED_DIGITS = 6

Scores = dict[str, dict[str, dict[str, list[float]]]]  # recipe -> classifier -> metric -> seeds


class BlockScores(NamedTuple):
    """One block's per-seed scores on the test split and on the validation split (empty where
    the block had no validation data)."""

    test: Scores
    validation: Scores


# -- intervals -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its Student-t 95% interval; NaN bounds when it is undefined (one
    seed), NaN everywhere when there is no value."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Interval:
        ci = mean_ci(values, CI_LEVEL)
        return cls(ci["mean"], ci["low"], ci["high"], int(ci["n"]))

    @property
    def direction(self) -> str:
        """``up`` / ``down`` when the interval lies above / below 0, ``none`` when it holds 0,
        ``unknown`` when there is no interval."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "unknown"
        return "up" if self.low > 0 else "down" if self.high < 0 else "none"

    def bounds_text(self) -> str:
        """``[+0.012, +0.050]``. A bound that three decimals would show as 0 keeps one
        significant digit (``[+0.0004, +0.009]``), so an interval that excludes 0 never reads
        as one that touches it."""
        return f"[{_signed_bound(self.low)}, {_signed_bound(self.high)}]"

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def bounds(self) -> dict[str, float]:
        """Mean, low and high: what the tracked numbers keep."""
        return {"mean": self.mean, "low": self.low, "high": self.high}


# -- one amount of real data ---------------------------------------------------------------------
@dataclass
class Block:
    """Every recipe's scores on one amount of real training data (the whole split, or a reduced
    one of the low-data sweep), with their means and the paired gains.

    ``key`` names the block in the metrics (``"1.0"``, ``"0.1"`` for tables; ``"all"``, ``"10"``
    for images); ``label`` is its short name in tables and axes (``10%``, ``10 per class``);
    ``description`` its name in a sentence (``10% of the real rows``); ``size`` the real rows or
    images it trains on; ``fraction`` their share of the training split; ``per_class`` the
    images per class (images only; the mean for the whole split). ``scores`` holds the per-seed
    scores; ``versus`` the recipes the paired gains are taken against (real only first).
    ``costs`` (images; empty where not recorded, as in older results) holds what each recipe's
    fits cost, per seed: ``costs[recipe]["steps"]`` optimizer steps run (fewer than the budget
    when a fit stopped early) and ``costs[recipe]["seconds"]``. ``validation`` holds the same
    fits' scores on the validation split (empty where not recorded, as in older results): the
    verdict chooses its mix by them, so that the test split scores the choice once.
    """

    key: str
    label: str
    description: str
    size: int
    fraction: float
    full: bool
    synthesizer: str
    scores: Scores
    per_class: float | None = None
    versus: tuple[str, ...] = (REAL,)
    costs: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    validation: Scores = field(default_factory=dict)
    summary: dict[str, dict[str, dict[str, Interval]]] = field(init=False, repr=False)
    gains: dict[str, dict[str, dict[str, dict[str, Interval]]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.versus = tuple(b for b in self.versus if b in self.scores)
        self.summary = {
            recipe: {c: {m: Interval.of(v) for m, v in per.items()} for c, per in by_clf.items()}
            for recipe, by_clf in self.scores.items()
        }
        # A gain is paired per seed: recipe minus baseline with the same seed. Each baseline's
        # gains cover the recipes other than itself and the baselines before it.
        self.gains = {}
        for i, base in enumerate(self.versus):
            skip = set(self.versus[: i + 1]) | {REAL}
            self.gains[base] = {
                recipe: {
                    c: {
                        m: Interval.of(paired_gains(v, self.scores[base][c][m]))
                        for m, v in per.items()
                    }
                    for c, per in by_clf.items()
                }
                for recipe, by_clf in self.scores.items()
                if recipe not in skip
            }

    @property
    def recipes(self) -> list[str]:
        return list(self.scores)

    def values(self, recipe: str, classifier: str, metric: str) -> list[float]:
        return self.scores[recipe][classifier][metric]

    def score(self, recipe: str, classifier: str, metric: str) -> Interval:
        return self.summary[recipe][classifier][metric]

    def gain(
        self, recipe: str, classifier: str, metric: str, versus: str = REAL
    ) -> Interval | None:
        """The paired gain of ``recipe`` over ``versus``; None where it was not measured."""
        return self.gains.get(versus, {}).get(recipe, {}).get(classifier, {}).get(metric)

    def validation_gain(self, recipe: str, classifier: str, metric: str) -> Interval | None:
        """The paired gain of ``recipe`` over real only on the validation split; None where
        it was not recorded."""
        try:
            mine = self.validation[recipe][classifier][metric]
            real = self.validation[REAL][classifier][metric]
        except KeyError:
            return None
        return Interval.of(paired_gains(mine, real))

    def cost(self, recipe: str) -> dict[str, float] | None:
        """The mean ``steps`` and ``seconds`` of a recipe's fits over seeds; None where they
        were not recorded."""
        per = self.costs.get(recipe)
        if not per:
            return None
        return {what: float(np.mean(values)) for what, values in per.items() if values}

    def to_dict(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "size": self.size,
            "fraction": self.fraction,
            "per_class": self.per_class,
            "full": self.full,
            "synthesizer": self.synthesizer,
            "versus": list(self.versus),
            "scores": self.scores,
            "summary": _map_intervals(self.summary, 3),
            "gains": _map_intervals(self.gains, 4),
        }
        if self.costs:
            out["costs"] = self.costs
        if self.validation:
            out["validation_scores"] = self.validation
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Block:
        scores = _scores(data["scores"])
        per_class = data.get("per_class")
        return cls(
            key=str(data["key"]),
            label=str(data["label"]),
            description=str(data["description"]),
            size=int(data["size"]),
            fraction=float(data["fraction"]),
            full=bool(data["full"]),
            synthesizer=str(data["synthesizer"]),
            scores=scores,
            per_class=None if per_class is None else float(per_class),
            versus=tuple(data.get("versus") or (REAL,)),
            costs={
                recipe: {
                    what: [int(v) if what == "steps" else float(v) for v in values]
                    for what, values in per.items()
                }
                for recipe, per in (data.get("costs") or {}).items()
            },
            validation=_scores(data.get("validation_scores") or {}),
        )


def _scores(data: dict[str, Any]) -> Scores:
    return {
        recipe: {
            c: {m: [_number(v) for v in values] for m, values in per.items()}
            for c, per in by_clf.items()
        }
        for recipe, by_clf in data.items()
    }


def _map_intervals(tree: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth == 0:
        return tree.to_dict()  # type: ignore[attr-defined]
    return {k: _map_intervals(v, depth - 1) for k, v in tree.items()}


# -- verdicts ------------------------------------------------------------------------------------
HELPS, HURTS, UNCLEAR, UNTESTED = "helps", "hurts", "unclear", "untested"
TONE_WORDS = {
    HELPS: "synthetic data helps",
    HURTS: "synthetic data hurts",
    UNCLEAR: "no significant gain",
    UNTESTED: "no interval from one seed",
}


@dataclass(frozen=True)
class Verdict:
    """One line on one block: the headline recipe's paired gain on the primary metric, with how
    it was chosen, and the baselines beside it. ``tone`` is one of :data:`TONE_WORDS`."""

    text: str
    block: str
    recipe: str
    classifier: str
    metric: str
    gain: Interval
    tone: str
    chosen: str
    # Decided on the validation split before the test gain is read: the headline recipe where
    # its validation gain lies above zero, else REAL (add no synthetic data); None without
    # validation scores.
    recommended: str | None = None
    validation_gain: Interval | None = None

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "block": self.block,
            "recipe": self.recipe,
            "classifier": self.classifier,
            "metric": self.metric,
            "gain": self.gain.to_dict(),
            "tone": self.tone,
            "chosen": self.chosen,
            "recommended": self.recommended,
            "validation_gain": self.validation_gain and self.validation_gain.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        recommended, validation = data.get("recommended"), data.get("validation_gain")
        return cls(
            text=str(data["text"]),
            block=str(data["block"]),
            recipe=str(data["recipe"]),
            classifier=str(data["classifier"]),
            metric=str(data["metric"]),
            gain=_interval(data["gain"]),
            tone=str(data["tone"]),
            chosen=str(data.get("chosen") or ""),
            recommended=None if recommended is None else str(recommended),
            validation_gain=None if validation is None else _interval(validation),
        )


def _signed_bound(value: float) -> str:
    text = f"{value:+.3f}"
    return f"{value:+.1g}" if value != 0 and float(text) == 0 else text


def _interval(data: dict[str, Any]) -> Interval:
    return Interval(*(_number(data[k]) for k in ("mean", "low", "high")), int(data["n"]))


# -- what was evaluated --------------------------------------------------------------------------
@dataclass
class Dataset:
    """The prepared data: its folder, classes and split sizes (rows or images, ``unit``); for
    tables the label column and the minority class, for images their size and channels.
    ``sampled_from``: the full sizes of the splits of which the evaluation read a sample (see
    ``max_rows``); the split sizes above are what it read."""

    path: str
    classes: list[Any]
    unit: str
    train: int
    validation: int | None
    test: int
    label: str | None = None
    minority_class: Any = None
    image_size: int | None = None
    channels: int | None = None
    sampled_from: dict[str, int] | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dataset:
        return cls(**{k: data.get(k) for k in _DATASET_FIELDS})


_DATASET_FIELDS = (
    "path", "classes", "unit", "train", "validation", "test", "label", "minority_class",
    "image_size", "channels", "sampled_from",
)  # fmt: skip


@dataclass
class ModelRecord:
    """The synthesizer evaluated: its registry name and the folder it was loaded from (None
    when it was fitted in the same call)."""

    name: str
    dir: str | None = None

    @classmethod
    def of(cls, synthesizer: Any, model_dir: str | Path | None) -> ModelRecord:
        name = getattr(synthesizer, "name", type(synthesizer).__name__)
        return cls(name=str(name), dir=None if model_dir is None else str(model_dir))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dir": self.dir}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        folder = data.get("dir")
        return cls(name=str(data["name"]), dir=None if folder is None else str(folder))


# -- fidelity and privacy ------------------------------------------------------------------------
@dataclass
class ColumnShape:
    column: str
    metric: str
    score: float


@dataclass
class PairTrend:
    column_1: str
    column_2: str
    metric: str
    score: float
    similarity: float
    real_correlation: float
    synthetic_correlation: float
    real_association: float
    meets_threshold: bool


@dataclass
class TableFidelity:
    """Column shapes, column pair trends and their mean (SDMetrics' QualityReport method, see
    :mod:`augment.tabular.evaluation.fidelity`), with every column's and pair's score."""

    overall: float
    column_shapes: float
    column_pair_trends: float
    column_pair_trends_all_pairs: float
    real_rows: int
    synthetic_rows: int
    correlation_threshold: float
    association_threshold: float
    columns: list[ColumnShape]
    pairs: list[PairTrend]

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> TableFidelity:
        """From :func:`~augment.tabular.evaluation.fidelity.quality_report`'s dict, or JSON."""
        return cls(
            overall=_number(report["overall"]),
            column_shapes=_number(report["column_shapes"]),
            column_pair_trends=_number(report["column_pair_trends"]),
            column_pair_trends_all_pairs=_number(report["column_pair_trends_all_pairs"]),
            real_rows=int(report["rows"]["real"]),
            synthetic_rows=int(report["rows"]["synthetic"]),
            correlation_threshold=float(report["thresholds"]["correlation"]),
            association_threshold=float(report["thresholds"]["association"]),
            columns=[
                ColumnShape(str(c["column"]), str(c["metric"]), _number(c["score"]))
                for c in report["columns"]
            ],
            pairs=[
                PairTrend(
                    **{k: _number(p[k]) for k in _PAIR_NUMBERS},
                    column_1=str(p["column_1"]),
                    column_2=str(p["column_2"]),
                    metric=str(p["metric"]),
                    meets_threshold=bool(p["meets_threshold"]),
                )
                for p in report["pairs"]
            ],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.tracked(),
            "column_pair_trends_all_pairs": self.column_pair_trends_all_pairs,
            "rows": {"real": self.real_rows, "synthetic": self.synthetic_rows},
            "thresholds": {
                "correlation": self.correlation_threshold,
                "association": self.association_threshold,
            },
            "columns": [vars(c) for c in self.columns],
            "pairs": [vars(p) for p in self.pairs],
        }

    def tracked(self) -> dict[str, float]:
        return {
            "overall": self.overall,
            "column_shapes": self.column_shapes,
            "column_pair_trends": self.column_pair_trends,
        }


_PAIR_NUMBERS = (
    "score", "similarity", "real_correlation", "synthetic_correlation", "real_association",
)  # fmt: skip


@dataclass
class Privacy:
    """Distance to closest record (:mod:`augment.tabular.evaluation.privacy`): the share of
    synthetic rows nearer a training row than any holdout row (0.5: no memorisation), medians
    and exact copies."""

    dcr_share_closer_to_train: float
    median_dcr_synth_train: float
    median_dcr_synth_holdout: float
    median_dcr_holdout_train: float
    exact_copies: float
    train_rows: int
    holdout_rows: int
    synthetic_rows: int

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> Privacy:
        """From :func:`~augment.tabular.evaluation.privacy.dcr_report`'s dict, or JSON."""
        share = report.get("dcr_share_closer_to_train", report.get("share_closer_to_train"))
        rows = report["rows"]
        return cls(
            dcr_share_closer_to_train=_number(share),
            median_dcr_synth_train=_number(report["median_dcr_synth_train"]),
            median_dcr_synth_holdout=_number(report["median_dcr_synth_holdout"]),
            median_dcr_holdout_train=_number(report["median_dcr_holdout_train"]),
            exact_copies=_number(report["exact_copies"]),
            train_rows=int(rows["train"]),
            holdout_rows=int(rows["holdout"]),
            synthetic_rows=int(rows["synthetic"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.tracked(),
            "median_dcr_synth_holdout": self.median_dcr_synth_holdout,
            "rows": {
                "train": self.train_rows,
                "holdout": self.holdout_rows,
                "synthetic": self.synthetic_rows,
            },
        }

    def tracked(self) -> dict[str, float]:
        return {
            "dcr_share_closer_to_train": self.dcr_share_closer_to_train,
            "median_dcr_synth_train": self.median_dcr_synth_train,
            "median_dcr_holdout_train": self.median_dcr_holdout_train,
            "exact_copies": self.exact_copies,
        }


FEATURE_SCORES = ("frechet_distance", "precision", "recall", "density", "coverage")


@dataclass
class FeatureFidelity:
    """Fréchet distance and precision / recall / density / coverage of synthetic against real
    test images on one feature extractor's features, and the same for real training images (the
    ``reference``: what a generator that reproduced the training images would get)."""

    extractor: str
    features: int
    synthetic: dict[str, float]
    reference: dict[str, float]
    weights: str | None = None

    @classmethod
    def from_scores(
        cls, extractor: str, features: int, scores: dict[str, Any], weights: str | None = None
    ) -> FeatureFidelity:
        """From :func:`~augment.images.evaluation.fidelity.fidelity_scores`' dict."""
        return cls(
            extractor=extractor,
            features=int(features),
            synthetic={m: _number(scores[m]) for m in FEATURE_SCORES},
            reference={m: _number(scores["reference"][m]) for m in FEATURE_SCORES},
            weights=weights,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"extractor": self.extractor, "features": self.features}
        if self.weights is not None:
            out["weights"] = self.weights
        out.update(self.synthetic)
        out.update({f"reference_{m}": v for m, v in self.reference.items()})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureFidelity:
        return cls(
            extractor=str(data["extractor"]),
            features=int(data["features"]),
            synthetic={m: _number(data[m]) for m in FEATURE_SCORES},
            reference={m: _number(data[f"reference_{m}"]) for m in FEATURE_SCORES},
            weights=data.get("weights"),
        )

    def tracked(self) -> dict[str, float]:
        return {
            "frechet_distance": self.synthetic["frechet_distance"],
            "reference_frechet_distance": self.reference["frechet_distance"],
            **{m: self.synthetic[m] for m in FEATURE_SCORES[1:]},
        }


@dataclass
class ImageFidelity:
    """Image fidelity on ``images`` real test images: on the downstream classifier's features,
    and on Inception-v3's when local weights were given (else ``inception_skipped`` says why)."""

    images: int
    real_split: str
    prdc_k: int
    classifier: FeatureFidelity
    inception: FeatureFidelity | None = None
    inception_skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "real_split": self.real_split,
            "prdc_k": self.prdc_k,
            **self.classifier.to_dict(),
        }

    def inception_dict(self) -> dict[str, Any]:
        if self.inception is None:
            return {"skipped": self.inception_skipped}
        return self.inception.to_dict()

    @classmethod
    def from_dict(cls, data: dict[str, Any], inception: dict[str, Any] | None) -> ImageFidelity:
        inception = inception or {}
        computed = "frechet_distance" in inception
        return cls(
            images=int(data["images"]),
            real_split=str(data["real_split"]),
            prdc_k=int(data["prdc_k"]),
            classifier=FeatureFidelity.from_dict(data),
            inception=FeatureFidelity.from_dict(inception) if computed else None,
            inception_skipped="" if computed else str(inception.get("skipped", "")),
        )


# -- the result ----------------------------------------------------------------------------------
@dataclass
class EvaluationResult:
    """Everything one evaluation found. ``blocks`` run from the least real data to the whole
    training split (last); ``classifiers[0]`` and ``primary_metric`` are what the verdicts and
    the tracked numbers use; ``sweep_ratio`` is the mix drawn across the low-data sweep;
    ``interval_covers`` says, in one sentence, what the seeds of an interval vary; ``skipped``
    lists sweep points left out, with why. ``samples`` (images: real beside synthetic, a PNG) is
    written beside the metrics, not into them."""

    modality: str
    dataset: Dataset
    model: ModelRecord
    settings: dict[str, Any]
    metrics: list[str]
    primary_metric: str
    classifiers: list[str]
    recipes: list[Recipe]
    blocks: list[Block]
    fidelity: TableFidelity | ImageFidelity
    sweep_ratio: float
    interval_covers: str
    privacy: Privacy | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    samples: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        self.recipes = ordered(self.recipes)
        self.blocks = sorted(self.blocks, key=lambda b: (b.full, b.fraction))

    # -- lookups
    @property
    def unit(self) -> str:
        return self.dataset.unit

    @property
    def primary_classifier(self) -> str:
        return self.classifiers[0]

    @property
    def seeds(self) -> int:
        return int(self.settings["seeds"])

    @property
    def full(self) -> Block:
        """The block on the whole training split."""
        return next(b for b in self.blocks if b.full)

    @property
    def sweep(self) -> list[Block]:
        """The low-data sweep's blocks, least real data first."""
        return [b for b in self.blocks if not b.full]

    def block(self, key: str) -> Block:
        return next(b for b in self.blocks if b.key == key)

    def recipe(self, name: str) -> Recipe:
        return next(r for r in self.recipes if r.name == name)

    def recipes_in(self, block: Block, *, reference: bool = True) -> list[Recipe]:
        """The block's recipes in the one order (without real only unless ``reference``)."""
        names = set(block.recipes)
        return [r for r in self.recipes if r.name in names and (reference or r.name != REAL)]

    @property
    def verdict(self) -> Verdict:
        """The verdict on the whole training split."""
        return next(v for v in self.verdicts if v.block == self.full.key)

    @property
    def low_data_verdict(self) -> Verdict | None:
        """The verdict where real data is scarcest, if the sweep ran."""
        return next((v for v in self.verdicts if v.block != self.full.key), None)

    # -- the JSON
    def tracked(self) -> dict[str, Any]:
        """The numbers worth tracking across runs (``dvc metrics show`` / ``diff``, DVCLive),
        nested and rounded to 6 digits.

        ``real``: every metric's mean real-only score on the whole training split;
        ``gain.<recipe>``: the paired primary-metric gain over real only (mean, low, high);
        ``low_data.<block>``: the same with less real data (``rows`` or ``images``, the real-only
        score, the gains); then ``fidelity``, ``privacy`` (tables) and ``inception`` (images,
        when computed). Tables nest each number under the classifier (``gain.<recipe>.<clf>.
        <metric>``); images train one classifier, named in ``classifier``, and leave that level
        out. Gains in the other metrics are in the summary and under ``blocks``.
        """
        metric = self.primary_metric
        full = self.full
        others = {b.key: self.recipes_in(b, reference=False) for b in self.blocks}
        out: dict[str, Any] = {"primary_metric": metric}
        low: dict[str, Any] = {}
        if self.modality == TABULAR:
            out["seeds"] = self.seeds
            out["real"] = {
                c: {m: full.score(REAL, c, m).mean for m in self.metrics} for c in self.classifiers
            }
            out["gain"] = {
                r.name: {c: {metric: _bounds(full, r.name, c, metric)} for c in self.classifiers}
                for r in others[full.key]
            }
            for b in self.sweep:
                low[b.key] = {
                    self.unit: b.size,
                    "real": {c: b.score(REAL, c, metric).mean for c in self.classifiers},
                    "gain": {
                        r.name: {c: _bounds(b, r.name, c, metric) for c in self.classifiers}
                        for r in others[b.key]
                    },
                }
        else:
            clf = self.primary_classifier
            out["classifier"] = clf
            out["seeds"] = self.seeds
            out["real"] = {m: full.score(REAL, clf, m).mean for m in self.metrics}
            out["gain"] = {r.name: _bounds(full, r.name, clf, metric) for r in others[full.key]}
            for b in self.sweep:
                low[b.key] = {
                    self.unit: b.size,
                    "real": b.score(REAL, clf, metric).mean,
                    "gain": {r.name: _bounds(b, r.name, clf, metric) for r in others[b.key]},
                }
        if low:
            out["low_data"] = low
        out["fidelity"] = (
            self.fidelity.tracked()
            if isinstance(self.fidelity, TableFidelity)
            else self.fidelity.classifier.tracked()
        )
        if self.privacy is not None:
            out["privacy"] = self.privacy.tracked()
        if isinstance(self.fidelity, ImageFidelity) and self.fidelity.inception is not None:
            out["inception"] = self.fidelity.inception.tracked()
        return _rounded(out, TRACKED_DIGITS)

    def to_dict(self) -> dict[str, Any]:
        """The metrics JSON: the tracked numbers, then the whole result (NaN stays NaN here;
        the writer turns it into null)."""
        out = self.tracked()
        out.update(
            {
                "modality": self.modality,
                "fidelity": self.fidelity.to_dict(),
                "dataset": self.dataset.to_dict(),
                "model": self.model.to_dict(),
                "settings": self.settings,
                "metrics": list(self.metrics),
                "classifiers": list(self.classifiers),
                "sweep_ratio": self.sweep_ratio,
                "interval_covers": self.interval_covers,
                "timings": self.timings,
                "verdicts": [v.to_dict() for v in self.verdicts],
                "recipes": [r.to_dict() for r in self.recipes],
                "blocks": [b.to_dict() for b in self.blocks],
                "skipped": self.skipped,
            }
        )
        if self.privacy is not None:
            out["privacy"] = self.privacy.to_dict()
        if isinstance(self.fidelity, ImageFidelity):
            out["inception"] = self.fidelity.inception_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Read :meth:`to_dict`'s output back (KeyError / TypeError / ValueError when it is not
        one)."""
        modality = str(data["modality"])
        if modality == TABULAR:
            fidelity: TableFidelity | ImageFidelity = TableFidelity.from_dict(data["fidelity"])
        else:
            fidelity = ImageFidelity.from_dict(data["fidelity"], data.get("inception"))
        privacy = data.get("privacy")
        return cls(
            modality=modality,
            dataset=Dataset.from_dict(data["dataset"]),
            model=ModelRecord.from_dict(data["model"]),
            settings=dict(data["settings"]),
            metrics=[str(m) for m in data["metrics"]],
            primary_metric=str(data["primary_metric"]),
            classifiers=[str(c) for c in data["classifiers"]],
            recipes=[Recipe.from_dict(r) for r in data["recipes"]],
            blocks=[Block.from_dict(b) for b in data["blocks"]],
            fidelity=fidelity,
            sweep_ratio=float(data["sweep_ratio"]),
            interval_covers=str(data.get("interval_covers") or ""),
            privacy=Privacy.from_dict(privacy) if privacy else None,
            skipped=list(data.get("skipped") or []),
            timings=dict(data.get("timings") or {}),
            verdicts=[Verdict.from_dict(v) for v in data.get("verdicts") or []],
        )


# -- helpers -------------------------------------------------------------------------------------
def _bounds(block: Block, recipe: str, classifier: str, metric: str) -> dict[str, float]:
    gain = block.gain(recipe, classifier, metric)
    assert gain is not None, (block.key, recipe)
    return gain.bounds()


def _number(value: Any) -> float:
    """JSON null (an undefined number) back to NaN."""
    return math.nan if value is None else float(value)


def _rounded(obj: Any, digits: int) -> Any:
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, float) and math.isfinite(obj):
        return round(obj, digits)
    return obj


__all__ = [
    "Block",
    "Dataset",
    "EvaluationResult",
    "FeatureFidelity",
    "ImageFidelity",
    "Interval",
    "Privacy",
    "TableFidelity",
    "Verdict",
]
