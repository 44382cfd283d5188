"""``mix_datasets``: synthetic items added to a real dataset, labels in the real class order."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from augment.core.labels import proportional_counts
from augment.core.runtime import derive_seed
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle, ImageSplit
from augment.torchdata.folder import SyntheticImageFolder
from augment.torchdata.items import MIX_STREAM, check_index, check_seed, class_index
from augment.torchdata.real import RealImageDataset


# ----------------------------------------------------------------------------- mixing
class _Relabeled(Dataset):
    """``dataset[indices[i]]`` with its label sent through ``mapping`` (``None``: unchanged)."""

    def __init__(self, dataset: Any, indices: np.ndarray, mapping: np.ndarray | None) -> None:
        self.dataset = dataset
        self.indices = indices
        self.mapping = mapping

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        x, y = self.dataset[int(self.indices[check_index(index, len(self.indices))])]
        if self.mapping is None:
            return x, y
        return x, int(self.mapping[int(y)])


class MixedDataset(ConcatDataset):
    """A real dataset followed by synthetic items, labels in the real class order.

    Made by :func:`mix_datasets`. Items ``0 .. n_real - 1`` are the real ones, the rest
    synthetic; ``synthetic_indices`` are the synthetic items' indices in the synthetic dataset.
    ``targets`` lists every item's label (the real part's are read item by item, once, when the
    real dataset does not expose ``targets``).
    """

    def __init__(
        self,
        real: Any,
        synthetic: _Relabeled,
        classes: list[str] | None,
        real_targets: np.ndarray | None,
        synthetic_targets: np.ndarray | None,
    ) -> None:
        super().__init__([real, synthetic])
        self.real, self.synthetic = real, synthetic
        self.classes = classes
        self.class_to_idx = class_index(classes) if classes is not None else None
        self.synthetic_indices = synthetic.indices
        self.n_real, self.n_synthetic = len(real), len(synthetic)
        self._real_targets, self._synthetic_targets = real_targets, synthetic_targets
        self._targets: list[int] | None = None

    @property
    def targets(self) -> list[int]:
        if self._targets is None:
            real = self._real_targets
            if real is None:
                real = np.array([int(self.real[i][1]) for i in range(self.n_real)], np.int64)
            synth = self._synthetic_targets
            if synth is None:
                synth = np.array([self.synthetic[i][1] for i in range(self.n_synthetic)], np.int64)
            self._targets = np.concatenate([real, synth]).astype(np.int64).tolist()
        return self._targets

    @property
    def is_synthetic(self) -> np.ndarray:
        """One bool per item: ``True`` for the synthetic ones."""
        return np.arange(len(self)) >= self.n_real


def mix_datasets(
    real: Any,
    synthetic: Any,
    ratio: float,
    *,
    seed: int = 0,
    stratify: bool = True,
) -> MixedDataset:
    """``real`` plus ``round(ratio * len(real))`` items drawn from ``synthetic``.

    ``real`` is any map-style dataset of ``(x, y)`` with integer ``y`` in the real class order (a
    torchvision ``ImageFolder``, a ``Subset`` of one, ...), or a prepared ``ImageBundle`` /
    ``ImageSplit`` (wrapped in :class:`RealImageDataset`, train split). ``synthetic`` is a
    :class:`SyntheticImageFolder`, a :class:`GeneratorDataset`, a generated folder's path or any
    such dataset.

    Labels: when both datasets expose ``classes``, each synthetic label is mapped **by class
    name** to the index of that name in the real ``classes`` (so a torchvision ``ImageFolder``'s
    alphabetical order and ``classes.json``'s order can differ); a synthetic class with items
    that the real set does not know is an error. When either side has no ``classes``, synthetic
    labels are taken to be in the real order already.

    Drawing (seeded): with ``stratify`` and ``targets`` on both sides, the synthetic items follow
    the real label mix (classes with no synthetic items left out, the rest scaled up);
    otherwise they are drawn uniformly. Items are drawn without replacement while there are
    enough; beyond that every item is used equally often (whole copies, then a random rest).

    Returns a :class:`MixedDataset` (a ``ConcatDataset``: real items first) with ``targets``,
    ``classes``, ``n_real``, ``n_synthetic`` and ``synthetic_indices``.

    Example:
        >>> import numpy as np
        >>> from augment.images.bundle import ImageSplit
        >>> images = np.zeros((10, 1, 8, 8), np.uint8)
        >>> real = RealImageDataset(ImageSplit(images[:4], [0, 0, 0, 1]), classes=["x", "y"])
        >>> fake = RealImageDataset(ImageSplit(images[4:], [0, 1, 0, 1, 0, 1]), classes=["y", "x"])
        >>> mix = mix_datasets(real, fake, ratio=2, seed=3)  # 8 synthetic: 6 x and 2 y, as 3:1
        >>> mix.n_real, mix.n_synthetic, mix.targets[:4], sorted(mix.targets[4:])
        (4, 8, [0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1, 1])
        >>> fake.targets[mix.synthetic_indices[0]] == 1 - mix.targets[4]  # "y" is 0 in fake
        True
    """
    if isinstance(real, ImageBundle | ImageSplit):
        real = RealImageDataset(real)
    if isinstance(synthetic, str | Path):
        synthetic = SyntheticImageFolder(synthetic)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio):
        raise AugmentError(f"ratio must be a non-negative number, got {ratio!r}")
    if ratio < 0:
        raise AugmentError(f"ratio must be a non-negative number, got {ratio}")
    seed = check_seed(seed)
    k = int(round(ratio * len(real)))
    if k > 0 and len(synthetic) == 0:
        raise AugmentError("the synthetic dataset is empty: nothing to mix in")

    real_classes, syn_classes = _classes(real), _classes(synthetic)
    real_t, syn_t = _targets(real), _targets(synthetic)
    mapping = None
    if real_classes is not None and syn_classes is not None:
        mapping = _name_mapping(syn_classes, real_classes, syn_t)
    mapped_t = syn_t if mapping is None or syn_t is None else mapping[syn_t]

    rng = np.random.default_rng(derive_seed(seed, MIX_STREAM))
    if stratify and real_t is not None and mapped_t is not None and k > 0:
        indices = _draw_stratified(real_t, mapped_t, k, rng)
    else:
        indices = _draw(np.arange(len(synthetic)), k, rng)
    synthetic_part = _Relabeled(synthetic, indices, mapping)
    _check_shapes(real, synthetic_part)
    classes = real_classes if real_classes is not None else syn_classes
    picked_t = mapped_t[indices] if mapped_t is not None else None
    return MixedDataset(real, synthetic_part, classes, real_t, picked_t)


def _unwrap(dataset: Any) -> tuple[Any, list[int] | None]:
    """The dataset under nested ``Subset``s and the composed indices into it."""
    indices: list[int] | None = None
    while isinstance(dataset, Subset):
        inner = [int(i) for i in dataset.indices]
        indices = inner if indices is None else [inner[i] for i in indices]
        dataset = dataset.dataset
    return dataset, indices


def _classes(dataset: Any) -> list[str] | None:
    classes = getattr(_unwrap(dataset)[0], "classes", None)
    return [str(c) for c in classes] if classes is not None else None


def _targets(dataset: Any) -> np.ndarray | None:
    """Every item's label without loading the items, when the dataset keeps them; else None."""
    base, indices = _unwrap(dataset)
    targets = getattr(base, "targets", None)
    if targets is None:
        return None
    targets = np.asarray(targets if not torch.is_tensor(targets) else targets.cpu().numpy())
    targets = targets.astype(np.int64).reshape(-1)
    return targets[indices] if indices is not None else targets


def _name_mapping(
    syn_classes: list[str], real_classes: list[str], syn_targets: np.ndarray | None
) -> np.ndarray:
    """Synthetic class index -> real class index, by name (-1 for a class with no items)."""
    real_index = {name: i for i, name in enumerate(real_classes)}
    mapping = np.array([real_index.get(name, -1) for name in syn_classes], dtype=np.int64)
    used = np.unique(syn_targets) if syn_targets is not None else np.arange(len(syn_classes))
    if len(used) and (used.min() < 0 or used.max() >= len(syn_classes)):
        raise AugmentError(
            f"the synthetic labels run from {used.min()} to {used.max()}, but it has only"
            f" {len(syn_classes)} classes"
        )
    unknown = [syn_classes[i] for i in used if mapping[i] < 0]
    if unknown:
        raise AugmentError(
            f"synthetic class(es) {', '.join(map(repr, unknown))} are not classes of the real"
            f" dataset ({real_classes}); generate from a model trained on this data"
        )
    return mapping


def _draw(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` items of ``pool``: without replacement if it is big enough, else whole copies of it
    and a random rest, so no item is used more than once more than any other."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    copies, rest = divmod(k, len(pool))
    drawn = np.concatenate([np.tile(pool, copies), rng.choice(pool, rest, replace=False)])
    rng.shuffle(drawn)
    return drawn.astype(np.int64)


def _draw_stratified(
    real_t: np.ndarray, syn_t: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """``k`` synthetic indices whose labels follow the real label mix."""
    size = int(max(real_t.max(initial=-1), syn_t.max(initial=-1))) + 1
    real_counts = np.bincount(real_t, minlength=size)
    pools = [np.flatnonzero(syn_t == c) for c in range(size)]
    weights = [int(real_counts[c]) if len(pools[c]) else 0 for c in range(size)]
    if sum(weights) == 0:  # no class in common: the real mix says nothing about these
        return _draw(np.arange(len(syn_t)), k, rng)
    plan = proportional_counts(k, weights)
    drawn = np.concatenate([_draw(pools[c], plan[c], rng) for c in range(size)])
    rng.shuffle(drawn)
    return drawn.astype(np.int64)


def _check_shapes(real: Any, synthetic: Dataset) -> None:
    """A clear error now, rather than a collate error mid-epoch, when image shapes differ."""
    if len(real) == 0 or len(synthetic) == 0:
        return
    x_real, x_syn = real[0][0], synthetic[0][0]
    if torch.is_tensor(x_real) and torch.is_tensor(x_syn) and x_real.shape != x_syn.shape:
        raise AugmentError(
            f"real images have shape {tuple(x_real.shape)}, synthetic ones"
            f" {tuple(x_syn.shape)}: give the datasets transforms that make them match"
        )
