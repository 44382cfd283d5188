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
    """

    name: str
    label: str
    role: str
    ratio: float | None = None
    family: str = ""
    description: str = ""

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
        )


def synth_recipe(ratio: float) -> str:
    """The name of real plus ``ratio`` x as much synthetic data."""
    return f"{MIX_PREFIX}{float(ratio)}"


def recipe_ratio(name: str) -> float | None:
    """The ratio of a ``real+synth@r`` recipe, else None."""
    return float(name[len(MIX_PREFIX) :]) if name.startswith(MIX_PREFIX) else None


def real_recipe(unit: str) -> Recipe:
    return Recipe(REAL, "real only", REFERENCE, description=f"the real training {unit}")


def mix_recipe(ratio: float, unit: str) -> Recipe:
    """Real plus ``ratio`` x as much synthetic data, classes in the real proportions."""
    return Recipe(
        synth_recipe(ratio),
        f"real + {ratio:g}× synthetic",
        MIX,
        float(ratio),
        family=f"{MIX_PREFIX}r",
        description=f"real plus r × as many synthetic {unit}, classes in the real proportions",
    )


def synthetic_only_recipe(unit: str) -> Recipe:
    return Recipe(
        SYNTH,
        "synthetic only",
        SYNTHETIC_ONLY,
        description=f"as many synthetic {unit} as real ones and nothing else: train on "
        "synthetic, test on real",
    )


def ordered(recipes: Iterable[Recipe]) -> list[Recipe]:
    """Recipes in the one order every table and figure uses: by role, then ratio, then name."""
    return sorted(recipes, key=lambda r: (ROLES.index(r.role), r.ratio or 0.0, r.name))
