"""Curation keeps only the synthetic samples a real-data classifier is confident about, one
mechanism for tables and images (augment.evaluation.curation)."""

from __future__ import annotations

import numpy as np
import pytest

from augment.evaluation.curation import curate


def _toy(seed_log: list[int] | None = None):
    """Samples are numbers in [0, 1); the 'classifier' trusts a sample of class c when the number
    exceeds the class's bar, so acceptance is about 1 - bar."""
    bars = np.array([0.0, 0.5, 0.99])

    def draw(labels: np.ndarray, seed: int) -> np.ndarray:
        if seed_log is not None:
            seed_log.append(seed)
        rng = np.random.default_rng(seed)
        return np.stack([labels.astype(float), rng.random(len(labels))], axis=1)

    def confidence(samples: np.ndarray, labels: np.ndarray) -> np.ndarray:
        assert (samples[:, 0] == labels).all()  # each sample is judged against its own class
        return (samples[:, 1] >= bars[labels]).astype(float)

    return draw, confidence


def _run(labels, seed=0, threshold=0.5, max_draws=20, draw=None, confidence=None):
    d, c = _toy()
    return curate(
        draw or d,
        confidence or c,
        np.asarray(labels),
        classes=["a", "b", "c"],
        seed=seed,
        threshold=threshold,
        classifier="toy",
        take=lambda s, i: s[i],
        concat=np.concatenate,
        max_draws=max_draws,
    )


def test_keeps_only_confident_samples_in_the_order_asked_and_counts_them():
    labels = np.array([1, 0, 1, 0, 1, 1, 0, 1] * 5)
    got = _run(labels)
    # Every kept sample passed, has the class asked, and the order is the one asked.
    assert (got.samples[:, 1] >= np.array([0.0, 0.5, 0.99])[got.labels]).all()
    assert (got.samples[:, 0] == got.labels).all()
    assert got.labels.tolist() == labels.tolist()  # nothing fell short: every position filled
    a, b = got.report.per_class["a"], got.report.per_class["b"]
    assert (a.asked, a.kept, a.drawn) == (15, 15, 15)  # always confident: one round, no waste
    assert b.asked == b.kept == 25 and b.drawn > 25  # about half rejected: drew more
    assert "c" not in got.report.per_class  # not asked, not reported


def test_same_seed_same_samples_other_seed_other_samples():
    labels = np.array([0, 1, 1, 0, 1] * 4)
    one, two, other = _run(labels, seed=3), _run(labels, seed=3), _run(labels, seed=4)
    assert np.array_equal(one.samples, two.samples)
    assert not np.array_equal(one.samples, other.samples)


def test_a_class_that_cannot_be_filled_stops_at_the_cap_and_is_named(monkeypatch):
    import augment.evaluation.curation as curation

    warnings: list[str] = []  # the logger itself: other tests may stop it propagating
    monkeypatch.setattr(curation.logger, "warning", lambda fmt, *a: warnings.append(fmt % a))
    labels = np.array([2] * 10 + [0] * 10)
    got = _run(labels, seed=1, max_draws=3)
    c = got.report.per_class["c"]
    assert c.drawn == 30 and c.kept < 10  # the cap: 3 x asked
    assert got.report.short == ["c"]
    assert (got.labels == 2).sum() == c.kept and (got.labels == 0).sum() == 10
    assert len(warnings) == 1 and "c kept" in warnings[0] and "of 10" in warnings[0]
    assert got.report.to_dict()["short"] == ["c"]


def test_threshold_zero_keeps_everything_and_one_keeps_only_certain():
    labels = np.array([1] * 20)
    draw, _ = _toy()
    proba = lambda s, lab: s[:, 1]  # noqa: E731
    everything = _run(labels, threshold=0.0, confidence=proba, draw=draw)
    assert everything.report.per_class["b"].drawn == 20
    certain = _run(labels, threshold=1.0, confidence=proba, draw=draw, max_draws=2)
    assert certain.report.per_class["b"].kept == 0 and len(certain.samples) == 0


# -- augment generate --curate -------------------------------------------------------------------
import json  # noqa: E402

import pandas as pd  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from augment.cli import app  # noqa: E402

runner = CliRunner()


def _cli(*args: str, code: int = 0):
    result = runner.invoke(app, ["--quiet", *args])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("augment: error: ")
    return lines[0]


@pytest.fixture
def table_workdir(small_table_workdir):
    """``prep`` and ``model``: a small table ingested and a TabGAN trained on it (conftest.py)."""
    return small_table_workdir


def test_generate_curate_on_a_table_keeps_counts_and_never_reads_the_test_split(
    table_workdir, monkeypatch
):
    from augment.tabular.bundle import TabularBundle
    from augment.tabular.evaluation.classifiers import DownstreamClassifier

    seen: list[pd.DataFrame] = []
    fit = DownstreamClassifier.fit

    def spy(self, frame, *args, **kwargs):
        seen.append(frame.copy())
        return fit(self, frame, *args, **kwargs)

    monkeypatch.setattr(DownstreamClassifier, "fit", spy)
    _cli("generate", "--model", "model", "--out", "synth", "--n", "60", "--curate",
         "--curate-threshold", "0.6", "--data", "prep", "--device", "cpu")  # fmt: skip
    info = json.loads((table_workdir / "synth" / "generation.json").read_text())
    rows = pd.read_parquet(table_workdir / "synth" / "synthetic.parquet")
    block = info["curation"]
    assert block["threshold"] == 0.6 and block["classifier"].startswith("hgb")
    assert len(rows) == info["rows"] == sum(n["kept"] for n in block["per_class"].values())
    assert sum(n["asked"] for n in block["per_class"].values()) == 60
    for name, n in block["per_class"].items():
        assert n["kept"] <= n["asked"] <= n["drawn"]
        assert (rows["label"].astype(str) == name).sum() == n["kept"] == info["per_class"][name]
    # The judge saw the training split, exactly, and not one test row.
    bundle = TabularBundle.load(table_workdir / "prep")
    assert len(seen) == 1
    pd.testing.assert_frame_equal(
        seen[0].reset_index(drop=True), bundle.train.reset_index(drop=True)
    )


