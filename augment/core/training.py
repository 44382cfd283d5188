"""One training loop for every GAN in the project.

A GAN plugs in by implementing :class:`GANTask`: it builds its networks on the device the loop
chose, supplies a discriminator step and a generator step that return loss tensors, and exposes
its state (networks, optimizers, schedules, counters) for checkpoints. The loop owns the rest,
once for both GANs:

- device, precision, CPU threads, the C heap's thresholds (:mod:`augment.core.heap`), seeds,
  progress and the summary;
- checkpoints every ``every`` steps and on SIGINT/SIGTERM, and an exact resume from them
  (:mod:`augment.core.checkpoint`): same seed, same final weights on the CPU, interrupted or not;
  work done once before the first step (``LoopConfig.prepare``) is kept in them, not redone;
- a divergence guard: a NaN or infinite loss rolls training back to the last good state with
  lower learning rates, a bounded number of times;
- data-parallel training under torchrun (:mod:`augment.core.distributed`).

No step waits on the device: losses (and a flag that any of them was not finite since the last
look) reach the host only every ``log_every`` steps and at checkpoints.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.core import checkpoint, distributed
from augment.core.checkpoint import Checkpointing, RandomState, TrainingState
from augment.core.distributed import Context
from augment.core.heap import reuse_freed_memory
from augment.core.runtime import seed_everything
from augment.errors import AugmentError
from augment.log import logger

PRECISIONS = ("auto", "fp32", "bf16")


class GANTask(Protocol):
    """What a GAN hands the loop."""

    def build(self, device: torch.device, shard: slice = slice(None)) -> None:
        """Create networks, optimizers and device-resident data (called after seeding), from
        the rows ``shard`` selects (this process's share under torchrun; all of them else)."""

    def networks(self) -> dict[str, torch.nn.Module]:
        """Every network with state to keep (EMA included), as plain modules."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def schedulers(self) -> list[torch.optim.lr_scheduler.LRScheduler]: ...

    def parallel(self, wrap: Callable[[torch.nn.Module], torch.nn.Module]) -> None:
        """Train G and D through ``wrap(G)`` and ``wrap(D)`` (DDP under torchrun; the identity
        puts the plain modules back)."""

    def d_step(self, step: int) -> dict[str, torch.Tensor]: ...

    def g_step(self, step: int) -> dict[str, torch.Tensor]: ...

    def end_step(self, step: int) -> None:
        """After each full step: learning-rate schedules, EMA updates."""

    def state_dict(self) -> dict[str, Any]:
        """The task's own counters between steps (JSON), for checkpoints."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# LoopConfig.prepare: (this process's context, the tensors it returned to the checkpoint being
# resumed or None) -> the tensors to keep in checkpoints
Prepare = Callable[[Context, dict[str, torch.Tensor] | None], dict[str, torch.Tensor]]


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
    # Where and how often to checkpoint; without a directory the last good state is kept in
    # memory only, for rollbacks.
    checkpoint: Checkpointing = field(default_factory=Checkpointing)
    # What a checkpoint must have been written for (the model's settings and a digest of its
    # data); the loop adds the seed, steps, precision and number of processes.
    fingerprint: dict[str, Any] = field(default_factory=dict)
    # Work a run does once before its networks are built (the image GAN's pseudo-labels):
    # called in the training session (under torchrun on every rank, so rank 0 can compute and
    # send) with what it returned before when a checkpoint of this run is resumed, else None.
    # What it returns is kept in every checkpoint, so a resume does not redo the work.
    prepare: Prepare | None = None
    max_rollbacks: int = 3  # divergences survived by rolling back, before training stops
    rollback_lr_factor: float = 0.5  # learning rates are multiplied by this at each rollback


class TrainingInterrupted(AugmentError):
    """SIGINT or SIGTERM stopped training after a checkpoint; the same command resumes it."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's code for a process ended by that signal


def train_gan(task: GANTask, config: LoopConfig) -> dict[str, Any]:
    """Run ``config.steps`` steps of ``d_steps`` D updates then one G update; return a summary.

    With a checkpoint directory, a checkpoint found there is resumed from (after checking it is
    of this very run), one is written every ``checkpoint.every`` steps, and SIGINT/SIGTERM stop
    training at the end of the step with a checkpoint (:class:`TrainingInterrupted`). A NaN or
    infinite loss rolls back to the last good state with lower learning rates, at most
    ``max_rollbacks`` times; then :class:`AugmentError` says training diverged.
    """
    if config.steps < 1 or config.d_steps < 1:
        raise AugmentError("training needs at least one step and one discriminator step")
    if config.log_every < 1:
        raise AugmentError(f"log_every must be at least 1, got {config.log_every}")
    with distributed.session(config.device) as context:
        precision = resolve_precision(config.precision, context.device)
        with (
            cpu_thread_limit(context.device, config.threads) as threads,
            reuse_freed_memory(context.device),
        ):
            guard = ThreadChooser(threads, config.threads)
            return _Run(task, config, context, precision, guard).execute()


class _Run:
    """One call of :func:`train_gan`: the loop and the state it keeps between steps."""

    def __init__(
        self,
        task: GANTask,
        config: LoopConfig,
        context: Context,
        precision: str,
        guard: ThreadChooser,
    ) -> None:
        self.task, self.config, self.context = task, config, context
        self.device, self.precision, self.guard = context.device, precision, guard
        self.fingerprint = {
            **config.fingerprint,
            "seed": config.seed,
            "steps": config.steps,
            "d_steps": config.d_steps,
            "precision": precision,
            "world_size": context.world_size,
        }
        self.rollbacks = 0
        self.lr_scale = 1.0  # product of the rollbacks' factors
        self.resumed_from: int | None = None
        self.good: TrainingState | None = None  # the last state known to be finite
        self.last_look = 0  # the last step whose losses reached the host
        self.prepared: dict[str, torch.Tensor] = {}  # config.prepare's, kept in checkpoints

    def execute(self) -> dict[str, Any]:
        config, context, task = self.config, self.context, self.task
        saved = self._saved_state()
        if config.prepare is not None:
            self.prepared = config.prepare(
                context, None if saved is None else checkpoint.prepared_tensors(saved)
            )
        seed_everything(config.seed)  # the same initial weights on every rank
        task.build(self.device, context.shard)
        task.parallel(lambda net: distributed.parallel(net, context))
        if context.world_size > 1:
            seed_everything(distributed.rank_seed(config.seed, context.rank))
        for net in task.networks().values():
            net.train()
        started = time.perf_counter()
        try:
            start = self._resume(saved)
            saved = None  # its host copy of the state is not needed past the restore
            self.good = self._capture(start)
            enabled = config.checkpoint.directory is not None
            with _StopSignals(enabled, keep=context.launched) as signals:
                step, host, stopped_early = self._loop(start, signals, started)
        finally:
            task.parallel(lambda net: net)
            for net in task.networks().values():
                net.eval()
        seconds = time.perf_counter() - started
        ran = step - start
        return {
            "steps": step,
            "d_steps": config.d_steps,
            "seconds": round(seconds, 3),
            "steps_per_second": round(ran / seconds, 2) if seconds > 0 else None,
            "stopped_early": stopped_early,
            "resumed_from": self.resumed_from,
            "rollbacks": self.rollbacks,
            "processes": context.world_size,
            "device": str(self.device),
            "precision": self.precision,
            "threads": self.guard.threads,
            "thread_choices": self.guard.choices,
            "seed": config.seed,
            "final_losses": {k: round(v, 5) for k, v in host.items()},
        }

    # ------------------------------------------------------------------------- steps
    def _loop(
        self, start: int, signals: _StopSignals, started: float
    ) -> tuple[int, dict[str, float], bool]:
        config, task, context = self.config, self.task, self.context
        autocast = torch.autocast(
            self.device.type, torch.bfloat16, enabled=self.precision == "bf16"
        )
        every = config.checkpoint.every
        bar = tqdm(
            total=config.steps,
            initial=start,
            desc=config.desc,
            unit="step",
            file=sys.stderr,
            disable=not (config.progress and context.main),
            dynamic_ncols=True,
            leave=False,
        )
        host: dict[str, float] = {}
        names: list[str] = []
        values = torch.zeros(0, device=self.device)
        # False once any loss was NaN or infinite since the host last looked: kept on the
        # device and read with the losses, so no step waits for it.
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        step = shown = self.last_look = start
        stopped_early = False
        try:
            while step < config.steps:
                step += 1
                # One autocast region per step function: autocast caches bf16 copies of
                # weights until its region ends, and the optimizer steps in between change them.
                for _ in range(config.d_steps):
                    with autocast:
                        losses = dict(task.d_step(step))
                with autocast:
                    losses.update(task.g_step(step))
                task.end_step(step)
                names = list(losses)
                values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
                finite = finite & torch.isfinite(values).all()
                self.guard.tick(step)
                over_time = config.max_seconds is not None and (
                    time.perf_counter() - started > config.max_seconds
                )
                checkpoint_due = step % every == 0
                # Where the host looks depends on the step alone under torchrun: every rank
                # must join the same collectives. One process may also look at a signal or
                # the clock at once.
                look = step % config.log_every == 0 or step == config.steps or checkpoint_due
                if not context.launched:
                    look = look or over_time or signals.received is not None
                stop = over = False
                if look:
                    host, ok, stop, over = self._read(names, values, finite, signals, over_time)
                    finite = torch.ones((), dtype=torch.bool, device=self.device)
                    if not ok:
                        step = self.last_look = self._roll_back(step, host)
                        bar.update(step - shown)
                        shown = step
                        continue
                    bar.set_postfix({k: f"{v:.3f}" for k, v in host.items()}, refresh=False)
                    bar.update(step - shown)
                    shown = self.last_look = step
                    if config.on_log is not None:
                        config.on_log(step, host)
                if config.probe is not None and config.on_log is not None:
                    last = step == config.steps or over
                    if last or (config.probe_every > 0 and step % config.probe_every == 0):
                        config.on_log(step, _probe(config.probe, step, task, self.device))
                if look and (checkpoint_due or stop):
                    self.good = self._capture(step)
                    self._write(self.good)
                if stop:
                    raise self._interrupted(step, signals)
                if over:
                    stopped_early = step < config.steps
                    break
        finally:
            bar.close()
        return step, host, stopped_early

    def _read(
        self,
        names: list[str],
        values: torch.Tensor,
        finite: torch.Tensor,
        signals: _StopSignals,
        over_time: bool,
    ) -> tuple[dict[str, float], bool, bool, bool]:
        """Losses, whether all were finite, and whether to stop or to end (out of time): one
        device-to-host copy, and under torchrun one all-reduce so every rank agrees."""
        flags = torch.stack(
            [
                (~finite).float(),
                torch.tensor(float(signals.received is not None), device=self.device),
                torch.tensor(float(over_time), device=self.device),
            ]
        )
        flags = distributed.all_reduce_max(flags, self.context)
        numbers = torch.cat([values, flags]).tolist()
        host = dict(zip(names, numbers[: len(names)], strict=True))
        diverged, stop, over = (bool(x) for x in numbers[len(names) :])
        return host, not diverged, stop, over

    # -------------------------------------------------------------------- rollbacks
    def _roll_back(self, step: int, host: dict[str, float]) -> int:
        """Back to the last good state with lower learning rates; the step to go on from."""
        config, good = self.config, self.good
        bad = ", ".join(f"{k}={v}" for k, v in host.items() if not math.isfinite(v))
        what = bad or f"a loss was NaN or infinite between steps {self.last_look + 1} and {step}"
        if self.rollbacks >= config.max_rollbacks:
            after = (
                f" again after {self.rollbacks} rollback(s) to lower learning rates"
                if self.rollbacks
                else ""
            )
            raise AugmentError(
                f"training diverged at step {step} ({what}){after}: try a lower learning rate"
                " or a larger batch"
            )
        self.rollbacks += 1
        scale = self.lr_scale * config.rollback_lr_factor
        checkpoint.restore(self.task, good, self.device, self.context.rank)
        checkpoint.scale_learning_rates(self.task, scale / good.meta["loop"]["lr_scale"])
        self.lr_scale = scale
        if not self.context.main:
            return good.step
        logger.warning(
            "training diverged at step %d (%s): back to step %d with learning rates x%g"
            " (rollback %d of %d)",
            step,
            what,
            good.step,
            scale,
            self.rollbacks,
            config.max_rollbacks,
        )
        return good.step

    # ------------------------------------------------------------------- checkpoints
    def _capture(self, step: int) -> TrainingState:
        loop = {"rollbacks": self.rollbacks, "lr_scale": self.lr_scale}
        return checkpoint.capture(
            self.task, step, loop, self.device, self.context.rank, self.prepared
        )

    def _write(self, state: TrainingState) -> None:
        directory = self.config.checkpoint.directory
        if directory is None:
            return
        # Rank 0 writes every rank's random streams, gathered as bytes.
        mine = state.rng[self.context.rank].to_bytes()
        parts = distributed.gather_bytes(mine, self.context)
        if not self.context.main:
            return
        streams = {rank: RandomState.from_bytes(part) for rank, part in enumerate(parts)}
        checkpoint.save(
            directory,
            replace(state, rng=streams),
            self.fingerprint,
            world_size=self.context.world_size,
            device=self.device.type,
        )
        logger.debug("checkpoint at step %d in %s", state.step, directory)

    def _saved_state(self) -> TrainingState | None:
        """The checkpoint of this run to resume from (read, parsed and checked), if any."""
        settings, context = self.config.checkpoint, self.context
        directory = settings.directory
        if directory is None:
            return None
        if settings.restart:
            if context.main and checkpoint.remove(directory):
                logger.info("--restart: removed the checkpoint in %s", directory)
            return None
        # Rank 0 reads the files and sends them as they are (none: no checkpoint).
        files = distributed.from_main(lambda: list(checkpoint.read_files(directory) or ()), context)
        if not files:
            return None
        state, fingerprint = checkpoint.parse(*files, directory)
        checkpoint.check_fingerprint(fingerprint, self.fingerprint, directory)
        if state.step > self.config.steps:
            raise AugmentError(f"the checkpoint in {directory} is past the last step")
        return state

    def _resume(self, state: TrainingState | None) -> int:
        """The step to start from: that of ``state`` (a checkpoint of this run), restored; 0
        without one."""
        if state is None:
            return 0
        context = self.context
        checkpoint.restore(self.task, state, self.device, context.rank)
        loop = state.meta["loop"]
        self.rollbacks, self.lr_scale = int(loop["rollbacks"]), float(loop["lr_scale"])
        self.resumed_from = state.step
        if context.main:
            logger.info(
                "resuming from step %d of %d (checkpoint in %s)",
                state.step,
                self.config.steps,
                self.config.checkpoint.directory,
            )
        return state.step

    def _interrupted(self, step: int, signals: _StopSignals) -> TrainingInterrupted:
        directory = self.config.checkpoint.directory
        name = signals.received or "a signal to another process"
        signum = signals.signum or signal.SIGTERM
        return TrainingInterrupted(
            f"training stopped by {name} at step {step} of {self.config.steps}; checkpoint in "
            f"{directory}: run the same command again to resume",
            int(signum),
        )


class _StopSignals:
    """While training, SIGINT and SIGTERM only ask it to stop at the end of the step (with a
    checkpoint); a second one acts at once, as it would have without this.

    Under torchrun (``keep``) every signal is caught until training stops: a Ctrl-C reaches the
    workers as SIGINT and then, from torchrun, as SIGTERM, which must not kill them before the
    checkpoint (torchrun sends SIGKILL after its own grace period, 30 s by default).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool, keep: bool = False) -> None:
        # Handlers can be set from the main thread alone.
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.keep = keep
        self.received: str | None = None
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if self.enabled:
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received, self.signum = signal.Signals(signum).name, signum
        if not self.keep:
            self._put_back()

    def _put_back(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def __exit__(self, *exc: object) -> None:
        self._put_back()


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
    """Intra-op threads to start training with on the CPU: ``requested``, or every core this
    process may use (torch's default, within its CPU affinity). Without ``requested`` the loop's
    :class:`ThreadChooser` then keeps whichever of that and one thread it measures faster.

    Not the load average: a finished job's load lingers in it for minutes (an idle 2-core
    machine showing 0.65 chose one thread for a whole run).
    """
    if requested is not None:
        if requested < 1:
            raise AugmentError(f"threads must be at least 1, got {requested}")
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(torch.get_num_threads(), cores or 1))


