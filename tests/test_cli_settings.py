"""One definition of each stage's settings: the same defaults for the CLI and the Python API,
one train section for tables and images, and wrong values as one line naming key and value."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from augment.cli import app
from augment.errors import AugmentError
from augment.settings import (
    EvaluateSettings,
    GenerateSettings,
    IngestSettings,
    TrainSettings,
    load_params,
    parse_assignments,
)
from augment.steps.evaluate import evaluate
from augment.steps.generate import generate
from augment.steps.ingest import ingest
from augment.steps.train import train
from augment.tabular.ingest import DEFAULT_MISSING_VALUES, ingest_table

ROOT = Path(__file__).resolve().parents[1]
# A one-epoch TabGAN fit without the step floor: the tests need a model, not a good one.
ONE_EPOCH = ["--epochs", "1", "--batch-size", "100", "--set", "min_steps=0", "--device", "cpu"]
runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, ["--quiet", *args])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("augment: error: ")
    return lines[0].removeprefix("augment: error: ")


@pytest.mark.parametrize(
    ("step", "settings"),
    [(ingest, IngestSettings), (train, TrainSettings), (generate, GenerateSettings),
     (evaluate, EvaluateSettings)],
)  # fmt: skip
def test_step_functions_take_their_defaults_from_the_settings(step, settings):
    parameters = inspect.signature(step).parameters
    for name, default in dataclasses.asdict(settings()).items():
        parameter = parameters.get(name)
        if parameter is not None and parameter.default not in (None, inspect.Parameter.empty):
            assert parameter.default == default, f"{step.__name__}({name}=...)"


def test_the_ingest_settings_are_what_the_table_reader_does_by_default():
    parameters = inspect.signature(ingest_table).parameters
    defaults = IngestSettings()
    assert defaults.missing_values == DEFAULT_MISSING_VALUES
    for name in ("test_size", "validation_size", "seed", "categorical_threshold", "max_categories"):
        assert parameters[name].default == getattr(defaults, name), name


def test_help_shows_the_defaults_of_the_settings():
    assert "synth/tabular" in run("generate", "--help").output
    assert str(IngestSettings().test_size) in run("ingest", "--help").output


@pytest.fixture
def repo_folder(tmp_path, monkeypatch):
    """An empty folder with the repository's params.yaml, as a fresh clone's root."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_readme_image_commands_run_beside_the_repositorys_params(repo_folder):
    """The top-level sections serve images too: model auto, only imagegan's hyper-parameters,
    only the image evaluation settings (the tabular ones in evaluate.tabular stay out)."""
    run("ingest", "--source", "digits", "--out", "data/photos", "--per-class", "10")
    run("train", "--data", "data/photos", "--out", "models/photos", "--steps", "4",
        "--snapshots", "plots/photos_training", "--device", "cpu")  # fmt: skip
    config = json.loads((repo_folder / "models" / "photos" / "config.json").read_text())
    assert config["model"] == "imagegan" and config["hyperparameters"]["steps"] == 4
    run("generate", "--model", "models/photos", "--n", "20", "--out", "synth/photos")
    assert len(list((repo_folder / "synth" / "photos").rglob("*.png"))) == 20
    run("evaluate", "--data", "data/photos", "--model", "models/photos", "--seeds", "2",
        "--ratio", "1", "--set", "per_class=[]", "--set", "steps=3", "--set",
        "fidelity_images=20", "--set", "pretrain_steps=3", "--metrics", "m.json", "--plots", "p",
        "--report", "r.md", "--device", "cpu")  # fmt: skip
    assert json.loads((repo_folder / "m.json").read_text())