@pytest.mark.parametrize("bad", ["1.5", "-1", "x"])
def test_a_bad_curate_threshold_is_one_error_line(table_workdir, bad):
    got = _cli("generate", "--model", "model", "--out", "s", "--curate", "--data", "prep",
               f"--curate-threshold={bad}", code=2)  # fmt: skip
    assert "curate_threshold" in _error_line(got).replace("-", "_")


def test_curate_with_data_of_another_model_is_one_error_line(table_workdir, tmp_path):
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1.0, 2.0] * 20, "y": ["p", "q"] * 20}).to_csv(other, index=False)
    _cli("ingest", "--source", str(other), "--label", "y", "--out", "prep2")
    got = _cli("generate", "--model", "model", "--out", "s", "--curate", "--data", "prep2",
               code=2)  # fmt: skip
    assert "prep2 does not match the model: its classes are" in _error_line(got)


class _Pattern:
    """An image 'GAN' for the digits' schema that draws seeded noise whatever the class: the
    judge trusts few of them, so curation draws more and may fall short."""

    name = "pattern"

    def __init__(self):
        from augment.images.schema import ImageSchema

        self.schema = ImageSchema(
            classes=[str(i) for i in range(10)], size=8, channels=1, class_counts=[10] * 10
        )

    def sample(self, labels, *, seed: int = 0) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64)
        rng = np.random.default_rng(seed)
        out = rng.integers(0, 255, (len(labels), 1, 8, 8)).astype(np.uint8)
        return out


def test_generate_curate_on_images_trains_the_judge_on_the_training_split_only(
    tmp_path, monkeypatch
):
    import augment
    from augment.images.bundle import ImageBundle
    from augment.images.evaluation import curation as image_curation
    from augment.steps.generate import generate

    data = tmp_path / "digits"
    augment.ingest("digits", out=data, progress=False)
    bundle = ImageBundle.load(data)
    seen = []
    train = image_curation.train_classifier

    def spy(images, labels, **kwargs):
        seen.append(images.cpu().numpy().copy())
        return train(images, labels, **{**kwargs, "steps": 20})

    monkeypatch.setattr(image_curation, "train_classifier", spy)
    summary = generate(_Pattern(), 40, tmp_path / "synth", balance=True, curate=True,
                       curate_threshold=0.1, data=data, device="cpu", progress=False)  # fmt: skip
    assert len(seen) == 1 and np.array_equal(seen[0], bundle.train.images)
    block = summary["curation"]
    assert sum(n["asked"] for n in block["per_class"].values()) == 40
    written = json.loads((tmp_path / "synth" / "generation.json").read_text())
    assert written["curation"] == block
    for name, n in block["per_class"].items():
        files = list((tmp_path / "synth" / name).glob("*.png")) if n["kept"] else []
        assert len(files) == n["kept"] == written["per_class"][name]
    # Same seed, same curated images.
    generate(_Pattern(), 40, tmp_path / "again", balance=True, curate=True,
             curate_threshold=0.1, data=data, device="cpu", progress=False)  # fmt: skip
    for png in (tmp_path / "synth").rglob("*.png"):
        assert (
            png.read_bytes()
            == (tmp_path / "again" / png.relative_to(tmp_path / "synth")).read_bytes()
        )
    assert len(list((tmp_path / "again").rglob("*.png"))) == written["images"] > 0


@pytest.mark.slow
def test_generate_curate_on_images_from_the_command_line(tmp_path, monkeypatch):
    from PIL import Image

    from augment.images.evaluation import curation as image_curation

    train = image_curation.train_classifier
    monkeypatch.setattr(  # a judge of 20 steps: the fast tier stays fast
        image_curation, "train_classifier", lambda *a, **k: train(*a, **{**k, "steps": 20})
    )
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for level, name in ((30, "dark"), (220, "bright")):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(level + rng.integers(-20, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    _cli("ingest", "--source", "photos", "--out", "prep")
    _cli("train", "--data", "prep", "--out", "model", "--steps", "2", "--batch-size", "8",
         "--device", "cpu")  # fmt: skip
    _cli("generate", "--model", "model", "--out", "synth", "--n", "12", "--balance",
         "--curate", "--curate-threshold", "0", "--data", "prep", "--device", "cpu")  # fmt: skip
    info = json.loads((tmp_path / "synth" / "generation.json").read_text())
    # Threshold 0 keeps every sample: one round, nothing drawn in vain.
    assert info["curation"]["per_class"] == {
        c: {"asked": 6, "drawn": 6, "kept": 6} for c in ("bright", "dark")
    }
    assert len(list((tmp_path / "synth" / "dark").glob("*.png"))) == 6
