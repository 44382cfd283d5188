"""Readers for image sources and the pixel conversions they share.

Every reader hands back plain uint8 arrays: a grey image is 2-D ``(H, W)``, a colour image is
``(H, W, 3)``. Transparency is composited onto a white background (:data:`BACKGROUND`) before
anything else, so a transparent pixel never turns into whatever colour happened to be stored
under it. Formats: an ImageFolder directory (PNG, JPEG, BMP, GIF, WebP, TIFF, read with Pillow),
MNIST-style IDX files (raw or gzipped), an ``.npz`` with ``x`` and ``y``, and scikit-learn's
bundled 8x8 digits.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from augment.core.files import folder_name_problem
from augment.errors import AugmentError
from augment.log import logger

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)
BACKGROUND = 255  # transparent pixels are composited onto white
DEFAULT_SIZE = 32  # used when the images are not all one square size of 8 to 64 px
MIN_OWN_SIZE, MAX_OWN_SIZE = 8, 64
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801
_IDX_IMAGES = re.compile(r"images[-.]idx3-ubyte(\.gz)?$", re.IGNORECASE)
_IDX_LABELS = re.compile(r"labels[-.]idx1-ubyte(\.gz)?$", re.IGNORECASE)
# Failures that mean "this file is not a readable image" (Pillow raises several kinds).
_READ_ERRORS = (
    Image.DecompressionBombError,
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    ZeroDivisionError,
)


# ---------------------------------------------------------------- pixel conversion


def own_size_rule(shapes: set[tuple[int, int]]) -> int | None:
    """The images' own size when they are all one square size of 8 to 64 px, else None."""
    if len(shapes) == 1:
        (height, width) = next(iter(shapes))
        if height == width and MIN_OWN_SIZE <= height <= MAX_OWN_SIZE:
            return int(height)
    return None


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to ``size`` (Lanczos down, bicubic up), then centre-crop."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    if (width, height) != new:
        if scale < 1:
            image = image.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
        else:
            image = image.resize(new, Image.Resampling.BICUBIC)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def fit_array(array: np.ndarray, size: int) -> np.ndarray:
    """:func:`fit_square` for one grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8 array."""
    if array.shape[:2] == (size, size):
        return array
    return np.asarray(fit_square(Image.fromarray(array), size))


