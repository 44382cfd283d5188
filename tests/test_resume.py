"""``augment train`` killed with SIGKILL and run again resumes from its checkpoint, to the very
weights of an uninterrupted run (both GANs, on the CPU); ``--restart`` starts over."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from training_data import prepare_both
from typer.testing import CliRunner

from augment.cli import app
from augment.log import logger

ROOT = Path(__file__).resolve().parents[1]

# Runs `augment ...` and kills itself with SIGKILL (no handler can run) right after step
# KILL_AT: a crash at a known point, between two checkpoints.
KILLER = """
import os, signal, sys
from augment.images.gan import _ImageGANTask
from augment.tabular.gan import _TabGANTask

kill_at = int(os.environ["KILL_AT"])
for task in (_TabGANTask, _ImageGANTask):
    def end_step(self, step, _original=task.end_step):
        _original(self, step)
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    task.end_step = end_step

from augment.cli import main
sys.argv = ["augment", *sys.argv[1:]]
main()
"""

COMMON = ["--device", "cpu", "--seed", "3", "--checkpoint-every", "3", "--set", "threads=1"]
MODELS = {
    "tabgan": [
        *["--epochs", "100", "--batch-size", "20", "--set", "max_steps=12"],
        *["--set", "generator_dims=[16]", "--set", "discriminator_dims=[16]"],
        *["--set", "precision=fp32", "--set", "log_every=4", "--set", "fit_sample=200"],
    ],
    "imagegan": [
        *["--steps", "12", "--batch-size", "8", "--set", "channels=2", "--set", "z_dim=8"],
        *["--set", "precision=fp32", "--set", "log_every=4"],
    ],
}
# The auxiliary classifier is a third network with its own optimiser: both must resume too, and
# it freezes at step 7 whichever side of the crash that falls.
MODELS["tabgan-classifier"] = [
    *MODELS["tabgan"],
    *["--set", "classifier_weight=1", "--set", "classifier_steps=7"],
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    return prepare_both(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the repository's params.yaml


def _cli(args: list[str], *, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if kill_at is None:
        command = [sys.executable, "-m", "augment", *args]
    else:
        command = [sys.executable, "-c", KILLER, *args]
        env["KILL_AT"] = str(kill_at)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=Path.cwd()
    )


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "weights.safetensors"))


@pytest.fixture
def messages(monkeypatch) -> list[str]:
    """What augment logs (the CLI's info lines), as text."""
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def _train(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.parametrize("model", list(MODELS))
def test_killed_training_resumes_to_the_same_weights(tmp_path, prepared, messages, model):
    data = prepared[model.split("-")[0]]
    args = ["train", "--data", str(data), "--out", str(tmp_path / "model")]
    args += [*COMMON, *MODELS[model]]
    checkpoint = tmp_path / ".model.checkpoint"

    killed = _cli(args, kill_at=8)
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "model").exists()
    assert json.loads((checkpoint / "checkpoint.json").read_text())["step"] == 6

    _train(args)  # the same command again (in this process: same CPU, one thread)
    assert f"resuming from step 6 of 12 (checkpoint in {checkpoint})" in messages
    assert "resumed from step 6" in messages[-1]  # the summary line
    assert not checkpoint.exists()  # removed once the model is saved
    training = json.loads((tmp_path / "model" / "config.json").read_text())["training"]
    assert training["resumed_from"] == 6 and training["steps"] == 12

    _train([*args[:3], "--out", str(tmp_path / "whole"), *args[5:]])  # never interrupted
    expected, got = _weights(tmp_path / "whole"), _weights(tmp_path / "model")
    assert expected.keys() == got.keys()
    assert all(expected[k].equal(got[k]) for k in expected)


def test_sigterm_checkpoints_restart_starts_over_another_runs_checkpoint_is_refused(
    tmp_path, prepared, monkeypatch
):
    from augment.images.gan import _ImageGANTask

    args = ["train", "--data", str(prepared["imagegan"]), "--out", str(tmp_path / "model")]
    args += [*COMMON, *MODELS["imagegan"]]
    checkpoint = tmp_path / ".model.checkpoint"
    original = _ImageGANTask.end_step

    def end_step(self, step):
        original(self, step)
        if step == 4:
            signal.raise_signal(signal.SIGTERM)

    with monkeypatch.context() as patch:
        patch.setattr(_ImageGANTask, "end_step", end_step)
        stopped = CliRunner().invoke(app, args)
    assert stopped.exit_code == 128 + signal.SIGTERM
    assert stopped.output.strip().splitlines()[-1] == (
        f"augment: error: training stopped by SIGTERM at step 4 of 12; checkpoint in "
        f"{checkpoint}: run the same command again to resume"
    )
    assert json.loads((checkpoint / "checkpoint.json").read_text())["step"] == 4

    changed = [*args, "--set", "lr_g=0.0001"]
    refused = CliRunner().invoke(app, changed)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"augment: error: the checkpoint in {checkpoint} is of another training run (its "
        "settings differ: lr_g 0.0002 -> 0.0001): train with --restart to start over, or "
        "delete that folder"
    ]
    _train([*changed, "--restart"])
    training = json.loads((tmp_path / "model" / "config.json").read_text())["training"]
    assert training["resumed_from"] is None and not checkpoint.exists()


def test_checkpoint_dir_that_is_a_users_folder_is_refused(tmp_path, prepared):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    args = ["train", "--data", str(prepared["imagegan"]), "--out", str(tmp_path / "model")]
    args += [*COMMON, *MODELS["imagegan"], "--checkpoint-dir", str(mine)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "did not write" in result.output
    assert (mine / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "model").exists()
    inside = ["train", "--data", str(prepared["imagegan"]), "--out", str(tmp_path / "model")]
    inside += [*COMMON, *MODELS["imagegan"], "--checkpoint-dir", str(tmp_path / "model" / "c")]
    result = CliRunner().invoke(app, inside)
    assert result.exit_code == 2 and "must be apart" in result.output
