"""``augment generate``: stream a labelled synthetic table from a trained model to disk."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from augment.errors import AugmentError
from augment.fsutil import write_json
from augment.labels import chunked_labels, plan_counts
from augment.log import logger
from augment.synthesizer import TabularSynthesizer, load_synthesizer
from augment.writers import FORMATS, TableWriter


def generate(
    model: str | Path | TabularSynthesizer = "models/tabular",
    n: int | None = 10000,
    out: str | Path = "synth",
    *,
    seed: int = 0,
    format: str = "parquet",
    balance: bool = False,
    counts: Mapping[Any, int] | None = None,
    chunk_size: int = 20000,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic rows to ``out/synthetic.<format>`` and ``out/generation.json``.

    The label mix follows the real training data unless ``balance`` (equal classes) or
    ``counts`` (``{class: rows}``, overriding ``n``) say otherwise. Each requested class comes
    from the generator's condition, so the counts are exact. Rows stream in chunks of
    ``chunk_size``: memory stays bounded for any ``n``; the same seed gives the same file.

    Example:
        >>> summary = generate("models/tabular", 1000, "synth", balance=True)  # doctest: +SKIP
        >>> summary["per_class"]
        {'<=50K': 500, '>50K': 500}
    """
    if format not in FORMATS:
        raise AugmentError(f"unsupported output format {format!r}: use one of {', '.join(FORMATS)}")
    if n is not None and n < 0:
        raise AugmentError(f"--n must be non-negative, got {n}")
    synth = model if not isinstance(model, str | Path) else load_synthesizer(model, device=device)
    schema = synth.schema
    if schema is None:
        raise AugmentError("the synthesizer is not fitted: train it before generating")
    plan = plan_counts(schema.classes, schema.class_counts, n=n, balance=balance, counts=counts)
    total = int(sum(plan))
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AugmentError(f"--out must be a folder, but {out_dir} is a file")
    target = out_dir / f"synthetic.{format}"

    started = time.perf_counter()
    classes = np.asarray(schema.classes, dtype=object)
    bar = tqdm(total=total, desc="generate", unit="row", disable=not progress, leave=False)
    with TableWriter(target, schema, format) as writer:
        for index, label_idx in enumerate(chunked_labels(plan, chunk_size, seed)):
            chunk_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
            writer.write(synth.sample(classes[label_idx], seed=chunk_seed))
            bar.update(len(label_idx))
    bar.close()
    seconds = time.perf_counter() - started

    summary = {
        "rows": total,
        "per_class": {str(c): int(k) for c, k in zip(schema.classes, plan, strict=True)},
        "file": target.name,
        "format": format,
        "seed": seed,
        "chunk_size": chunk_size,
        "model": getattr(synth, "name", type(synth).__name__),
        "seconds": round(seconds, 3),
    }
    write_json(out_dir / "generation.json", summary)
    logger.info(
        "generated %d rows (%s) in %.1f s -> %s",
        total,
        ", ".join(f"{k}: {v}" for k, v in summary["per_class"].items()),
        seconds,
        target,
    )
    return summary
