"""Curated synthetic data, one mechanism for tables and images.

A class-conditional GAN is asked for a class and returns a sample; some samples do not look like
their class at all. Curation keeps only the samples that a classifier trained on the **real
training data** (never the test split) assigns to their conditioned class with probability at
least ``threshold`` - the confidence half of Data-IQ / CLLM (Seedat et al., 2024) without the
learning-dynamics half, which needs a classifier's whole training trajectory per sample.

:func:`curate` draws in seeded rounds until every class has what was asked or a cap on draws is
hit (``max_draws`` x what was asked of the class); a class that falls short keeps what passed,
is named in one warning line, and its numbers say so. Each modality only supplies its sampler and
its classifier's ``confidence`` (:mod:`augment.tabular.evaluation.curation`,
:mod:`augment.images.evaluation.curation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from augment.core.runtime import derive_seed
from augment.log import logger

S = TypeVar("S")  # a batch of samples: a DataFrame of rows, an array of images
# A default that keeps a sample its classifier calls more likely its class than not, when
# there are two classes; with more classes, p >= 0.5 still means "this class beats all others
# together". A stricter 0.8 dropped half of some minority classes of a short-trained GAN.
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_DRAWS = 20  # draws per class at most this many times what was asked of it
_MIN_RATE = 0.05  # the acceptance rate assumed at worst when sizing the next round


@dataclass
class ClassCount:
    """What curation did for one class: samples asked, drawn from the generator, kept."""

    asked: int = 0
    drawn: int = 0
    kept: int = 0

    @property
    def short(self) -> bool:
        return self.kept < self.asked

    def to_dict(self) -> dict[str, int]:
        return {"asked": self.asked, "drawn": self.drawn, "kept": self.kept}


@dataclass
class CurationReport:
    """The numbers ``generation.json`` and the logs show: threshold, classifier, per class
    asked / drawn / kept, and the classes that fell short of what was asked."""

    threshold: float
    classifier: str
    max_draws: int = DEFAULT_MAX_DRAWS
    per_class: dict[str, ClassCount] = field(default_factory=dict)

    @property
    def short(self) -> list[str]:
        return [c for c, n in self.per_class.items() if n.short]

    def add(self, other: CurationReport) -> None:
        """Add ``other``'s counts (of a later chunk) to these."""
        for name, count in other.per_class.items():
            mine = self.per_class.setdefault(name, ClassCount())
            mine.asked += count.asked
            mine.drawn += count.drawn
            mine.kept += count.kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "classifier": self.classifier,
            "max_draws": self.max_draws,
            "per_class": {c: n.to_dict() for c, n in self.per_class.items()},
            "short": self.short,
        }


@dataclass
class Curated(Generic[S]):
    """The kept samples, their class indices (in the order asked), and the report."""

    samples: S
    labels: np.ndarray
    report: CurationReport


def curate(
    draw: Callable[[np.ndarray, int], S],
    confidence: Callable[[S, np.ndarray], np.ndarray],
    labels: np.ndarray,
    *,
    classes: Sequence[Any],
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
    classifier: str = "",
    take: Callable[[S, np.ndarray], S],
    concat: Callable[[list[S]], S],
    max_draws: int = DEFAULT_MAX_DRAWS,
    warn: bool = True,
) -> Curated[S]:
    """Keep only samples whose conditioned class gets probability ``>= threshold``.

    ``labels`` are the class indices (positions in ``classes``) wanted, in order;
    ``draw(labels, seed)`` returns samples conditioned on those class indices and
    ``confidence(samples, labels)`` each sample's probability of its own class. ``take`` and
    ``concat`` pick and join samples (``DataFrame.iloc`` / ``pd.concat``, array indexing /
    ``np.concatenate``).

    Rounds draw, per class still short, what is missing divided by the class's acceptance rate
    so far (so one or two rounds usually suffice), each round with its own seed derived from
    ``seed``: the same seed gives the same samples. A class stops at ``max_draws`` x what was
    asked of it; it then keeps what passed. The result lists the kept samples in the order of
    ``labels`` (a short class's missing ones left out).
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = len(classes)
    asked = np.bincount(labels, minlength=k)
    drawn = np.zeros(k, dtype=np.int64)
    kept_parts: list[list[S]] = [[] for _ in range(k)]
    kept = np.zeros(k, dtype=np.int64)
    cap = asked * int(max_draws)
    last: S | None = None
    for round_ in range(10_000):  # ends long before: every round draws at least one sample
        missing = asked - kept
        live = (missing > 0) & (drawn < cap)
        if not live.any():
            break
        rate = np.where(drawn > 0, kept / np.maximum(drawn, 1), 1.0)
        want = np.ceil(missing / np.maximum(rate, _MIN_RATE) * (1.0 if round_ == 0 else 1.2))
        want = np.where(live, np.minimum(want, cap - drawn), 0).astype(np.int64)
        batch_labels = np.repeat(np.arange(k), want)
        samples = last = draw(batch_labels, derive_seed(seed, "curate", round_))
        p = np.asarray(confidence(samples, batch_labels), dtype=np.float64)
        if p.shape != (len(batch_labels),):
            raise ValueError(f"confidence returned shape {p.shape} for {len(batch_labels)} samples")
        passed = p >= threshold
        for c in np.flatnonzero(want):
            where = np.flatnonzero((batch_labels == c) & passed)[: missing[c]]
            if len(where):
                kept_parts[c].append(take(samples, where))
            kept[c] += len(where)
            drawn[c] += want[c]

    report = CurationReport(float(threshold), classifier, int(max_draws))
    for c, name in enumerate(classes):
        if asked[c]:
            report.per_class[str(name)] = ClassCount(int(asked[c]), int(drawn[c]), int(kept[c]))
    if warn and report.short:
        logger.warning("%s", shortfall_line(report))

    # In the order asked: the j-th wanted sample of class c is its j-th kept one, if any.
    by_class = [concat(parts) if parts else None for parts in kept_parts]
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in range(k):
        rank[labels == c] = np.arange(asked[c])
    present = rank < kept[labels]
    order_labels = labels[present]
    starts = np.concatenate([[0], np.cumsum(kept)[:-1]])
    if not len(order_labels):
        nothing = np.zeros(0, dtype=np.int64)
        return Curated(
            take(last, nothing) if last is not None else draw(nothing, seed), nothing, report
        )
    pool = concat([b for b in by_class if b is not None])
    return Curated(take(pool, starts[order_labels] + rank[present]), order_labels, report)


def shortfall_line(report: CurationReport) -> str:
    """One line naming the classes that kept fewer samples than asked."""
    parts = [
        f"{c} kept {report.per_class[c].kept} of {report.per_class[c].asked}" for c in report.short
    ]
    return (
        f"curation: {len(parts)} class(es) fell short after {report.max_draws}x draws at "
        f"threshold {report.threshold:g}: " + "; ".join(parts)
    )


def acceptance(report: CurationReport) -> float:
    """Kept / drawn over all classes (NaN when nothing was drawn)."""
    drawn = sum(n.drawn for n in report.per_class.values())
    kept = sum(n.kept for n in report.per_class.values())
    return kept / drawn if drawn else math.nan