def composite(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour (``(..., H, W)`` or ``(..., H, W, C)``) over the white background, by ``alpha``."""
    a = alpha.astype(np.uint32)
    if colour.ndim == alpha.ndim + 1:
        a = a[..., None]
    mixed = colour.astype(np.uint32) * a + BACKGROUND * (255 - a)
    return ((mixed + 127) // 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey from ``(..., 3)`` RGB, exactly as Pillow's ``convert("L")`` (ITU-R 601-2 luma)."""
    rgb = rgb.astype(np.uint32)
    grey = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000
    return (grey >> 16).astype(np.uint8)


def to_channels(array: np.ndarray, channels: int, *, colour: bool) -> np.ndarray:
    """Grey (``colour`` False: ``(..., H, W)``) or RGB (``(..., H, W, 3)``) pixels as
    ``channels`` last: ``(..., H, W, channels)``. RGB to grey is Pillow's luminance."""
    if channels == 1:
        return luminance(array)[..., None] if colour else array[..., None]
    if colour:
        return array
    return np.repeat(array[..., None], 3, axis=-1)


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Any Pillow image as grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8, alpha composited.

    Grey modes (1, L, LA, I, I;16, F) stay grey; a palette image is grey when its colours are.
    16-bit and 32-bit grey are scaled down to 8 bits; float images are read as 0..1 when their
    maximum is at most 1, else as 0..255.
    """
    mode = image.mode
    has_key = "transparency" in image.info
    if mode == "1" or (mode == "L" and not has_key):
        return np.asarray(image.convert("L"))
    if mode in ("LA", "La"):
        grey_alpha = np.asarray(image.convert("LA"))
        return composite(grey_alpha[..., 0], grey_alpha[..., 1])
    if mode == "L":  # with a transparent grey value
        return np.ascontiguousarray(_rgba_to_rgb(image.convert("RGBA"))[..., 0])
    if mode.startswith("I") or mode == "F":
        return _wide_grey(image)
    if mode in ("P", "PA"):
        rgb = _rgba_to_rgb(image.convert("RGBA")) if has_key or mode == "PA" else None
        if rgb is None:
            rgb = np.asarray(image.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return np.ascontiguousarray(rgb[..., 0])
        return rgb
    if mode in ("RGBA", "RGBa") or (mode == "RGB" and has_key):
        return _rgba_to_rgb(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))  # RGB, CMYK, YCbCr, LAB, HSV


def _rgba_to_rgb(image: Image.Image) -> np.ndarray:
    rgba = np.asarray(image)
    return composite(rgba[..., :3], rgba[..., 3])


def _wide_grey(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return (values.astype(np.uint32) >> 8).astype(np.uint8)
    if image.mode == "F":
        values = np.nan_to_num(values.astype(np.float64))
        top = 1.0 if values.max(initial=0) <= 1 else 255.0
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    # Mode "I" (32-bit): 16-bit data when anything is above 255 (Pillow's older PNG reading).
    values = values.astype(np.int64)
    if values.max(initial=0) > 255:
        return np.clip(values >> 8, 0, 255).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- image folders


@dataclass
class FileResult:
    """One file of an image folder: its pixels, or the reason it could not be read."""

    relative: str
    sha256: str
    image: np.ndarray | None = None
    own_shape: tuple[int, int] | None = None  # (height, width) as stored in the file
    reason: str = ""


def scan_image_folder(root: Path) -> tuple[list[str], list[tuple[Path, int]], list[str]]:
    """Classes (sorted sub-folder names), ``(file, class index)`` pairs, and ignored files.

    Image files are found by extension, recursively inside each class folder; hidden files and
    folders are skipped, and a hidden folder that holds images is named in a warning (its
    images are not used: ``.cats/`` is no class). Sub-folders without a single image file are
    not classes (a stray ``__MACOSX`` or ``.ipynb_checkpoints``).
    """
    classes: list[str] = []
    files: list[tuple[Path, int]] = []
    ignored: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            if entry.is_dir():
                _warn_hidden(entry, root)
            continue
        if not entry.is_dir():
            ignored.append(entry.name)
            continue
        found: list[Path] = []
        for folder, dirs, names in os.walk(entry):
            for hidden in [d for d in dirs if d.startswith(".")]:
                _warn_hidden(Path(folder) / hidden, root)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(path)
                else:
                    ignored.append(str(path.relative_to(root)))
        if not found:
            continue
        index = len(classes)
        classes.append(entry.name)
        files.extend((path, index) for path in sorted(found))
    return classes, files, ignored


def _warn_hidden(folder: Path, root: Path) -> None:
    count = _count_images(folder)
    if count:
        logger.warning(
            "skipping hidden folder %s (%d image file%s): a folder whose name starts with a dot"
            " is not read; rename it to use its images",
            folder.relative_to(root).as_posix() + "/",
            count,
            "" if count == 1 else "s",
        )


def _count_images(folder: Path, limit: int = 100_000) -> int:
    count = 0
    for _folder, _dirs, names in os.walk(folder):
        count += sum(Path(name).suffix.lower() in IMAGE_EXTENSIONS for name in names)
        if count >= limit:
            break
    return count


def list_image_files(root: Path) -> list[Path]:
    """Every image file (by extension) under ``root``, recursively, sorted; hidden files and
    folders skipped. For unlabelled images: sub-folders carry no meaning."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(folder) / name
            for name in names
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        )
    return sorted(found)


