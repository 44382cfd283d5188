"""Interrupted runs, in real processes: SIGTERM (what a cluster sends before it kills a job) is
handled like Ctrl-C: the run cleans up and says so in one line, exit 143 (130 for SIGINT).
A ``kill -9`` cannot be handled: its temporary folder stays until the next run into the same
place removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hostile_support import invoke, leftovers, tiny_table

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each starts python and torch (several seconds)


def start(tmp_path: Path, *args: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "augment", *map(str, args)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Ctrl-C's default, as in a terminal: a shell's background job (nohup ... &) would
        # hand the child SIGINT ignored, and the interrupt under test would never arrive.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the run never got going")
        time.sleep(0.05)


def last_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text, text
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("augment:")] == lines[-1:], text
    return lines[-1]


def temporary(tmp_path: Path, name: str) -> bool:
    return any(p.name.startswith(f".{name}.") for p in tmp_path.iterdir())


def part_temporary(out: Path) -> bool:
    """The first part of a synthetic set being written in ``out``'s parts folder."""
    parts = out / "synthetic.parquet"
    return parts.is_dir() and temporary(parts, "part-00000.parquet")


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGTERM, 143, "augment: terminated by SIGTERM"),
        (signal.SIGINT, 130, "augment: interrupted"),
    ],
)
def test_a_signal_mid_generation_cleans_up(signum, code, line, table_model, tmp_path):
    process = start(tmp_path, "generate", "--model", table_model, "--n", 10**8,
                    "--chunk-size", 500, "--out", "synth", "--device", "cpu")  # fmt: skip
    wait_for(lambda: part_temporary(tmp_path / "synth"), process)
    time.sleep(0.5)  # well inside the writing
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert last_line(stderr) == line
    # What stays is the folder a rerun resumes in: no temporary, no half part, not complete.
    parts = tmp_path / "synth" / "synthetic.parquet"
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "synth") == []
    assert list(parts.iterdir()) == [] and not temporary(tmp_path, "synth")
    assert not (tmp_path / "synth" / "generation.json").exists()


def test_sigterm_mid_training(tmp_path):
    tiny_table().to_csv(tmp_path / "t.csv", index=False)
    assert invoke("ingest", "--source", "t.csv", "--label", "label", "--out", "prep").exit_code == 0
    process = start(tmp_path, "train", "--data", "prep", "--out", "model", "--epochs", 100_000,
                    "--batch-size", 20, "--device", "cpu")  # fmt: skip
    log = b""

    def training() -> bool:
        nonlocal log
        os.set_blocking(process.stderr.fileno(), False)
        log += process.stderr.read() or b""
        return b"tabgan" in log

    wait_for(training, process)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 143, log + rest
    # Training ends the step, writes a checkpoint and says how to resume, in one line.
    line = last_line(log + rest)
    assert line.startswith("augment: error: training stopped by SIGTERM at step "), line
    assert "run the same command again to resume" in line
    assert leftovers(tmp_path) == [] and not (tmp_path / "model").exists()
    assert (tmp_path / ".model.checkpoint" / "checkpoint.json").is_file()


def test_what_kill_9_leaves_is_removed_by_the_next_run(table_model, tmp_path):
    process = start(tmp_path, "generate", "--model", table_model, "--n", 10**8,
                    "--chunk-size", 500, "--out", "synth", "--device", "cpu")  # fmt: skip
    wait_for(lambda: part_temporary(tmp_path / "synth"), process)
    process.kill()
    process.communicate(timeout=60)
    stale = leftovers(tmp_path / "synth" / "synthetic.parquet")
    assert len(stale) == 1 and stale[0].startswith(".part-00000.parquet.")
    assert invoke("generate", "--model", table_model, "--n", 5, "--out", "synth").exit_code == 0
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "synth" / "synthetic.parquet") == []
    assert pd.read_parquet(tmp_path / "synth" / "synthetic.parquet").shape[0] == 5
