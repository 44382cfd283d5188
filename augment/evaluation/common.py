"""Helpers both evaluation runners share: seeds, the progress bar, stage timers, the model
under test and its retraining factory."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from augment.core.models import GenerativeModel, model_config
from augment.core.runtime import resolve_device
from augment.errors import AugmentError
from augment.evaluation.parallel import FanOut, run_fits
from augment.registry import load_synthesizer, make_synthesizer

# A fitted synthesizer for a subset: factory(rows or images, schema, seed) -> synthesizer.
SynthesizerFactory = Callable[[Any, Any, int], GenerativeModel]


def fit_bar(total: int, progress: bool) -> tqdm:
    """The one progress bar (stderr) over an evaluation's classifier fits and GAN retrains."""
    return tqdm(
        total=total,
        desc="evaluate",
        unit="fit",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )


def synthesizers_for(
    model_dir: str | Path | None,
    synthesizer: Any,
    factory: Callable[..., Any] | None,
    sweep: bool,
    device: str,
    sweep_hyperparameters: dict[str, Any] | None,
) -> tuple[Any, Callable[..., Any] | None]:
    """The fitted synthesizer to evaluate and, when a low-data sweep runs, the factory that
    retrains one on a subset: the caller's, else built from ``model_dir``."""
    if synthesizer is None:
        if model_dir is None:
            raise AugmentError("evaluate needs a trained model directory (or a synthesizer)")
        synthesizer = load_synthesizer(model_dir, device)
    if sweep and factory is None:
        if model_dir is None:
            raise AugmentError("the low-data sweep needs a model directory or a factory")
        factory = model_factory(model_dir, device, sweep_hyperparameters)
    return synthesizer, factory


def model_factory(
    model_dir: str | Path, device: str = "auto", overrides: dict[str, Any] | None = None
) -> SynthesizerFactory:
    """Fit a fresh copy of the trained model's kind and hyper-parameters on a subset."""
    config = model_config(model_dir)
    name = config.get("model")
    hyper = {**(config.get("hyperparameters") or {}), **(overrides or {})}

    def fit(rows: Any, schema: Any, seed: int) -> GenerativeModel:
        synth = make_synthesizer(name, hyper)
        synth.fit(rows, schema, seed=seed, device=device, progress=False)
        return synth

    return fit


def retrain_synthesizers(
    factory: SynthesizerFactory,
    groups: Sequence[Sequence[tuple[Any, Any, int]]],
    fanout: FanOut,
    device: str,
    on_result: Callable[[GenerativeModel], None] | None = None,
) -> list[list[GenerativeModel]]:
    """``factory(data, schema, seed)`` for every fit of every group (one group per point of the
    low-data sweep), the models grouped the same way: all the sweep's retrains side by side
    where ``fanout`` says, one CPU thread each.

    A small GAN's step is many small ops: two one-thread fits at once beat the same fits in
    turn on two threads (1.6x on 2 cores, measured), and a fixed thread count keeps the models
    the same whatever the job count or the machine's load (a thread count chosen from step
    times is not). On a GPU they run here, one after the other: workers would queue for it.
    """
    fits = [fit for group in groups for fit in group]
    if resolve_device(device).type == "cuda":
        models = run_fits(factory, fits, FanOut(), threads=None, on_result=on_result)
    else:
        models = run_fits(factory, fits, fanout, threads=1, on_result=on_result)
    ends = np.cumsum([len(group) for group in groups])
    return [models[end - len(group) : end] for group, end in zip(groups, ends, strict=True)]


# -- run bookkeeping -----------------------------------------------------------------------------
class StageTimer:
    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def __call__(self, name: str) -> StageTimerSpan:
        return StageTimerSpan(self, f"{name}_s")

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` spent elsewhere (a fit in a worker) towards stage ``name``: summed
        over workers, so it can exceed the wall time."""
        key = f"{name}_s"
        self.totals[key] = round(self.totals.get(key, 0.0) + seconds, 2)


class StageTimerSpan:
    def __init__(self, timer: StageTimer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        spent = time.perf_counter() - self.start
        self.timer.totals[self.name] = round(self.timer.totals.get(self.name, 0.0) + spent, 2)


def check_ratios(ratios: Sequence[float]) -> list[float]:
    out = sorted({float(r) for r in ratios})
    if not out or out[0] <= 0:
        raise AugmentError(f"ratios must be positive numbers, got {list(ratios)}")
    return out


def check_weights(weights: Sequence[float] | float) -> list[float]:
    """The synthetic weights of the mix recipes: finite numbers >= 0, at least one, duplicates
    dropped, order kept (a bare number is a list of one)."""
    if isinstance(weights, int | float) and not isinstance(weights, bool):
        weights = [weights]
    try:
        values = [float(w) for w in weights]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise AugmentError(
            f"synthetic_weight must be a list of numbers >= 0, got {weights!r}"
        ) from None
    if not values or any(not 0 <= w < float("inf") for w in values):
        raise AugmentError(f"synthetic_weight must be finite numbers >= 0, got {weights!r}")
    return list(dict.fromkeys(values))


def check_threshold(value: Any, name: str = "curate_threshold") -> float:
    """A curation threshold: a probability in [0, 1]."""
    if isinstance(value, bool):
        raise AugmentError(f"{name} must be a number from 0 to 1, got {value!r}")
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise AugmentError(f"{name} must be a number from 0 to 1, got {value!r}") from None
    if not 0 <= threshold <= 1:
        raise AugmentError(f"{name} must be a number from 0 to 1, got {value!r}")
    return threshold
