"""``GeneratorDataset``: images drawn on the fly from a trained image model, item ``i`` always the
same image."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from augment.core.labels import plan_counts
from augment.core.modalities import IMAGE
from augment.core.runtime import derive_seed
from augment.errors import AugmentError
from augment.torchdata.items import (
    IMAGE_STREAM,
    PLAN_STREAM,
    Transform,
    check_index,
    check_seed,
    make_item,
)

_CACHED_BLOCKS = 2  # generated blocks a GeneratorDataset keeps (per process)


# ----------------------------------------------------------------- generator on the fly
class GeneratorDataset(Dataset):
    """``n`` images drawn on the fly from a trained image model, deterministic per index.

    ``model`` is a model directory (``augment train``'s output) or a fitted model object (an
    ``ImageGAN``, or anything with an image ``schema`` and ``sample(labels, seed=)``).
    ``labels`` chooses the class of each item: ``None`` or ``"proportional"`` (the real training
    data's class mix), ``"balanced"``, or ``{class: count}`` (then ``n`` may be left out). The
    plan is fixed up front from ``seed`` -- exact counts, shuffled -- and ``targets[i]`` is item
    ``i``'s class index in ``classes``, the model's (real data's) class order.

    Item ``i`` is generated from a seed derived from ``(seed, i // block_size)``: always the same
    image, whatever the access order, the DataLoader's workers or shuffling. With the default
    ``block_size=1`` each item is one generator call (measured on one CPU core: about 2 ms at
    8 px, 3 ms at 32 px, most of it fixed cost). A larger ``block_size`` generates that many
    consecutive items at once and keeps the last blocks, several times faster for sequential
    reading (``shuffle=False``, batches that are multiples of ``block_size``) but wasteful for
    shuffled access; the images then differ from ``block_size=1``'s, still deterministically.

    ``device`` is where a model directory is loaded (a model object keeps its own). On a GPU
    (``device="cuda"``) use ``num_workers=0``: CUDA does not survive forked DataLoader workers.

    Example:
        >>> import numpy as np, torch
        >>> from augment.images.bundle import ImageSplit
        >>> from augment.images.gan import ImageGAN
        >>> from augment.images.schema import ImageSchema
        >>> schema = ImageSchema(classes=["a", "b"], size=8, channels=1, class_counts=[3, 1])
        >>> split = ImageSplit(np.zeros((8, 1, 8, 8), np.uint8), [0, 0, 0, 0, 0, 0, 1, 1])
        >>> gan = ImageGAN(steps=1, batch_size=4, channels=2, z_dim=8, threads=1)
        >>> _ = gan.fit(split, schema, device="cpu", progress=False)
        >>> data = GeneratorDataset(gan, 8, seed=1)
        >>> data.classes, sorted(data.targets)
        (['a', 'b'], [0, 0, 0, 0, 0, 0, 1, 1])
        >>> image, label = data[5]
        >>> image.shape, label == data.targets[5], torch.equal(image, data[5][0])
        (torch.Size([1, 8, 8]), True, True)
    """

    def __init__(
        self,
        model: Any,
        n: int | None = None,
        labels: str | Mapping[Any, int] | None = None,
        seed: int = 0,
        transform: Transform | None = None,
        device: str = "cpu",
        *,
        block_size: int = 1,
        target_transform: Transform | None = None,
    ) -> None:
        self.model = _image_model(model, device)
        schema = self.model.schema
        self.seed = check_seed(seed)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise AugmentError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [str(c) for c in schema.classes]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        plan = _plan(schema, n, labels)
        targets = np.repeat(np.arange(len(plan), dtype=np.int64), plan)
        np.random.default_rng(derive_seed(self.seed, PLAN_STREAM)).shuffle(targets)
        self._targets = targets
        self.targets = targets.tolist()
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = check_index(index, len(self._targets))
        block, offset = divmod(i, self.block_size)
        pixels = self._block(block)[offset]
        label = int(self._targets[i])
        target = label if self.target_transform is None else self.target_transform(label)
        return make_item(pixels, self.transform), target

    def _block(self, block: int) -> np.ndarray:
        if block in self._blocks:
            self._blocks.move_to_end(block)
            return self._blocks[block]
        start = block * self.block_size
        labels = self._targets[start : start + self.block_size]
        images = np.asarray(
            self.model.sample(labels, seed=derive_seed(self.seed, IMAGE_STREAM, block))
        )
        if images.shape[0] != len(labels) or images.ndim != 4:
            raise AugmentError(
                f"the model returned images of shape {images.shape} for {len(labels)} labels;"
                " expected (N, C, H, W)"
            )
        self._blocks[block] = images
        while len(self._blocks) > _CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return images

    def __repr__(self) -> str:
        name = getattr(self.model, "name", type(self.model).__name__)
        return f"GeneratorDataset({name}, {len(self)} images, classes={self.classes})"


def _image_model(model: Any, device: str) -> Any:
    """A fitted image model from a directory or an object, or a one-line error."""
    if isinstance(model, str | Path):
        from augment.registry import load_synthesizer

        model = load_synthesizer(model, device=device)
    schema = getattr(model, "schema", None)
    if schema is None or not callable(getattr(model, "sample", None)):
        raise AugmentError("the model is not fitted: train it (or load a trained one) first")
    if getattr(schema, "modality", None) != IMAGE:
        name = getattr(model, "name", type(model).__name__)
        raise AugmentError(f"GeneratorDataset needs an image model, but {name} makes tables")
    return model


def _plan(schema: Any, n: int | None, labels: str | Mapping[Any, int] | None) -> list[int]:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0):
        raise AugmentError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(labels, Mapping):
        plan = plan_counts(schema.classes, schema.class_counts, counts=labels)
        if n is not None and n != sum(plan):
            raise AugmentError(f"n={n} but the class counts add up to {sum(plan)}; give one")
        return plan
    if labels not in (None, "proportional", "balanced"):
        raise AugmentError(
            f"labels must be 'proportional', 'balanced' or a {{class: count}} dict, got {labels!r}"
        )
    if n is None:
        raise AugmentError("say how many images the dataset holds (n) or give per-class counts")
    counts = list(schema.class_counts or [])
    return plan_counts(schema.classes, counts, n=int(n), balance=labels == "balanced")
