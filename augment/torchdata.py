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

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import ConcatDataset, Dataset, Subset

from augment.core.files import read_json
from augment.core.labels import plan_counts, proportional_counts
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle, ImageSplit

Transform = Callable[[Any], Any]

# Independent random streams derived from the user's seed (the numbers only name the stream).
_PLAN_STREAM = 0x7A11
_IMAGE_STREAM = 0x1A6E
_MIX_STREAM = 0x313C
_CACHED_BLOCKS = 2  # generated blocks a GeneratorDataset keeps (per process)


# ---------------------------------------------------------------------------- pixels
def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 ``(C, H, W)`` -> float32 ``(C, H, W)`` in [0, 1]."""
    return torch.tensor(pixels, dtype=torch.float32).div_(
        255.0
    )  # a copy: PIL's arrays are read-only


def _to_pil(pixels: np.ndarray) -> Image.Image:
    """uint8 ``(C, H, W)`` -> a PIL image, mode ``L`` (one channel) or ``RGB`` (three)."""
    if pixels.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(pixels[0]))
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))


def _pil_pixels(image: Image.Image) -> np.ndarray:
    """A PIL image -> uint8 ``(C, H, W)``; grey stays one channel, anything else becomes RGB."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _item(pixels: np.ndarray, transform: Transform | None) -> Any:
    return _to_tensor(pixels) if transform is None else transform(_to_pil(pixels))


def _index(i: int, n: int) -> int:
    i = int(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"index {i} is out of range for a dataset of {n} items")
    return i


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AugmentError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _derive(seed: int, *keys: int) -> int:
    """A 32-bit seed for the stream named by ``keys``; the same inputs give the same seed."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _class_index(classes: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(classes):
        if name in index:
            raise AugmentError(f"class {name!r} is listed twice")
        index[name] = i
    return index


# ----------------------------------------------------------------- generated folder
class SyntheticImageFolder(Dataset):
    """The images of a folder written by ``augment generate``, as ``(image, label)`` items.

    The folder's ``manifest.csv`` (``file,label``, label a class name) lists the images and
    ``classes.json`` the class names in the real data's order; the label of an item is its class's
    index in ``classes.json``, or in ``class_order`` when one is given, so that the labels line up
    with your real dataset (``class_order=torchvision_folder.classes``, or a list of names, or a
    ``{name: index}`` dict). A class that has images but is missing from ``class_order`` is an
    error; classes of ``class_order`` without images are fine.

    Items are ``(image, label)``: ``image`` a float tensor ``(C, H, W)`` in [0, 1], or
    ``transform(PIL image)`` when ``transform`` is given; ``target_transform`` applies to the label.
    Attributes as in torchvision's ``ImageFolder``: ``classes``, ``class_to_idx``, ``samples``
    (``(path, label)`` pairs) and ``targets``. File names from the manifest may not leave the
    folder (no ``..``, no absolute paths, no symlinks pointing outside).

    Example:
        >>> import tempfile, numpy as np
        >>> from augment.images.writer import ImageFolderWriter
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with ImageFolderWriter(f"{tmp.name}/synth", ["cat", "dog"], workers=1) as writer:
        ...     writer.write(np.full((3, 1, 8, 8), 255, np.uint8), np.array([0, 1, 1]))
        >>> folder = SyntheticImageFolder(f"{tmp.name}/synth")
        >>> folder.classes, folder.targets
        (['cat', 'dog'], [0, 1, 1])
        >>> image, label = folder[1]
        >>> image.shape, image.max().item(), label
        (torch.Size([1, 8, 8]), 1.0, 1)
        >>> SyntheticImageFolder(f"{tmp.name}/synth", class_order=["bird", "dog", "cat"]).targets
        [2, 1, 1]
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        root: str | Path,
        transform: Transform | None = None,
        class_order: Sequence[str] | Mapping[str, int] | None = None,
        *,
        target_transform: Transform | None = None,
    ) -> None:
        self.root = Path(root)
        self.transform = transform
        self.target_transform = target_transform
        folder_classes, rows = _read_generated(self.root)
        used = sorted({label for _, label in rows}, key=folder_classes.index)
        if class_order is None:
            self.classes = list(folder_classes)
            self.class_to_idx = _class_index(self.classes)
        else:
            self.classes, self.class_to_idx = _class_order(class_order)
            missing = [name for name in used if name not in self.class_to_idx]
            if missing:
                raise AugmentError(
                    f"{self.root} has images of class(es) {', '.join(map(repr, missing))} that"
                    f" class_order does not list; class_order is {self.classes}"
                )
        self._root_resolved = self.root.resolve()
        self.samples = [(self.root / file, self.class_to_idx[label]) for file, label in rows]
        self.targets = [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, label = self.samples[_index(index, len(self.samples))]
        pixels = self._load(path)
        target = label if self.target_transform is None else self.target_transform(label)
        return _item(pixels, self.transform), target

    def _load(self, path: Path) -> np.ndarray:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root_resolved):
            raise AugmentError(f"{path} points outside {self.root}: refusing to read it")
        try:
            with Image.open(resolved) as image:
                return _pil_pixels(image)
        except FileNotFoundError:
            raise AugmentError(
                f"image listed in {self.root}/manifest.csv is missing: {path}"
            ) from None
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise AugmentError(f"cannot read image {path}: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"SyntheticImageFolder({str(self.root)!r}, {len(self)} images, classes={self.classes})"
        )


