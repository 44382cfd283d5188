"""Atomic writes and safe paths: a crash never leaves a half-written file that looks complete."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augment.errors import AugmentError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); outputs get the usual permissions under the umask.
    tmp.chmod(0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    return write_text(path, text)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays appear in metrics and schemas; JSON has no type for them.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AugmentError(f"cannot read {what} {path}: {exc}") from None


OWNER_MARKER = ".augment-output.json"  # written only by atomic_dir: this folder is augment's

# The kinds of output folder; a folder of one kind is never replaced by another.
PREPARED_DATA = "prepared data"
MODEL = "a model"
SYNTHETIC_SET = "a synthetic set"


def check_output_dir(
    path: str | os.PathLike[str],
    kind: str,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Refuse an output folder that ``augment`` may not replace; return it as a ``Path``.

    A folder may be replaced only when it does not exist, is empty, or holds the owner marker
    that :func:`atomic_dir` wrote for an output of the same ``kind`` ("prepared data", "model",
    ...). It may never be, hold or lie inside one of the command's ``inputs`` (paths only: the
    callers leave built-in sources such as ``adult`` out). Called by each step
    before any work starts, and again by :func:`atomic_dir` just before the swap.
    """
    target = Path(path)
    resolved = target.resolve()
    for source in inputs:
        source_path = Path(source).resolve()
        if source_path == resolved or resolved in source_path.parents:
            raise AugmentError(
                f"refusing to write {kind} to {target}: it holds the input {source}; "
                "choose another --out"
            )
        if source_path in resolved.parents:
            raise AugmentError(
                f"refusing to write {kind} to {target}: it lies inside the input {source}; "
                "choose another --out"
            )
    if not target.exists() and not target.is_symlink():
        return target
    if target.is_symlink() or not target.is_dir():
        raise AugmentError(
            f"refusing to replace {target}: it is a file, not a folder that augment wrote; "
            "choose another --out"
        )
    if not any(target.iterdir()):
        return target
    owner = _owner_kind(target)
    if owner is None:
        raise AugmentError(
            f"refusing to replace {target}: it holds files that augment did not write "
            f"(no {OWNER_MARKER}); choose a new or empty folder"
        )
    if owner != kind:
        raise AugmentError(
            f"refusing to replace {target}: it holds {owner}, not {kind}; choose another --out"
        )
    return target


def _owner_kind(folder: Path) -> str | None:
    marker = folder / OWNER_MARKER
    if not marker.is_file() or marker.is_symlink():
        return None
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    kind = content.get("kind") if isinstance(content, dict) else None
    return kind if isinstance(kind, str) else None


@contextmanager
def atomic_dir(
    path: str | os.PathLike[str],
    kind: str,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Build a ``kind`` output folder under a temporary name and swap it into place when the
    block succeeds. Only a folder that :func:`check_output_dir` allows is replaced; the new one
    carries the owner marker, so a later run of the same command may replace it in turn."""
    target = check_output_dir(path, kind, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide a shared model from other users
    try:
        yield tmp
        write_json(tmp / OWNER_MARKER, {"kind": kind, "written_by": "augment"})
        check_output_dir(target, kind, inputs)  # it may have changed while we worked
        if target.exists():
            # A fresh name for the old copy: a user's folder that happens to be called
            # ``.NAME.old`` is never touched.
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_child(root: str | os.PathLike[str], name: str) -> Path:
    """``root / name`` for a name taken from data (a class label): it may not leave ``root``."""
    root_path = Path(root).resolve()
    cleaned = str(name).strip()
    if cleaned in {"", ".", ".."} or "/" in cleaned or "\\" in cleaned or "\x00" in cleaned:
        raise AugmentError(f"unsafe name for a file or folder inside {root}: {name!r}")
    child = (root_path / cleaned).resolve()
    if child.parent != root_path:
        raise AugmentError(f"unsafe name for a file or folder inside {root}: {name!r}")
    return child
