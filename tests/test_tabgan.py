"""TabGAN: a short fit, exact label-conditional sampling, determinism, save/load without pickle."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from augment.core import distributed
from augment.core.training import cpu_threads, resolve_precision
from augment.errors import AugmentError
from augment.registry import GenerativeModel, load_synthesizer, make_synthesizer
from augment.tabular.gan import (
    TabGAN,
    TabGANConfig,
    _shared_encoder,
    _TabGANTask,
    make_encoder,
)
from augment.tabular.ingest import build_schema
from augment.tabular.networks import LabelClassifier

# Tiny settings: the point is behaviour, not quality.
FAST = {
    "epochs": 10,
    "batch_size": 60,
    "pac": 10,
    "noise_dim": 16,
    "generator_dims": [32, 32],
    "discriminator_dims": [32],
    "max_steps": 30,
    "log_every": 10,
}


def saved_before(model: Path, setting: str) -> None:
    """Make the saved ``model`` look as if saved before ``setting`` existed: its config.json
    without that hyper-parameter."""
    path = model / "config.json"
    config_file = json.loads(path.read_text())
    del config_file["hyperparameters"][setting]
    path.write_text(json.dumps(config_file))


def fits_on_and_off(table: pd.DataFrame, schema, setting: str) -> dict[bool, TabGAN]:
    """Two FAST fits of ``table``, seed 0: ``setting`` on (key True) and off (False)."""
    runs = {}
    for flag in (True, False):
        gan = TabGAN(**{**FAST, setting: flag})
        gan.fit(table, schema, seed=0, device="cpu", progress=False)
        runs[flag] = gan
    return runs


def make_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.where(rng.random(n) < 0.75, "no", "yes").astype(object)
    label[:6] = "rare"
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
            "rooms": rng.choice([1, 2, 4], n),
            "member": rng.random(n) < 0.3,
            "joined": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 500, n), "D"),
            "label": label,
        }
    )
    frame.loc[::13, "income"] = np.nan
    frame.loc[::19, "city"] = None
    return frame


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def fitted(table, mixed_kinds) -> tuple[TabGAN, dict]:
    schema = build_schema(table, "label", mixed_kinds, [], {})
    gan = TabGAN(**FAST)
    summary = gan.fit(table, schema, seed=0, device="cpu", progress=False)
    return gan, summary


def test_fit_returns_the_loop_summary(fitted):
    gan, summary = fitted
    assert isinstance(gan, GenerativeModel) and gan.name == "tabgan"
    assert summary["steps"] == FAST["max_steps"] and summary["device"] == "cpu"
    # The auxiliary classifier's loss on the generator is on by default.
    assert set(summary["final_losses"]) == {"loss_d", "gp", "loss_g", "cond", "classifier"}
    assert all(math.isfinite(v) for v in summary["final_losses"].values())
    assert summary["seconds"] > 0 and summary["rows"] == 300


def test_labels_are_exact_and_schema_is_kept(fitted, table):
    gan, _ = fitted
    labels = ["rare", "yes", "no", "rare", "no", "rare"] * 20
    out = gan.sample(labels, seed=0)
    assert out["label"].tolist() == labels  # conditioned, row for row, rare class included
    assert list(out.columns) == list(table.columns)
    for name in table.columns:
        assert out[name].dtype == table[name].dtype, name
    assert set(out["city"].dropna()) <= {"Oslo", "Lima", "Pune"}
    assert set(out["rooms"]) <= {1, 2, 4}
    assert out["age"].between(table["age"].min(), table["age"].max()).all()
    assert gan.sample(np.array([], dtype=object), seed=0).shape == (0, len(table.columns))


def test_same_seed_same_rows_other_seed_other_rows(fitted):
    gan, _ = fitted
    labels = np.array(["no", "yes", "rare"] * 50, dtype=object)
    a = gan.sample(labels, seed=7)
    pd.testing.assert_frame_equal(a, gan.sample(labels, seed=7))
    assert not a.equals(gan.sample(labels, seed=8))


def test_unknown_label_names_value_and_classes(fitted):
    gan, _ = fitted
    with pytest.raises(AugmentError, match=r"'maybe'.*'no', 'rare', 'yes'"):
        gan.sample(["no", "maybe"])


def test_save_load_round_trip_without_pickle(fitted, tmp_path):
    gan, summary = fitted
    gan.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == [".augment-output.json", "config.json", "encoder.json", "weights.safetensors"]
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"] == "tabgan" and config["training"]["steps"] == summary["steps"]
    assert config["hyperparameters"]["batch_size"] == FAST["batch_size"]
    assert config["schema"]["label"] == "label" and config["torch_version"] == torch.__version__
    loaded = load_synthesizer(tmp_path / "model", device="cpu")
    labels = ["no", "rare", "yes"] * 30
    pd.testing.assert_frame_equal(loaded.sample(labels, seed=3), gan.sample(labels, seed=3))
    assert loaded.schema.to_dict() == gan.schema.to_dict()


def test_a_numeric_column_of_a_few_values_is_a_condition(table, mixed_kinds, tmp_path):
    schema = build_schema(table, "label", {**mixed_kinds, "rooms": "continuous"}, [], {})
    config = TabGANConfig(**{**FAST, "label_weight": 0.0})
    assert config.condition_discrete  # the default
    encoder = make_encoder(config).fit(table, schema)
    layout = encoder.layout(condition_discrete=True)
    task = _TabGANTask(config, encoder.encode(table), layout, steps=5)
    task.build(torch.device("cpu"))
    drawn = task.sampler.sample(3000, torch.Generator().manual_seed(0))
    # Some conditions fall on rooms' values (1, 2, 4), each with a real row of that value.
    softmax = [s for s in encoder.spans if s.kind == "softmax"]
    choices = layout.condition_choices
    rooms = next(j for j, k in enumerate(choices.tolist()) if softmax[k].column == "rooms")
    assert (drawn.column == rooms).any()
    held = task.choices[drawn.rows, choices[drawn.column]].long()
    assert torch.equal(held, drawn.category)
    on_rooms = drawn.rows[drawn.column == rooms]
    values = table["rooms"].to_numpy()[on_rooms.numpy()]
    assert torch.equal(
        torch.tensor(values), torch.tensor([1, 2, 4])[drawn.category[drawn.column == rooms]]
    )

    # The model reloads with its wider condition input, and one saved before the setting
    # existed (trained without it) still loads as what it was.
    for discrete in (True, False):
        gan = TabGAN(**{**FAST, "condition_discrete": discrete})
        gan.fit(table, schema, seed=0, device="cpu", progress=False)
        gan.save(tmp_path / f"model{discrete}")
        if not discrete:
            saved_before(tmp_path / "modelFalse", "condition_discrete")
        loaded = load_synthesizer(tmp_path / f"model{discrete}", device="cpu")
        labels = ["no", "rare", "yes"] * 30
        pd.testing.assert_frame_equal(loaded.sample(labels, seed=3), gan.sample(labels, seed=3))


def test_numeric_marginals_are_calibrated_per_class_and_saved(table, mixed_kinds, tmp_path):
    from scipy import stats

    schema = build_schema(table, "label", mixed_kinds, [], {})
    runs = fits_on_and_off(table, schema, "calibrate_marginals")
    calibrated = runs[True]
    assert calibrated.calibration.columns == ["age", "income", "joined"]
    # "rare" has 6 rows: too few for quantiles, its values pass unchanged.
    assert calibrated.calibration.active.tolist() == [[True] * 3, [False] * 3, [True] * 3]
    labels = ["no"] * 2000
    real = table.loc[table["label"] == "no", "income"].dropna()
    distance = {
        calibrate: stats.ks_2samp(gan.sample(labels, seed=1)["income"].dropna(), real).statistic
        for calibrate, gan in runs.items()
    }
    assert distance[True] < 0.05 < distance[False]  # 30 steps: the generator alone is far off
    out = calibrated.sample(labels, seed=1)
    assert out["age"].dtype == table["age"].dtype and (out["age"] % 1 == 0).all()
    assert out["joined"].between(table["joined"].min(), table["joined"].max()).all()

    # The maps are saved with the weights; a model from before the setting loads without.
    calibrated.save(tmp_path / "model")
    loaded = load_synthesizer(tmp_path / "model", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(labels, seed=2), calibrated.sample(labels, seed=2))
    runs[False].save(tmp_path / "old")
    saved_before(tmp_path / "old", "calibrate_marginals")
    old = load_synthesizer(tmp_path / "old", device="cpu")
    assert old.calibration is None
    pd.testing.assert_frame_equal(old.sample(labels, seed=2), runs[False].sample(labels, seed=2))


def test_columns_of_few_values_are_stepped_and_older_models_interpolate(mixed_kinds, tmp_path):
    table = make_table(n=1000)  # age: 62 values in 1,000 rows, each seen 16 times on average
    table["income"] = table["income"].round(-3)  # about 40 values, all multiples of 1,000
    schema = build_schema(table, "label", mixed_kinds, [], {})
    runs = fits_on_and_off(table, schema, "calibration_steps")
    assert runs[True].calibration.columns == ["age", "income", "joined"]
    assert runs[True].calibration.stepped.tolist() == [True, True, False]
    labels = ["no", "yes"] * 500
    incomes = {steps: gan.sample(labels, seed=1)["income"].dropna() for steps, gan in runs.items()}
    assert (incomes[True] % 1000 == 0).all()  # only values the rows hold
    assert (incomes[False] % 1000 != 0).mean() > 0.1  # some interpolated between them

    for steps, gan in runs.items():
        gan.save(tmp_path / f"model{steps}")
    loaded = load_synthesizer(tmp_path / "modelTrue", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(labels, seed=2), runs[True].sample(labels, seed=2))
    # A model saved before the setting existed has no stepped columns, and samples as fitted.
    saved_before(tmp_path / "modelFalse", "calibration_steps")
    old = load_synthesizer(tmp_path / "modelFalse", device="cpu")
    assert old.calibration.stepped.tolist() == [False] * 3
    pd.testing.assert_frame_equal(old.sample(labels, seed=2), runs[False].sample(labels, seed=2))


def test_make_synthesizer_rejects_unknown_hyperparameters():
    assert isinstance(make_synthesizer("tabgan", {"epochs": 3}), TabGAN)
    with pytest.raises(AugmentError, match="epoch_count"):
        TabGAN(epoch_count=3)
    with pytest.raises(AugmentError, match="multiple of pac"):
        TabGAN(batch_size=55, pac=10)


def test_missing_values_are_learned_and_generated(table, mixed_kinds):
    # A column that is missing half the time: the GAN must model the missing flag itself.
    frame = table.copy()
    frame.loc[frame.index % 2 == 0, "income"] = np.nan
    schema = build_schema(frame, "label", mixed_kinds, [], {})
    gan = TabGAN(**{**FAST, "max_steps": 60})
    gan.fit(frame, schema, seed=1, device="cpu", progress=False)
    out = gan.sample(["no"] * 400, seed=0)
    assert out["income"].isna().any() and out["income"].notna().any()
    assert out["city"].dtype == object


def test_thread_and_precision_settings():
    assert cpu_threads(3) == 3 and 1 <= cpu_threads() <= max(1, torch.get_num_threads())
    with pytest.raises(AugmentError, match="threads"):
        cpu_threads(0)
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu) in ("fp32", "bf16")
    with pytest.raises(AugmentError, match="precision"):
        TabGAN(precision="fp8")


def test_label_classifier_never_reads_the_label():
    visible = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])  # columns 2-3: the label's one-hot
    classifier = LabelClassifier(visible, classes=2, hidden=(8,), dropout=0.0)
    rows = torch.randn(6, 5)
    relabelled = rows.clone()
    relabelled[:, 2:4] = torch.randn(6, 2)
    assert torch.equal(classifier(rows), classifier(relabelled))
    moved = rows.clone()
    moved[:, 0] += 1
    assert not torch.equal(classifier(rows), classifier(moved))


def test_classifier_weight_zero_trains_without_the_classifier(table, mixed_kinds):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    gan = TabGAN(**{**FAST, "classifier_weight": 0})
    summary = gan.fit(table, schema, seed=0, device="cpu", progress=False)
    assert set(summary["final_losses"]) == {"loss_d", "gp", "loss_g", "cond"}
    assert gan.sample(["rare", "no"], seed=0)["label"].tolist() == ["rare", "no"]
    with pytest.raises(AugmentError, match="classifier_weight must be at least 0"):
        TabGAN(classifier_weight=-1)


def test_the_classifier_learns_the_real_label_and_its_loss_reaches_the_generator():
    # The label is the city: a classifier that reads the other columns learns it at once.
    rng = np.random.default_rng(0)
    city = rng.choice(["Oslo", "Lima"], 400).astype(object)
    table = pd.DataFrame({"city": city, "label": np.where(city == "Oslo", "no", "yes")})
    schema = build_schema(table, "label", {"city": "categorical", "label": "categorical"}, [], {})
    # Conditions on the city only, so a classifier trained on the conditions would fail.
    config = TabGANConfig(**{**FAST, "batch_size": 100, "dropout": 0.0, "label_weight": 0.0})
    encoder = make_encoder(config).fit(table, schema)
    task = _TabGANTask(config, encoder.encode(table), encoder.layout(), steps=40)
    torch.manual_seed(0)
    task.build(torch.device("cpu"))
    for step in range(40):
        task.d_step(step)
    real = task.layout.dense(task.values, task.choices)
    labels = task.choices[:, task.layout.label_choice].long()
    assert (task.classifier(real).argmax(1) == labels).float().mean() > 0.95
    # The G-step's loss includes the classifier's: its gradient reaches the generator.
    gradient = _generator_gradients(task, step=0)
    assert torch.equal(gradient(0.5), gradient(0.5))
    assert not torch.allclose(gradient(0.0), gradient(10.0))


def test_the_g_step_leaves_the_critics_and_the_classifiers_gradients_alone(table, mixed_kinds):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    config = TabGANConfig(**FAST)
    encoder = make_encoder(config).fit(table, schema)
    task = _TabGANTask(config, encoder.encode(table), encoder.layout(), steps=4)
    torch.manual_seed(0)
    task.build(torch.device("cpu"))
    task.d_step(1)
    others = [*task.discriminator.parameters(), *task.classifier.parameters()]
    before = [p.grad.clone() for p in others]
    task.g_step(1)
    assert all(torch.equal(p.grad, g) for p, g in zip(others, before, strict=True))
    assert all(p.requires_grad for p in others)
    assert all(p.grad is not None for p in task.generator.parameters())


def _generator_gradients(task: _TabGANTask, step: int) -> Callable[[float], torch.Tensor]:
    """``gradient(weight)``: the generator head's gradient of one G-step at ``step`` from the
    task's current state, with ``classifier_weight=weight``."""
    start, config = copy.deepcopy(task.generator.state_dict()), task.cfg

    def gradient(weight: float) -> torch.Tensor:
        task.generator.load_state_dict(start)
        task.cfg, task._pending = dataclasses.replace(config, classifier_weight=weight), None
        torch.manual_seed(1)
        assert "classifier" in task.g_step(step)
        return task.generator.head.weight.grad.clone()

    return gradient


