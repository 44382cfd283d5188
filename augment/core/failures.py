"""Failures of the machine rather than of the input (a full disk, a read-only folder, too little
memory), described in one line that names the path or the size, for the command line's last
resort (:func:`augment.cli.user_errors`).

Kept free of torch: ``augment --help`` must not wait for it, so torch's out-of-memory error is
recognised by its name and message.
"""

from __future__ import annotations

import errno
import re

# The system failed: the disk, the file system or memory, not the input. See README "Exit codes".
EXIT_SYSTEM = 1

_IO_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
}
_TORCH_CPU_OOM = re.compile(r"can't allocate memory: you tried to allocate (\d+) bytes")


def describe_system_failure(exc: BaseException) -> str | None:
    """One line for an I/O or out-of-memory failure, or None for anything else."""
    if isinstance(exc, MemoryError):
        detail = _first_line(exc)
        return f"out of memory{': ' + detail if detail else ''}"
    if isinstance(exc, RuntimeError):
        return _torch_oom(exc)
    if isinstance(exc, OSError) and (exc.errno is not None or exc.filename is not None):
        reason = _IO_REASONS.get(exc.errno) or exc.strerror or _first_line(exc) or "I/O error"
        where = exc.filename
        if exc.filename2 is not None:
            where = f"{exc.filename} -> {exc.filename2}"
        return f"{reason}: {where}" if where is not None else f"I/O error: {reason}"
    return None


def _torch_oom(exc: RuntimeError) -> str | None:
    text = str(exc)
    if type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text:
        return f"out of GPU memory: {_first_line(exc)}"
    match = _TORCH_CPU_OOM.search(text)
    if match:
        return f"out of memory: could not allocate {_size(int(match.group(1)))}"
    return None


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} bytes"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
