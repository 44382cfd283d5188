"""The one verdict builder, for tables and images alike.

A verdict is one line on one block of the evaluation: whether synthetic data helps, the headline
recipe's paired gain on the primary metric (primary classifier) with its 95% interval, and the
baselines and combined recipes beside it::

    synthetic data helps: real + 1× synthetic: macro-F1 +0.031 [+0.012, +0.050] vs real only
    (cnn, 95% CI over 3 seeds, best of 2 ratios); real + classic augmentation: +0.020 [...]

The headline recipe is picked by a *chooser* (``choose``). By default (:func:`choose_mix`) it is
the mix (ratio, weight, curation) with the highest mean paired gain on the **validation** split,
so the test split scores the choice once and its interval is honest. Results without validation
scores (older ones) fall back to :func:`best_mix`, the best on the test split, whose interval is
then not adjusted for the choice, which the line says ("best of 4 ratios").

The verdict also *recommends*, on the validation split alone (:func:`recommendation`): of every
recipe a user could adopt instead of real only (the mixes, the cheap baselines such as SMOTE-NC or
classic augmentation, the combined recipes), the one with the highest validation gain among those
whose validation interval lies above zero, else real only. The test gains in the same line then
show what following the recommendation gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from augment.evaluation.output import plural
from augment.evaluation.recipes import BASELINE, COMBINED, MIX, REAL, Recipe
from augment.evaluation.results import (
    HELPS,
    HURTS,
    TONE_WORDS,
    UNCLEAR,
    UNTESTED,
    Block,
    EvaluationResult,
    Interval,
    Verdict,
)
from augment.evaluation.stats import metric_label

# The roles of recipes a verdict may recommend in place of real only: not the synthetic-only
# reference (it drops the real data), nor real only itself.
ADOPTABLE = (MIX, BASELINE, COMBINED)


@dataclass(frozen=True)
class Choice:
    """The recipe a verdict headlines and how it was chosen (``best of 2 ratios``, ``chosen on
    the validation split``; empty when there was nothing to choose from)."""

    recipe: Recipe
    how: str


Chooser = Callable[[EvaluationResult, Block], Choice]


def best_mix(result: EvaluationResult, block: Block) -> Choice:
    """The mix recipe with the highest mean paired gain over real only on the primary metric
    on the test split (ties, and undefined gains, go to the smaller ratio)."""
    return _best(result, block, block.gain, "best of")


def chosen_on_validation(result: EvaluationResult, block: Block) -> Choice:
    """The mix recipe with the highest mean paired gain over real only on the primary metric
    on the validation split (ties, and undefined gains, go to the smaller ratio, then to
    weight 1)."""
    return _best(result, block, block.validation_gain, "chosen on validation among")


def _best(
    result: EvaluationResult,
    block: Block,
    gain_of: Callable[[str, str, str], Interval | None],
    how: str,
) -> Choice:
    clf, metric = result.primary_classifier, result.primary_metric
    mixes = _mixes(result, block)

    def key(recipe: Recipe) -> tuple[float, float, float]:
        gain = gain_of(recipe.name, clf, metric)
        mean = gain.mean if gain is not None and math.isfinite(gain.mean) else -math.inf
        return (mean, -(recipe.ratio or 0.0), -abs(recipe.weight - 1))

    best = max(mixes, key=key)
    if len(mixes) == 1:
        return Choice(best, "")
    return Choice(best, f"{how} {len(mixes)} {_what(mixes)}")


def choose_mix(result: EvaluationResult, block: Block) -> Choice:
    """:func:`chosen_on_validation` where every mix of the block has validation scores, else
    :func:`best_mix` (results written before validation scores were recorded)."""
    clf, metric = result.primary_classifier, result.primary_metric
    if all(block.validation_gain(r.name, clf, metric) for r in _mixes(result, block)):
        return chosen_on_validation(result, block)
    return best_mix(result, block)


def _mixes(result: EvaluationResult, block: Block) -> list[Recipe]:
    mixes = [r for r in result.recipes_in(block) if r.role == MIX]
    if not mixes:
        raise ValueError(f"block {block.key!r} has no real + synthetic recipe to judge")
    return mixes


def _what(mixes: list[Recipe]) -> str:
    return "ratios" if len({r.family for r in mixes}) == 1 else "mixes"


def recommendation(
    result: EvaluationResult, block: Block, choice: Choice
) -> tuple[str | None, Interval | None]:
    """What to use, decided on the validation split before any test score is read, and its
    validation gain: among the recipes that could replace real only (:data:`ADOPTABLE` roles),
    the best mean gain whose interval lies above zero; else :data:`REAL` with the chosen mix's
    gain. ``(None, None)`` without validation scores."""
    clf, metric = result.primary_classifier, result.primary_metric
    mix_gain = block.validation_gain(choice.recipe.name, clf, metric)
    if mix_gain is None:
        return None, None
    best: tuple[str, Interval] | None = None
    for recipe in result.recipes_in(block):  # in role order: a tie goes to the earlier recipe
        if recipe.role not in ADOPTABLE:
            continue
        gain = block.validation_gain(recipe.name, clf, metric)
        if (
            gain is not None
            and gain.direction == "up"
            and (best is None or gain.mean > best[1].mean)
        ):
            best = recipe.name, gain
    return best if best is not None else (REAL, mix_gain)


def _recommendation_text(
    result: EvaluationResult, block: Block, recommended: str, gain: Interval
) -> str:
    if recommended != REAL:
        return (
            f"recommended: {result.recipe(recommended).label} ({format_gain(gain)} on validation)"
        )
    if sum(r.role in ADOPTABLE for r in result.recipes_in(block)) > 1:
        return (
            f"recommended: real only (no recipe gained on validation; the mix: {format_gain(gain)})"
        )
    return f"recommended: real only (the mix gained {format_gain(gain)} on validation)"


def tone_of(gain: Interval) -> str:
    return {"up": HELPS, "down": HURTS, "none": UNCLEAR}.get(gain.direction, UNTESTED)


def format_gain(gain: Interval | None) -> str:
    """``+0.031 [+0.012, +0.050]``; ``+0.031 (no interval)`` from one seed; ``n/a``."""
    if gain is None or not math.isfinite(gain.mean):
        return "n/a"
    if not (math.isfinite(gain.low) and math.isfinite(gain.high)):
        return f"{gain.mean:+.3f} (no interval)"
    return f"{gain.mean:+.3f} {gain.bounds_text()}"


def build_verdict(result: EvaluationResult, block: Block, choose: Chooser = choose_mix) -> Verdict:
    """The verdict on ``block``; on a reduced block it starts with how much real data it had."""
    clf, metric = result.primary_classifier, result.primary_metric
    choice = choose(result, block)
    gain = block.gain(choice.recipe.name, clf, metric)
    if gain is None:
        raise ValueError(f"no gain of {choice.recipe.name!r} in block {block.key!r}")
    tone = tone_of(gain)
    how = f", {choice.how}" if choice.how else ""
    ci = f"95% CI over {plural(gain.n, 'seed')}" if gain.n > 1 else plural(gain.n, "seed")
    text = (
        f"{TONE_WORDS[tone]}: {choice.recipe.label}: {metric_label(metric)} "
        f"{format_gain(gain)} vs real only ({clf}, {ci}{how})"
    )
    for other in result.recipes_in(block):
        if other.role in (BASELINE, COMBINED):
            text += f"; {other.label}: {format_gain(block.gain(other.name, clf, metric))}"
    recommended, validation_gain = recommendation(result, block, choice)
    if recommended is not None and validation_gain is not None:
        text += f"; {_recommendation_text(result, block, recommended, validation_gain)}"
    if not block.full:
        text = f"with {block.description} ({block.size:,} {result.unit}): {text}"
    return Verdict(
        text=text,
        block=block.key,
        recipe=choice.recipe.name,
        classifier=clf,
        metric=metric,
        gain=gain,
        tone=tone,
        chosen=choice.how,
        recommended=recommended,
        validation_gain=validation_gain,
    )


def build_verdicts(result: EvaluationResult, choose: Chooser = choose_mix) -> list[Verdict]:
    """The verdict on the whole training split, then the one where real data is scarcest (if
    the low-data sweep ran)."""
    out = [build_verdict(result, result.full, choose)]
    if result.sweep:
        out.append(build_verdict(result, result.sweep[0], choose))
    return out


def interval_sentence(result: EvaluationResult) -> str:
    """One sentence on what an interval covers."""
    return (
        f"Each interval is a {result.settings.get('ci_level', 0.95):.0%} Student-t interval over "
        f"seeds of the paired gain (recipe minus real only, same seed), so it covers "
        f"{result.interval_covers}; an interval that contains 0 is no evidence of a gain."
    )


__all__ = [
    "Choice",
    "best_mix",
    "choose_mix",
    "chosen_on_validation",
    "recommendation",
    "build_verdict",
    "build_verdicts",
    "format_gain",
    "interval_sentence",
    "tone_of",
]
