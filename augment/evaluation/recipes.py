"""Recipe names both modalities share: real only, synthetic only, real + synthetic at a ratio."""

from __future__ import annotations

REAL = "real"


SYNTH = "synth"


def synth_recipe(ratio: float) -> str:
    return f"real+synth@{float(ratio)}"


def recipe_ratio(name: str) -> float | None:
    """The ratio of a ``real+synth@r`` recipe, else None."""
    prefix = "real+synth@"
    return float(name[len(prefix) :]) if name.startswith(prefix) else None
