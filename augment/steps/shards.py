"""Work cut into numbered parts, and which of them this process writes.

An output made of parts (``augment generate``'s ``part-00000.parquet``, ...) is the same whoever
writes it: part ``p``'s content depends on the settings and ``p`` only. ``--shard I/N`` (``I``
counted from 0) takes the parts ``p`` with ``p % N == I``, so N processes (a SLURM array, a DVC
``foreach``, torchrun's ranks) write disjoint parts whose union is the whole output. Under
torchrun each rank takes its shard by itself (``RANK/WORLD_SIZE``).

:class:`BackgroundWriter` moves the writing of parts off the sampling thread: a bounded queue,
so memory stays a few chunks whatever the output's size.
"""

from __future__ import annotations

import collections
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from augment.errors import AugmentError

PART_DIGITS = 5  # part-00000: the least width of a part's number


def part_digits(parts: int) -> int:
    """The width of the part numbers of an output of ``parts`` parts: names sort in part order
    (dataset readers read the parts in name order), ``part-00000`` up to 100,000 parts."""
    return max(PART_DIGITS, len(str(parts - 1)))


def part_name(index: int, suffix: str, digits: int = PART_DIGITS) -> str:
    return f"part-{index:0{digits}d}.{suffix}"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the parts ``p`` with ``p % count == index``."""

    index: int = 0
    count: int = 1

    def owns(self, part: int) -> bool:
        return part % self.count == self.index

    @property
    def whole(self) -> bool:
        return self.count == 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def file_tag(self) -> str:
        """``shard-0-of-4``, for the files one shard writes for itself."""
        return f"shard-{self.index}-of-{self.count}"


_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(value: str | None, *, rank: int = 0, world_size: int = 1) -> Shard:
    """``"I/N"`` (0 <= I < N) as a :class:`Shard`; None: the torchrun rank's shard (the whole
    output in one process). Anything else is one error line naming the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Shard(rank, world_size)
    match = _SHARD.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise AugmentError(
            f"--shard must be I/N, this process's shard I (from 0) of N, e.g. 0/4; got {value!r}"
        )
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise AugmentError(f"--shard {value}: the number of shards N must be at least 1")
    if index >= count:
        raise AugmentError(
            f"--shard {value}: the shard I counts from 0, so it must be below N ({count});"
            f" the shards are 0/{count} to {count - 1}/{count}"
        )
    if world_size > 1:
        raise AugmentError(
            f"--shard {value} under torchrun: the ranks take their shards by themselves"
            f" (RANK/WORLD_SIZE = {rank}/{world_size}); leave --shard out"
        )
    return Shard(index, count)


_STOP = object()


def ordered_in_threads(
    fn: Callable[..., Any], items: Iterable[tuple[Any, ...]], threads: int
) -> Iterator[Any]:
    """``fn(*item)`` for each item, in order, computed by ``threads`` threads at once (at most
    twice as many items in flight, so memory stays bounded), each with an equal share of the
    free cores as its BLAS / OpenMP / torch threads while they run, so together they do not
    oversubscribe them. ``threads=1``: one after the other in this thread, with the thread
    counts as set.

    On an error or an interruption the items not started are dropped and the running ones
    awaited (a chunk: milliseconds): a thread still inside torch when the interpreter exits
    ends the process with a C++ ``terminate``."""
    if threads <= 1:
        for item in items:
            yield fn(*item)
        return
    from augment.evaluation.parallel import fit_threads, free_cores

    share = max(1, free_cores() // threads)
    with fit_threads(share), ThreadPoolExecutor(threads, thread_name_prefix="augment-draw") as pool:
        running: collections.deque[Future[Any]] = collections.deque()
        try:
            for item in items:
                running.append(pool.submit(fn, *item))
                if len(running) >= 2 * threads:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()


class BackgroundWriter:
    """Run ``handle(item)`` for each :meth:`put` item in one background thread, in order.

    At most ``depth`` items wait (``put`` blocks meanwhile), so memory is bounded. An error in
    the thread is raised by the next :meth:`put` or by :meth:`close`; leaving the ``with`` block
    with an error lets the thread handle what waits (at most ``depth`` items), then calls
    ``abort`` (which drops what was half written).
    """

    def __init__(
        self,
        handle: Callable[[Any], None],
        abort: Callable[[BaseException], None],
        depth: int = 2,
    ) -> None:
        self._handle, self._abort = handle, abort
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="augment-writer", daemon=True)

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def put(self, item: Any) -> None:
        while True:
            self._raise_error()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every item is handled; raise the thread's error if there was one."""
        self.put(_STOP)
        self._thread.join()
        self._raise_error()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            try:
                self.close()
            except BaseException as error:
                self._shut_down(error)
                raise
            return
        self._shut_down(exc)

    def _shut_down(self, exc: BaseException) -> None:
        """Let the thread handle what waits (a few items: a part whose end is queued is kept),
        then ``abort`` the part it had begun."""
        self._queue.put(_STOP)
        self._thread.join()
        self._abort(exc)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain: the sampling thread sees the error at its next put
            try:
                self._handle(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the sampling thread
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
