"""Seeds and devices: one place that decides both, so every command behaves the same."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from augment.errors import AugmentError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, torch CPU and every CUDA device."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when present, else CPU; ``cuda`` without a GPU is a user error."""
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise AugmentError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AugmentError(f"device {name!r} requested but no CUDA device is available")
    return torch.device(name)


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private RNG stream, so sampling never depends on what else consumed the global one."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def derive_seed(base: int, *keys: Any) -> int:
    """A stable 32-bit seed for a purpose (``"subset"``, ``"fit"``...) and its indices."""
    words = [int(base) & 0xFFFFFFFF]
    for key in keys:
        if isinstance(key, str):
            words.extend(key.encode())
        elif isinstance(key, float):
            words.append(int(round(key * 1_000_000)))
        else:
            words.append(int(key) & 0xFFFFFFFF)
    return int(np.random.SeedSequence(words).generate_state(1)[0])