def test_the_classifier_freezes_after_classifier_steps(table, mixed_kinds):
    schema = build_schema(table, "label", mixed_kinds, [], {})
    config = TabGANConfig(**{**FAST, "classifier_steps": 3})
    encoder = make_encoder(config).fit(table, schema)
    task = _TabGANTask(config, encoder.encode(table), encoder.layout(), steps=6)
    torch.manual_seed(0)
    task.build(torch.device("cpu"))

    def run(step: int) -> dict[str, torch.Tensor]:
        before = copy.deepcopy(task.classifier.state_dict())
        task.d_step(step)
        losses = task.g_step(step)
        changed = any(
            not torch.equal(v, task.classifier.state_dict()[k]) for k, v in before.items()
        )
        assert changed == (step <= 3), step
        return losses

    for step in (1, 2, 3, 4):
        run(step)
    # Frozen: no gradient of its own, dropout still on, and its loss still reaches the generator.
    assert task.classifier.training
    assert all(p.grad is None and not p.requires_grad for p in task.classifier.parameters())
    gradient = _generator_gradients(task, step=5)
    assert not torch.allclose(gradient(0.0), gradient(10.0))
    with pytest.raises(AugmentError, match="classifier_steps must be at least 0"):
        TabGAN(classifier_steps=-1)


