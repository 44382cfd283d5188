"""``augment generate``: stream a labelled synthetic set from a trained model to disk.

Tables go to one Parquet/CSV file; images to PNGs in one folder per class with ``manifest.csv``
and ``classes.json`` (:mod:`augment.images.writer`). Both stream in chunks whose class mix is
drawn from the plan, so memory is bounded for any size and the same seed gives the same output.

With ``curate``, each chunk keeps only the samples a classifier trained on the real training
split (of the prepared data ``data``) assigns to their conditioned class with probability at
least ``curate_threshold`` (:mod:`augment.evaluation.curation`), drawing more until the chunk's
counts are met or the draw cap is hit; ``generation.json`` says per class what was asked, drawn
and kept.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from augment.core.files import SYNTHETIC_SET, atomic_dir, check_output_dir, write_json
from augment.core.labels import MAX_CHUNK, MAX_ROWS, chunked_labels, plan_counts
from augment.core.runtime import derive_seed, resolve_device
from augment.errors import AugmentError
from augment.evaluation.common import check_threshold
from augment.evaluation.curation import CurationReport, shortfall_line
from augment.images.bundle import ImageBundle
from augment.images.evaluation import curation as image_curation
from augment.images.writer import ImageFolderWriter
from augment.log import logger
from augment.registry import GenerativeModel, load_bundle, load_synthesizer
from augment.settings import GenerateSettings
from augment.tabular.evaluation import curation as table_curation
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
    data: str | Path = DEFAULTS.data,
    curate: bool = DEFAULTS.curate,
    curate_threshold: float = DEFAULTS.curate_threshold,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic rows to ``out/synthetic.<format>`` and ``out/generation.json``; for an
    image model, ``n`` images to ``out/<class>/<n>.png`` with ``manifest.csv`` and ``classes.json``.

    ``format`` is ``parquet`` (default) or ``csv`` for tables and ``png`` for images.

    The label mix follows the real training data unless ``balance`` (equal classes) or
    ``counts`` (``{class: rows}``, overriding ``n``) say otherwise. Each requested class comes
    from the generator's condition, so the counts are exact. Rows stream in chunks of
    ``chunk_size``: memory stays bounded for any ``n``; the same seed gives the same file.

    ``curate`` keeps only samples that a classifier trained on the training split of the
    prepared data ``data`` (which must match the model's schema; its test split is never read)
    gives their class with probability ``>= curate_threshold``; a class whose samples rarely
    pass keeps fewer than asked, with a warning, and ``generation.json``'s ``curation`` block
    says per class what was asked, drawn and kept.

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
            chunk_size=chunk_size, device=device, data=data, curate=curate,
            curate_threshold=curate_threshold,
        )
    )  # fmt: skip
    threshold = check_threshold(checked["curate_threshold"], "--curate-threshold")
    n, seed, counts, chunk_size = (checked[k] for k in ("n", "seed", "counts", "chunk_size"))
    counts = counts or None
    _check_options(n, seed, chunk_size, format, balance)
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
    if curate:
        inputs = (*inputs, data)
    out_dir = check_output_dir(out, SYNTHETIC_SET, inputs)

    started = time.perf_counter()
    unit = "image" if images else "row"
    curator = _Curator.build(synth, data, seed, threshold, device) if curate else None
    chunks = _chunks(synth, plan, chunk_size, seed, images, progress, curator)
    if curator is not None:
        plan = curator.kept  # filled in as the chunks are drawn; the plan is what is asked
    summary = {
        "rows" if not images else "images": int(sum(plan)),
        "per_class": {str(c): int(k) for c, k in zip(schema.classes, plan, strict=True)},
        "format": format,
        "seed": seed,
        "chunk_size": chunk_size,
        "model": getattr(synth, "name", type(synth).__name__),
    }
    try:
        if images:
            with ImageFolderWriter(out_dir, schema.classes, inputs=inputs) as writer:
                for labels, batch in chunks:
                    writer.write(batch, labels)
                _check_written(writer.counts, plan, out_dir)
                _curation_summary(summary, curator, unit)
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
                _check_written([writer.rows], [sum(plan)], target)
                _curation_summary(summary, curator, unit)
                summary["seconds"] = round(time.perf_counter() - started, 3)
                summary["file"] = target.name
                write_json(tmp / "generation.json", summary)
    finally:
        chunks.close()  # the progress bar goes before any error is printed
    if curator is not None and curator.report.short:
        logger.warning("%s", shortfall_line(curator.report))
    logger.info(
        "generated %d %ss (%s) in %.1f s -> %s",
        sum(plan),
        unit,
        ", ".join(f"{k}: {v}" for k, v in summary["per_class"].items()),
        summary["seconds"],
        target,
    )
    return summary


class _Curator:
    """Curation for generate: the judge trained on the prepared data's training split, and the
    counts over all chunks so far."""

    def __init__(self, curate_chunk: Any, classes: list[Any], threshold: float) -> None:
        self.curate_chunk = curate_chunk  # (class indices, seed) -> Curated
        self.kept = [0] * len(classes)
        self.report = CurationReport(threshold, "")

    @classmethod
    def build(
        cls, synth: Any, data: str | Path, seed: int, threshold: float, device: str
    ) -> _Curator:
        schema = synth.schema
        bundle = load_bundle(data)
        _check_same_schema(bundle.schema, schema, data)
        judge_seed = derive_seed(seed, "curation-judge")
        started = time.perf_counter()
        if isinstance(bundle, ImageBundle):
            # The judge runs where the model does (the synthesizer's device, else --device).
            dev = getattr(synth, "device", None) or resolve_device(device)
            train = bundle.train
            judge = image_curation.fit_judge(
                train.images, train.labels, len(schema.classes), seed=judge_seed, device=dev
            )
            describe = image_curation.describe_judge(judge)

            def curate_chunk(labels: np.ndarray, chunk_seed: int) -> Any:
                return image_curation.curate_images(
                    synth, judge, labels, classes=list(schema.classes), seed=chunk_seed,
                    threshold=threshold, warn=False,
                )  # fmt: skip

        else:
            table_judge = table_curation.fit_judge(bundle.train, schema, seed=judge_seed)
            describe = table_curation.describe_judge()

            def curate_chunk(labels: np.ndarray, chunk_seed: int) -> Any:
                return table_curation.curate_rows(
                    synth, table_judge, labels, seed=chunk_seed, threshold=threshold, warn=False
                )

        logger.info(
            "curation: %s in %.1f s; keeping samples with p(class) >= %g",
            describe,
            time.perf_counter() - started,
            threshold,
        )
        curator = cls(curate_chunk, list(schema.classes), threshold)
        curator.report.classifier = describe
        return curator

    def __call__(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, Any]:
        got = self.curate_chunk(labels, seed)
        self.report.add(got.report)
        for c, k in zip(*np.unique(got.labels, return_counts=True), strict=True):
            self.kept[int(c)] += int(k)
        return got.labels, got.samples


def _check_same_schema(data_schema: Any, model_schema: Any, data: str | Path) -> None:
    """The prepared data must be what the model was trained on: same modality, classes, and
    columns (tables) or image shape (images)."""

    def shape(schema: Any) -> dict[str, Any]:
        modality = getattr(schema, "modality", "tabular")
        out: dict[str, Any] = {"modality": modality, "classes": [str(c) for c in schema.classes]}
        if modality == "image":
            out.update(size=int(schema.size), channels=int(schema.channels))
        else:
            out.update(label=schema.label, columns=[(c.name, str(c.kind)) for c in schema.columns])
        return out

    ours, theirs = shape(data_schema), shape(model_schema)
    for key in ours:
        if ours[key] != theirs.get(key):
            raise AugmentError(
                f"--data {data} does not match the model: its {key} is {ours[key]!r}, the "
                f"model's {theirs.get(key)!r} (curation needs the data the model was trained on)"
            )


def _curation_summary(summary: dict[str, Any], curator: _Curator | None, unit: str) -> None:
    """What curation kept: the counts are the kept ones, the block says what was asked."""
    if curator is None:
        return
    summary["rows" if unit == "row" else "images"] = int(sum(curator.kept))
    # Every class, as without curation (one not asked for: 0), in the schema's order.
    summary["per_class"] = dict(zip(summary["per_class"], curator.kept, strict=True))
    summary["curation"] = curator.report.to_dict()


def _chunks(
    synth: Any,
    plan: list[int],
    chunk_size: int,
    seed: int,
    images: bool,
    progress: bool,
    curator: _Curator | None = None,
) -> Generator[tuple[np.ndarray, Any], None, None]:
    """``(class indices, samples)`` per chunk; each chunk's seed derives from ``seed`` and its
    position, so the output depends on the seed and chunk size only. The progress bar lives
    while the chunks are drawn: from the first one (after the output is set up) to close()."""
    classes = np.asarray(synth.schema.classes, dtype=object)
    unit = "image" if images else "row"
    with tqdm(
        total=sum(plan), desc="generate", unit=unit, disable=not progress, leave=False
    ) as bar:
        yield from _draw(synth, classes, plan, chunk_size, seed, images, bar, curator)


def _draw(
    synth: Any,
    classes: np.ndarray,
    plan: list[int],
    chunk_size: int,
    seed: int,
    images: bool,
    bar: tqdm,
    curator: _Curator | None = None,
) -> Iterator[tuple[np.ndarray, Any]]:
    for index, label_idx in enumerate(chunked_labels(plan, chunk_size, seed)):
        chunk_seed = derive_seed(seed, index)
        if curator is not None:
            yield curator(label_idx, chunk_seed)
            bar.update(len(label_idx))
            continue
        # Image models take class indices; table models the label values themselves.
        wanted = label_idx if images else classes[label_idx]
        samples = synth.sample(wanted, seed=chunk_seed)
        if len(samples) != len(label_idx):
            name = getattr(synth, "name", type(synth).__name__)
            raise AugmentError(
                f"model {name} returned {len(samples)} samples for {len(label_idx)} labels"
            )
        yield label_idx, samples
        bar.update(len(label_idx))


def _check_options(
    n: int | None, seed: int, chunk_size: int, format: str | None, balance: bool
) -> None:
    """Options of the wrong type or beyond what can be counted, named before any work."""
    for name, value, low, high in (
        ("--n", n, 0, MAX_ROWS),
        ("--seed", seed, 0, MAX_ROWS),
        ("--chunk-size", chunk_size, 1, MAX_CHUNK),
    ):
        if value is None and name == "--n":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise AugmentError(f"{name} must be a whole number, got {value!r}")
        if value > MAX_ROWS:
            raise AugmentError(
                f"{name} {value} is more than augment can count: at most {MAX_ROWS} (2**63 - 1)"
            )
        if not low <= value <= high:
            raise AugmentError(f"{name} must be {low} to {high}, got {value}")
    if format is not None and not isinstance(format, str):
        raise AugmentError(f"--format must be a name such as parquet or csv, got {format!r}")
    if not isinstance(balance, bool | np.bool_):
        raise AugmentError(f"balance must be true or false, got {balance!r}")


def _check_written(written: list[int], planned: list[int], target: Path) -> None:
    """What was written is what the plan (and generation.json) says, or nothing is kept."""
    if list(written) != list(planned):
        raise RuntimeError(f"wrote {written} to {target} but the plan was {planned}; not kept")
