"""DVCLive training curves and metrics: what they write, and that logging never changes training."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from augment.core.tracking import RunLog
from augment.images.bundle import ImageSplit
from augment.images.gan import ImageGAN
from augment.images.schema import ImageSchema
from augment.tabular.gan import TabGAN
from augment.tabular.ingest import build_schema, infer_kinds


def _tsv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture
def digits_split():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[:200] * 255 / 16).astype(np.uint8)[:, None]
    schema = ImageSchema(classes=[str(i) for i in range(10)], size=8, channels=1)
    return ImageSplit(images, digits.target[:200]), schema


@pytest.mark.slow
def test_image_curves_and_fidelity_leave_training_unchanged(tmp_path, monkeypatch, digits_split):
    monkeypatch.chdir(tmp_path)
    data, schema = digits_split
    plain = ImageGAN(steps=6, batch_size=16, log_every=2)
    plain.fit(data, schema, seed=3, device="cpu", progress=False)
    logged = ImageGAN(steps=6, batch_size=16, log_every=2)
    with RunLog(tmp_path / "curves") as curves:
        logged.fit(data, schema, seed=3, device="cpu", progress=False, curves=curves,
                   fidelity_every=3)  # fmt: skip

    # The probe draws on forked random streams: the same seed trains the same weights.
    assert np.array_equal(plain.sample([0, 5, 9], seed=1), logged.sample([0, 5, 9], seed=1))
    losses = _tsv(tmp_path / "curves" / "plots" / "metrics" / "loss_d.tsv")
    assert [row["step"] for row in losses] == ["2", "4", "6"]
    fidelity = _tsv(tmp_path / "curves" / "plots" / "metrics" / "pixel_fd.tsv")
    assert [row["step"] for row in fidelity] == ["3", "6"]
    assert all(float(row["pixel_fd"]) > 0 for row in fidelity)
    # Nothing outside the named folder: no dvc.yaml, no .dvc, no default dvclive/ folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves"]


def test_table_curves_log_quality(tmp_path, small_table):
    frame = small_table.drop(columns=["row_id"])
    kinds, dropped = infer_kinds(frame, "label", {})
    schema = build_schema(frame, "label", kinds, dropped, {})
    with RunLog(tmp_path / "curves") as curves:
        TabGAN(epochs=4, batch_size=100, min_steps=0, log_every=2).fit(
            frame, schema, seed=0, device="cpu", progress=False, curves=curves, fidelity_every=6
        )
    rows = _tsv(tmp_path / "curves" / "plots" / "metrics" / "fidelity.tsv")
    assert [row["step"] for row in rows] == ["6", "12"]
    assert all(0 < float(row["fidelity"]) <= 1 for row in rows)


def test_summary_flattens_numbers(tmp_path):
    with RunLog(tmp_path / "run") as log:
        log.summary({"gains": {"real+synth@1.0": {"mean": 0.01, "n": 5}}, "note": "text"}, "eval")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == {"eval": {"gains": {"real+synth@1.0": {"mean": 0.01, "n": 5}}}}


def test_no_side_effects_inside_a_git_repo_without_dvc(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    with RunLog("curves") as log:
        log.curve(1, {"loss": 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "curves"]  # no .dvc, no dvc.yaml