def test_one_train_section_serves_tables_and_images(tmp_path, monkeypatch, small_csv):
    monkeypatch.chdir(tmp_path)
    params = {
        "train": {
            "device": "cpu",
            "tabgan": {"epochs": 2, "batch_size": 100, "min_steps": 0},
            "imagegan": {"steps": 3, "batch_size": 16},
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run("ingest", "--source", small_csv, "--label", "label", "--out", "table")
    run("ingest", "--source", "digits", "--out", "images", "--per-class", "5")
    run("train", "--data", "table", "--out", "table_model")
    run("train", "--data", "images", "--out", "image_model")
    run("train", "--data", "table", "--out", "flat_wins", "--epochs", "1", "--set", "min_steps=0")
    run("train", "--data", "table", "--out", "dotted", "--set", "tabgan.epochs=1")
    hyper = {
        name: json.loads((tmp_path / name / "config.json").read_text())["hyperparameters"]
        for name in ("table_model", "image_model", "flat_wins", "dotted")
    }
    assert (hyper["table_model"]["epochs"], hyper["table_model"]["batch_size"]) == (2, 100)
    assert (hyper["image_model"]["steps"], hyper["image_model"]["batch_size"]) == (3, 16)
    assert (hyper["flat_wins"]["epochs"], hyper["flat_wins"]["batch_size"]) == (1, 100)
    assert (hyper["dotted"]["epochs"], hyper["dotted"]["batch_size"]) == (1, 100)


def test_a_dotted_set_key_names_one_entry_of_a_sub_section(tmp_path):
    """``--set tabular.fractions=[1.0]`` as params.yaml nests it (and ``dvc exp run -S``
    spells it); the sub-section's other entries stay."""
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump({
        "train": {"tabgan": {"epochs": 150, "batch_size": 500}},
        "evaluate": {"seeds": 5, "tabular": {"ratios": [0.5, 1.0], "smote": False}},
    }))  # fmt: skip
    params = load_params(file)
    train_settings = TrainSettings.resolve(params, {}, {"tabgan.epochs": 50, "lr_g": 1e-4})
    assert train_settings.hyperparameters == {
        "tabgan": {"epochs": 50, "batch_size": 500},
        "lr_g": 1e-4,
    }
    sets = {"tabular.ratios": [2.0], "tabular.fractions": [1.0], "image.per_class": [10]}
    evaluate_settings = EvaluateSettings.resolve(params, {}, sets).arguments()
    assert evaluate_settings["tabular"] == {"ratios": [2.0], "smote": False, "fractions": [1.0]}
    assert evaluate_settings["image"] == {"per_class": [10]}
    with pytest.raises(AugmentError, match=r"--set seeds.x: seeds is 5, not a section"):
        EvaluateSettings.resolve(params, {}, {"seeds.x": 1})
    with pytest.raises(AugmentError, match=r"--set expects KEY=VALUE with a key like a.b"):
        TrainSettings.resolve(params, {}, {"tabgan.": 1})


@pytest.mark.parametrize(
    ("params", "args", "expected"),
    [
        ({"ingest": {"test_size": "abc"}}, ["ingest"],
         "params.yaml: ingest.test_size must be a number, got 'abc'"),
        ({"digits": {"ingest": {"seed": 1.5}}}, ["ingest", "--pipeline", "digits"],
         "params.yaml: digits.ingest.seed must be a whole number, got 1.5"),
        ({"ingest": {"kinds": ["age"]}}, ["ingest"],
         "params.yaml: ingest.kinds must be a mapping of strings to strings, got ['age']"),
        ({"ingest": {"sorce": "adult"}}, ["ingest"],
         "params.yaml: unknown ingest setting 'sorce'; known: source, label"),
        ({"train": {"seed": "first"}}, ["train"],
         "params.yaml: train.seed must be a whole number, got 'first'"),
        ({}, ["train", "--set", "fidelity_every=often"],
         "--set: train.fidelity_every must be a whole number, got 'often'"),
        ({"generate": {"n": "lots"}}, ["generate"],
         "params.yaml: generate.n must be a whole number or null, got 'lots'"),
        ({"generate": {"counts": {"yes": "many"}}}, ["generate"],
         "params.yaml: generate.counts.yes must be a whole number, got 'many'"),
        ({}, ["generate", "--count", "yes=many"],
         "generate.counts.yes must be a whole number, got 'many'"),
        ({"evaluate": {"dvclive": 3}}, ["evaluate"],
         "params.yaml: evaluate.dvclive must be a path or null, got 3"),
        ({"evaluate": "all"}, ["evaluate"], "params.yaml: section evaluate must be a mapping"),
    ],
)  # fmt: skip
def test_wrong_settings_are_one_line_naming_key_and_value(
    tmp_path, monkeypatch, params, args, expected
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert error_line(run(*args, code=2)).startswith(expected)


@pytest.mark.parametrize(
    ("params", "args", "expected"),
    [
        ({"train": {"tabgan": {"epochs": "many"}}}, [],
         "tabgan hyper-parameters: epochs must be a whole number, got 'many'"),
        ({}, ["--set", "lr_g=fast"],
         "tabgan hyper-parameters: lr_g must be a number, got 'fast'"),
        ({}, ["--set", "betas=[0.5]"],
         "tabgan hyper-parameters: betas must be a list of 2 numbers, got [0.5]"),
        ({"train": {"tabgan": 5}}, [], "train.tabgan must be a mapping"),
        ({"evaluate": {"tabular": {"seeds": "x"}}}, ["evaluate"],
         "evaluate.tabular.seeds must be a whole number, got 'x'"),
        ({}, ["evaluate", "--set", "ratios=1"],
         "evaluate.ratios must be a list of numbers, got 1"),
    ],
)  # fmt: skip
def test_wrong_model_and_evaluation_settings_name_key_and_value(
    tmp_path, monkeypatch, small_csv, params, args, expected
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run("ingest", "--source", small_csv, "--label", "label")
    if args[:1] == ["evaluate"]:
        run("train", *ONE_EPOCH)
        command = args
    else:
        command = ["train", "--device", "cpu", *args]
    assert error_line(run(*command, code=2)).startswith(expected)


def test_yaml_1e_minus_4_is_a_number(tmp_path, monkeypatch, small_csv):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; the setting's type makes it a number."""
    monkeypatch.chdir(tmp_path)
    run("ingest", "--source", small_csv, "--label", "label")
    run("train", *ONE_EPOCH, "--set", "lr_g=1e-4")
    config = json.loads((tmp_path / "models" / "tabular" / "config.json").read_text())
    assert config["hyperparameters"]["lr_g"] == pytest.approx(1e-4)


def test_assignments_split_where_the_key_may_hold_an_equals_sign():
    counts = parse_assignments(["<=50K=2000", ">50K=5"], "--count", last=True)
    assert counts == {"<=50K": 2000, ">50K": 5}
    assert parse_assignments(["kinds={a: b}", "x=a=b"], "--set") == {
        "kinds": {"a": "b"},
        "x": "a=b",
    }


def test_python_api_checks_types_too(tmp_path):
    with pytest.raises(Exception, match=r"ingest.test_size must be a number, got 'abc'"):
        ingest("digits", out=tmp_path / "d", test_size="abc", progress=False)
