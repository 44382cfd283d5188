"""The image GAN's networks: a class-conditional ResNet generator and a projection discriminator.

Sized by resolution. A square image of ``size`` pixels is built from a ``base`` grid found by
halving ``size`` while it is even and at least 8 (8 -> 4, 28 -> 7, 32 -> 4, 64 -> 4, 10 -> 5),
then doubled by one up-sampling block per halving. The discriminator mirrors it with one
down-sampling block per halving.

Widths follow the resolution a layer works at, ``channels * min(8, max(1, 32 // r))`` at ``r``
pixels: wide at the coarse grids, narrow at full size, so the compute of a level barely grows
with the image and the 28 px networks cost about what the 32 px ones do.

- :class:`Generator` (SNGAN/BigGAN-style): ``c = [z, embed(y)]`` -> linear -> ``base x base``
  grid -> residual up-sampling blocks (nearest up-sampling, 3x3 convs) whose BatchNorms take
  their gain and bias from ``c`` (conditional BatchNorm on noise and class, as BigGAN) ->
  conditional BatchNorm, ReLU, 3x3 conv -> tanh, in [-1, 1].
- :class:`Discriminator` (Miyato & Koyama 2018, projection): residual down-sampling blocks with
  spectral norm on every layer and no BatchNorm (so one forward over real and fake together is
  exact), ReLU, global sum pooling, then ``linear(h) + <embed(y), h>``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from augment.errors import AugmentError

MIN_SIZE, MAX_SIZE = 8, 64


def base_resolution(size: int) -> int:
    """The generator's starting grid: ``size`` halved while it is even and at least 8."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise AugmentError(f"image size must be {MIN_SIZE} to {MAX_SIZE} px, got {size}")
    base = size
    while base % 2 == 0 and base >= 8:
        base //= 2
    return base


def resolutions(size: int) -> list[int]:
    """Grid sizes from the base up to ``size``: 28 -> [7, 14, 28]; 9 -> [9]."""
    levels = [base_resolution(size)]
    while levels[-1] < size:
        levels.append(levels[-1] * 2)
    return levels


def default_channels(size: int) -> int:
    """The width multiplier when none is given: 8 up to 16 px, 16 above.

    Measured on a 2-core CPU: 8 gives class-correct, varied 8x8 digits in a minute, and 16 at
    8 px was no better for twice the time; at 28 px 8 was too narrow (wrong classes after
    1,100 steps) where 16 was right.
    """
    return 8 if size <= 16 else 16


