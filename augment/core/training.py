"""One training loop for every GAN in the project.

A GAN plugs in by implementing :class:`GANTask`: it builds its networks on the device the loop
chose, and supplies a discriminator step and a generator step that return loss tensors. The loop
owns the device, precision, CPU threads, seeds, how many steps run, progress and the summary.
Losses are read back to the host only when the progress bar refreshes, so the device never waits
on Python. Checkpoints and resume will hook in here: the task already exposes its networks and
optimizers, and the step counter is the loop's.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from augment.core.runtime import resolve_device, seed_everything
from augment.errors import AugmentError
from augment.log import logger

PRECISIONS = ("auto", "fp32", "bf16")


class GANTask(Protocol):
    """What a GAN hands the loop."""

    def build(self, device: torch.device) -> None:
        """Create networks, optimizers and device-resident data (called after seeding)."""

    def networks(self) -> dict[str, torch.nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def d_step(self, step: int) -> dict[str, torch.Tensor]: ...

    def g_step(self, step: int) -> dict[str, torch.Tensor]: ...

    def end_step(self, step: int) -> None:
        """After each full step: learning-rate schedules, EMA updates."""


@dataclass
class LoopConfig:
    steps: int
    d_steps: int = 1
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # see resolve_precision()
    threads: int | None = None  # CPU intra-op threads; None: see cpu_threads()
    max_seconds: float | None = None  # stop early, after the step that crosses it
    progress: bool = True
    log_every: int = 50  # read losses to the host (one sync) every this many steps
    desc: str = "train"
    # Called with (step, values) whenever losses reach the host, and with a fidelity probe's
    # scores every probe_every steps: training curves (augment.core.tracking) hook in here.
    on_log: Callable[[int, dict[str, float]], None] | None = None
    probe: Callable[[int], dict[str, float]] | None = None
    probe_every: int = 0


def train_gan(task: GANTask, config: LoopConfig) -> dict[str, Any]:
    """Run ``config.steps`` steps of ``d_steps`` D updates then one G update; return a summary.

    Raises :class:`AugmentError` when a loss becomes NaN or infinite (checked at each refresh).
    """
    if config.steps < 1 or config.d_steps < 1:
        raise AugmentError("training needs at least one step and one discriminator step")
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    with cpu_thread_limit(device, config.threads) as threads:
        return _run(task, config, device, precision, _ThreadGuard(threads, config.threads))


def _run(
    task: GANTask, config: LoopConfig, device: torch.device, precision: str, guard: _ThreadGuard
) -> dict[str, Any]:
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")
    seed_everything(config.seed)
    task.build(device)
    for net in task.networks().values():
        net.train()

    bar = tqdm(
        total=config.steps,
        desc=config.desc,
        unit="step",
        file=sys.stderr,
        disable=not config.progress,
        dynamic_ncols=True,
        leave=False,
    )
    started = time.perf_counter()
    losses: dict[str, torch.Tensor] = {}
    host: dict[str, float] = {}
    shown = step = 0
    stopped_early = False
    try:
        for step in range(1, config.steps + 1):
            # One autocast region per step function: autocast caches bf16 copies of weights
            # until its region ends, and the optimizer steps in between change the weights.
            for _ in range(config.d_steps):
                with autocast:
                    losses = dict(task.d_step(step))
            with autocast:
                losses.update(task.g_step(step))
            task.end_step(step)
            guard.tick(step)
            over_time = config.max_seconds is not None and (
                time.perf_counter() - started > config.max_seconds
            )
            if step % config.log_every == 0 or step == config.steps or over_time:
                host = _read(losses, step)
                bar.set_postfix({k: f"{v:.3f}" for k, v in host.items()}, refresh=False)
                bar.update(step - shown)
                shown = step
                if config.on_log is not None:
                    config.on_log(step, host)
            if config.probe is not None and config.on_log is not None:
                last = step == config.steps or over_time
                if last or (config.probe_every > 0 and step % config.probe_every == 0):
                    config.on_log(step, _probe(config.probe, step, task, device))
            if over_time:
                stopped_early = step < config.steps
                break
    finally:
        bar.close()
        for net in task.networks().values():
            net.eval()
    seconds = time.perf_counter() - started
    return {
        "steps": step,
        "d_steps": config.d_steps,
        "seconds": round(seconds, 3),
        "steps_per_second": round(step / seconds, 2) if seconds > 0 else None,
        "stopped_early": stopped_early,
        "device": str(device),
        "precision": precision,
        "threads": guard.threads,
        "seed": config.seed,
        "final_losses": {k: round(v, 5) for k, v in host.items()},
    }


def _probe(
    probe: Callable[[int], dict[str, float]], step: int, task: GANTask, device: torch.device
) -> dict[str, float]:
    """Run a fidelity probe without gradients, on forked random streams (so logging curves never
    changes what training draws), and put every network back in training mode."""
    cuda = [device] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=cuda):
        scores = probe(step)
    for net in task.networks().values():
        net.train()
    return scores


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` is bf16 where the hardware multiplies bf16 natively (CUDA with bf16, CPUs with
    AVX512-BF16 or AMX: about 4x the fp32 matmul rate), else fp32, which emulated bf16 loses to.
    """
    if name not in PRECISIONS:
        raise AugmentError(f"unknown precision {name!r}: use one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    native = device.type == "cpu" and any(getattr(torch.cpu, p, lambda: False)() for p in probes)
    return "bf16" if native else "fp32"


@contextmanager
def cpu_thread_limit(device: torch.device, requested: int | None = None) -> Iterator[int | None]:
    """Run a block with :func:`cpu_threads` intra-op threads when ``device`` is the CPU; torch's
    setting is restored afterwards. Yields the thread count (``None`` off the CPU)."""
    if device.type != "cpu":
        yield None
        return
    before = torch.get_num_threads()
    threads = cpu_threads(requested)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def cpu_threads(requested: int | None = None) -> int:
    """Intra-op threads for training on the CPU: ``requested``, or torch's default less the cores
    that other processes keep busy (1-minute load average), at least one.

    GAN steps are many small ops; OpenMP threads wait at every op for the slowest of them, so
    one core taken by another process makes a 2-thread step many times slower (measured: 10x
    and worse on a shared 2-core machine), while an idle second core gains at most 1.5x.
    """
    if requested is not None:
        if requested < 1:
            raise AugmentError(f"threads must be at least 1, got {requested}")
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    idle = (cores or 1) - os.getloadavg()[0]
    return max(1, min(torch.get_num_threads(), round(idle)))


class _ThreadGuard:
    """Drops to one thread when steps turn several times slower than
    the fastest seen: the sign that another process took a core the threads wait on."""

    SLOWER, PATIENCE, WARMUP = 4.0, 3, 5

    def __init__(self, threads: int | None, requested: int | None) -> None:
        self.threads = threads
        self.active = requested is None and (threads or 1) > 1
        self.fastest, self.slow, self.last = math.inf, 0, time.perf_counter()

    def tick(self, step: int) -> None:
        if not self.active:
            return
        now = time.perf_counter()
        took, self.last = now - self.last, now
        if step <= self.WARMUP:
            return
        self.fastest = min(self.fastest, took)
        self.slow = self.slow + 1 if took > self.SLOWER * self.fastest else 0
        if self.slow >= self.PATIENCE:
            slower = took / self.fastest
            logger.debug("training steps slowed %.0fx: dropping to one CPU thread", slower)
            torch.set_num_threads(1)
            self.threads, self.active = 1, False


def _read(losses: dict[str, torch.Tensor], step: int) -> dict[str, float]:
    # One device-to-host copy for all losses.
    values = torch.stack([v.detach().float().reshape(()) for v in losses.values()]).tolist()
    host = dict(zip(losses, values, strict=True))
    bad = {k: v for k, v in host.items() if not math.isfinite(v)}
    if bad:
        raise AugmentError(
            f"training diverged at step {step} ({', '.join(f'{k}={v}' for k, v in bad.items())}):"
            " try a lower learning rate or a larger batch"
        )
    return host
