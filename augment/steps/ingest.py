"""``augment ingest``: prepare a table or an image set for the other steps.

The dataset's modality is decided here, once, from the source: image folders, MNIST IDX files,
``.npz`` arrays and the built-in ``digits`` are images; CSV/TSV/Parquet files and the built-in
``adult`` are tables. Every later step reads it from ``schema.json``.
"""

from __future__ import annotations

from pathlib import Path

from augment.images.bundle import ImageBundle
from augment.images.ingest import ingest_images, is_image_source
from augment.log import logger
from augment.settings import IngestSettings
from augment.tabular.bundle import TabularBundle
from augment.tabular.ingest import ingest_table
from augment.tabular.ingest_stream import ingest_table_streamed, should_stream

DEFAULTS = IngestSettings()


def ingest(
    source: str | Path = DEFAULTS.source,
    label: str | None = DEFAULTS.label,
    out: str | Path = DEFAULTS.out,
    *,
    test_size: float = DEFAULTS.test_size,
    validation_size: float = DEFAULTS.validation_size,
    seed: int = DEFAULTS.seed,
    missing_values: list[str] | tuple[str, ...] = DEFAULTS.missing_values,
    kinds: dict[str, str] | None = None,
    categorical_threshold: int = DEFAULTS.categorical_threshold,
    max_categories: int = DEFAULTS.max_categories,
    size: int | None = DEFAULTS.size,
    channels: int | None = DEFAULTS.channels,
    per_class: int | None = DEFAULTS.per_class,
    max_bad_fraction: float = DEFAULTS.max_bad_fraction,
    unlabelled: str | Path | None = DEFAULTS.unlabelled,
    stream: str = DEFAULTS.stream,
    progress: bool = True,
) -> TabularBundle | ImageBundle:
    """Prepare ``source`` and write train / validation / test splits and ``schema.json`` to
    ``out``; returns the written bundle.

    Tables take ``label`` (the label column), ``missing_values``, ``kinds`` (column kind
    overrides), ``categorical_threshold`` and ``max_categories`` (see
    :func:`augment.tabular.ingest.ingest_table`), and ``stream``: ``always`` reads the file in
    batches, never whole, for tables larger than memory
    (:mod:`augment.tabular.ingest_stream`), ``never`` whole, ``auto`` in batches when the file
    would not fit in the memory available. Images take ``size`` (square pixels, 8 to 64),
    ``channels`` (1 or 3), ``per_class`` (keep this many training images per class: the low-data
    option), ``max_bad_fraction`` (the share of unreadable files tolerated) and
    ``unlabelled`` (a folder or file of images without classes, for the image GAN's
    unconditional phase only; see :func:`augment.images.ingest.ingest_images`). The test split
    is held out from every GAN.

    Example:
        >>> import augment
        >>> bundle = augment.ingest("digits", out=tmp / "digits", per_class=20, progress=False)
        >>> bundle.schema.modality, bundle.schema.size, bundle.schema.class_counts[:3]
        ('image', 8, [20, 20, 20])
    """
    settings = IngestSettings(
        source=source,
        label=label,
        out=out,
        test_size=test_size,
        validation_size=validation_size,
        seed=seed,
        missing_values=missing_values,
        kinds=kinds or {},
        categorical_threshold=categorical_threshold,
        max_categories=max_categories,
        size=size,
        channels=channels,
        per_class=per_class,
        max_bad_fraction=max_bad_fraction,
        unlabelled=unlabelled,
        stream=stream,
    )  # checks every value's type: one error naming a wrong one
    if is_image_source(settings.source):
        if settings.label is not None:
            logger.warning("label applies to tables only: images take classes from %s", source)
        return ingest_images(
            settings.source,
            settings.out,
            size=settings.size,
            channels=settings.channels,
            test_size=settings.test_size,
            validation_size=settings.validation_size,
            seed=settings.seed,
            per_class=settings.per_class,
            max_bad_fraction=settings.max_bad_fraction,
            unlabelled=settings.unlabelled,
            progress=progress,
        )
    for name in ("size", "channels", "per_class", "unlabelled"):
        if getattr(settings, name) is not None:
            logger.warning("%s applies to image sources only: ignored for %s", name, source)
    table_settings = dict(
        test_size=settings.test_size,
        validation_size=settings.validation_size,
        seed=settings.seed,
        missing_values=settings.missing_values,
        kinds=settings.kinds,
        categorical_threshold=settings.categorical_threshold,
        max_categories=settings.max_categories,
    )
    if should_stream(str(settings.source), settings.stream):
        return ingest_table_streamed(
            settings.source, settings.label, settings.out, **table_settings, progress=progress
        )
    return ingest_table(settings.source, settings.label, settings.out, **table_settings)