def _class_order(order: Sequence[str] | Mapping[str, int]) -> tuple[list[str], dict[str, int]]:
    """``(classes, class_to_idx)`` from a list of names or a ``{name: index}`` dict."""
    if isinstance(order, str):
        raise AugmentError("class_order must be a list of class names, not one string")
    if isinstance(order, Mapping):
        to_idx = {str(k): int(v) for k, v in order.items()}
        if sorted(to_idx.values()) != list(range(len(to_idx))):
            raise AugmentError(f"class_order's indices must be 0 to {len(to_idx) - 1}, each once")
        classes = sorted(to_idx, key=to_idx.__getitem__)
        return classes, to_idx
    classes = [str(c) for c in order]
    return classes, _class_index(classes)


def _read_generated(root: Path) -> tuple[list[str], list[tuple[PurePosixPath, str]]]:
    """``classes.json``'s names and the manifest's ``(relative file, class name)`` rows."""
    if not root.is_dir():
        raise AugmentError(f"synthetic image folder not found: {root}")
    manifest, classes_file = root / "manifest.csv", root / "classes.json"
    for needed in (manifest, classes_file):
        if not needed.is_file():
            raise AugmentError(
                f"{root} is not a generated image set: it has no {needed.name}"
                " (write one with `augment generate`)"
            )
    raw = read_json(classes_file, "classes file")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        raise AugmentError(f"{classes_file} must be a JSON list of class names")
    known = _class_index(raw)
    rows: list[tuple[PurePosixPath, str]] = []
    try:
        with open(manifest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
                raise AugmentError(f"{manifest} must have the columns file,label")
            for row in reader:
                line = reader.line_num
                label = row.get("label")
                if label not in known:
                    raise AugmentError(
                        f"{manifest} line {line}: label {label!r} is not in classes.json"
                    )
                rows.append((_relative_file(row.get("file"), manifest, line), label))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AugmentError(f"cannot read {manifest}: {exc}") from None
    return list(raw), rows


def _relative_file(name: str | None, manifest: Path, line: int) -> PurePosixPath:
    """A manifest's file name as a path that stays inside the folder, or a one-line error."""
    text = (name or "").strip()
    path = PurePosixPath(text)
    escapes = (
        not text
        or "\\" in text
        or "\x00" in text
        or path.is_absolute()
        or PureWindowsPath(text).drive != ""
        or ".." in path.parts
    )
    if escapes:
        raise AugmentError(
            f"{manifest} line {line}: file {name!r} is not a path inside the folder; refusing it"
        )
    return path


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
        >>> import numpy as np
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
        self.seed = _seed(seed)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise AugmentError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [str(c) for c in schema.classes]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        plan = _plan(schema, n, labels)
        targets = np.repeat(np.arange(len(plan), dtype=np.int64), plan)
        np.random.default_rng(_derive(self.seed, _PLAN_STREAM)).shuffle(targets)
        self._targets = targets
        self.targets = targets.tolist()
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = _index(index, len(self._targets))
        block, offset = divmod(i, self.block_size)
        pixels = self._block(block)[offset]
        label = int(self._targets[i])
        target = label if self.target_transform is None else self.target_transform(label)
        return _item(pixels, self.transform), target

    def _block(self, block: int) -> np.ndarray:
        if block in self._blocks:
            self._blocks.move_to_end(block)
            return self._blocks[block]
        start = block * self.block_size
        labels = self._targets[start : start + self.block_size]
        images = np.asarray(
            self.model.sample(labels, seed=_derive(self.seed, _IMAGE_STREAM, block))
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
    if getattr(schema, "modality", None) != "image":
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
        self.class_to_idx = _class_index(self.classes) if self.classes is not None else None
        if self.classes is not None and len(data) and int(data.labels.max()) >= len(self.classes):
            raise AugmentError(
                f"label {int(data.labels.max())} has no class: {len(self.classes)} classes given"
            )
        self.targets = data.labels.tolist()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = _index(index, len(self.data))
        label = int(self.data.labels[i])
        target = label if self.target_transform is None else self.target_transform(label)
        return _item(self.data.images[i], self.transform), target


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
        x, y = self.dataset[int(self.indices[_index(index, len(self.indices))])]
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
        self.class_to_idx = _class_index(classes) if classes is not None else None
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
    seed = _seed(seed)
    k = int(round(ratio * len(real)))
    if k > 0 and len(synthetic) == 0:
        raise AugmentError("the synthetic dataset is empty: nothing to mix in")

    real_classes, syn_classes = _classes(real), _classes(synthetic)
    real_t, syn_t = _targets(real), _targets(synthetic)
    mapping = None
    if real_classes is not None and syn_classes is not None:
        mapping = _name_mapping(syn_classes, real_classes, syn_t)
    mapped_t = syn_t if mapping is None or syn_t is None else mapping[syn_t]

    rng = np.random.default_rng(_derive(seed, _MIX_STREAM))
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
