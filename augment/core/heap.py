"""The C heap while a GAN trains on the CPU: freed memory kept for the next step, not handed back.

A training step allocates and frees the same tensors, step after step. glibc's ``malloc`` serves
blocks above an mmap threshold from fresh mappings that ``free`` unmaps, and hands memory freed
at the top of its heap back to the kernel beyond a trim threshold. It raises both as large blocks
are freed, but not far enough for a training loop: every step of TabGAN on Adult touched new
pages, 170-310 page faults (D's 3 MB weight gradient among them), and the second OpenMP thread
waited on them (BENCHMARKS.md, "The C heap during training"). Training sets both thresholds to
the ceiling of glibc's own adaptation (32 MiB, and twice that for trimming) at once, and trims
the heap when it ends.

The thresholds stay set afterwards: glibc cannot be put back into its adaptive mode, and its
fixed start values (128 KiB) are far worse for a process that goes on with tensors (measured:
11,000 page faults per step of a TabGAN fit after them). Elsewhere than glibc (macOS, musl) this
does nothing.
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt(3) parameters
# glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, the most its adaptation reaches and every
# version accepts; its adaptation keeps the trim threshold at twice the mmap threshold.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def reuse_freed_memory(device: torch.device) -> Iterator[bool]:
    """Run a block with the heap's thresholds at glibc's ceiling when ``device`` is the CPU and
    the C library is glibc, and trim the heap after it; yields whether it did."""
    libc = _glibc() if device.type == "cpu" else None
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    try:
        yield True
    finally:
        libc.malloc_trim(0)  # what the heap holds beyond its use goes back to the system now
