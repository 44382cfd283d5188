"""Recipes as data: what each training set is called, how people read it, and what part it plays.

A recipe's *role* decides how the verdict, the tables and the report treat it, so a new recipe
is one more :class:`Recipe` value, not one more branch:

* ``reference``: real only, the score every gain is measured against;
* ``baseline``: a classic alternative to synthetic data (SMOTE-NC, classic augmentation), quoted
  beside the verdict as the line to beat;
* ``mix``: real plus synthetic data; the verdict headlines the best of them;
* ``combined``: a baseline and synthetic data together, quoted beside the verdict;
* ``synthetic_only``: synthetic data alone (train on synthetic, test on real), a diagnostic.

The order of :data:`ROLES` is the order recipes are listed in, ratios ascending within a role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

REAL = "real"
SYNTH = "synth"
MIX_PREFIX = "real+synth@"
CURATED_PREFIX = "real+curated@"
WEIGHT_MARK = "w"  # real+synth@1.0w0.5: synthetic samples weigh 0.5 in the loss

REFERENCE = "reference"
BASELINE = "baseline"
MIX = "mix"
COMBINED = "combined"
SYNTHETIC_ONLY = "synthetic_only"
ROLES: tuple[str, ...] = (REFERENCE, BASELINE, MIX, COMBINED, SYNTHETIC_ONLY)


@dataclass(frozen=True)
class Recipe:
    """One training set of the evaluation.

    ``name`` is the key in the results and the metrics JSON (``real+synth@0.5``); ``label`` is how
    people read it (``real + 0.5× synthetic``); ``role`` is one of :data:`ROLES`; ``ratio`` is
    the synthetic rows (or images) per real one, when the recipe has any; ``family`` names the
    recipe's pattern in the legend (``real+synth@r``) and ``description`` explains it there.
    ``weight`` is what one synthetic sample weighs in the classifier's loss against a real one
    (1: the same); ``curated``: the synthetic samples were kept only where a classifier trained
    on the block's real training data gave their conditioned class enough probability.
    """

    name: str
    label: str
    role: str
    ratio: float | None = None
    family: str = ""
    description: str = ""
    weight: float = 1.0
    curated: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"recipe role must be one of {ROLES}, got {self.role!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        ratio = data.get("ratio")
        return cls(
            name=str(data["name"]),
            label=str(data["label"]),
            role=str(data["role"]),
            ratio=None if ratio is None else float(ratio),
            family=str(data.get("family") or ""),
            description=str(data.get("description") or ""),
            # Results written before weights and curation existed: weight 1, not curated.
            weight=float(data.get("weight", 1.0)),
            curated=bool(data.get("curated", False)),
        )

    @property
    def plain(self) -> bool:
        """At a ratio, neither curated nor reweighted: the recipes of the ratio curve."""
        return self.ratio is not None and self.weight == 1 and not self.curated


def synth_recipe(ratio: float, weight: float = 1.0, *, curated: bool = False) -> str:
    """The name of real plus ``ratio`` x as much (curated) synthetic data weighing ``weight``:
    ``real+synth@0.5``, ``real+synth@1.0w0.5``, ``real+curated@1.0``. The weight shows only
    when it is not 1, so the names of earlier results stay valid."""
    prefix = CURATED_PREFIX if curated else MIX_PREFIX
    return f"{prefix}{float(ratio)}" + weight_suffix(weight)


def weight_suffix(weight: float) -> str:
    """``w0.5`` for a synthetic weight of 0.5; nothing for 1."""
    return "" if float(weight) == 1 else f"{WEIGHT_MARK}{float(weight)}"


@dataclass(frozen=True)
class MixName:
    """What a mix recipe's name says: ratio, synthetic weight, curated or not."""

    ratio: float
    weight: float = 1.0
    curated: bool = False


def parse_mix(name: str, prefix: str = "") -> MixName | None:
    """``real+synth@1.0w0.5`` -> MixName(1.0, 0.5, False); None for a name that is no mix.
    ``prefix`` is what precedes ``real+`` in a modality's own variants (``real+classic+``
    names are ``prefix="real+classic+"`` with the rest as here)."""
    for start, curated in ((MIX_PREFIX, False), (CURATED_PREFIX, True)):
        head = prefix + start[len("real+") :] if prefix else start
        if name.startswith(head):
            ratio, _, weight = name[len(head) :].partition(WEIGHT_MARK)
            try:
                return MixName(float(ratio), float(weight) if weight else 1.0, curated)
            except ValueError:
                return None
    return None


def recipe_ratio(name: str) -> float | None:
    """The ratio of a ``real+synth@r`` or ``real+curated@r`` recipe (any weight), else None."""
    parsed = parse_mix(name)
    return None if parsed is None else parsed.ratio


def real_recipe(unit: str) -> Recipe:
    return Recipe(REAL, "real only", REFERENCE, description=f"the real training {unit}")


def mix_recipe(ratio: float, unit: str, weight: float = 1.0, *, curated: bool = False) -> Recipe:
    """Real plus ``ratio`` x as much synthetic data, classes in the real proportions; each
    synthetic sample weighs ``weight`` in the loss; ``curated``: only confident samples."""
    what = "curated synthetic" if curated else "synthetic"
    family = f"{CURATED_PREFIX if curated else MIX_PREFIX}r" + weight_suffix(weight)
    description = f"real plus r × as many {what} {unit}, classes in the real proportions"
    if curated:
        description += (
            f"; synthetic {unit} kept only where a classifier trained on the same real "
            "training data gives their class enough probability"
        )
    if weight != 1:
        description += f"; each synthetic one weighs {weight:g} in the loss"
    return Recipe(
        synth_recipe(ratio, weight, curated=curated),
        f"real + {ratio:g}× {what}" + weight_label(weight),
        MIX,
        float(ratio),
        family=family,
        description=description,
        weight=float(weight),
        curated=curated,
    )


def weight_label(weight: float) -> str:
    """`` (weight 0.5)`` where the synthetic weight is not 1, else nothing."""
    return "" if float(weight) == 1 else f" (weight {float(weight):g})"


def synthetic_only_recipe(unit: str) -> Recipe:
    return Recipe(
        SYNTH,
        "synthetic only",
        SYNTHETIC_ONLY,
        description=f"as many synthetic {unit} as real ones and nothing else: train on "
        "synthetic, test on real",
    )


def ordered(recipes: Iterable[Recipe]) -> list[Recipe]:
    """Recipes in the one order every table and figure uses: by role, those without a ratio
    last, plain before curated, then ratio, then weight (1 first), then name."""
    return sorted(
        recipes,
        key=lambda r: (
            ROLES.index(r.role),
            r.ratio is None,
            r.curated,
            r.ratio or 0.0,
            r.weight != 1,
            r.weight,
            r.name,
        ),
    )