def width(resolution: int, channels: int) -> int:
    """Feature maps of a layer working at ``resolution`` pixels."""
    return channels * min(8, max(1, 32 // resolution))


# ---------------------------------------------------------------------------- generator
class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part: a gain and bias computed from the condition
    vector (noise and class embedding, as in BigGAN) replace it."""

    def __init__(self, features: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=False)
        # Initialised by the generator's _init (Xavier weights, zero biases): the gain starts
        # at 1 plus a random function of the noise, so z steers every block from step one
        # (measured on 8x8 digits: class-conditional collapse was far weaker than with z fed
        # to the first layer only).
        self.gain = nn.Linear(cond_dim, features)
        self.bias = nn.Linear(cond_dim, features)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(c)[:, :, None, None]
        bias = self.bias(c)[:, :, None, None]
        return self.norm(x) * gain + bias


class UpBlock(nn.Module):
    """CBN-ReLU-(up)-conv-CBN-ReLU-conv, plus a (1x1 conv of the up-sampled) input."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.bn1 = ConditionalBatchNorm2d(c_in, cond_dim)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(c_out, cond_dim)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x, c))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        if self.shortcut is not None:
            x = self.shortcut(x)
        return h + x


class Generator(nn.Module):
    """``(z, labels) -> images`` in [-1, 1], shape ``(N, image_channels, size, size)``."""

    def __init__(
        self,
        size: int,
        image_channels: int,
        num_classes: int,
        z_dim: int = 128,
        channels: int = 16,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        levels = resolutions(size)
        self.size, self.z_dim, self.base = size, z_dim, levels[0]
        self.memory_format = torch.contiguous_format  # see set_memory_format()
        # How much the class enters (0: unconditional, 1: fully conditional); training ramps it
        # up (transitional conditioning), a trained generator samples at 1.
        self.class_weight = 1.0
        embed_dim = embed_dim or z_dim
        self.embed = nn.Embedding(num_classes, embed_dim)
        cond_dim = z_dim + embed_dim
        self.c0 = width(levels[0], channels)
        self.linear = nn.Linear(z_dim + embed_dim, self.c0 * self.base * self.base)
        blocks = []
        # One block per doubling; a grid that is already full size still gets one block.
        steps = list(zip(levels[:-1], levels[1:], strict=True)) or [(levels[0], levels[0])]
        for r_in, r_out in steps:
            blocks.append(
                UpBlock(width(r_in, channels), width(r_out, channels), cond_dim, r_out > r_in)
            )
        self.blocks = nn.ModuleList(blocks)
        c_last = width(levels[-1], channels)
        self.bn = ConditionalBatchNorm2d(c_last, cond_dim)
        self.out = nn.Conv2d(c_last, image_channels, 3, padding=1)
        _init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.from_embedding(z, self.embed(y))

    def from_embedding(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Images for class embeddings given directly, e.g. a mix of two classes' rows of
        ``embed``."""
        c = torch.cat([z, embedding * self.class_weight], dim=1)
        h = self.linear(c)
        h = h.view(len(z), self.c0, self.base, self.base)
        h = h.contiguous(memory_format=self.memory_format)
        for block in self.blocks:
            h = block(h, c)
        return torch.tanh(self.out(F.relu(self.bn(h, c))))


def set_memory_format(net: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """Lay a network's weights (and a generator's activations) out in ``memory_format``.

    channels_last is the fast layout for convolutions on CUDA and (measured) on the CPU.
    """
    net.to(memory_format=memory_format)
    for module in net.modules():
        if isinstance(module, Generator):
            module.memory_format = memory_format
    return net


# ------------------------------------------------------------------------ discriminator
class DownBlock(nn.Module):
    """(ReLU)-conv-ReLU-conv-(avg-pool), plus a (1x1 conv of the pooled) input; spectral norm.

    The first block skips the leading ReLU (its input is the image) and pools before its
    shortcut conv, as in Miyato et al.'s "optimized" block.
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        learn = c_in != c_out or downsample
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1)) if learn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is not None:
            if self.first and self.downsample:
                x = self.shortcut(F.avg_pool2d(x, 2))
            else:
                x = self.shortcut(x)
                if self.downsample:
                    x = F.avg_pool2d(x, 2)
        return h + x


class Discriminator(nn.Module):
    """``(images, labels) -> (N,)`` scores: ``linear(h) + <embed(labels), h>`` (projection)."""

    def __init__(self, size: int, image_channels: int, num_classes: int, channels: int = 16):
        super().__init__()
        levels = resolutions(size)[::-1]  # full size first, down to the base grid
        blocks = []
        c_in = image_channels
        for i, r in enumerate(levels):
            c_out = width(r, channels)
            down = i < len(levels) - 1
            blocks.append(DownBlock(c_in, c_out, down, first=i == 0))
            c_in = c_out
        # One more block at the base grid, as in SNGAN's discriminators.
        blocks.append(DownBlock(c_in, c_in, downsample=False))
        self.blocks = nn.Sequential(*blocks)
        self.features = c_in
        self.linear = _sn(nn.Linear(c_in, 1))
        self.embed = _sn(nn.Embedding(num_classes, c_in))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, class_weight: float = 1.0, *, split: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(N,)``: the unconditional term plus ``class_weight`` times the projection.

        With ``split`` the two terms come back apart: the unconditional ``linear(h)`` and the
        class projection ``<embed(y), h>``. Both go through ``forward`` because DDP syncs
        gradients only for what its wrapper's forward computed."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        unconditional, projection = self.linear(h).squeeze(1), (self.embed(y) * h).sum(dim=1)
        if split:
            return unconditional, projection
        return unconditional + class_weight * projection


def _init(net: nn.Module) -> None:
    # Xavier-uniform as in the SNGAN/BigGAN code (gain sqrt(2) for the 3x3 convs that feed a
    # ReLU, 1 elsewhere). Spectral-normed layers are initialised before they are wrapped.
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear) and not _parametrized(module):
            gain = math.sqrt(2) if getattr(module, "kernel_size", None) == (3, 3) else 1.0
            nn.init.xavier_uniform_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _sn(module: nn.Module) -> nn.Module:
    """Initialise a layer, then put spectral norm on its weight."""
    if isinstance(module, nn.Embedding):
        nn.init.xavier_uniform_(module.weight)
    else:
        _init(module)
    return spectral_norm(module)


def _parametrized(module: nn.Module) -> bool:
    return hasattr(module, "parametrizations")
