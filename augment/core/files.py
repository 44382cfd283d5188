"""Atomic writes and safe paths: a crash never leaves a half-written file that looks complete.

An output is built under a temporary name beside it (``.NAME.xxxxxxxx.tmp``, a file or a folder)
and renamed into place when complete; a replaced folder is moved aside as ``.NAME.xxxxxxxx.old``
and deleted. While a run builds, it holds a lock (``flock``) on its temporary, and every
rename happens under a lock on the parent folder, so that:

* two runs writing the same output do not collide: each builds its own temporary and the later
  one's commit replaces the earlier's, whole;
* what a ``kill -9`` leaves behind (a temporary nobody holds a lock on, matching augment's own
  naming exactly) is removed by the next run into the same place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from augment.errors import AugmentError

# check_output_dir's looks at a folder another run may be swapping, and the pause between them.
LOOKS, LOOK_PAUSE_S = 3, 0.05

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then left for the user
    fcntl = None  # type: ignore[assignment]

NAME_MAX = 255  # bytes in one file or folder name on common file systems (ext4, APFS, NTFS)
MAX_JSON_BYTES = 256 * 2**20  # larger than any JSON augment writes; guards the memory of a read


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    target = Path(path)
    _make_parents(target)
    with _locked(target.parent), _naming(target):  # a folder that refuses the temporary
        remove_stale_temporaries(target.parent, target.name)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        _hold(fd)  # in use: no other run's cleanup may take it
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); outputs get the usual permissions under the umask.
        tmp.chmod(0o666 & ~_umask())
        with _naming(target):
            yield tmp
            with _locked(target.parent):
                os.replace(tmp, target)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
        os.close(fd)


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
    """A JSON file's content, or a one-line error naming the file (missing, unreadable,
    malformed, absurdly large or deeply nested)."""
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"{what} not found: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise AugmentError(
                f"cannot read {what} {path}: {size} bytes is too large for one (at most"
                f" {MAX_JSON_BYTES})"
            )
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AugmentError(f"cannot read {what} {path}: {exc}") from None
    except RecursionError:
        raise AugmentError(f"cannot read {what} {path}: nested too deeply") from None


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
    """Refuse an output folder that ``augment`` may not replace, or cannot write; return it as a
    ``Path``.

    A folder may be replaced only when it does not exist, is empty, or holds the owner marker
    that :func:`atomic_dir` wrote for an output of the same ``kind`` ("prepared data", "model",
    ...). It may never be, hold or lie inside one of the command's ``inputs`` (paths only: the
    callers leave built-in sources such as ``adult`` out), nor be the current folder or one
    above it, and the folder it goes into must be writable (checked by writing there, so that
    a long training does not end in "permission denied"). Called by each step before any work
    starts, and again by :func:`atomic_dir` just before the swap.
    """
    target = _output_path(path)
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
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder was deleted: nothing to protect there
        here = None
    if here is not None and (resolved == here or resolved in here.parents):
        where = "the current folder" if resolved == here else "a folder above the current one"
        raise AugmentError(
            f"refusing to write {kind} to {path}: it is {where}; choose a new sub-folder, e.g."
            " --out out/"
        )
    # Another run may swap its own output into place while we look (between its two renames
    # the folder is briefly gone): a refusal counts only if it holds on every look.
    for look in range(LOOKS):
        problem = _replace_problem(target, kind)
        if problem is None:
            break
        if look < LOOKS - 1:
            time.sleep(LOOK_PAUSE_S)
    if problem is not None:
        raise AugmentError(problem)
    _check_writable(target)
    return target


def check_output_file(
    path: str | os.PathLike[str], kind: str, ours: Callable[[Path], bool], option: str
) -> Path:
    """Refuse an output file that ``augment`` may not replace, or cannot write; return it as a
    ``Path``. Called before any work starts.

    A file may be replaced only when it does not exist or when ``ours`` recognises it as a
    ``kind`` that augment wrote (by a mark in its content: a single file has no marker beside
    it), so a file of the user's, or one of the command's inputs, is never overwritten."""
    target = _output_path(path)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise AugmentError(
            f"refusing to replace {target}: it is not a file that augment wrote; choose another"
            f" {option}"
        )
    if target.exists() and not ours(target):
        raise AugmentError(
            f"refusing to replace {target}: augment did not write it as {kind}; choose another"
            f" {option}"
        )
    _check_writable(target)
    return target


def file_holds(path: Path, mark: bytes, *, at_end: bool = False, size: int = 4096) -> bool:
    """Whether the first (``at_end``: the last) ``size`` bytes of ``path`` hold ``mark``."""
    try:
        with path.open("rb") as handle:
            if at_end:
                handle.seek(max(0, path.stat().st_size - size))
            return mark in handle.read(size)
    except OSError as exc:
        raise AugmentError(f"cannot read {path}: {exc.strerror or exc}") from None


def _replace_problem(target: Path, kind: str) -> str | None:
    """Why ``target`` may not be replaced by a ``kind`` output, or None when it may."""
    try:
        if not target.exists() and not target.is_symlink():
            return None
        if target.is_symlink() or not target.is_dir():
            return (
                f"refusing to replace {target}: it is a file, not a folder that augment wrote; "
                "choose another --out"
            )
        if not any(target.iterdir()):
            return None
    except FileNotFoundError:  # gone while we looked
        return f"refusing to replace {target}: it changed while it was checked"
    owner = output_kind(target)
    if owner is None:
        return (
            f"refusing to replace {target}: it holds files that augment did not write "
            f"(no {OWNER_MARKER}); choose a new or empty folder"
        )
    if owner != kind:
        return f"refusing to replace {target}: it holds {owner}, not {kind}; choose another --out"
    return None


def _output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as given, or absolute when its last part is not a name (``out/..``, ``.``), so
    that the temporary beside it gets a name and lands beside it, not inside it."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        target = Path(os.path.abspath(target))
    return target


def _check_writable(target: Path) -> None:
    """The folder that will hold ``target`` (its nearest existing ancestor) accepts new entries."""
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise AugmentError(
            f"cannot write {target}: {folder} is a file, not a folder; choose another --out"
        )
    try:
        probe = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with suppress(FileNotFoundError):  # another run's cleanup may have taken it already
            os.rmdir(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AugmentError(
            f"cannot write {target}: {folder} is not writable ({reason}); choose another --out"
        ) from None


def output_kind(folder: Path) -> str | None:
    """What augment wrote ``folder`` as (:data:`PREPARED_DATA`, :data:`MODEL`, ...), from its
    marker; None for a folder augment did not write."""
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
    carries the owner marker, so a later run of the same command may replace it in turn.
    Temporaries that an earlier, killed run left beside it are removed first."""
    target = check_output_dir(path, kind, inputs)
    tmp = _claim_temporary(target)
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide a shared model from other users
        with _naming(target, tmp):
            yield tmp
            write_json(tmp / OWNER_MARKER, {"kind": kind, "written_by": "augment"})
            _commit(tmp, target, kind, inputs)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        _release_folder(tmp)


