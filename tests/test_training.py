"""The shared training loop (augment.core.training) on a toy task: steps and summary, losses read
only at refresh points, checkpoints and exact resume, SIGTERM, refusing another run's
checkpoint, and the divergence guard's rollbacks."""

from __future__ import annotations

import json
import random
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from augment.core import checkpoint, heap, training
from augment.core.checkpoint import Checkpointing
from augment.core.files import OWNER_MARKER
from augment.core.training import LoopConfig, TrainingInterrupted, train_gan
from augment.errors import AugmentError


class _ToyTask:
    """A toy GAN task whose weights depend on every random stream (torch, numpy, Python), an
    optimizer with state (Adam), a learning-rate schedule and a counter of its own."""

    def __init__(self, nan_at: int = -1, nan_while_lr_above: float = 0.0) -> None:
        self.d_calls = self.g_calls = self.ends = 0
        self.nan_at, self.nan_while_lr_above = nan_at, nan_while_lr_above
        self.steps_seen: list[int] = []
        self.on_end = None

    def build(self, device: torch.device, shard: slice = slice(None)) -> None:
        self.net = torch.nn.Linear(2, 1).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=0.01)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=4, gamma=0.9)
        self.counter = 0

    def networks(self):
        return {"net": self.net}

    def optimizers(self):
        return {"net": self.opt}

    def schedulers(self):
        return [self.sched]

    def parallel(self, wrap) -> None:
        self.wrapped = wrap(self.net)

    def state_dict(self):
        return {"counter": self.counter}

    def load_state_dict(self, state) -> None:
        self.counter = state["counter"]

    def d_step(self, step: int):
        self.d_calls += 1
        return {"loss_d": self.net(torch.ones(4, 2)).mean()}

    def g_step(self, step: int):
        self.g_calls += 1
        self.steps_seen.append(step)
        self.counter += 1
        x = torch.randn(4, 2) + float(np.random.rand()) + random.random() + self.counter
        loss = self.net(x).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        lr = self.opt.param_groups[0]["lr"]
        poisoned = step == self.nan_at and lr > self.nan_while_lr_above
        return {"loss_g": loss.detach() * (float("nan") if poisoned else 1)}

    def end_step(self, step: int) -> None:
        self.ends += 1
        self.sched.step()
        if self.on_end is not None:
            self.on_end(step)


def _config(**changes) -> LoopConfig:
    return LoopConfig(**{"steps": 12, "device": "cpu", "progress": False, "threads": 1, **changes})


def _weights(task: _ToyTask) -> list[torch.Tensor]:
    return [p.detach().clone() for p in task.net.parameters()]


def test_training_loop_runs_steps_and_summarises():
    task = _ToyTask()
    summary = train_gan(task, _config(d_steps=2))
    assert (task.d_calls, task.g_calls, task.ends) == (24, 12, 12)
    assert summary["steps"] == 12 and summary["d_steps"] == 2 and not summary["stopped_early"]
    assert summary["resumed_from"] is None and summary["rollbacks"] == 0
    assert summary["processes"] == 1
    assert set(summary["final_losses"]) == {"loss_d", "loss_g"}
    assert not task.net.training  # networks come back in eval mode


def test_losses_reach_the_host_only_at_refresh_points_and_checkpoints(monkeypatch):
    reads: list[int] = []
    original = training._Run._read

    def spy(self, names, values, finite, signals, over_time):
        reads.append(len(self.task.steps_seen))
        return original(self, names, values, finite, signals, over_time)

    monkeypatch.setattr(training._Run, "_read", spy)
    train_gan(_ToyTask(), _config(steps=20, log_every=5, checkpoint=Checkpointing(every=8)))
    assert reads == [5, 8, 10, 15, 16, 20]


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path):
    full = _ToyTask()
    train_gan(full, _config())
    folder = tmp_path / "ckpt"

    # SIGTERM during step 5: the step finishes, a checkpoint is written, training stops.
    first = _ToyTask()
    first.on_end = lambda step: step == 5 and signal.raise_signal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM at step 5 of 12") as stopped:
        train_gan(first, _config(checkpoint=Checkpointing(folder, every=3)))
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers put back
    meta = json.loads((folder / "checkpoint.json").read_text())
    assert meta["step"] == 5
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [OWNER_MARKER, "checkpoint.json", "state.safetensors"]
    )
    tensors = load_file(str(folder / "state.safetensors"))  # safetensors, no pickle
    assert {"rng.0.torch", "rng.0.numpy", "rng.0.python"} <= set(tensors)
    assert any(k.startswith("optimizer.net.") for k in tensors)

    # Anything drawn in between must not matter: the streams come from the checkpoint.
    torch.manual_seed(123), np.random.seed(5), random.seed(9)
    resumed = _ToyTask()
    summary = train_gan(resumed, _config(checkpoint=Checkpointing(folder, every=3)))
    assert summary["resumed_from"] == 5 and summary["steps"] == 12
    assert resumed.steps_seen == list(range(6, 13))
    assert resumed.counter == full.counter
    assert resumed.sched.last_epoch == full.sched.last_epoch
    for a, b in zip(_weights(full), _weights(resumed), strict=True):
        assert torch.equal(a, b)


