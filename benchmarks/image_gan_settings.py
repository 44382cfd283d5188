"""Compare image-GAN settings on MNIST with k real images per class: downstream gain, CAS, PRDC.

Each setting trains the GAN on the same k-per-class subset, then ``evaluate_images`` scores it
(real only, classic, real + 1x synthetic, classic + synthetic, synthetic only; ``--seeds``
seeds). One JSON line per setting on stdout.

Usage:
    python3 benchmarks/image_gan_settings.py --per-class 50 --steps 2000 \\
        --settings '{"defaults": {}, "lr_d_2e-4": {"lr_d": 2e-4}, "channels_32": {"channels": 32}}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.images.evaluation.runner import evaluate_images
from augment.images.ingest import ingest_images
from augment.registry import make_synthesizer

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--settings", default='{"defaults": {}}', help="JSON: name -> GAN settings")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="augment-gan-settings-") as tmp:
        out = Path(tmp)
        bundle = ingest_images(args.mnist, out / "data", per_class=args.per_class, progress=False)
        for name, extra in json.loads(args.settings).items():
            params = {"steps": args.steps, "threads": args.threads, **extra}
            started = time.perf_counter()
            synth = make_synthesizer("imagegan", params)
            synth.fit(bundle.train, bundle.schema, seed=0, device="cpu", progress=False)
            fit_seconds = time.perf_counter() - started
            synth.save(out / name)
            result = evaluate_images(bundle, out / name, ratios=[1.0], per_class=[],
                                     seeds=args.seeds, device="cpu", progress=False,
                                     n_threads=args.threads, fidelity_images=1000)  # fmt: skip
            block, fid = result.full, result.fidelity.classifier.synthetic
            row = {
                "setting": name,
                "gan": params,
                "fit_s": round(fit_seconds),
                "real": block.score("real", "cnn", "macro_f1").mean,
                "synthetic_gain": block.gain("real+synth@1.0", "cnn", "macro_f1").mean,
                "cas": block.score("synth", "cnn", "macro_f1").mean,
                **{k: fid[k] for k in ("precision", "recall", "coverage", "frechet_distance")},
            }
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
