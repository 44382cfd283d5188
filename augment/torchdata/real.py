"""``RealImageDataset``: a prepared image split as a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from augment.errors import AugmentError
from augment.images.bundle import ImageBundle, ImageSplit
from augment.torchdata.items import Transform, check_index, class_index, make_item


# ----------------------------------------------------------------- real prepared data
class RealImageDataset(Dataset):
    """A prepared image split (``augment ingest``'s output) as ``(image, label)`` items.

    ``data`` is an ``ImageBundle`` (or its folder; ``split`` names the split, ``train`` by
    default) or an ``ImageSplit`` (then ``classes`` may name its classes). Items are a float
    tensor ``(C, H, W)`` in [0, 1], or ``transform(PIL image)``, and the label index.

    Example:
        >>> import numpy as np
        >>> from augment.images.bundle import ImageSplit
        >>> split = ImageSplit(np.full((2, 3, 8, 8), 51, np.uint8), [1, 0])
        >>> real = RealImageDataset(split, classes=["no", "yes"])
        >>> real.targets, real.class_to_idx
        ([1, 0], {'no': 0, 'yes': 1})
        >>> image, label = real[0]
        >>> image.shape, round(image.max().item(), 2), label
        (torch.Size([3, 8, 8]), 0.2, 1)
    """

    def __init__(
        self,
        data: ImageBundle | ImageSplit | str | Path,
        split: str = "train",
        *,
        classes: Sequence[str] | None = None,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        if isinstance(data, str | Path):
            data = ImageBundle.load(data)
        if isinstance(data, ImageBundle):
            classes = list(data.schema.classes) if classes is None else classes
            data = data.split(split)
        if not isinstance(data, ImageSplit):
            raise AugmentError(
                f"RealImageDataset needs an ImageBundle or ImageSplit, got {type(data).__name__}"
            )
        self.data = data
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [str(c) for c in classes] if classes is not None else None
        self.class_to_idx = class_index(self.classes) if self.classes is not None else None
        if self.classes is not None and len(data) and int(data.labels.max()) >= len(self.classes):
            raise AugmentError(
                f"label {int(data.labels.max())} has no class: {len(self.classes)} classes given"
            )
        self.targets = data.labels.tolist()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = check_index(index, len(self.data))
        label = int(self.data.labels[i])
        target = label if self.target_transform is None else self.target_transform(label)
        return make_item(self.data.images[i], self.transform), target
