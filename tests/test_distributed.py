"""``augment train`` under torchrun: data-parallel on the CPU (gloo, 2 processes) and on CUDA
(NCCL, one process per GPU), for both GANs, TabGAN from a table in memory and from one read in
batches, ImageGAN with pseudo-labelled images too. The ranks' weights stay identical, rank 0's
model generates, and a checkpoint of the multi-process run resumes (to the very weights of an
uninterrupted run, on the CPU); rank 0 alone trains the pseudo-label judge, and a resume does
not; the other ranks wait for such work of rank 0's past the collectives' timeout. The helpers
of augment.core.distributed are tested in one process too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_data import prepare_both

import augment
from augment.core import distributed
from augment.errors import AugmentError
from augment.images.readers import load_digits_images
from augment.registry import load_synthesizer

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "ddp_driver.py"
WAIT_DRIVER = Path(__file__).resolve().parent / "ddp_wait_driver.py"
MODELS = ("tabgan", "tabgan-streamed", "imagegan", "imagegan-unlabelled")  # the driver's runs


def _prepare(root: Path) -> None:
    prepare_both(root, suffix="-data")  # where tests/ddp_driver.py reads it
    streamed = augment.ingest(
        root / "table.csv", "label", root / "tabgan-streamed-data", stream="always", progress=False
    )
    assert streamed.streamed
    images, _ = load_digits_images()
    np.savez(root / "unlabelled.npz", x=images[-60:])
    augment.ingest(
        "digits",
        out=root / "imagegan-unlabelled-data",
        per_class=8,
        unlabelled=root / "unlabelled.npz",
        progress=False,
    )


def _torchrun(
    root: Path, processes: int, *arguments: str, driver: Path = DRIVER
) -> subprocess.CompletedProcess:
    command = [
        *[sys.executable, "-m", "torch.distributed.run", "--standalone"],
        *["--nproc-per-node", str(processes), str(driver), str(root), *arguments],
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=900)


def _check_run(root: Path, processes: int, exact: bool) -> None:
    reports = [json.loads((root / f"rank{r}.json").read_text()) for r in range(processes)]
    for model in MODELS:
        for run in ("full", "resumed"):
            # Every rank holds the same weights: G, D and the EMA.
            ranks = [load_file(str(root / f"{model}-{run}-rank{r}.safetensors")) for r in
                     range(processes)]  # fmt: skip
            for other in ranks[1:]:
                assert other.keys() == ranks[0].keys()
                assert all(torch.equal(ranks[0][k], other[k]) for k in ranks[0]), (model, run)
        for report in reports:
            assert report[f"{model}-full"]["processes"] == processes
            assert report[f"{model}-full"]["resumed_from"] is None
            # SIGTERM reached rank 0 alone during step 5; all ranks stopped after step 6, the
            # first step where they compare notes (log_every 2, checkpoint_every 3).
            stopped = report[f"{model}-stopped"]
            assert stopped["exit_code"] == 143, stopped
            assert "at step 6 of 12" in stopped["message"]
            assert report[f"{model}-resumed"]["resumed_from"] == 6
            assert report[f"{model}-resumed"]["steps"] == 12
        assert not (root / f".{model}-resumed.checkpoint").exists()  # removed after saving
        # The pseudo-labels: one judge per run on rank 0 (sent to the others), none on resume.
        if model == "imagegan-unlabelled":
            assert reports[0]["judged"] == [f"{model}-full", f"{model}-stopped"]
            assert all(not report["judged"] for report in reports[1:])
            labels = [report[f"{model}-resumed"]["pseudo_labels"] for report in reports]
            assert labels[0]["of"] > 0 and all(other == labels[0] for other in labels[1:])
        if exact:
            full = load_file(str(root / f"{model}-full" / "weights.safetensors"))
            resumed = load_file(str(root / f"{model}-resumed" / "weights.safetensors"))
            assert all(torch.equal(full[k], resumed[k]) for k in full), model
        # Rank 0's model generates.
        gan = load_synthesizer(root / f"{model}-resumed", device="cpu")
        if model.startswith("tabgan"):
            rows = gan.sample(["no", "yes", "yes"], seed=0)
            assert rows["label"].tolist() == ["no", "yes", "yes"]
        else:
            images = gan.sample([0, 9], seed=0)
            assert images.shape == (2, 1, 8, 8) and images.dtype == np.uint8


@pytest.mark.slow
def test_two_cpu_processes_train_in_step_and_resume(tmp_path):
    _prepare(tmp_path)
    done = _torchrun(tmp_path, 2, "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    _check_run(tmp_path, 2, exact=True)
    # The two ranks trained on different rows: their last D-step losses differ.
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert reports[0]["tabgan-full"]["final_losses"] != reports[1]["tabgan-full"]["final_losses"]


@pytest.mark.slow
def test_ranks_wait_for_rank_0s_work_past_the_collective_timeout(tmp_path):
    # Rank 0 trains the pseudo-label judge (or fits the encoder) while the others wait: for
    # longer than distributed.TIMEOUT on CPUs with large images. The driver shortens TIMEOUT
    # to 10 s and works 12 s; before the wait had a group of its own, rank 1 timed out.
    done = _torchrun(tmp_path, 2, driver=WAIT_DRIVER)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in range(2):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report == {"received": ["labels", ""], "error": "the judge failed"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_processes_train_in_step_and_resume(tmp_path):
    processes = min(2, torch.cuda.device_count())  # NCCL: one process per GPU
    _prepare(tmp_path)
    done = _torchrun(tmp_path, processes, "cuda")
    assert done.returncode == 0, done.stderr[-3000:]
    _check_run(tmp_path, processes, exact=False)  # CUDA kernels need not repeat bit for bit


# ------------------------------------------------------------------ helpers, one process
def test_one_process_without_torchrun(monkeypatch):
    for key in distributed.ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    assert not distributed.launched()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (
        0,
        1,
        True,
    )
    with distributed.session("cpu") as context:
        assert not context.launched and context.main and context.shard == slice(None)
        net = torch.nn.Linear(2, 2)
        assert distributed.parallel(net, context) is net
        assert distributed.gather_bytes(b"abc", context) == [b"abc"]
        assert distributed.broadcast_bytes([b"x", b""], context) == [b"x", b""]


def test_torchrun_environment_is_read_and_checked(monkeypatch):
    env = {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "h",
        "MASTER_PORT": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert distributed.launched() and distributed.rank() == 1 and distributed.world_size() == 4
    assert not distributed.is_main_process()
    context = distributed.Context(torch.device("cpu"), rank=1, world_size=4)
    assert list(range(10))[context.shard] == [1, 5, 9]
    # One GPU per process: LOCAL_RANK's, whatever cuda:N was asked (checked without a GPU).
    assert distributed.process_device("cpu") == torch.device("cpu")
    with monkeypatch.context() as gpus:
        gpus.setattr(distributed, "resolve_device", lambda name: torch.device("cuda", 0))
        gpus.setattr(torch.cuda, "device_count", lambda: 2)
        assert distributed.process_device("cuda:0") == torch.device("cuda", 1)
        gpus.setattr(torch.cuda, "device_count", lambda: 1)
        with pytest.raises(AugmentError, match="LOCAL_RANK 1 has no GPU: this node has 1"):
            distributed.process_device("cuda")
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(AugmentError, match="RANK must be a whole number"):
        distributed.rank()
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(AugmentError, match="RANK=4 outside WORLD_SIZE=4"), distributed.session():
        pass


def test_rank_seeds_differ_and_repeat():
    seeds = {distributed.rank_seed(seed, rank) for seed in range(3) for rank in range(4)}
    assert len(seeds) == 12 and all(0 <= s < 2**63 for s in seeds)
    assert distributed.rank_seed(1, 2) == distributed.rank_seed(1, 2)
