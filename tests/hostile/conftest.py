"""The hostile-input corpus: each way a user (or a cluster, or a full disk) can break a run,
with its exact outcome: one line ``augment: error: ...`` and a non-zero exit, or a documented
handling; never a traceback, never a user's file lost, nothing half-written left behind.

Shared here: the command-line runner, the one-line assertion, a capture of augment's log, and a
tiny table model and image model trained once per session (tests tamper with copies).
Helpers tests import live in hostile_support.py."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from hostile_support import tiny_table


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """Every test runs in its own empty folder: the repository's params.yaml must not apply."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def augment_log():
    """Messages augment logs (warnings included) during the test."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("augment")
    handler = Collect(level=logging.DEBUG)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture(scope="session")
def table_model(tmp_path_factory) -> Path:
    """A TabGAN trained for one epoch on 120 rows (seconds)."""
    import augment

    root = tmp_path_factory.mktemp("table_model")
    tiny_table().to_csv(root / "t.csv", index=False)
    data = augment.ingest(str(root / "t.csv"), "label", root / "prep")
    augment.train(
        data, root / "model", epochs=1, batch_size=20, min_steps=0, device="cpu", progress=False
    )
    return root / "model"


@pytest.fixture(scope="session")
def image_model(tmp_path_factory) -> Path:
    """An ImageGAN trained for two steps on 8x8 digits, five per class (seconds)."""
    import augment

    root = tmp_path_factory.mktemp("image_model")
    data = augment.ingest("digits", out=root / "prep", per_class=5, progress=False)
    augment.train(data, root / "model", steps=2, batch_size=8, device="cpu", progress=False)
    return root / "model"


@pytest.fixture
def copy_model(tmp_path):
    """``copy_model(model)``: a copy of a trained model folder to tamper with."""

    def copy(model: Path) -> Path:
        target = tmp_path / f"copy_{model.parent.name}"
        shutil.copytree(model, target)
        return target

    return copy
