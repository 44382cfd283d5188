"""Benchmark: a table larger than memory, end to end, with each stage's peak memory.

Builds a CSV of ``--rows`` rows (default 10 million) of UCI Adult replicated with jitter (rows
drawn with replacement; ages, weights, gains and hours perturbed; written 500,000 rows at a
time, so building it needs little memory either), then runs the stages as a user would, each
in its own process:

    augment ingest --source big.csv --label income --stream always
    augment train --epochs 1            (one pass over the train split)
    augment generate --n 1000000
    augment evaluate --seeds 2 --fraction 1   (a seeded 100,000-row sample of each split)
    augment report

and records each one's wall time and peak RSS (the process's own ``ru_maxrss``, from
``os.wait4``), against the target of 4 GiB, with the machine and the load average.

Usage (see benchmarks/README.md):
    python benchmarks/large_table.py --work /tmp/large          # 10M rows, ~1.1 GB of CSV
    python benchmarks/large_table.py --rows 200000 --work /tmp/large_small
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # benchmarks/machine.py, beside this script

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "large_table.json"
TARGET_PEAK_MIB = 4096
CHUNK_ROWS = 500_000


def build_table(path: Path, rows: int, seed: int) -> float:
    """Write ``rows`` jittered Adult rows to ``path`` (CSV); returns the seconds it took."""
    from augment.tabular.ingest import load_adult

    started = time.perf_counter()
    adult, _ = load_adult()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".partial")
    with tmp.open("w") as handle:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            chunk = adult.iloc[rng.integers(0, len(adult), n)].reset_index(drop=True)
            chunk["age"] = np.clip(chunk["age"] + rng.integers(-2, 3, n), 17, 90)
            chunk["fnlwgt"] = (chunk["fnlwgt"] * rng.lognormal(0, 0.05, n)).round().astype(int)
            for gain in ("capital-gain", "capital-loss"):
                jitter = rng.lognormal(0, 0.05, n)
                chunk[gain] = np.where(chunk[gain] > 0, (chunk[gain] * jitter).round(), 0)
                chunk[gain] = chunk[gain].astype(int)
            hours = chunk["hours-per-week"] + rng.integers(-3, 4, n)
            chunk["hours-per-week"] = np.clip(hours, 1, 99)
            chunk.to_csv(handle, index=False, header=start == 0)
    tmp.replace(path)
    return time.perf_counter() - started


def run_stage(name: str, command: list[str], log: Path) -> dict[str, Any]:
    """Run one stage in its own process: wall seconds, peak RSS (MiB) and the exit status."""
    started = time.perf_counter()
    with log.open("w") as output:
        # In the work folder: no params.yaml there, so each command runs with its defaults.
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=log.parent)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    result = {
        "stage": name,
        "command": " ".join(command),
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB -> MiB on Linux
        "exit": code,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "last_line": _last_line(log),
    }
    print(json.dumps(result), flush=True)
    if code != 0:
        raise SystemExit(f"{name} failed (exit {code}); see {log}")
    return result


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].split("\r")[-1].strip() if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=1_000_000, help="rows to generate")
    parser.add_argument("--work", type=Path, required=True, help="a folder with ~3 GB free")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    table = args.work / f"adult_{args.rows}.csv"
    build_seconds = None
    if not table.exists():
        build_seconds = round(build_table(table, args.rows, args.seed), 1)
    augment_cli = [sys.executable, "-m", "augment"]
    prepared, model, synth = args.work / "prepared", args.work / "model", args.work / "synth"
    metrics, plots, summary = args.work / "metrics.json", args.work / "plots", args.work / "s.md"
    stages = [
        (
            "ingest",
            [*augment_cli, "ingest", "--source", str(table), "--label", "income",
             "--out", str(prepared), "--stream", "always"],
        ),
        (
            "train (1 epoch)",
            [*augment_cli, "train", "--data", str(prepared), "--out", str(model),
             "--epochs", "1", "--device", "cpu"],
        ),
        (
            f"generate {args.sample:,} rows",
            [*augment_cli, "generate", "--model", str(model), "--n", str(args.sample),
             "--out", str(synth), "--device", "cpu"],
        ),
        (
            # Two seeds and no low-data sweep keep the benchmark short; the splits' samples,
            # which bound the memory, are the defaults' (at most 100,000 rows each).
            "evaluate (2 seeds, all rows of the sample)",
            [*augment_cli, "evaluate", "--data", str(prepared), "--model", str(model),
             "--metrics", str(metrics), "--plots", str(plots), "--report", str(summary),
             "--seeds", "2", "--fraction", "1", "--device", "cpu"],
        ),
        (
            "report",
            [*augment_cli, "report", "--data", str(prepared), "--metrics", str(metrics),
             "--plots", str(plots), "--summary", str(summary), "--synthetic", str(synth),
             "--out", str(args.work / "report.html")],
        ),
    ]  # fmt: skip
    results = [
        run_stage(name, command, args.work / f"{i}.log") for i, (name, command) in enumerate(stages)
    ]
    record = {
        "benchmark": "large_table",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()}",
        "rows": args.rows,
        "csv_bytes": table.stat().st_size,
        "build_seconds": build_seconds,
        "target_peak_rss_mib": TARGET_PEAK_MIB,
        "stages": results,
        "all_under_target": all(r["peak_rss_mib"] < TARGET_PEAK_MIB for r in results),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "stages"}, indent=2))
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
