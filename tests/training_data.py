"""A small table and the built-in digits, prepared for the training tests (resume, DDP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import augment


def prepare_both(root: Path, suffix: str = "") -> dict[str, Path]:
    """Prepared data for each GAN, in ``root/<model><suffix>``: 200 table rows, 8 digits a class."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 200),
            "income": rng.lognormal(10, 0.5, 200).round(2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], 200),
            "label": rng.choice(["no", "yes"], 200),
        }
    )
    frame.to_csv(root / "table.csv", index=False)
    out = {"tabgan": root / f"tabgan{suffix}", "imagegan": root / f"imagegan{suffix}"}
    augment.ingest(root / "table.csv", label="label", out=out["tabgan"], progress=False)
    augment.ingest("digits", out=out["imagegan"], per_class=8, progress=False)
    return out
