"""How many rows of each class to generate: proportional, balanced, or explicit counts.

Counts are exact integers at any size: shares are computed in rational arithmetic, and the
chunked sampler streams a plan of any total up to :data:`MAX_ROWS` (int64, what numpy and the
output files count in) in bounded memory. Beyond that a plan is refused, not truncated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from augment.errors import AugmentError

MAX_ROWS = int(np.iinfo(np.int64).max)  # 9,223,372,036,854,775,807
MAX_CHUNK = 10_000_000  # rows generated and written at a time; memory is one chunk
# numpy's multivariate hypergeometric takes totals below 10**9; larger plans are cut into
# blocks of at most this many rows, each with its classes in the plan's proportions.
HYPERGEOMETRIC_LIMIT = 10**9
BLOCK_ROWS = 10**8


def proportional_counts(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` by ``weights`` exactly (largest remainder), so the counts sum to ``n``."""
    n = _whole("the number of rows", n)
    if n < 0:
        raise AugmentError(f"the number of rows must be non-negative, got {n}")
    if n > MAX_ROWS:
        raise AugmentError(_too_many(n, "rows"))
    exact = [Fraction(w) if _finite(w) else None for w in weights]
    if any(w is None or w < 0 for w in exact):
        raise AugmentError(f"class weights must be finite and non-negative, got {list(weights)}")
    total = sum(exact, Fraction(0))
    if total <= 0:
        raise AugmentError("no class has any weight: cannot split rows between classes")
    shares = [n * w / total for w in exact]
    counts = [math.floor(share) for share in shares]
    leftover = n - sum(counts)
    # Ties go to the heavier class, then to the earlier one, so the plan is deterministic.
    order = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], -exact[i], i))
    for i in order[:leftover]:
        counts[i] += 1
    return counts


def match_class(key: Any, classes: Sequence[Any]) -> int:
    """Index of a class named on the command line (always a string) or in Python (any type)."""
    for index, value in enumerate(classes):
        if key == value or str(key) == str(value):
            return index
    known = ", ".join(repr(c) for c in classes)
    raise AugmentError(f"requested class {key!r} does not exist; classes are: {known}")


def plan_counts(
    classes: Sequence[Any],
    class_counts: Sequence[int],
    *,
    n: int | None = None,
    balance: bool = False,
    counts: Mapping[Any, int] | None = None,
) -> list[int]:
    """Rows per class, aligned with ``classes``.

    Explicit ``counts`` win (classes not named get 0); else ``balance`` splits ``n`` evenly;
    else ``n`` follows the real training data's class mix. A plan whose total does not fit in
    int64 is an error.
    """
    if counts:
        plan = [0] * len(classes)
        for key, value in counts.items():
            value = _whole(f"count for class {key!r}", value)
            if value < 0:
                raise AugmentError(f"count for class {key!r} must be non-negative, got {value}")
            plan[match_class(key, classes)] = value
        if sum(plan) > MAX_ROWS:
            raise AugmentError(_too_many(sum(plan), "rows in all (the --count values)"))
        return plan
    if n is None:
        raise AugmentError("say how many rows to generate (--n) or give per-class counts")
    if balance:
        return proportional_counts(n, [1.0] * len(classes))
    weights = class_counts if class_counts and sum(class_counts) > 0 else [1.0] * len(classes)
    return proportional_counts(n, weights)


def chunked_labels(plan: Sequence[int], chunk_size: int, seed: int) -> Iterator[np.ndarray]:
    """Class indices for each chunk, shuffled; memory is one chunk, whatever the total.

    Each chunk draws its class mix without replacement from what is left of the plan
    (multivariate hypergeometric), so every chunk is a fair sample and the totals are exact.
    A plan of :data:`HYPERGEOMETRIC_LIMIT` rows or more is first cut into blocks of
    :data:`BLOCK_ROWS` (a multiple of the chunk size) in the plan's exact proportions.
    """
    chunk_size = _whole("chunk size", chunk_size)
    if not 0 < chunk_size <= MAX_CHUNK:
        raise AugmentError(f"chunk size must be 1 to {MAX_CHUNK}, got {chunk_size}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1AB]))
    classes = np.arange(len(plan))
    for take in _split(plan, chunk_size, rng):
        labels = np.repeat(classes, take)
        rng.shuffle(labels)
        yield labels


def part_counts(plan: Sequence[int], part_size: int, seed: int) -> Iterator[list[int]]:
    """Rows per class of each part of ``part_size`` rows (the last one shorter), drawn as
    :func:`chunked_labels` draws a chunk's mix; at least one part, even of an empty plan.

    A part's counts depend on the plan, the part size, the seed and its index only, so any
    process that asks for part ``p`` gets the same counts without drawing part ``p``'s rows.
    """
    part_size = _whole("part size", part_size)
    if not 0 < part_size <= MAX_ROWS:
        raise AugmentError(f"part size must be 1 to {MAX_ROWS}, got {part_size}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9A27]))
    empty = True
    for take in _split(plan, part_size, rng):
        empty = False
        yield [int(k) for k in take]
    if empty:
        yield [0] * len(plan)


def _split(plan: Sequence[int], size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Per-class counts of consecutive pieces of ``size`` rows, drawn without replacement."""
    plan = [_whole("a class's row count", c) for c in plan]
    if any(c < 0 for c in plan):
        raise AugmentError(f"row counts must be non-negative, got {plan}")
    if sum(plan) > MAX_ROWS:
        raise AugmentError(_too_many(sum(plan), "rows"))
    for block in _blocks(plan, size):
        remaining = np.asarray(block, dtype=np.int64)
        left = int(remaining.sum())
        while left > 0:
            piece = min(size, left)
            take = rng.multivariate_hypergeometric(remaining, piece)
            remaining = remaining - take
            left -= piece
            yield take


def _blocks(plan: list[int], chunk_size: int) -> Iterator[list[int]]:
    """The plan itself when the sampler takes it whole, else blocks in its exact proportions."""
    total = sum(plan)
    if total < HYPERGEOMETRIC_LIMIT:
        yield plan
        return
    block_rows = max(chunk_size, BLOCK_ROWS // chunk_size * chunk_size)  # whole pieces
    remaining = list(plan)
    while total > 0:
        block = proportional_counts(min(block_rows, total), remaining)
        remaining = [r - b for r, b in zip(remaining, block, strict=True)]
        total -= sum(block)
        yield block


def _whole(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise AugmentError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)


def _too_many(total: int, what: str) -> str:
    return (
        f"{total} {what} is more than augment can count: at most {MAX_ROWS} (2**63 - 1) in one"
        " generated set"
    )
