"""Helpers both evaluation runners share: seeds, the progress bar, stage timers, the model
under test, its retraining factory and the low-data sweep's retrains."""

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
from augment.evaluation.parallel import FanOut, Task, fit_threads, run_fits
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


class SweepRetrains:
    """The low-data sweep's GAN retrains: ``factory(data, schema, seed)`` for every fit of every
    group (one group per point of the sweep), the models grouped the same way.

    On a CPU each retrain runs with one thread, as a task handed out ahead of the full block's
    classifier fits in the same pool (``run_fits(..., ahead=retrains.tasks())``). A small GAN's
    step is many small ops: two one-thread fits at once beat the same fits in turn on two
    threads (1.6x on 2 cores, measured). A fixed thread count keeps the models the same whatever
    the job count or the machine's load (a count chosen from step times is not). And the fits
    fill the cores around the retrains, where a pool of retrains alone left a core idle behind
    the last one (the digits sweep's lone GAN retrain: 31-44 s of one core). On a GPU they run
    in this process, one after the other, when :meth:`models` is called: workers would queue
    for it.
    """

    def __init__(
        self,
        factory: SynthesizerFactory | None,
        groups: Sequence[Sequence[tuple[Any, Any, int]]],
        device: str,
    ) -> None:
        self.groups = [list(group) for group in groups]
        if factory is None and self.groups:
            raise AugmentError("the low-data sweep needs a factory to retrain its synthesizers")
        self.factory = factory
        self.on_gpu = resolve_device(device).type == "cuda"

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups)

    def tasks(self) -> list[Task]:
        """``(function, args)`` per retrain, for ``run_fits``'s ``ahead`` (none on a GPU)."""
        if self.on_gpu:
            return []
        return [(_one_thread_fit, (self.factory, *fit)) for group in self.groups for fit in group]

    def note(self) -> str:
        """What the progress bar adds while the retrains run beside the fits."""
        beside = self.groups and not self.on_gpu
        return f", fitting {len(self)} synthesizers for the sweep" if beside else ""

    def models(
        self,
        results: Sequence[tuple[GenerativeModel, float]],
        timer: StageTimer,
        bar: tqdm,
        on_result: Callable[[Any], None] | None = None,
    ) -> list[list[GenerativeModel]]:
        """The models, grouped: from the ``results`` of :meth:`tasks`' runs, or on a GPU
        trained here now (``on_result`` called with each). ``timer``'s ``retrain`` counts their
        seconds: summed over workers on a CPU, as the classifier fits' are."""
        if self.on_gpu and self.groups:
            bar.set_postfix_str(f"fitting {len(self)} synthesizers for the sweep")
            fits = [fit for group in self.groups for fit in group]
            with timer("retrain"):
                flat = run_fits(self.factory, fits, FanOut(), threads=None, on_result=on_result)
        else:
            flat = []
            for model, seconds in results:
                timer.add("retrain", seconds)
                flat.append(model)
        if len(flat) != len(self):
            raise AugmentError(f"{len(flat)} sweep models came back for {len(self)} retrains")
        ends = np.cumsum([len(group) for group in self.groups])
        return [flat[end - len(group) : end] for group, end in zip(self.groups, ends, strict=True)]


def _one_thread_fit(
    factory: SynthesizerFactory, data: Any, schema: Any, seed: int
) -> tuple[GenerativeModel, float]:
    """One retrain on one CPU thread, whatever the pool's fits use; and its seconds."""
    start = time.perf_counter()
    with fit_threads(1):
        model = factory(data, schema, seed)
    return model, time.perf_counter() - start


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
