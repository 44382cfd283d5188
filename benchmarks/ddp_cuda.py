"""Benchmark: data-parallel training on CUDA under torchrun, against one plain process.

For each GAN (ImageGAN on MNIST when ``--mnist`` has it, else the built-in 8x8 digits; TabGAN on
the built-in UCI Adult) it runs ``augment train --device cuda`` for ``--steps`` steps:

- once as a plain process (no torchrun, no DDP);
- under ``torchrun --standalone --nproc-per-node P`` for every P in ``--processes`` (default:
  1 and every power of two up to the GPUs present), so P = 1 shows DDP's own overhead.

Each run's ``config.json`` summary gives the training seconds (encoding and saving left out);
the table reports steps/s, samples/s (rows or real images through D, all processes together)
and the speed-up in samples/s over the plain process. Checkpoints are left at their default.

``--device cpu`` runs the same on the CPU (gloo; 1 and 2 processes by default): a smoke test of
the script, not a measurement worth keeping.

Usage (see benchmarks/README.md):
    python3 benchmarks/ddp_cuda.py --out benchmarks/results/ddp_cuda.json
    python3 benchmarks/ddp_cuda.py --steps 200 --models imagegan      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

try:
    import augment
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import augment

from machine import cpu_model  # benchmarks/machine.py, beside this script

from augment.core.files import write_json

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "datasets" / "mnist"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ddp_cuda.json"
SETTINGS = {
    "imagegan": ["--batch-size", "64"],
    "tabgan": ["--epochs", "100000", "--batch-size", "500"],
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("ddp_cuda: no CUDA device: nothing to measure", file=sys.stderr)
        return 2
    gpus = torch.cuda.device_count() if cuda else 0
    counts = [int(p) for p in args.processes.split(",")] if args.processes else _powers(gpus)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ddp_cuda.") as tmp:
        root = Path(tmp)
        for model in args.models.split(","):
            data = _prepare(model, root, args.mnist)
            for processes in [0, *counts]:
                rows.append(_run(model, data, root, processes, args.steps, args.device))
                print(_table([rows[-1]], header=len(rows) == 1), flush=True)
    results = {
        "benchmark": "ddp_cuda",
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "gpus": gpus,
            "processor": cpu_model(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "steps": args.steps,
        "runs": rows,
    }
    write_json(args.out, results)
    print()
    print(_table(rows))
    return 0


def _powers(gpus: int) -> list[int]:
    if gpus == 0:  # the CPU
        return [1, 2]
    counts, p = [], 1
    while p <= gpus:
        counts.append(p)
        p *= 2
    return counts if counts[-1] == gpus else [*counts, gpus]


def _prepare(model: str, root: Path, mnist: Path) -> Path:
    out = root / f"{model}-data"
    if model == "tabgan":
        augment.ingest("adult", out=out, progress=False)
    elif mnist.is_dir():
        augment.ingest(mnist, out=out, progress=False)
    else:
        augment.ingest("digits", out=out, progress=False)
    return out


def _run(
    model: str, data: Path, root: Path, processes: int, steps: int, device: str
) -> dict[str, Any]:
    out = root / f"{model}-{processes}"
    length = ["--set", f"max_steps={steps}"] if model == "tabgan" else ["--steps", str(steps)]
    train = ["train", "--data", str(data), "--out", str(out), "--model", model, "--device"]
    train += [device, "--seed", "0", *SETTINGS[model], *length]
    if processes == 0:
        command = [sys.executable, "-m", "augment", "-q", *train]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc-per-node", str(processes), "-m", "augment", "-q", *train]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if device == "cpu":
        env["OMP_NUM_THREADS"] = "1"  # processes side by side, one core each
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ddp_cuda: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "config.json").read_text())["training"]
    batch = int(SETTINGS[model][SETTINGS[model].index("--batch-size") + 1])
    ranks = max(processes, 1)
    return {
        "model": model,
        "launcher": "torchrun" if processes else "plain",
        "processes": ranks,
        "steps": summary["steps"],
        "seconds": summary["seconds"],
        "steps_per_second": summary["steps_per_second"],
        "samples_per_second": round(summary["steps"] * batch * ranks / summary["seconds"], 1),
        "precision": summary["precision"],
    }


def _table(rows: list[dict[str, Any]], header: bool = True) -> str:
    plain = {r["model"]: r["samples_per_second"] for r in rows if r["launcher"] == "plain"}
    lines = []
    if header:
        lines += [
            "| model | launcher | processes | steps/s | samples/s | speed-up | precision |",
            "|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        base = plain.get(r["model"])
        speed = f"{r['samples_per_second'] / base:.2f}x" if base else "-"
        lines.append(
            f"| {r['model']} | {r['launcher']} | {r['processes']} | {r['steps_per_second']} | "
            f"{r['samples_per_second']} | {speed} | {r['precision']} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="imagegan,tabgan")
    p.add_argument("--steps", type=int, default=1000, help="training steps per run")
    p.add_argument("--processes", default="", help="process counts, e.g. 1,2,4 (default: 1..GPUs)")
    p.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="folder of the IDX files")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p


if __name__ == "__main__":
    sys.exit(main())
