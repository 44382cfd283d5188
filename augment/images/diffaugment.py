"""Differentiable augmentation for GAN training (DiffAugment, Zhao et al. 2020), written here from
the paper.

With little data the discriminator memorises the real images and its feedback to the generator
collapses. DiffAugment applies the same kind of random, differentiable transforms to real and to
generated images, in the discriminator's step and in the generator's, so the discriminator never
sees un-augmented images and the generator's gradient flows through the transform. (Augmenting
only the real images would teach the generator to produce augmented-looking images.)

Policies, applied in this order, each with fresh random parameters per image:

- ``color``: brightness (add U(-0.5, 0.5)), saturation (scale the distance to the per-pixel
  channel mean by U(0, 2); nothing to do for one channel), contrast (scale the distance to the
  image mean by U(0.5, 1.5)).
- ``translation``: shift by up to 1/8 of the image size in each direction, zero padding.
- ``cutout``: zero one square of half the image size at a random centre (clipped at the border).

Images are float tensors ``(N, C, H, W)`` scaled to [-1, 1]; zero is mid-grey. Translation and
cutout keep values inside the input's range; colour moves them (as in the paper, no clamping).
"""

from __future__ import annotations

import torch

from augment.errors import AugmentError

POLICIES = ("color", "translation", "cutout")
# No colour by default: beside the generator's mode-seeking term (a pixel distance) a
# discriminator that sees every image at a random brightness and contrast cannot punish fakes
# that differ only in background and brightness. Measured on 50 MNIST digits per class,
# validation split: with colour recall 0.45, precision 0.84; without 0.56 and 0.88.
DEFAULT_POLICY = "translation,cutout"
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; ``""`` or ``None`` -> ``()``."""
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise AugmentError(
            f"unknown DiffAugment policy {', '.join(map(repr, unknown))}: use a comma-separated"
            f" subset of {', '.join(POLICIES)}, or '' for none"
        )
    if len(set(names)) != len(names):
        raise AugmentError(f"DiffAugment policy {policy!r} repeats a name")
    return names


def diff_augment(
    x: torch.Tensor,
    policy: str | tuple[str, ...],
    generator: torch.Generator | None = None,
    p: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Augment a batch ``(N, C, H, W)``; differentiable with respect to ``x``.

    ``policy`` is a comma-separated string or the tuple :func:`parse_policy` returns; the
    transforms always run in the order color, translation, cutout. An empty policy returns ``x``.
    ``p`` (a number or a 0-d tensor, e.g. an adaptive strength kept on the device) applies each
    transform to each image with that probability; ``None`` applies every transform to every
    image (DiffAugment as published).
    """
    names = parse_policy(policy) if isinstance(policy, str) else policy
    if not names:
        return x
    steps = {
        "color": lambda v: color(v, generator),
        "translation": lambda v: translation(v, TRANSLATION_RATIO, generator),
        "cutout": lambda v: cutout(v, CUTOUT_RATIO, generator),
    }
    for name in POLICIES:
        if name not in names:
            continue
        changed = steps[name](x)
        if p is None:
            x = changed
        else:
            draw = torch.rand(len(x), 1, 1, 1, device=x.device, generator=generator)
            x = torch.where(draw < p, changed, x)
    return x


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # One value per image, broadcast over channels and pixels.
    return torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, saturation (colour images only) and contrast, per image."""
    x = x + (_uniform(x, generator) - 0.5)
    if x.shape[1] > 1:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (_uniform(x, generator) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(
    x: torch.Tensor, ratio: float = TRANSLATION_RATIO, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its size each way; zeros move in."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    dev = x.device
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=dev, generator=generator)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=dev, generator=generator)
    # Output pixel (i, j) reads input pixel (i - dy, j - dx) of the zero-padded image, whose
    # index is offset by the padding.
    rows = torch.arange(h, device=dev).view(1, h, 1) - dy + sy
    cols = torch.arange(w, device=dev).view(1, 1, w) - dx + sx
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))
    batch = torch.arange(n, device=dev).view(n, 1, 1)
    # Advanced indices around a slice put their (N, H, W) dims first: (N, H, W, C).
    shifted = padded.permute(0, 2, 3, 1)[batch, rows, cols]
    return shifted.permute(0, 3, 1, 2).contiguous(memory_format=_format(x))


def cutout(
    x: torch.Tensor, ratio: float = CUTOUT_RATIO, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero a ``ratio``-sized square per image, centred anywhere on it (clipped at the edges)."""
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dev = x.device
    top = torch.randint(0, h, (n, 1, 1), device=dev, generator=generator) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=dev, generator=generator) - cw // 2
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def _format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1:
        return torch.channels_last
    return torch.contiguous_format
