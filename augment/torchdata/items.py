"""What the datasets share: pixels to tensors or PIL images, index and seed checks, the
named random streams derived from a user's seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from augment.errors import AugmentError

Transform = Callable[[Any], Any]


# Independent random streams derived from the user's seed (the numbers only name the stream).
PLAN_STREAM = 0x7A11


IMAGE_STREAM = 0x1A6E


MIX_STREAM = 0x313C


# ---------------------------------------------------------------------------- pixels
def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 ``(C, H, W)`` -> float32 ``(C, H, W)`` in [0, 1]."""
    return torch.tensor(pixels, dtype=torch.float32).div_(
        255.0
    )  # a copy: PIL's arrays are read-only


def to_pil(pixels: np.ndarray) -> Image.Image:
    """uint8 ``(C, H, W)`` -> a PIL image, mode ``L`` (one channel) or ``RGB`` (three)."""
    if pixels.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(pixels[0]))
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))


def pil_pixels(image: Image.Image) -> np.ndarray:
    """A PIL image -> uint8 ``(C, H, W)``; grey stays one channel, anything else becomes RGB."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def make_item(pixels: np.ndarray, transform: Transform | None) -> Any:
    return to_tensor(pixels) if transform is None else transform(to_pil(pixels))


def check_index(i: int, n: int) -> int:
    i = int(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"index {i} is out of range for a dataset of {n} items")
    return i


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AugmentError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def class_index(classes: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(classes):
        if name in index:
            raise AugmentError(f"class {name!r} is listed twice")
        index[name] = i
    return index
