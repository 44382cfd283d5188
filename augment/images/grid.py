"""Contact sheets: many small images in one PNG, for looking at what a GAN makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augment.core.files import atomic_path
from augment.errors import AugmentError

MIN_CELL = 56  # images smaller than this (pixels) are enlarged, nearest neighbour
PAD, PAD_VALUE = 2, 96  # a dark-grey rule between images, visible on black and white ones


def make_grid(images: np.ndarray, nrow: int) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` -> one uint8 ``(H', W', C)`` sheet, ``nrow`` images per row.

    Images smaller than :data:`MIN_CELL` pixels are enlarged by a whole factor (nearest
    neighbour, so pixels stay sharp); the last row is filled with the padding grey.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8:
        raise AugmentError(
            f"a grid needs uint8 images (N, C, H, W) with 1 or 3 channels, got {images.dtype}"
            f" {images.shape}"
        )
    n, c, h, w = images.shape
    if n == 0:
        raise AugmentError("a grid needs at least one image")
    if nrow < 1:
        raise AugmentError(f"nrow must be at least 1, got {nrow}")
    scale = max(1, -(-MIN_CELL // max(h, w)))
    if scale > 1:
        images = images.repeat(scale, axis=2).repeat(scale, axis=3)
        h, w = h * scale, w * scale
    cols = min(nrow, n)
    rows = -(-n // cols)
    sheet = np.full((PAD + rows * (h + PAD), PAD + cols * (w + PAD), c), PAD_VALUE, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = PAD + r * (h + PAD), PAD + q * (w + PAD)
        sheet[top : top + h, left : left + w] = images[i].transpose(1, 2, 0)
    return sheet


def save_grid(images: np.ndarray, path: str | Path, nrow: int) -> Path:
    """Write ``images`` (uint8 ``(N, C, H, W)``) as one PNG grid, ``nrow`` per row; atomic."""
    from PIL import Image

    sheet = make_grid(images, nrow)
    picture = Image.fromarray(sheet[:, :, 0] if sheet.shape[2] == 1 else sheet)
    path = Path(path)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return path