@contextmanager
def scratch_dir(beside: str | os.PathLike[str]) -> Iterator[Path]:
    """A private working folder ``.NAME.xxxxxxxx.tmp`` beside ``beside`` (on its disk, not in a
    RAM-backed /tmp), removed when the block ends; one that a ``kill -9`` left is removed by the
    next run's :func:`remove_stale_temporaries`, as this run holds it while alive."""
    tmp = _claim_temporary(_output_path(beside))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _release_folder(tmp)


def _claim_temporary(target: Path) -> Path:
    """A new ``.NAME.xxxxxxxx.tmp`` folder beside ``target``, held by this process (so no
    cleanup takes it while it lives); what killed runs left there is removed first."""
    _make_parents(target)
    with _locked(target.parent):
        remove_stale_temporaries(target.parent, target.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        _hold_folder(tmp)
    return tmp


def _commit(tmp: Path, target: Path, kind: str, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Swap ``tmp`` into ``target`` under the parent's lock: a concurrent commit to the same
    place waits for this one, then replaces it in turn."""
    try:
        with _locked(target.parent):
            _swap(tmp, target, kind, inputs)
    finally:
        _release_folder(tmp)


def _swap(tmp: Path, target: Path, kind: str, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Put the folder ``tmp`` in ``target``'s place; the caller holds the parent's lock."""
    old: Path | None = None
    swapped = False
    try:
        check_output_dir(target, kind, inputs)  # it may have changed while we worked
        with _signals_deferred():  # Ctrl-C between the two renames would leave no output
            if target.exists():
                # A fresh name for the old copy: a user's folder that happens to be called
                # ``.NAME.old`` is never touched.
                old = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
                )
                os.replace(target, old)
                _hold_folder(old)
            os.replace(tmp, target)
            swapped = True
    finally:  # also when a signal that waited for the renames arrives now
        if old is not None and not swapped and not target.exists():
            os.replace(old, target)  # the new one could not go in: the old one goes back
        elif old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if old is not None:
            _release_folder(old)


# -- resumable outputs: built part by part, in place or beside the output ----------------------
PARTIAL_SUFFIX = ".partial"


def resumable_dir(
    path: str | os.PathLike[str],
    kind: str,
    job: dict[str, Any],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """The folder in which to build (or go on building) a ``kind`` output made of parts, for the
    settings ``job`` (JSON values), recorded in its owner marker.

    * ``path`` itself when it holds the same ``job`` (finished or not: a rerun resumes or only
      checks it) or is new or empty (the output is then built in place, marker first);
    * else ``.NAME.partial`` beside it, when that holds the same ``job`` (an interrupted run's
      parts), or a fresh one: a finished output of other settings stays whole until the new one
      replaces it in :func:`publish_resumable`.

    Only folders that :func:`check_output_dir` allows are taken; the decision is made under the
    parent's lock, so that processes writing different parts of one job (shards) share one
    folder.
    """
    target = check_output_dir(path, kind, inputs)
    inputs = tuple(inputs)
    _make_parents(target)
    staging = target.parent / f".{target.name}{PARTIAL_SUFFIX}"
    with _locked(target.parent):
        for name in (target.name, staging.name):
            remove_stale_temporaries(target.parent, name)
        if _owner_job(target, kind) == job:
            return target
        if _owner_job(staging, kind) == job:
            return staging
        fresh = not target.exists() or not any(target.iterdir())
        where = target if fresh else staging
        if where.exists() or where.is_symlink():
            problem = _replace_problem(where, kind)
            if problem is not None:
                raise AugmentError(problem)
            _retire(where)
        tmp = Path(tempfile.mkdtemp(prefix=f".{where.name}.", suffix=".tmp", dir=where.parent))
        try:
            tmp.chmod(0o777 & ~_umask())
            marker = {"kind": kind, "written_by": "augment", "job": job}
            write_json(tmp / OWNER_MARKER, marker)
            os.replace(tmp, where)  # an empty folder is replaced by the marked one
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return where


def publish_resumable(
    work: Path,
    path: str | os.PathLike[str],
    kind: str,
    finish: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> bool:
    """Complete the output built in ``work`` (from :func:`resumable_dir`), once.

    Under the parent's lock, ``finish(work)`` writes what marks the output complete and returns
    True, or False when parts are still missing; a ``work`` beside the output is then swapped
    into its place. Of several processes finishing their parts at once, the first to find them
    all publishes; for the others ``work`` is gone and there is nothing left to do. Returns
    whether the output is complete.
    """
    target = _output_path(path)
    with _locked(target.parent):
        if not work.exists():
            return target.is_dir()  # another process published it
        if not finish(work):
            return False
        if work != target:
            _swap(work, target, kind, inputs)
    return True


def _owner_job(folder: Path, kind: str) -> Any:
    """The ``job`` recorded in ``folder``'s owner marker for a ``kind`` output, else None."""
    if output_kind(folder) != kind:
        return None
    with suppress(OSError, UnicodeDecodeError, json.JSONDecodeError):
        return json.loads((folder / OWNER_MARKER).read_text(encoding="utf-8")).get("job")
    return None


def _retire(folder: Path) -> None:
    """Remove an earlier output of augment's: renamed aside first, so that it is gone at once."""
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    os.replace(folder, old)
    shutil.rmtree(old, ignore_errors=True)


_STALE_SUFFIXES = ("tmp", "old")


def remove_stale_temporaries(folder: str | os.PathLike[str], name: str) -> list[Path]:
    """Delete the ``.NAME.xxxxxxxx.tmp`` / ``.old`` files and folders in ``folder`` that no
    running augment holds (a ``kill -9`` leaves them); returns what was removed.

    Only names exactly of augment's own pattern (``tempfile``'s eight random characters) are
    considered, and only ones whose lock can be taken, i.e. whose writer has died. Without
    ``flock`` (Windows) nothing is removed.
    """
    if fcntl is None:
        return []
    pattern = _temporary_pattern(name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name) or entry.is_symlink():
            continue
        path = Path(entry.path)
        fd = _try_lock(path)
        if fd is None:
            continue  # a live run holds it
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    if removed:
        from augment.log import logger

        logger.info("removed %d temporary file(s) left by an interrupted run beside %s",
                    len(removed), Path(folder) / name)  # fmt: skip
    return removed


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM received inside the block take effect when it is done: their
    handlers are swapped for a recorder meanwhile (main thread only; elsewhere a no-op, since
    Python runs handlers in the main thread and never interrupts another one)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda number, frame: pending.append(number))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in pending:
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


def _try_lock(path: Path) -> int | None:
    """An fd holding ``path``'s exclusive lock, or None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _hold(fd: int) -> None:
    """Lock an open temporary for as long as ``fd`` stays open (released if the process dies)."""
    if fcntl is not None:
        with suppress(OSError):  # a file system without locks: no cleanup, no harm
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# Folders this process builds in, with the fd that holds each one's lock. A write into one of
# them (a file inside a model being built) needs no lock on it: no other run looks inside.
_HELD: dict[str, int] = {}


def _hold_folder(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    _hold(fd)
    _HELD[os.path.realpath(path)] = fd


def _release_folder(path: Path) -> None:
    fd = _HELD.pop(os.path.realpath(path), None)
    if fd is not None:
        os.close(fd)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (blocking) while renames and cleanups happen in it."""
    if fcntl is None or os.path.realpath(folder) in _HELD:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield  # unreadable folder: the write itself will say what is wrong
        return
    try:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _naming(target: Path, temporary: Path | None = None) -> Iterator[None]:
    """An I/O error while building ``target`` (a full disk, a folder that refuses new files)
    names ``target``, or the file under it, where it named nothing or augment's temporary
    (``temporary``, or one of the names :func:`atomic_path` draws): the one-line message says
    where, in the user's words."""
    try:
        yield
    except OSError as exc:
        exc.filename = _in_output(exc.filename, target, temporary)
        if exc.filename2 is not None and str(exc.filename2) == exc.filename:
            exc.filename2 = None  # a rename of the temporary onto its target: name it once
        raise


def _in_output(name: Any, target: Path, temporary: Path | None) -> Any:
    if name is None:
        return str(target)
    if not isinstance(name, str | os.PathLike):
        return name  # a file descriptor
    path = Path(os.path.abspath(name))  # a library may have made the path absolute
    building = Path(os.path.abspath(temporary)) if temporary is not None else None
    if building is not None and path.is_relative_to(building):
        return str(target / path.relative_to(building))
    same_folder = path.parent == Path(os.path.abspath(target.parent))
    if same_folder and _temporary_pattern(target.name).fullmatch(path.name):
        return str(target)
    return name


def _temporary_pattern(name: str) -> re.Pattern[str]:
    """augment's temporaries beside an output ``name``: ``.NAME.xxxxxxxx.tmp`` / ``.old``
    (``tempfile``'s eight random characters)."""
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.(?:{'|'.join(_STALE_SUFFIXES)})")


def _make_parents(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise AugmentError(
            f"cannot write {target}: a file stands where a folder of its path should be"
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def folder_name_problem(name: str) -> str | None:
    """Why a name taken from data (a class label) cannot name a folder of its own, in words, or
    None. Surrounding spaces are dropped first, as :func:`safe_child` drops them."""
    cleaned = str(name).strip()
    if _leaves_its_folder(cleaned):
        return "cannot name a folder"
    size = len(os.fsencode(cleaned))
    if size > NAME_MAX:
        return f"is too long for a folder name ({size} bytes; at most {NAME_MAX})"
    return None


def _leaves_its_folder(name: str) -> bool:
    return name in {"", ".", ".."} or "/" in name or "\\" in name or "\x00" in name


def safe_child(root: str | os.PathLike[str], name: str) -> Path:
    """``root / name`` for a name taken from data (a class label): it may not leave ``root``,
    and must fit in a file name."""
    root_path = Path(root).resolve()
    cleaned = str(name).strip()
    if _leaves_its_folder(cleaned):
        raise AugmentError(f"unsafe name for a file or folder inside {root}: {name!r}")
    problem = folder_name_problem(cleaned)
    if problem is not None:
        shown = cleaned[:40] + "..."
        raise AugmentError(
            f"class label {shown!r} {problem}: shorten it in the data and ingest again"
        )
    child = (root_path / cleaned).resolve()
    if child.parent != root_path:
        raise AugmentError(f"unsafe name for a file or folder inside {root}: {name!r}")
    return child
