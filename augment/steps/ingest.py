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
from augment.tabular.bundle import TabularBundle
from augment.tabular.ingest import DEFAULT_MISSING_VALUES, ingest_table


def ingest(
    source: str | Path = "adult",
    label: str | None = None,
    out: str | Path = "data/prepared",
    *,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    missing_values: list[str] | tuple[str, ...] = DEFAULT_MISSING_VALUES,
    kinds: dict[str, str] | None = None,
    categorical_threshold: int = 10,
    max_categories: int = 200,
    size: int | None = None,
    channels: int | None = None,
    per_class: int | None = None,
    max_bad_fraction: float = 0.05,
    unlabelled: str | Path | None = None,
    progress: bool = True,
) -> TabularBundle | ImageBundle:
    """Prepare ``source`` and write train / validation / test splits and ``schema.json`` to
    ``out``; returns the written bundle.

    Tables take ``label`` (the label column), ``missing_values``, ``kinds`` (column kind
    overrides), ``categorical_threshold`` and ``max_categories`` (see
    :func:`augment.tabular.ingest.ingest_table`). Images take ``size`` (square pixels, 8 to 64),
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
    if is_image_source(source):
        if label is not None:
            logger.warning("label applies to tables only: images take classes from %s", source)
        return ingest_images(
            source,
            out,
            size=size,
            channels=channels,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            per_class=per_class,
            max_bad_fraction=max_bad_fraction,
            unlabelled=unlabelled,
            progress=progress,
        )
    image_only = (
        ("size", size),
        ("channels", channels),
        ("per_class", per_class),
        ("unlabelled", unlabelled),
    )
    for name, value in image_only:
        if value is not None:
            logger.warning("%s applies to image sources only: ignored for %s", name, source)
    return ingest_table(
        source,
        label,
        out,
        test_size=test_size,
        validation_size=validation_size,
        seed=seed,
        missing_values=missing_values,
        kinds=kinds,
        categorical_threshold=categorical_threshold,
        max_categories=max_categories,
    )
