"""Benchmark: TabGAN's sampling against SDV CTGAN's, side by side in one run, on UCI Adult.

TabGAN: ``augment.generate`` of ``--rows`` rows to Parquet (model load, sampling, decoding and
the Parquet file included). SDV CTGAN: its own ``sample(rows)`` into a DataFrame (no file
written: the comparison is generous to SDV). Each side runs in its own long-lived worker
process, set up once (TabGAN: imports; CTGAN: fitted on the same training split for
``--sdv-epochs`` epochs, by default 1: sampling cost does not depend on how well it fitted);
each draws 1,000 rows once untimed (first-call imports), and both use the intra-op threads of
``cpu_threads`` (every core this process may use); the parent then alternates the two for
``--repeats`` rounds and reports medians, rows/s, the ratio, each worker's peak RSS (its own
``ru_maxrss``, setup included) and the load average.

Usage (see benchmarks/README.md):
    python benchmarks/tabular_sampling.py --model models/tabular --data data/prepared
    python benchmarks/tabular_sampling.py --rows 100000 --repeats 3   # trains a quick model
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tabular_sampling.json"
TARGET_ROWS_PER_SECOND = 300_000
TARGET_RATIO = 4.0


# -- workers: one process per side, driven over stdin/stdout ------------------------------------


def worker(side: str, model: str, data: str, sdv_epochs: int, seed: int) -> None:
    """Set up ``side``, print ``ready``, then time one sampling per ``rows`` line read."""
    import torch

    from augment.core.training import cpu_threads

    # Both sides get the same intra-op threads, the count augment samples with.
    torch.set_num_threads(cpu_threads())
    sample = _tabgan_sampler(model, seed) if side == "tabgan" else _sdv_sampler(data, sdv_epochs)
    sample(1000)  # warm-up: first-call imports and allocations are not sampling speed
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        rows = int(line)
        started = time.perf_counter()
        sample(rows)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
        print(json.dumps({"seconds": seconds, "peak_rss_mib": peak}), flush=True)


def _tabgan_sampler(model: str, seed: int) -> Any:
    import augment

    scratch = Path(tempfile.mkdtemp(prefix="tabgan-sampling-"))

    def sample(rows: int) -> None:
        out = scratch / "synth"
        augment.generate(model, rows, out, seed=seed, progress=False)
        shutil.rmtree(out)

    return sample


def _sdv_sampler(data: str, epochs: int) -> Any:
    from augment.core.runtime import resolve_device, seed_everything
    from augment.registry import load_bundle
    from augment.tabular.sdv import TABLE, build_sdv_synthesizer, on_device, sdv_quiet

    bundle = load_bundle(data)
    device = resolve_device("cpu")
    seed_everything(0)
    synth = build_sdv_synthesizer("sdv-ctgan", bundle.schema, {"epochs": epochs}, device)
    with sdv_quiet(False), on_device(device):
        synth.fit({TABLE: bundle.train})

    def sample(rows: int) -> None:
        with sdv_quiet(False), on_device(device):
            synth.sample(rows)

    return sample


class Worker:
    def __init__(self, side: str, args: argparse.Namespace) -> None:
        command = [
            sys.executable, __file__, "--worker", side, "--model", str(args.model),
            "--data", str(args.data), "--sdv-epochs", str(args.sdv_epochs),
            "--seed", str(args.seed),
        ]  # fmt: skip
        self.side = side
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()  # ready

    def run(self, rows: int) -> dict[str, float]:
        self.process.stdin.write(f"{rows}\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.side} worker exited early (see its output above)")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


# -- the run ----------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, scratch: Path) -> None:
    """Adult ingested and a quick TabGAN trained where --data / --model are not given."""
    import augment

    if args.data is None:
        args.data = scratch / "data"
        augment.ingest("adult", out=args.data, progress=False)
    if args.model is None:
        args.model = scratch / "model"
        augment.train(args.data, args.model, epochs=args.epochs, progress=False)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    workers = {side: Worker(side, args) for side in ("tabgan", "sdv-ctgan")}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in workers}
    try:
        for repeat in range(args.repeats):  # interleaved: both sides see the same load
            for side, process in workers.items():
                runs[side].append(process.run(args.rows))
                print(f"repeat {repeat + 1} {side}: {runs[side][-1]['seconds']:.2f} s", flush=True)
    finally:
        for process in workers.values():
            process.close()
    sides = {}
    for side, side_runs in runs.items():
        seconds = statistics.median(r["seconds"] for r in side_runs)
        sides[side] = {
            "seconds": [round(r["seconds"], 3) for r in side_runs],
            "median_seconds": round(seconds, 3),
            "rows_per_second": round(args.rows / seconds),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in side_runs), 1),
        }
    ours, theirs = sides["tabgan"]["rows_per_second"], sides["sdv-ctgan"]["rows_per_second"]
    return {
        "rows": args.rows,
        "repeats": args.repeats,
        "sides": sides,
        "ratio": round(ours / theirs, 2),
        "targets": {
            "rows_per_second": TARGET_ROWS_PER_SECOND,
            "rows_per_second_met": ours >= TARGET_ROWS_PER_SECOND,
            "ratio": TARGET_RATIO,
            "ratio_met": ours / theirs >= TARGET_RATIO,
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }


def machine_info() -> dict[str, Any]:
    import pyarrow
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyarrow": pyarrow.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        info["sdv"] = __import__("sdv").__version__
    except ImportError:
        info["sdv"] = None
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per sampling run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per side")
    parser.add_argument("--model", type=Path, help="a trained TabGAN (default: train one)")
    parser.add_argument("--data", type=Path, help="prepared Adult (default: ingest it)")
    parser.add_argument("--epochs", type=int, default=20, help="TabGAN epochs when training")
    parser.add_argument("--sdv-epochs", type=int, default=1, help="CTGAN epochs (fit untimed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", choices=("tabgan", "sdv-ctgan"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, str(args.model), str(args.data), args.sdv_epochs, args.seed)
        return
    from augment.core.files import write_json

    with tempfile.TemporaryDirectory(prefix="tabular-sampling-") as scratch:
        prepare(args, Path(scratch))
        result = measure(args)
    result["command"] = shlex.join(["python", *sys.argv])
    result["machine"] = machine_info()
    result["sdv_epochs"] = args.sdv_epochs
    write_json(args.out, result)
    tab, sdv = result["sides"]["tabgan"], result["sides"]["sdv-ctgan"]
    print(
        f"{args.rows:,} rows: TabGAN {tab['median_seconds']} s ({tab['rows_per_second']:,} rows/s,"
        f" peak RSS {tab['peak_rss_mib']} MiB), SDV CTGAN {sdv['median_seconds']} s"
        f" ({sdv['rows_per_second']:,} rows/s, peak RSS {sdv['peak_rss_mib']} MiB):"
        f" {result['ratio']}x; load {result['load_average']} -> {args.out}"
    )


if __name__ == "__main__":
    main()