class ThreadChooser:
    """Chooses the CPU thread count from the run's own step times, and keeps choosing.

    GAN steps are many small ops; OpenMP threads wait at every op for the slowest of them, so
    a core taken by another process makes a multi-thread step many times slower (measured: 10x
    and worse on a shared 2-core machine), while an idle second core gains at most 1.5x. So
    every ``RECHECK_STEPS`` steps (the first time after ``WARMUP``) the loop times ``PROBE``
    steps with the count in use and ``PROBE`` with the other one (all threads or one), and
    switches when the other is faster by ``MARGIN`` - up as well as down. Only the clock is
    read (the CPU runs ops synchronously), so no step waits for it. ``choices`` records each
    decision for the summary.

    A thread count changes the last bits of a step, so which steps are probed depends on the
    step number alone (re-checks every 30 s put them at other steps in every run): on a machine
    whose speed does not change, runs with the same seed - a resumed one too - make the same
    choices at the same steps and end with the same weights. Under changing load a choice can
    differ, and the weights with it; a ``threads`` the user sets is never changed.
    """

    WARMUP, PROBE, RECHECK_STEPS, MARGIN = 5, 15, 500, 0.9

    def __init__(self, threads: int | None, requested: int | None) -> None:
        self.threads = threads
        self.active = requested is None and (threads or 1) > 1
        self.counts = (threads or 1, 1)
        self.measured: dict[int, float] = {}  # seconds per step, the last probe of each count
        self.choices: list[dict[str, Any]] = []
        self._times: list[float] = []
        self._probing = False  # the window being timed is the other count's
        self._last = time.perf_counter()

    def tick(self, step: int) -> None:
        """After ``step``: time it if it lies in a window of the schedule, and at a window's
        end switch to the other count (to probe it) or decide."""
        if not self.active:
            return
        now = time.perf_counter()
        took, self._last = now - self._last, now
        if step <= self.WARMUP:
            return
        at = (step - self.WARMUP - 1) % self.RECHECK_STEPS  # 0 starts a cycle
        if at >= 2 * self.PROBE:
            return
        if at == 0:  # a cycle's first window: the count in use
            self._times, self._probing = [], False
        self._times.append(took)
        if at not in (self.PROBE - 1, 2 * self.PROBE - 1):
            return
        # A window cut short (a run resumed inside it) decides nothing.
        complete = len(self._times) == self.PROBE and self._probing == (at >= self.PROBE)
        current = self.threads or 1
        if complete:
            # The median of a window: a checkpoint or a logging step does not decide it.
            self.measured[current] = float(np.median(self._times))
        self._times = []
        if at == self.PROBE - 1 and complete:
            self._probing = True  # time the other count next
            self._set(self.counts[1] if current == self.counts[0] else self.counts[0])
        elif at == 2 * self.PROBE - 1 and complete:
            self._probing = False
            self._decide(step)

    def _decide(self, step: int) -> None:
        """Keep the faster count; the one probed last must be faster by ``MARGIN`` to win."""
        probed = self.threads or 1
        before = self.counts[1] if probed == self.counts[0] else self.counts[0]
        wins = self.measured[probed] < self.MARGIN * self.measured[before]
        best = probed if wins else before
        self._set(best)
        per_step = {f"{k}_threads_s": round(v, 5) for k, v in sorted(self.measured.items())}
        self.choices.append({"step": step, "threads": best, **per_step})
        logger.debug("CPU threads from step %d: %d (%s)", step, best, per_step)

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
        self._last = time.perf_counter()  # the switch is not part of the next step
