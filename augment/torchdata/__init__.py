"""PyTorch datasets over synthetic images, and mixing them into a real training set.

Three pieces, all map-style :class:`torch.utils.data.Dataset` objects that return
``(image, label)`` with ``image`` a float tensor ``(C, H, W)`` in [0, 1] (or whatever
``transform`` makes of a PIL image, as in torchvision) and ``label`` an ``int``:

* :class:`SyntheticImageFolder` reads a folder written by ``augment generate`` (``manifest.csv``,
  ``classes.json``, ``<class>/<n>.png``). Labels index ``classes.json`` -- the real data's class
  order -- or a ``class_order`` you give, such as a torchvision ``ImageFolder(...).classes``.
* :class:`GeneratorDataset` draws images on the fly from a trained image model: item ``i`` is
  always the same image, whatever the access order or the number of DataLoader workers.
* :func:`mix_datasets` adds ``round(ratio * len(real))`` synthetic items to a real dataset
  (:class:`RealImageDataset` wraps a prepared ``ImageBundle`` or ``ImageSplit``), with the labels
  in the *real* dataset's class order: when both sides name their classes, synthetic labels are
  mapped by class name.

Like torchvision's ``ImageFolder``, the datasets expose ``classes``, ``class_to_idx`` and
``targets`` (a list of ints). A DataLoader over a mix trains as is:

    >>> import numpy as np, torch
    >>> from augment.images.bundle import ImageSplit
    >>> real = RealImageDataset(
    ...     ImageSplit(np.zeros((6, 1, 8, 8), np.uint8), [0, 1, 0, 1, 0, 1]), classes=["a", "b"]
    ... )
    >>> fake = RealImageDataset(
    ...     ImageSplit(np.ones((4, 1, 8, 8), np.uint8), [1, 0, 1, 0]), classes=["b", "a"]
    ... )
    >>> mix = mix_datasets(real, fake, ratio=0.5, seed=0)
    >>> len(mix), mix.n_synthetic
    (9, 3)
    >>> images, labels = next(iter(torch.utils.data.DataLoader(mix, batch_size=9)))
    >>> images.shape, labels.tolist()
    (torch.Size([9, 1, 8, 8]), [0, 1, 0, 1, 0, 1, 0, 0, 1])
"""

from augment.torchdata.folder import SyntheticImageFolder
from augment.torchdata.generator import GeneratorDataset
from augment.torchdata.mix import MixedDataset, mix_datasets
from augment.torchdata.real import RealImageDataset

__all__ = [
    "GeneratorDataset",
    "MixedDataset",
    "RealImageDataset",
    "SyntheticImageFolder",
    "mix_datasets",
]
