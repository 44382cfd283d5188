"""Write generated images as a folder a user can train on: ``<class>/<n>.png`` per class (every
class folder present, even if empty), ``manifest.csv`` (file, label) and ``classes.json`` (class
names in the real data's order, so label indices line up).

The folder is built under a temporary name beside ``out`` and swapped into place at the end, so
a crash never leaves a half-written set that looks complete; only an empty folder or an earlier
synthetic set is replaced. PNG encoding runs in a thread pool:
zlib and Pillow's encoder release the GIL, so writing keeps up with the generator.

:class:`PngPool` writes the PNGs of ``augment generate``'s parts in worker processes instead
(a million images would keep every thread of one process busy), each file under a temporary
name until complete, with a bounded number of batches in flight.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from augment.core.files import SYNTHETIC_SET, atomic_dir, check_output_dir, safe_child
from augment.errors import AugmentError


class ImageFolderWriter:
    """Stream ``(images, labels)`` chunks into ``out``; use as a context manager.

    ``images`` are uint8 ``(N, C, H, W)``; ``labels`` class indices into ``classes``. Files are
    numbered per class in the order they arrive (``000000.png``, ...), zero-padded to ``digits``.
    """

    def __init__(
        self,
        out: str | Path,
        classes: Sequence[str],
        *,
        digits: int = 6,
        workers: int | None = None,
        inputs: Sequence[str | Path] = (),
    ) -> None:
        self.out = check_output_dir(out, SYNTHETIC_SET, inputs)
        self.inputs = tuple(inputs)
        self.classes = [str(c) for c in classes]
        self.digits = digits
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.counts = [0] * len(self.classes)

    def __enter__(self) -> ImageFolderWriter:
        self._atomic = atomic_dir(self.out, SYNTHETIC_SET, self.inputs)
        self._tmp = self._atomic.__enter__()
        try:
            self._folders = [safe_child(self._tmp, name) for name in self.classes]
            if len({f.name for f in self._folders}) != len(self._folders):
                raise AugmentError("two classes map to the same folder name; rename one of them")
            for folder in self._folders:
                folder.mkdir()
        except BaseException:
            # __exit__ never runs when __enter__ fails: remove the temporary folder here.
            self._atomic.__exit__(*sys.exc_info())
            raise
        self._manifest_file = open(self._tmp / "manifest.csv", "w", newline="", encoding="utf-8")
        self._manifest = csv.writer(self._manifest_file)
        self._manifest.writerow(["file", "label"])
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="png")
        self._pending: list[Future[None]] = []
        return self

    def write(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self._drain(limit=4 * self.workers)
        for image, label in zip(images, labels, strict=True):
            index = self.counts[label]
            self.counts[label] += 1
            folder = self._folders[label]
            name = f"{index:0{self.digits}d}.png"
            self._manifest.writerow([f"{folder.name}/{name}", self.classes[label]])
            self._pending.append(self._pool.submit(_save_png, image, folder / name))

    def extra(self, name: str) -> Path:
        """A path inside the folder being written, for a file the caller adds (a summary)."""
        return self._tmp / name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._drain(limit=0)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._manifest_file.close()
        if exc_type is None:
            (self._tmp / "classes.json").write_text(
                json.dumps(self.classes, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        self._atomic.__exit__(exc_type, exc, tb)

    def _drain(self, limit: int) -> None:
        # Bound the queue of encoded-but-unwritten images: memory stays one chunk or so.
        while len(self._pending) > limit:
            self._pending.pop(0).result()


PNG_BATCH = 256  # images per task sent to a worker process: a few MB at 64 px RGB


class PngPool:
    """``pool.submit(images, paths)`` writes uint8 ``(N, C, H, W)`` images as PNGs in
    ``workers`` processes (0: in this one); :meth:`wait` returns when all are written.

    At most ``2 * workers`` batches of :data:`PNG_BATCH` images wait, so memory stays bounded
    whatever the number of images. Each file is written to ``.NAME.tmp`` and renamed, so no
    half-written PNG has a final name; a redone part rewrites the same names.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None
        self._pending: list[Future[None]] = []

    def __enter__(self) -> PngPool:
        if self.workers > 0:
            # spawn: a forked child of a process that runs torch (threads, CUDA) may hang.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def submit(self, images: np.ndarray, paths: Sequence[Path]) -> None:
        if len(images) != len(paths):
            raise ValueError(f"{len(images)} images but {len(paths)} paths")
        for start in range(0, len(images), PNG_BATCH):
            batch, names = images[start : start + PNG_BATCH], paths[start : start + PNG_BATCH]
            if self._pool is None:
                _save_pngs(batch, names)
                continue
            self._drain(limit=2 * self.workers)
            self._pending.append(self._pool.submit(_save_pngs, np.ascontiguousarray(batch), names))

    def wait(self) -> None:
        self._drain(limit=0)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)

    def _drain(self, limit: int) -> None:
        while len(self._pending) > limit:
            self._pending.pop(0).result()


def _save_pngs(images: np.ndarray, paths: Sequence[Path]) -> None:
    for image, path in zip(images, paths, strict=True):
        tmp = path.with_name(f".{path.name}.tmp")
        _save_png(image, tmp)
        os.replace(tmp, path)


def _save_png(image: np.ndarray, path: Path) -> None:
    channels = image.shape[0]
    pixels = image[0] if channels == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))
    # 2-D uint8 is "L", (H, W, 3) "RGB"; format given: the temporary's name ends in .tmp
    Image.fromarray(pixels).save(path, format="PNG", compress_level=6)