def test_under_torchrun_rank_0_sends_its_encoder_or_its_error(table, mixed_kinds, monkeypatch):
    """Rank 0 alone fits the encoder; the others get it, or rank 0's user error to raise."""
    sent: dict[str, list[bytes]] = {}

    def broadcast(payloads, context):  # rank 0's list reaches every rank
        if context.main:
            sent["payloads"] = payloads
        return list(sent["payloads"])

    monkeypatch.setattr(distributed, "broadcast_bytes", broadcast)
    cpu = torch.device("cpu")
    main, other = (distributed.Context(cpu, rank, 2, launched=True) for rank in (0, 1))
    schema = build_schema(table, "label", mixed_kinds, [], {})

    def refuse() -> None:
        raise AssertionError("rank 1 fitted an encoder")

    fitted_there = _shared_encoder(lambda: make_encoder(TabGANConfig()).fit(table, schema), main)
    received = _shared_encoder(refuse, other)
    assert received.to_dict() == fitted_there.to_dict()
    np.testing.assert_array_equal(received.encode(table).values, fitted_there.encode(table).values)

    def cannot() -> None:
        raise AugmentError("column 'income' cannot be encoded")

    for context, fit in ((main, cannot), (other, refuse)):
        with pytest.raises(AugmentError, match="column 'income' cannot be encoded"):
            _shared_encoder(fit, context)


def test_tabgan_samples_in_threads_at_once_only_on_the_cpu_at_the_callers_thread_count():
    assert TabGAN().samples_concurrently
    assert not TabGAN(threads=2).samples_concurrently  # it would set torch's count per call