def read_image_file(path: Path, root: Path, size: int | None) -> FileResult:
    """Read, check and convert one file. Never raises for a bad file: it sets ``reason``.

    With ``size`` given the image comes back at ``size`` x ``size``. Without it, an image that
    is already square and 8 to 64 px keeps its own size (the caller decides later); any other is
    brought to :data:`DEFAULT_SIZE` at once, since the default size can then only be that.
    """
    relative = path.relative_to(root).as_posix()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileResult(relative, "", reason=f"cannot read: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return FileResult(relative, digest, reason="empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            own = own_size_rule({(height, width)})
            target = size if size is not None else (own or DEFAULT_SIZE)
            if image.format == "JPEG" and min(width, height) > 2 * target:
                image.draft(None, (target, target))  # decode JPEGs at a reduced scale: faster
            image.load()
            with contextlib.suppress(Exception):  # a broken EXIF block is not a broken image
                image = ImageOps.exif_transpose(image)
            array = pil_to_array(image)
    except UnidentifiedImageError:
        return FileResult(relative, digest, reason="not a recognised image format")
    except _READ_ERRORS as exc:
        return FileResult(relative, digest, reason=_short_reason(exc))
    if array.shape[:2] != (target, target):
        array = fit_array(array, target)
    return FileResult(relative, digest, image=array, own_shape=(height, width))


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def has_image_files(root: Path, limit: int = 5000) -> bool:
    """True when ``root`` (or a folder below it) holds an image file; stops after ``limit``."""
    seen = 0
    for _folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                return True
            seen += 1
        seen += len(dirs)
        if seen > limit:
            return False
    return False


# ---------------------------------------------------------------- MNIST-style IDX files


def is_idx_images_name(name: str) -> bool:
    return bool(_IDX_IMAGES.search(name))


def is_idx_labels_name(name: str) -> bool:
    return bool(_IDX_LABELS.search(name))


def idx_labels_for(images: Path) -> Path:
    """The labels file beside an images file (``...images-idx3-ubyte`` -> ``...labels-idx1-ubyte``),
    gzipped or not."""
    stem = _IDX_IMAGES.sub("", images.name)
    sep = images.name[len(stem) + len("images")]
    candidates = [images.with_name(f"{stem}labels{sep}idx1-ubyte{ext}") for ext in ("", ".gz")]
    if images.name.lower().endswith(".gz"):
        candidates.reverse()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AugmentError(f"labels file for {images} not found: expected {candidates[0].name}")


def idx_images_for(labels: Path) -> Path:
    """The images file beside a labels file (the reverse of :func:`idx_labels_for`)."""
    stem = _IDX_LABELS.sub("", labels.name)
    sep = labels.name[len(stem) + len("labels")]
    candidates = [labels.with_name(f"{stem}images{sep}idx3-ubyte{ext}") for ext in ("", ".gz")]
    if labels.name.lower().endswith(".gz"):
        candidates.reverse()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AugmentError(f"images file for {labels} not found: expected {candidates[0].name}")


def find_idx_files(folder: Path) -> tuple[Path, Path | None]:
    """In a folder of IDX files: the images file to split, and the official test images file.

    ``train-*`` and ``t10k-*`` (or ``*test*``) are the train and test files; a folder with a
    single images file is that file alone. Raw files win over gzipped copies of the same name.
    """
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and is_idx_images_name(path.name):
            key = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
            if key not in found or found[key].name.lower().endswith(".gz"):
                found[key] = path
    if not found:
        raise AugmentError(f"no IDX images file (*-images-idx3-ubyte[.gz]) in {folder}")
    if len(found) == 1:
        return next(iter(found.values())), None
    train = [p for k, p in found.items() if "train" in k.lower()]
    test = [p for k, p in found.items() if "t10k" in k.lower() or "test" in k.lower()]
    if len(train) != 1 or len(test) > 1 or len(train) + len(test) != len(found):
        names = ", ".join(sorted(p.name for p in found.values()))
        raise AugmentError(
            f"{folder} holds several IDX image files ({names}): expected one train-* and at most "
            "one t10k-* file; pass one images file instead"
        )
    return train[0], (test[0] if test else None)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (``magic`` 0x803 images, 0x801 labels), gzipped or raw."""
    what = "images" if magic == IDX_IMAGES_MAGIC else "labels"
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except FileNotFoundError:
        raise AugmentError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise AugmentError(f"cannot read IDX file {path}: {_short_reason(exc)}") from None
    if len(data) < 4:
        raise AugmentError(f"malformed IDX file {path}: {len(data)} bytes, too short for a header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise AugmentError(
            f"malformed IDX file {path}: magic number 0x{found:08x}, expected 0x{magic:08x}"
            f" ({what} of unsigned bytes)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise AugmentError(f"malformed IDX file {path}: truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise AugmentError(
            f"malformed IDX file {path}: header says {' x '.join(map(str, dims))} ({expected}"
            f" bytes) but the file holds {len(data) - header} bytes of data"
        )
    if dims[0] == 0 or expected == 0:
        raise AugmentError(f"IDX file {path} holds no {what}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images ``(N, H, W)`` and labels ``(N,)`` from an images file and its labels file."""
    labels_path = idx_labels_for(images_path)
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise AugmentError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(images)} images"
        )
    return images, labels, labels_path