def test_another_runs_checkpoint_is_refused_and_restart_starts_over(tmp_path):
    folder = tmp_path / "ckpt"
    task = _ToyTask()
    task.on_end = lambda step: step == 4 and signal.raise_signal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="SIGINT") as stopped:
        train_gan(task, _config(checkpoint=Checkpointing(folder, every=100)))
    assert stopped.value.exit_code == 130

    with pytest.raises(AugmentError, match=r"another training run .*steps 12 -> 14.*--restart"):
        train_gan(_ToyTask(), _config(steps=14, checkpoint=Checkpointing(folder)))
    other_data = _config(checkpoint=Checkpointing(folder), fingerprint={"data": "elsewhere"})
    with pytest.raises(AugmentError, match="other data"):
        train_gan(_ToyTask(), other_data)
    assert (folder / "checkpoint.json").is_file()  # refused, not removed

    again = _ToyTask()
    summary = train_gan(again, _config(steps=14, checkpoint=Checkpointing(folder, restart=True)))
    assert summary["resumed_from"] is None and again.steps_seen == list(range(1, 15))


def test_a_damaged_checkpoint_is_an_error_that_says_so(tmp_path):
    folder = tmp_path / "ckpt"
    task = _ToyTask()
    task.on_end = lambda step: step == 2 and signal.raise_signal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted):
        train_gan(task, _config(checkpoint=Checkpointing(folder)))
    (folder / "state.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AugmentError, match="is damaged.*--restart"):
        train_gan(_ToyTask(), _config(checkpoint=Checkpointing(folder)))


def test_checkpoint_folder_of_the_users_is_never_written(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(AugmentError, match="did not write"):
        train_gan(_ToyTask(), _config(checkpoint=Checkpointing(folder, every=2)))
    assert (folder / "notes.txt").read_text() == "keep me"
    with pytest.raises(AugmentError, match="did not write"):
        checkpoint.remove(folder)


def test_divergence_rolls_back_to_the_last_good_state_with_a_lower_learning_rate():
    task = _ToyTask(nan_at=7, nan_while_lr_above=0.006)
    summary = train_gan(task, _config(log_every=1, checkpoint=Checkpointing(every=5)))
    assert summary["rollbacks"] == 1 and summary["steps"] == 12
    # Steps 6 and 7 ran twice: after step 7's NaN the loop went back to step 5.
    assert task.steps_seen == [1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 10, 11, 12]
    assert task.counter == 12  # the task's own state came back too
    # StepLR's 0.9 after steps 4 and 8 and 12, then the rollback's halving.
    assert task.opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.9**3 * 0.5)
    assert task.sched.base_lrs == [pytest.approx(0.005)]


def test_divergence_stops_after_a_bounded_number_of_rollbacks():
    task = _ToyTask(nan_at=5)
    with pytest.raises(AugmentError, match=r"diverged at step 5 \(loss_g=nan\) again after 3"):
        train_gan(task, _config(steps=20, log_every=5))
    assert task.steps_seen.count(5) == 4  # the first try and three rollbacks
    with pytest.raises(AugmentError, match=r"diverged at step 5 \(loss_g=nan\): try a lower"):
        train_gan(_ToyTask(nan_at=5), _config(steps=20, log_every=5, max_rollbacks=0))


def test_a_nan_between_refresh_points_is_caught():
    # NaN at step 3 only, read at step 5: the flag kept on the device remembers it.
    task = _ToyTask(nan_at=3)
    with pytest.raises(
        AugmentError, match="diverged at step 5 .*NaN or infinite between steps 1 and 5"
    ):
        train_gan(task, _config(steps=20, log_every=5, max_rollbacks=0))


def test_stop_signals_second_signal_acts_at_once_except_under_torchrun():
    # Whatever the handlers were (a shell's background job starts with SIGINT ignored).
    before, before_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with training._StopSignals(True) as signals:
        signal.raise_signal(signal.SIGINT)
        assert signals.received == "SIGINT"
        # The handlers are back: a second Ctrl-C or SIGTERM would act at once.
        assert signal.getsignal(signal.SIGINT) is before_int
        assert signal.getsignal(signal.SIGTERM) is before
    # torchrun turns a Ctrl-C into SIGINT then SIGTERM: both wait for the checkpoint.
    with training._StopSignals(True, keep=True) as signals:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
        assert signals.received == "SIGINT" and signals.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is before_int


class _Clock:
    """A fake ``time.perf_counter`` whose step length depends on the thread count in use."""

    def __init__(self, per_step: dict[int, float]) -> None:
        self.now, self.per_step, self.threads = 0.0, per_step, 2

    def step(self) -> None:
        self.now += self.per_step[self.threads]


def _run_chooser(monkeypatch, clock: _Clock, steps: int, chooser=None, start: int = 0):
    monkeypatch.setattr(training.time, "perf_counter", lambda: clock.now)
    monkeypatch.setattr(training.torch, "set_num_threads", lambda n: setattr(clock, "threads", n))
    chooser = chooser or training.ThreadChooser(2, None)
    for step in range(start + 1, steps + 1):
        clock.step()
        chooser.tick(step)
    return chooser


def test_threads_follow_measured_step_time_down_and_back_up(monkeypatch):
    # Another process holds a core: two threads are 3x slower than one.
    clock = _Clock({2: 0.03, 1: 0.01})
    chooser = _run_chooser(monkeypatch, clock, 60)
    assert clock.threads == chooser.threads == 1
    assert chooser.choices[0]["threads"] == 1
    assert chooser.choices[0]["2_threads_s"] == pytest.approx(0.03)
    # The core is free again: the re-check (every RECHECK_STEPS steps) goes back up.
    clock.per_step = {2: 0.006, 1: 0.01}
    _run_chooser(monkeypatch, clock, 4000, chooser)
    assert clock.threads == chooser.threads == 2
    assert [c["threads"] for c in chooser.choices][-1] == 2


def test_thread_probes_fall_on_the_same_steps_whatever_the_clock(monkeypatch):
    """A probe's steps run on the other thread count, which changes their last bits: runs with
    the same seed must probe at the same steps, on a fast machine and on a slow one alike."""
    fast = _run_chooser(monkeypatch, _Clock({2: 0.006, 1: 0.010}), 2000)
    slow = _run_chooser(monkeypatch, _Clock({2: 0.060, 1: 0.100}), 2000)
    steps = [c["step"] for c in fast.choices]
    assert steps == [c["step"] for c in slow.choices] and len(steps) >= 4
    assert {c["threads"] for c in fast.choices + slow.choices} == {2}
    # A run resumed at step 700 (inside no window) or 1010 (inside one) probes where the
    # uninterrupted run did from its next full window on.
    for resumed_at in (700, 1010):
        resumed = _run_chooser(monkeypatch, _Clock({2: 0.006, 1: 0.010}), 2000, start=resumed_at)
        assert [c["step"] for c in resumed.choices] == [x for x in steps if x > resumed_at + 30]


def test_threads_stay_put_when_the_other_count_is_not_clearly_faster(monkeypatch):
    clock = _Clock({2: 0.010, 1: 0.0095})  # one thread only 5% faster: within the margin
    chooser = _run_chooser(monkeypatch, clock, 200)
    assert clock.threads == 2 and {c["threads"] for c in chooser.choices} == {2}
    # A thread count the user asked for is never changed.
    fixed = training.ThreadChooser(2, requested=2)
    clock = _Clock({2: 0.05, 1: 0.01})
    _run_chooser(monkeypatch, clock, 200, fixed)
    assert clock.threads == 2 and fixed.choices == []


class _FakeLibc:
    """Records the heap calls the loop makes, instead of changing this process's heap."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | int, ...]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_cpu_training_sets_the_heap_thresholds_before_its_first_step_and_trims_after(
    monkeypatch,
):
    libc = _FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: libc)
    task = _ToyTask()
    seen_at_first_step: list[tuple] = []
    task.on_end = lambda step: seen_at_first_step.extend(libc.calls) if step == 1 else None
    train_gan(task, _config())
    assert seen_at_first_step == [
        ("mallopt", -3, heap.MMAP_THRESHOLD),  # M_MMAP_THRESHOLD
        ("mallopt", -1, heap.TRIM_THRESHOLD),  # M_TRIM_THRESHOLD
    ]
    assert libc.calls == [*seen_at_first_step, ("malloc_trim", 0)]
    # Training that fails still trims what it held.
    libc.calls.clear()
    with pytest.raises(AugmentError, match="diverged"):
        train_gan(_ToyTask(nan_at=3, nan_while_lr_above=0.0), _config(max_rollbacks=0))
    assert libc.calls[-1] == ("malloc_trim", 0)


def test_the_heap_is_left_alone_off_the_cpu_and_off_glibc(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: libc)
    with heap.reuse_freed_memory(torch.device("cuda")) as reused:
        assert not reused
    assert libc.calls == []
    monkeypatch.undo()
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("musl", "1.2"))
    heap._glibc.cache_clear()
    try:
        assert heap._glibc() is None
        with heap.reuse_freed_memory(torch.device("cpu")) as reused:
            assert not reused
    finally:
        heap._glibc.cache_clear()
