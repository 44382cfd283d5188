"""augment: GAN-based data augmentation, with an honest answer to "does it help my classifier?".

The four pipeline steps are functions here, as on the command line::

    import augment
    bundle = augment.ingest("my.csv", "churn", "data/prepared")
    augment.train("data/prepared", "models/tabular", epochs=100)
    augment.generate("models/tabular", 10_000, "synth")
    result = augment.evaluate("data/prepared", "models/tabular")

``augment.Synthesizer`` fits the same GANs on a DataFrame or an image array in memory. These
names load lazily, so ``import augment`` (and the CLI's start) stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ingest": "augment.steps.ingest",
    "train": "augment.steps.train",
    "generate": "augment.steps.generate",
    "evaluate": "augment.steps.evaluate",
    "Synthesizer": "augment.synthesizer",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
