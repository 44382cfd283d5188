"""``augment generate``: stream a labelled synthetic set from a trained model to disk.

Tables go to one Parquet/CSV file; images to PNGs in one folder per class with ``manifest.csv``
and ``classes.json`` (:mod:`augment.images.writer`). Both stream in chunks whose class mix is
drawn from the plan, so memory is bounded for any size and the same seed gives the same output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from augment.core.files import SYNTHETIC_SET, atomic_dir, check_output_dir, write_json
from augment.core.labels import chunked_labels, plan_counts
from augment.errors import AugmentError
from augment.images.writer import ImageFolderWriter
from augment.log import logger
from augment.registry import GenerativeModel, load_synthesizer
from augment.settings import GenerateSettings
from augment.tabular.writer import FORMATS, TableWriter

IMAGE_FORMATS = ("png",)
DEFAULTS = GenerateSettings()


def generate(
    model: str | Path | GenerativeModel = DEFAULTS.model,
    n: int | None = DEFAULTS.n,
    out: str | Path = DEFAULTS.out,
    *,
    seed: int = DEFAULTS.seed,
    format: str | None = DEFAULTS.format,
    balance: bool = DEFAULTS.balance,
    counts: Mapping[Any, int] | None = None,
    chunk_size: int = DEFAULTS.chunk_size,
    device: str = DEFAULTS.device,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic rows to ``out/synthetic.<format>`` and ``out/generation.json``; for an
    image model, ``n`` images to ``out/<class>/<n>.png`` with ``manifest.csv`` and ``classes.json``.

    ``format`` is ``parquet`` (default) or ``csv`` for tables and ``png`` for images.

    The label mix follows the real training data unless ``balance`` (equal classes) or
    ``counts`` (``{class: rows}``, overriding ``n``) say otherwise. Each requested class comes
    from the generator's condition, so the counts are exact. Rows stream in chunks of
    ``chunk_size``: memory stays bounded for any ``n``; the same seed gives the same file.

    Example:
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> summary = augment.generate(tmp / "model", 20, tmp / "synth", balance=True,
        ...                            progress=False)
        >>> summary["per_class"]["7"], sorted(p.name for p in (tmp / "synth" / "7").iterdir())
        (2, ['000000.png', '000001.png'])
    """
    checked = GenerateSettings.check(
        dict(
            n=n, out=out, seed=seed, format=format, balance=balance, counts=counts or {},
            chunk_size=chunk_size, device=device,
        )
    )  # fmt: skip
    n, seed, counts, chunk_size = (checked[k] for k in ("n", "seed", "counts", "chunk_size"))
    counts = counts or None
    if n is not None and n < 0:
        raise AugmentError(f"--n must be non-negative, got {n}")
    synth = model if not isinstance(model, str | Path) else load_synthesizer(model, device=device)
    schema = synth.schema
    if schema is None:
        raise AugmentError("the synthesizer is not fitted: train it before generating")
    images = getattr(schema, "modality", "tabular") == "image"
    format = format or ("png" if images else "parquet")
    allowed = IMAGE_FORMATS if images else FORMATS
    if format not in allowed:
        kind = "images" if images else "tables"
        raise AugmentError(
            f"unsupported output format {format!r} for {kind}: use {', '.join(allowed)}"
        )
    plan = plan_counts(schema.classes, schema.class_counts, n=n, balance=balance, counts=counts)
    inputs = (model,) if isinstance(model, str | Path) else ()
    out_dir = check_output_dir(out, SYNTHETIC_SET, inputs)

    started = time.perf_counter()
    unit = "image" if images else "row"
    bar = tqdm(total=int(sum(plan)), desc="generate", unit=unit, disable=not progress, leave=False)
    chunks = _chunks(synth, plan, chunk_size, seed, images, bar)
    summary = {
        "rows" if not images else "images": int(sum(plan)),
        "per_class": {str(c): int(k) for c, k in zip(schema.classes, plan, strict=True)},
        "format": format,
        "seed": seed,
        "chunk_size": chunk_size,
        "model": getattr(synth, "name", type(synth).__name__),
    }
    if images:
        with ImageFolderWriter(out_dir, schema.classes, inputs=inputs) as writer:
            for labels, batch in chunks:
                writer.write(batch, labels)
            summary["seconds"] = round(time.perf_counter() - started, 3)
            summary["files"] = "<class>/<n>.png, manifest.csv, classes.json"
            write_json(writer.extra("generation.json"), summary)
        target = out_dir
    else:
        target = out_dir / f"synthetic.{format}"
        with atomic_dir(out_dir, SYNTHETIC_SET, inputs) as tmp:
            with TableWriter(tmp / target.name, schema, format) as writer:
                for _, frame in chunks:
                    writer.write(frame)
            summary["seconds"] = round(time.perf_counter() - started, 3)
            summary["file"] = target.name
            write_json(tmp / "generation.json", summary)
    bar.close()
    logger.info(
        "generated %d %ss (%s) in %.1f s -> %s",
        sum(plan),
        unit,
        ", ".join(f"{k}: {v}" for k, v in summary["per_class"].items()),
        summary["seconds"],
        target,
    )
    return summary


def _chunks(
    synth: Any, plan: list[int], chunk_size: int, seed: int, images: bool, bar: tqdm
) -> Iterator[tuple[np.ndarray, Any]]:
    """``(class indices, samples)`` per chunk; each chunk's seed derives from ``seed`` and its
    position, so the output depends on the seed and chunk size only."""
    classes = np.asarray(synth.schema.classes, dtype=object)
    for index, label_idx in enumerate(chunked_labels(plan, chunk_size, seed)):
        chunk_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        # Image models take class indices; table models the label values themselves.
        wanted = label_idx if images else classes[label_idx]
        yield label_idx, synth.sample(wanted, seed=chunk_seed)
        bar.update(len(label_idx))
