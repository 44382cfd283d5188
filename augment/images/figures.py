"""Image figures for the evaluation and its report: a row of images, and the real-beside-synthetic
sample grid. Plain PNGs drawn with PIL (no matplotlib), so small images stay sharp."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from augment.images.grid import PAD_VALUE, make_grid


def grid_png(images: np.ndarray, nrow: int) -> bytes:
    """uint8 ``(N, C, H, W)`` as one PNG grid, ``nrow`` images per row (small images enlarged,
    nearest neighbour)."""
    from PIL import Image

    sheet = make_grid(images, nrow=nrow)
    picture = Image.fromarray(sheet[:, :, 0] if sheet.shape[2] == 1 else sheet)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def image_strip(images: np.ndarray) -> bytes:
    """uint8 ``(N, C, H, W)`` as one PNG row."""
    return grid_png(images, nrow=max(1, len(images)))


def samples_png(real: Sequence[np.ndarray], synthetic: Sequence[np.ndarray], per: int) -> bytes:
    """One row per class: ``per`` real images (grey cells where a class has fewer), a grey
    cell, then ``per`` synthetic images. ``real[i]`` and ``synthetic[i]`` are class ``i``'s."""
    shape = synthetic[0].shape[1:]
    blank = np.full((1, *shape), PAD_VALUE, dtype=np.uint8)  # a grey separator cell
    rows = []
    for have, fake in zip(real, synthetic, strict=True):
        if len(have) < per:
            have = np.concatenate([have, np.repeat(blank, per - len(have), axis=0)])
        rows += [have, blank, fake]
    return grid_png(np.concatenate(rows), nrow=2 * per + 1)


__all__ = ["grid_png", "image_strip", "samples_png"]