# ---------------------------------------------------------------- arrays: .npz and digits


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as grey ``(N, H, W)`` or RGB ``(N, H, W, 3)`` uint8, and ``y`` as given (1-D).

    ``x`` may be ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C 1, 3 or 4 (alpha is
    composited onto white); uint8, whole numbers in 0..255, or floats in [0, 1].
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise AugmentError(
                    f"{path} needs arrays 'x' (images) and 'y' (labels); it holds"
                    f" {', '.join(archive.files) or 'nothing'}"
                )
            x, y = archive["x"], archive["y"]
    except FileNotFoundError:
        raise AugmentError(f"file not found: {path}") from None
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise AugmentError(f"cannot read {path}: {_short_reason(exc)}") from None
    x = array_layout(x, path)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise AugmentError(f"{path}: y must hold one label per image: x {x.shape}, y {y.shape}")
    return array_pixels(x, path), y


def read_npz_images(path: Path) -> np.ndarray:
    """``x`` of an ``.npz`` (as :func:`read_npz` reads it); a ``y`` array, if any, is ignored."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise AugmentError(
                    f"{path} needs an array 'x' (images); it holds"
                    f" {', '.join(archive.files) or 'nothing'}"
                )
            x = archive["x"]
    except FileNotFoundError:
        raise AugmentError(f"file not found: {path}") from None
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise AugmentError(f"cannot read {path}: {_short_reason(exc)}") from None
    return array_pixels(array_layout(x, path), path)


def array_layout(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
        x = np.moveaxis(x, 1, -1)  # channels first (N, C, H, W)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (3, 4))) or len(x) == 0:
        raise AugmentError(
            f"{path}: x must be images (N, H, W) or (N, H, W, C) with C 1, 3 or 4; got {x.shape}"
        )
    return x


def array_pixels(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        pixels = x
    elif x.dtype.kind == "b":  # a binary image: True is white, not pixel value 1 of 255
        pixels = x.astype(np.uint8) * 255
    elif x.dtype.kind == "f":
        unknown = int(np.count_nonzero(~np.isfinite(x)))
        if unknown:
            raise AugmentError(
                f"{path}: x holds {unknown} value(s) that are not numbers (NaN or infinite);"
                " images need every pixel"
            )
        if x.min() < 0 or x.max() > 1:
            raise AugmentError(
                f"{path}: float images must hold values in [0, 1], found {x.min():g} to {x.max():g}"
            )
        pixels = np.rint(x * 255.0).astype(np.uint8)
    elif x.dtype.kind in "iu":
        if x.min() < 0 or x.max() > 255:
            raise AugmentError(
                f"{path}: integer images must hold values 0 to 255, found {x.min()} to {x.max()}"
            )
        pixels = x.astype(np.uint8)
    else:
        raise AugmentError(f"{path}: x has dtype {x.dtype}; use uint8 or float in [0, 1]")
    if pixels.ndim == 4 and pixels.shape[-1] == 4:
        pixels = composite(pixels[..., :3], pixels[..., 3])
    return pixels


def label_classes(y: np.ndarray, where: str) -> tuple[list[str], np.ndarray]:
    """Class names (sorted unique values; numbers numerically) and each label's class index."""
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(np.mod(y, 1) == 0):
            raise AugmentError(f"{where}: labels must be whole numbers or strings, found {y[:5]}")
        y = y.astype(np.int64)
    elif y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8")
    elif y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iuU":
        raise AugmentError(f"{where}: labels have dtype {y.dtype}; use integers or strings")
    values, index = np.unique(y, return_inverse=True)  # numbers sort numerically
    classes = [str(v) for v in values.tolist()]
    for name in classes:
        # `augment generate` writes one folder per class: refused here, not after training.
        problem = folder_name_problem(name)
        if problem is not None:
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise AugmentError(
                f"{where}: class label {shown!r} {problem}, and generated images are written"
                " to one folder per class: rename it in the data"
            )
    return classes, index.astype(np.int64).reshape(-1)


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (offline): images ``(1797, 8, 8)`` 0..255, labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, digits.target.astype(np.int64)
