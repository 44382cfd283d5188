"""Fidelity of synthetic images on features: Fréchet distance and precision / recall / density /
coverage (Naeem et al. 2020), written here with numpy and scipy; and, when the user supplies local
weights, the same on Inception-v3 pool features.

Inception weights for the usual FID cannot be downloaded on machines without internet, so the
default feature extractor is the penultimate layer of a classifier trained on the real training
split. Such numbers are comparable between models evaluated with the same extractor, not with
published FIDs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from augment.errors import AugmentError

PRDC_K = 5
_CHUNK = 2048


# -- Fréchet distance ----------------------------------------------------------------------------
def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``(N, D)`` features."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D), got shape {x.shape}")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance_from_stats(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``, the Fréchet (2-Wasserstein) distance
    between two Gaussians.

    ``Tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric ``S1^(1/2) S2 S1^(1/2)`` (the same eigenvalues as ``S1 S2``), with two symmetric
    eigen-decompositions: exact for singular covariances (fewer images than features) and much
    faster than ``scipy.linalg.sqrtm`` for 2048 Inception features (seconds, not minutes).
    Eigenvalues below 0 from rounding are clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_covmean)
    return max(value, 0.0)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix."""
    eig, vec = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vec * np.sqrt(np.clip(eig, 0, None))) @ vec.T


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, D)``.

    With fewer images than features (e.g. a few hundred images, 2048 Inception features) the
    trace term is computed in sample space, exactly: with ``A``, ``B`` the centred features
    divided by ``sqrt(N - 1)``, ``S1 = A'A``, ``S2 = B'B`` and the non-zero eigenvalues of
    ``S1 S2`` are the squared singular values of ``A B'``, so ``Tr((S1 S2)^(1/2))`` is the sum of
    those singular values.
    """
    mu1, sigma1 = feature_stats(real)
    mu2, sigma2 = feature_stats(fake)
    n1, n2, dim = len(real), len(fake), len(mu1)
    if min(n1, n2) >= dim:
        return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2)
    a = (np.asarray(real, dtype=np.float64) - mu1) / np.sqrt(n1 - 1)
    b = (np.asarray(fake, dtype=np.float64) - mu2) / np.sqrt(n2 - 1)
    trace_covmean = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * trace_covmean)
    return max(value, 0.0)


# -- precision / recall / density / coverage ---------------------------------------------------
def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(len(a), len(b))``."""
    aa = (a * a).sum(1)[:, None]
    bb = (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(aa + bb - 2.0 * a @ b.T, 0.0))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(x))
    for start in range(0, len(x), _CHUNK):
        d = _pairwise(x[start : start + _CHUNK], x)
        # Column k of the sorted row: column 0 is the point itself (distance 0).
        radii[start : start + _CHUNK] = np.partition(d, k, axis=1)[:, k]
    return radii


def prdc(real: np.ndarray, fake: np.ndarray, k: int = PRDC_K) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` (Naeem et al. 2020).

    With ``B(x, r)`` the ball around x reaching its k-th nearest neighbour in its own set:
    precision = share of fakes inside some real ball; recall = share of reals inside some fake
    ball; density = mean number of real balls holding a fake, divided by k (about 1 when the
    sets match, unbounded above); coverage = share of real balls that hold at least one fake.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} real and fake feature vectors")
    real_r = _knn_radii(real, k)
    fake_r = _knn_radii(fake, k)
    in_real_balls = np.zeros(len(fake), dtype=np.int64)  # per fake: real balls holding it
    covered = np.zeros(len(real), dtype=bool)  # per real: its ball holds a fake
    recalled = np.zeros(len(real), dtype=bool)  # per real: inside some fake ball
    for start in range(0, len(real), _CHUNK):
        d = _pairwise(real[start : start + _CHUNK], fake)  # (real chunk, fake)
        inside = d <= real_r[start : start + _CHUNK, None]
        in_real_balls += inside.sum(axis=0)
        covered[start : start + _CHUNK] = inside.any(axis=1)
        recalled[start : start + _CHUNK] = (d <= fake_r[None, :]).any(axis=1)
    return {
        "precision": float((in_real_balls > 0).mean()),
        "recall": float(recalled.mean()),
        "density": float(in_real_balls.sum() / (k * len(fake))),
        "coverage": float(covered.mean()),
    }


def fidelity_scores(
    real: np.ndarray, fake: np.ndarray, reference: np.ndarray, k: int = PRDC_K
) -> dict[str, Any]:
    """FD and PRDC of ``fake`` against ``real``, and the same for ``reference`` (other real
    images, e.g. the training split) against ``real``: the floor a perfect generator would reach
    with this many images."""
    out: dict[str, Any] = {"frechet_distance": frechet_distance(real, fake)}
    ref: dict[str, Any] = {"frechet_distance": frechet_distance(real, reference)}
    if min(len(real), len(fake), len(reference)) > k:
        out.update(prdc(real, fake, k))
        ref.update(prdc(real, reference, k))
    else:
        nan = {m: math.nan for m in ("precision", "recall", "density", "coverage")}
        out.update(nan)
        ref.update(nan)
    out["reference"] = ref
    return out


# -- Inception-v3 pool features -------------------------------------------------------------------
INCEPTION_SIZE = 299
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def check_inception_weights(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise AugmentError(f"inception weights not found: {path}")
    if path.suffix not in (".pth", ".pt", ".safetensors"):
        raise AugmentError(f"inception weights must be a .pth or .safetensors file, got {path}")
    return path


def load_inception(path: str | Path, device: torch.device) -> torch.nn.Module:
    """torchvision's Inception-v3 with a local state dict, ``fc`` removed (2048 pool features).
    Never downloads: ``weights=None`` and the file given. ``.pth`` loads with
    ``weights_only=True``, so a weights file cannot run code."""
    from torchvision.models import inception_v3

    path = check_inception_weights(path)
    assert path is not None
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is an input error
        raise AugmentError(f"cannot read inception weights {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    aux = any(str(key).startswith("AuxLogits.") for key in state)
    # torchvision's ImageNet weights expect ImageNet-normalised input with transform_input=True.
    net = inception_v3(weights=None, aux_logits=aux, transform_input=True, init_weights=False)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise AugmentError(f"{path} is not an Inception-v3 state dict: {first}") from None
    net.fc = torch.nn.Identity()
    return net.to(device).eval()


@torch.no_grad()
def inception_features(
    net: torch.nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """Pool features ``(N, 2048)`` of uint8 ``(N, C, H, W)`` images, upsampled (bilinear) to
    299 px, grey repeated to 3 channels, ImageNet-normalised."""
    mean = torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start : start + batch_size]).to(device).float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear")
        x = (x - mean) / std
        out.append(net(x).float().cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 2048))
