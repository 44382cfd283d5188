"""Benchmark: does the image GAN help a CNN on MNIST when real images are scarce?

For each k in ``--per-class`` (default 10, 50, 200 real training images per class) and each
count in ``--unlabelled`` (default 0: none; e.g. ``0,5000``):

1. ``ingest_images`` reads the MNIST IDX files with ``per_class=k`` (the official t10k images
   are the test split; validation comes from the training file); with unlabelled images, that
   many MNIST training images that are in no split are handed to ingest as ``--unlabelled``;
2. the class-conditional image GAN (``make_synthesizer("imagegan")``) is trained on those
   ``10 k`` images alone (and the unlabelled ones, in its unconditional phase); its budget is
   the GAN's own default for the data and the device unless ``--gan-steps`` is given;
3. ``evaluate_images`` trains the downstream CNN (early-stopped on validation images) over
   ``--seeds`` seeds on: real only; real + classic augmentation (crop / small affine, no flip);
   real + synthetic (``--ratio`` synthetic images per real one); real + classic + synthetic;
   real + curated synthetic and real + classic + curated synthetic (kept where a CNN trained on
   the real images gives the class probability >= ``--curate-threshold``); synthetic only;
   real + classic pretrained on synthetic images (``evaluate_images``' default pretraining);
   and reports the paired macro-F1 and accuracy gains with 95% intervals — over real only, and
   of classic + (curated) synthetic and of the pretrained recipe over classic — beside PRDC of
   the synthetic images and of real training images (the floor a perfect generator would
   reach) on the real-only CNN's features.

Then the GAN's training throughput (images/s) is measured on the CPU and, when CUDA is present,
on the GPU, with the same network and batch, one after the other in this run.

Usage (see benchmarks/README.md):
    python3 benchmarks/images_mnist.py --out benchmarks/results/images_mnist.json
    python3 benchmarks/images_mnist.py --per-class 10 --gan-steps 500 --seeds 2   # a quick look
    python3 benchmarks/images_mnist.py --per-class 50 --unlabelled 0,5000
    python3 benchmarks/images_mnist.py --per-class 10 --work /tmp/mnist --ratio 3  # reuses GANs
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # benchmarks/machine.py, beside this script

from augment.core.files import write_json
from augment.errors import AugmentError
from augment.images.bundle import ImageBundle
from augment.images.evaluation.runner import evaluate_images
from augment.images.ingest import ingest_images
from augment.images.readers import read_idx_pair
from augment.registry import make_synthesizer

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "images_mnist.json"
RECIPES = (
    "real+classic",
    "real+synth@{r}",
    "real+classic+synth@{r}",
    "real+curated@{r}",
    "real+classic+curated@{r}",
    "synth",
    "real+classic+pretrained",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.table_only:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    per_class = [int(k) for k in args.per_class.split(",")]
    unlabelled = [int(n) for n in args.unlabelled.split(",")]
    steps = {} if args.gan_steps is None else {"steps": args.gan_steps}
    gan_params = {**steps, **json.loads(args.gan_params)}
    results: dict[str, Any] = {
        "machine": _machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "settings": {
            "per_class": per_class,
            "unlabelled": unlabelled,
            "seeds": args.seeds,
            "ratio": args.ratio,
            "curate_threshold": args.curate_threshold,
            "gan": gan_params,
            "device": args.device,
            "mnist": str(args.mnist),
        },
        "per_class": {},
    }
    with _work_dir(args.work) as tmp:
        for k in per_class:
            for n in unlabelled:
                print(f"== {k} real images per class, {n} unlabelled", file=sys.stderr)
                key = str(k) if n == 0 else f"{k}+{n}u"
                results["per_class"][key] = run_one(k, n, Path(tmp), args, gan_params)
                _save(results, args.out)
        if args.throughput_steps:
            bundle = ImageBundle.load(Path(tmp) / f"data_{per_class[-1]}")
            results["throughput"] = throughput(bundle, gan_params, args.throughput_steps)
    _save(results, args.out)
    print(markdown(results))
    return 0


def run_one(
    k: int, unlabelled: int, tmp: Path, args: argparse.Namespace, gan_params: dict
) -> dict[str, Any]:
    # A model's folder names what trained it, so a kept --work folder reuses only its own GANs.
    trained_by = json.dumps([gan_params, args.seed, args.device], sort_keys=True)
    digest = hashlib.sha1(trained_by.encode()).hexdigest()[:10]
    data_dir, model_dir = tmp / f"data_{k}", tmp / f"model_{k}_{unlabelled}_{digest}"
    if not (data_dir / "schema.json").is_file():
        ingest_images(args.mnist, data_dir, per_class=k, seed=args.seed, progress=False)
    bundle = ImageBundle.load(data_dir)
    if unlabelled:
        pool = unlabelled_pool(args.mnist, bundle, unlabelled, tmp, args.seed)
        data_dir = tmp / f"data_{k}_{unlabelled}u"
        bundle = ingest_images(
            args.mnist, data_dir, per_class=k, seed=args.seed, unlabelled=pool, progress=False
        )
    if (model_dir / "config.json").is_file():  # trained by an earlier run into --work
        training = json.loads((model_dir / "config.json").read_text())["training"]
        fit_seconds = training["seconds"]
        print(f"reusing the GAN in {model_dir}", file=sys.stderr)
    else:
        synth = make_synthesizer("imagegan", gan_params)
        started = time.perf_counter()
        training = synth.fit(
            bundle.train, bundle.schema, seed=args.seed, device=args.device,
            unlabelled=bundle.unlabelled,
        )  # fmt: skip
        fit_seconds = time.perf_counter() - started
        synth.save(model_dir)
    result = evaluate_images(
        bundle,
        model_dir,
        ratios=[args.ratio],
        per_class=[],
        seeds=args.seeds,
        device=args.device,
        seed=args.seed,
        fidelity_images=args.fidelity_images,
        curate=True,
        curate_threshold=args.curate_threshold,
    )
    block, clf = result.full, result.primary_classifier
    r = result.sweep_ratio
    names = [name.format(r=r) for name in RECIPES]

    def scores(recipe: str) -> dict[str, Any]:
        return {m: block.score(recipe, clf, m).to_dict() for m in result.metrics}

    def gains(recipe: str, versus: str = "real") -> dict[str, Any]:
        return {m: block.gain(recipe, clf, m, versus).to_dict() for m in result.metrics}  # type: ignore[union-attr]

    return {
        "train_images": len(bundle.train),
        "unlabelled_images": 0 if bundle.unlabelled is None else len(bundle.unlabelled),
        "gan_fit_seconds": round(fit_seconds, 1),
        "gan_training": {
            key: training.get(key)
            for key in ("steps", "seconds", "images_per_second", "device", "precision", "threads")
        },
        "scores": {name: scores(name) for name in ["real", *names]},
        "gains": {name: gains(name) for name in names},
        "classic_synth_vs_classic": gains(names[2], versus="real+classic"),
        "classic_curated_vs_classic": gains(names[4], versus="real+classic"),
        "pretrained_vs_classic": gains(names[6], versus="real+classic"),
        "fidelity": result.to_dict()["fidelity"],
        "evaluate_seconds": result.timings.get("total_s"),
        "verdict": result.verdict.text,
    }


def _work_dir(work: Path | None) -> contextlib.AbstractContextManager[str]:
    if work is None:
        return tempfile.TemporaryDirectory(prefix="augment-mnist-")
    work.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(work))


def unlabelled_pool(mnist: Path, bundle: ImageBundle, n: int, tmp: Path, seed: int) -> Path:
    """An .npz of ``n`` MNIST training images that are in no split of ``bundle`` (seeded)."""
    images, _, _ = read_idx_pair(next(mnist.glob("train-images*")))
    used = {
        hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()
        for name in ("train", "validation", "test")
        for x in bundle.split(name).images[:, 0]
    }
    free = [i for i, x in enumerate(images) if hashlib.sha1(x.tobytes()).hexdigest() not in used]
    if len(free) < n:
        raise AugmentError(f"only {len(free)} MNIST training images are in no split, not {n}")
    keep = np.sort(np.random.default_rng(seed).permutation(free)[:n])
    pool = tmp / f"unlabelled_{len(bundle.train)}_{n}.npz"
    np.savez(pool, x=images[keep])
    return pool


def throughput(bundle: ImageBundle, gan_params: dict, steps: int) -> dict[str, Any]:
    """GAN training images/s on each available device, same network and batch, back to back."""
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    out: dict[str, Any] = {}
    for device in devices:
        params = {**gan_params, "steps": steps}
        synth = make_synthesizer("imagegan", params)
        summary = synth.fit(bundle.train, bundle.schema, seed=0, device=device, progress=False)
        out[device] = {
            key: summary.get(key)
            for key in ("steps", "seconds", "images_per_second", "precision", "threads")
        }
        if device == "cuda":
            out[device]["gpu"] = torch.cuda.get_device_name(0)
    if "cuda" in out and out["cpu"]["images_per_second"]:
        out["gpu_over_cpu"] = round(
            out["cuda"]["images_per_second"] / out["cpu"]["images_per_second"], 1
        )
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"MNIST, {results['settings']['seeds']} seeds, macro-F1 on the 10,000 t10k test images;"
        " gains paired per seed, 95% CI.",
        "",
        "| real / class | real only | + classic | + synthetic | + classic + synthetic |"
        " + curated | + classic + curated | classic + synth vs classic |"
        " classic + curated vs classic | pretrained + classic vs classic |"
        " synthetic only (CAS) | GAN fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k, row in results["per_class"].items():
        # By prefix, not position: results written before the curated recipes lack them.
        gains = {name.split("@")[0]: ci for name, ci in row["gains"].items()}
        cells = [_score(row["scores"]["real"])]
        for prefix in ("real+classic", "real+synth", "real+classic+synth", "real+curated",
                       "real+classic+curated"):  # fmt: skip
            cells.append(_gain(gains[prefix]["macro_f1"]) if prefix in gains else "—")
        for versus in (
            "classic_synth_vs_classic", "classic_curated_vs_classic", "pretrained_vs_classic"
        ):  # fmt: skip
            cells.append(_gain(row[versus]["macro_f1"]) if versus in row else "—")
        cells.append(_score(row["scores"]["synth"]))
        cells.append(f"{row['gan_fit_seconds']:.0f} s")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    tp = results.get("throughput", {})
    for device in ("cpu", "cuda"):
        if device in tp:
            t = tp[device]
            lines.append(
                f"\nGAN training on {device}: {t['images_per_second']:.0f} images/s"
                f" ({t['steps']} steps in {t['seconds']:.1f} s, {t['precision']})"
            )
    if "gpu_over_cpu" in tp:
        lines.append(f"GPU / CPU: {tp['gpu_over_cpu']}x")
    return "\n".join(lines)


def _score(summary: dict[str, Any]) -> str:
    ci = summary["macro_f1"]
    return f"{ci['mean']:.3f}"


def _gain(ci: dict[str, float]) -> str:
    return f"{ci['mean']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"


def _machine() -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _save(results: dict[str, Any], out: Path) -> None:
    write_json(out, results)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="folder of the IDX files")
    p.add_argument("--per-class", default="10,50,200", help="real training images per class")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--ratio", type=float, default=1.0, help="synthetic images per real image")
    p.add_argument(
        "--unlabelled", default="0", help="unlabelled MNIST images beside each k (0: none)"
    )
    p.add_argument("--curate-threshold", type=float, default=0.5)
    p.add_argument(
        "--gan-steps", type=int, default=None, help="default: the GAN's budget for the data"
    )
    p.add_argument("--gan-params", default="{}", help="more GAN hyper-parameters, as JSON")
    p.add_argument("--fidelity-images", type=int, default=2000)
    p.add_argument("--throughput-steps", type=int, default=200, help="0: no throughput run")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the prepared data and GANs here and reuse them on a rerun (default: a"
        " temporary folder)",
    )
    p.add_argument(
        "--table-only", action="store_true", help="print the Markdown table of --out and exit"
    )
    return p


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AugmentError as exc:
        print(f"images_mnist: error: {exc}", file=sys.stderr)
        sys.exit(2)
