"""Training checkpoints: all a GAN's training needs to go on exactly where it stopped.

A checkpoint is a folder of two files, written atomically as one (:func:`atomic_dir`):

- ``state.safetensors``: the networks (EMA included), every optimizer's tensors, each
  process's random-number streams (torch CPU and CUDA, numpy, Python) as tensors, and what the
  run prepared once before its first step (the image GAN's pseudo-labels), so that a resume
  does not redo it;
- ``checkpoint.json``: the step, the optimizers' settings, the learning-rate schedules, the
  task's counters, the loop's rollback count and what the run was (config, data, seed,
  processes) so that a checkpoint of another run is refused, never used.

No pickle anywhere: reading a checkpoint runs no code. The folder sits beside the model folder
(``models/.tabular.checkpoint`` for ``models/tabular``), not in it, so the model folder stays
one atomic output; it carries its own owner marker, and only a folder augment wrote as a
checkpoint is ever replaced or removed.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from safetensors.torch import save_file

from augment.core.files import atomic_dir, check_output_dir
from augment.core.modelfiles import versions
from augment.errors import AugmentError

CHECKPOINT = "a training checkpoint"  # the owner marker's kind: see augment.core.files
STATE_FILE = "state.safetensors"
META_FILE = "checkpoint.json"
FORMAT = 1
PREPARED = "prepared."  # the state file's keys of what the run prepared before training
DEFAULT_EVERY = 1000  # steps between checkpoints: seconds apart for both GANs on a CPU


@dataclass
class Checkpointing:
    """Where and how often training checkpoints.

    ``directory`` ``None`` keeps the last good state in memory only (for rollbacks after a
    divergence). ``restart`` removes a checkpoint found there and starts from step 0.
    """

    directory: Path | None = None
    every: int = DEFAULT_EVERY
    restart: bool = False

    def __post_init__(self) -> None:
        if self.directory is not None:
            self.directory = Path(self.directory)
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise AugmentError(f"checkpoint_every must be a whole number >= 1, got {self.every!r}")


def default_directory(out: str | Path) -> Path:
    """The checkpoint folder of a model folder ``out``: ``.NAME.checkpoint`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}.checkpoint"


class Checkpointable(Protocol):
    """What a training task exposes to be checkpointed (see augment.core.training.GANTask)."""

    def networks(self) -> dict[str, torch.nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def schedulers(self) -> list[torch.optim.lr_scheduler.LRScheduler]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class RandomState:
    """One process's random streams: tensors, plus the few numbers that are not."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def to_bytes(self) -> bytes:
        return save_bytes({**self.tensors, "meta": json_tensor(self.meta)})

    @classmethod
    def from_bytes(cls, payload: bytes) -> RandomState:
        tensors = load_bytes(payload)
        return cls(tensors, tensor_json(tensors.pop("meta")))


@dataclass
class TrainingState:
    """A copy of the training state at ``step``, on the host: what a checkpoint holds."""

    step: int
    # network.<name>.<key>, optimizer.<name>.<index>.<key>, prepared.<key>
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]  # optimizers, schedulers, task, loop (JSON)
    rng: dict[int, RandomState] = field(default_factory=dict)  # by rank


# ------------------------------------------------------------------------ capture/restore
def capture(
    task: Checkpointable,
    step: int,
    loop: dict[str, Any],
    device: torch.device,
    rank: int = 0,
    prepared: Mapping[str, torch.Tensor] | None = None,
) -> TrainingState:
    """Copy the task's state (and this process's random streams) to the host, with the tensors
    the run ``prepared`` before its first step."""
    tensors = {f"{PREPARED}{key}": _host_copy(value) for key, value in (prepared or {}).items()}
    for name, net in task.networks().items():
        for key, value in net.state_dict().items():
            tensors[f"network.{name}.{key}"] = _host_copy(value)
    optimizers: dict[str, Any] = {}
    for name, optimizer in task.optimizers().items():
        state = optimizer.state_dict()
        plain: dict[str, dict[str, Any]] = {}
        for index, entry in state["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{name}.{index}.{key}"] = _host_copy(value)
                else:
                    plain.setdefault(str(index), {})[key] = value
        optimizers[name] = {"param_groups": _json(state["param_groups"]), "state": plain}
    meta = {
        "optimizers": optimizers,
        "schedulers": [_json(s.state_dict()) for s in task.schedulers()],
        "task": _json(task.state_dict()),
        "loop": _json(loop),
    }
    return TrainingState(step, tensors, meta, {rank: random_state(device)})


def restore(
    task: Checkpointable, state: TrainingState, device: torch.device, rank: int = 0
) -> None:
    """Put ``state`` back into the task and this process's random streams."""
    try:
        for name, net in task.networks().items():
            net.load_state_dict(_section(state.tensors, f"network.{name}."), strict=True)
        for name, optimizer in task.optimizers().items():
            saved = state.meta["optimizers"][name]
            entries: dict[int, dict[str, Any]] = {}
            for key, value in _section(state.tensors, f"optimizer.{name}.").items():
                index, _, item = key.partition(".")
                # A copy: the optimizer updates its state in place, and ``state`` may be
                # needed again (a second rollback to it).
                entries.setdefault(int(index), {})[item] = value.clone()
            for index, plain in saved["state"].items():
                entries.setdefault(int(index), {}).update(plain)
            groups = _like(saved["param_groups"], optimizer.state_dict()["param_groups"])
            optimizer.load_state_dict({"state": entries, "param_groups": groups})
            _match_layouts(optimizer)
        schedulers = task.schedulers()
        if len(schedulers) != len(state.meta["schedulers"]):
            raise ValueError("a different number of learning-rate schedules")
        for scheduler, saved in zip(schedulers, state.meta["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        task.load_state_dict(state.meta["task"])
        if rank not in state.rng:
            raise ValueError(f"no random streams for rank {rank}")
        set_random_state(state.rng[rank], device)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AugmentError(
            f"the checkpoint does not fit this model ({first}): train with --restart to start over"
        ) from None


def prepared_tensors(state: TrainingState) -> dict[str, torch.Tensor]:
    """The tensors the run prepared before its first step, as :func:`capture` was given them."""
    return _section(state.tensors, PREPARED)


def random_state(device: torch.device) -> RandomState:
    """This process's random streams: torch (CPU, and the CUDA device), numpy, Python."""
    tensors = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["cuda"] = torch.cuda.get_rng_state(device)
    _, keys, position, has_gauss, cached = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["python"] = torch.tensor(internal, dtype=torch.int64)
    meta = {
        "numpy": [int(position), int(has_gauss), float(cached)],
        "python": [version, gauss_next],
    }
    return RandomState(tensors, meta)


def set_random_state(state: RandomState, device: torch.device) -> None:
    torch.set_rng_state(state.tensors["torch"])
    if device.type == "cuda" and "cuda" in state.tensors:
        torch.cuda.set_rng_state(state.tensors["cuda"], device)
    position, has_gauss, cached = state.meta["numpy"]
    keys = state.tensors["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, position, has_gauss, cached))
    version, gauss_next = state.meta["python"]
    random.setstate((version, tuple(state.tensors["python"].tolist()), gauss_next))


def scale_learning_rates(task: Checkpointable, factor: float) -> None:
    """Multiply every learning rate, schedules' bases and floors included, by ``factor``."""
    for optimizer in task.optimizers().values():
        for group in optimizer.param_groups:
            for key in ("lr", "initial_lr"):
                if key in group:
                    group[key] = group[key] * factor
    for scheduler in task.schedulers():
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
        if isinstance(getattr(scheduler, "eta_min", None), float | int):
            scheduler.eta_min = scheduler.eta_min * factor


# ------------------------------------------------------------------------------ files
def save(
    directory: str | Path, state: TrainingState, fingerprint: dict[str, Any], **meta: Any
) -> None:
    """Write ``state`` (every rank's random streams in it) into ``directory``, atomically."""
    tensors = dict(state.tensors)
    for rank, rng in state.rng.items():
        tensors.update({f"rng.{rank}.{k}": v for k, v in rng.tensors.items()})
    document = {
        "format": FORMAT,
        "step": state.step,
        "fingerprint": _json(fingerprint),
        **state.meta,
        "rng": {str(rank): rng.meta for rank, rng in sorted(state.rng.items())},
        **_json(meta),
        "versions": versions(),
    }
    text = json.dumps(document, indent=1) + "\n"
    with atomic_dir(directory, CHECKPOINT) as tmp:
        save_file(tensors, str(tmp / STATE_FILE), metadata={"format": "pt"})
        (tmp / META_FILE).write_text(text, encoding="utf-8")


def read_files(directory: str | Path) -> tuple[bytes, bytes] | None:
    """The raw files of the checkpoint in ``directory`` (``None`` when there is none), so that
    rank 0 can send them to the other ranks as they are."""
    directory = Path(directory)
    if not (directory / META_FILE).is_file():
        return None
    check_output_dir(directory, CHECKPOINT)  # a folder augment wrote as a checkpoint
    try:
        return (directory / STATE_FILE).read_bytes(), (directory / META_FILE).read_bytes()
    except OSError as exc:
        raise AugmentError(f"cannot read the checkpoint in {directory}: {exc}") from None


def parse(
    state_bytes: bytes, meta_bytes: bytes, directory: str | Path
) -> tuple[TrainingState, dict]:
    """A checkpoint's files -> its state and its fingerprint; a damaged one is an error."""
    try:
        document = json.loads(meta_bytes.decode("utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r}, this augment reads {FORMAT}")
        tensors = load_bytes(state_bytes)
        rng_tensors: dict[int, dict[str, torch.Tensor]] = {}
        for key in [k for k in tensors if k.startswith("rng.")]:
            _, rank, item = key.split(".", 2)
            rng_tensors.setdefault(int(rank), {})[item] = tensors.pop(key)
        rng = {
            int(rank): RandomState(rng_tensors.get(int(rank), {}), meta)
            for rank, meta in document["rng"].items()
        }
        meta = {k: document[k] for k in ("optimizers", "schedulers", "task", "loop")}
        state = TrainingState(int(document["step"]), tensors, meta, rng)
        fingerprint = document["fingerprint"]
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        SafetensorError,
        KeyError,
        ValueError,
        AttributeError,
        TypeError,
    ) as exc:
        raise AugmentError(
            f"the checkpoint in {directory} is damaged ({exc}): train with --restart to start over"
        ) from None
    return state, fingerprint


def check_fingerprint(saved: dict[str, Any], expected: dict[str, Any], directory: Path) -> None:
    """Refuse a checkpoint of another run: other settings, data, seed or number of processes."""
    old, new = _flatten(saved), _flatten(_json(expected))
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    if not changed:
        return
    if "world_size" in changed:
        reason = (
            f"it was written by {old.get('world_size')} process(es) and this run has "
            f"{new.get('world_size')}; resume with as many"
        )
    elif "data" in changed:
        reason = "it was trained on other data"
    else:
        shown = [f"{key} {old.get(key, '-')} -> {new.get(key, '-')}" for key in changed[:4]]
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        reason = "its settings differ: " + ", ".join(shown) + more
    raise AugmentError(
        f"the checkpoint in {directory} is of another training run ({reason}): train with "
        "--restart to start over, or delete that folder"
    )


def remove(directory: str | Path) -> bool:
    """Delete the checkpoint folder if augment wrote it as one; report whether it existed."""
    directory = Path(directory)
    if not directory.exists():
        return False
    check_output_dir(directory, CHECKPOINT)  # never a folder augment did not write as one
    shutil.rmtree(directory)
    return True


def data_digest(*arrays: np.ndarray) -> str:
    """A short hash of the training arrays (their dtype, shape and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.hexdigest()


# ---------------------------------------------------------------------------- helpers
def json_tensor(value: Any) -> torch.Tensor:
    """``value`` as JSON text in a uint8 tensor: a few numbers kept beside the state tensors."""
    return torch.frombuffer(bytearray(json.dumps(value).encode()), dtype=torch.uint8)


def tensor_json(tensor: torch.Tensor) -> Any:
    """What :func:`json_tensor` stored (``ValueError`` if it is not JSON text)."""
    return json.loads(bytes(tensor.numpy()).decode("utf-8"))


def _host_copy(value: torch.Tensor) -> torch.Tensor:
    # A copy (never a view of a live weight), contiguous for safetensors.
    return value.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-weight state tensor (Adam's moments) its weight's memory layout again.

    Checkpoints store tensors contiguous; a channels_last convolution's moments must be
    channels_last like the weight, as the optimizer made them, or the resumed updates differ.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == param.shape
                    and value.stride() != param.stride()
                ):
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(
                        value
                    )


def _section(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), or an error if it is not."""
    return json.loads(json.dumps(value))


def _like(saved: Any, live: Any) -> Any:
    """``saved`` with lists turned back into tuples wherever ``live`` has a tuple (Adam's betas)."""
    if isinstance(live, tuple) and isinstance(saved, list):
        return tuple(saved)
    if isinstance(live, dict) and isinstance(saved, dict):
        return {k: _like(v, live.get(k)) for k, v in saved.items()}
    if isinstance(live, list) and isinstance(saved, list) and len(live) == len(saved):
        return [_like(s, v) for s, v in zip(saved, live, strict=True)]
    return saved


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "hyperparameters":
                name = prefix  # the settings' own names read better alone
            flat.update(_flatten(item, name))
        return flat
    return {prefix: value}
