"""The command line as a user drives it: options over params.yaml, outputs, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from augment import __version__
from augment.cli import app

runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("augment: error: ")
    return lines[0]


@pytest.fixture
def workdir(small_table_workdir):
    """A folder with a prepared table (``prep``) and a tiny trained model (``model``), as after
    ingest + train on the command line (copies of the session's: conftest.py)."""
    return small_table_workdir


def test_version_and_help():
    assert __version__ in run("--version").output
    for command in ("ingest", "train", "generate", "evaluate"):
        assert "--params" in run(command, "--help").output


def test_ingest_reads_params_file_and_options_override(tmp_path, monkeypatch, small_csv):
    monkeypatch.chdir(tmp_path)
    params = {
        "ingest": {
            "source": small_csv,
            "label": "label",
            "out": "from_params",
            "test_size": 0.3,
            "kinds": {"age": "categorical"},
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run("ingest")
    schema = json.loads((tmp_path / "from_params" / "schema.json").read_text())
    assert schema["splits"]["test"] == 90
    assert {c["name"]: c["kind"] for c in schema["columns"]}["age"] == "categorical"
    run("ingest", "--out", "from_cli", "--test-size", "0.2", "--kind", "member=drop")
    schema = json.loads((tmp_path / "from_cli" / "schema.json").read_text())
    assert schema["splits"]["test"] == 60
    assert "member" not in [c["name"] for c in schema["columns"]]


def test_train_writes_a_safe_model(workdir):
    files = sorted(p.name for p in (workdir / "model").iterdir())
    assert files == [".augment-output.json", "config.json", "encoder.json", "weights.safetensors"]
    config = json.loads((workdir / "model" / "config.json").read_text())
    assert config["model"] == "tabgan" and config["hyperparameters"]["epochs"] == 2
    assert config["hyperparameters"]["batch_size"] == 100  # --batch-size, over the default


def test_generate_exact_counts_formats_and_determinism(workdir):
    run(
        "generate",
        "--model",
        "model",
        "--out",
        "a",
        "--count",
        "rare=40",
        "--count",
        "no=7",
        "--chunk-size",
        "16",
        "--seed",
        "3",
    )
    run(
        "generate",
        "--model",
        "model",
        "--out",
        "b",
        "--count",
        "rare=40",
        "--count",
        "no=7",
        "--chunk-size",
        "16",
        "--seed",
        "3",
    )
    a = pd.read_parquet(workdir / "a" / "synthetic.parquet")
    pd.testing.assert_frame_equal(a, pd.read_parquet(workdir / "b" / "synthetic.parquet"))
    assert a["label"].value_counts().to_dict() == {"rare": 40, "no": 7}
    summary = json.loads((workdir / "a" / "generation.json").read_text())
    assert summary["per_class"] == {"no": 7, "rare": 40, "yes": 0}

    run("generate", "--model", "model", "--out", "c", "--n", "90", "--balance", "--format", "csv")
    c = pd.read_csv(workdir / "c" / "synthetic.csv" / "part-00000.csv")  # one part
    assert len(c) == 90 and c["label"].value_counts().tolist() == [30, 30, 30]
    real = pd.read_parquet(workdir / "prep" / "train.parquet")
    assert list(c.columns) == list(real.columns)


def test_generate_default_mix_follows_the_real_labels(workdir):
    run("generate", "--model", "model", "--out", "d", "--n", "1000")
    counts = pd.read_parquet(workdir / "d" / "synthetic.parquet")["label"].value_counts()
    real = pd.read_parquet(workdir / "prep" / "train.parquet")["label"].value_counts(normalize=True)
    assert (counts / 1000 - real).abs().max() < 0.002  # exact up to rounding


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ingest", "--source", "missing.csv", "--label", "y"], "file not found: missing.csv"),
        (["ingest", "--source", "table.xlsx", "--label", "y"], "unsupported format"),
        (["ingest", "--source", "table.csv", "--label", "nope"], "label column 'nope' not found"),
        (["ingest", "--source", "one_class.csv", "--label", "y"], "single class"),
        (["ingest", "--source", "empty.csv", "--label", "y"], "is empty"),
        (["train", "--data", "nowhere"], "prepared data not found: nowhere"),
        (["train", "--data", "prep", "--model", "gpt"], "unknown model 'gpt'"),
        (["generate", "--model", "nowhere"], "model not found: nowhere"),
        (["ingest", "--params", "absent.yaml"], "params file not found: absent.yaml"),
    ],
)
def test_user_mistakes_are_one_line_errors(workdir, args, needle):
    (workdir / "table.xlsx").write_text("y\n1\n")
    (workdir / "table.csv").write_text("x,y\n1,a\n2,b\n")
    (workdir / "one_class.csv").write_text("x,y\n" + "".join(f"{i % 7},z\n" for i in range(30)))
    (workdir / "empty.csv").write_text("")
    line = error_line(run(*args, code=2))
    assert needle in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--bogus"], "No such option: --bogus"),
        (["trian"], "No such command 'trian'"),
        (["generate", "--n", "many"], "Invalid value for '--n'"),
        (["info"], "Missing argument 'model'"),
        (["generate", "--out"], "Option '--out' requires an argument"),
    ],
)
def test_usage_mistakes_are_one_line_errors(args, needle):
    """The command line's own errors too: one line, exit 2, not Typer's boxed usage panel."""
    line = error_line(run(*args, code=2))
    assert needle in line


def test_the_console_script_prints_usage_mistakes_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "augment", "train", "--bogus"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "augment: error: No such option: --bogus (Possible options: --out); "
        "see 'augment train --help'"
    ]
    bare = subprocess.run([sys.executable, "-m", "augment"], capture_output=True, text=True)
    assert bare.returncode == 2 and (bare.stdout + bare.stderr).count("Usage:") == 1  # its help


def test_unknown_class_and_bad_counts(workdir):
    line = error_line(run("generate", "--model", "model", "--count", "maybe=3", code=2))
    assert "requested class 'maybe' does not exist" in line and "'yes'" in line
    line = error_line(run("generate", "--model", "model", "--count", "yes=many", code=2))
    assert "whole number" in line
    line = error_line(run("generate", "--model", "model", "--format", "xml", code=2))
    assert "unsupported output format 'xml'" in line
    assert not (workdir / "synth").exists()  # nothing half-written


def test_sdv_model_without_the_extra_says_how_to_install(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "sdv", None)
    result = run("train", "--data", "prep", "--model", "sdv-ctgan", "--out", "m2", code=3)
    assert "pip install 'augment[sdv]'" in error_line(result)


@pytest.mark.slow
def test_evaluate_writes_metrics_plots_and_verdict(workdir):
    run(
        "evaluate",
        "--data",
        "prep",
        "--model",
        "model",
        "--seeds",
        "2",
        "--ratio",
        "1",
        "--fraction",
        "0.5",
        "--fraction",
        "1",
        "--classifier",
        "logreg",
        "--no-smote",
        "--set",
        "sweep_hyperparameters={epochs: 1, min_steps: 0}",
        "--metrics",
        "m/tab.json",
        "--plots",
        "p",
        "--report",
        "r/summary.md",
        "--device",
        "cpu",
    )
    metrics = json.loads((workdir / "m" / "tab.json").read_text())
    assert "real+synth@1.0" in metrics["gain"] and "fidelity" in metrics
    summary = (workdir / "r" / "summary.md").read_text()
    # the verdict first: whether synthetic data helps, then the best mix's gain
    assert re.search(r": real \+ (1× synthetic|synthetic to balance): macro-F1 ", summary)
    assert (workdir / "p" / "gain_vs_ratio.csv").is_file()
    assert (workdir / "p" / "gain_vs_fraction.csv").is_file()


@pytest.mark.slow
def test_evaluate_in_two_jobs_writes_the_metrics_of_one_job(workdir):
    common = ["evaluate", "--data", "prep", "--model", "model", "--seeds", "2", "--ratio", "1"]
    common += ["--fraction", "1", "--set", "classifier_params={hgb: {max_iter: 10}}"]
    written = []
    for jobs in ("1", "2"):
        out = workdir / f"jobs{jobs}"
        run(*common, "--jobs", jobs, "--metrics", f"{out}/m.json", "--plots", f"{out}/p",
            "--report", f"{out}/s.md", "--device", "cpu")  # fmt: skip
        metrics = json.loads((out / "m.json").read_text())
        assert metrics.pop("timings")["classifiers_s"] > 0
        written.append(metrics)
    assert written[0] == written[1]
    assert written[0]["blocks"][0]["scores"]["real+smote"]["logreg"]["macro_f1"]


def test_evaluate_on_dask_without_the_extra_says_how_to_install(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    args = ["evaluate", "--data", "prep", "--model", "model", "--backend", "dask"]
    result = run(*args, "--scheduler", "tcp://127.0.0.1:8786", code=3)
    assert "pip install 'augment[dask]'" in error_line(result)
    line = error_line(run(*args, code=2))
    assert "backend 'dask' needs the scheduler's address" in line
    assert not (workdir / "metrics").exists()  # nothing half-written


def test_evaluate_refuses_another_tables_data_before_any_fit(workdir, monkeypatch):
    """A model evaluated on a table it was not trained on: before, its sweep GANs trained for a
    while, then 'unknown label' from deep inside, and a multiprocessing warning after it."""
    import augment.steps.evaluate

    (workdir / "other.csv").write_text(
        "a,kind\n" + "".join(f"{i % 5},{'uvw'[i % 3]}\n" for i in range(60))
    )
    run("ingest", "--source", "other.csv", "--label", "kind", "--out", "other")
    monkeypatch.setattr(augment.steps.evaluate, "evaluate_tabular", _never)
    line = error_line(run("evaluate", "--data", "other", "--model", "model", code=2))
    assert line.startswith("augment: error: other does not match the model: its classes are")
    assert line.endswith("(evaluate a model with its own data)")


def _never(*args, **kwargs):
    raise AssertionError("the evaluation started")


def test_info_summarises_a_model_and_rejects_a_non_model(workdir):
    shown = run("info", "model").output
    assert "tabgan" in shown and "label 'label'" in shown and "epochs=2" in shown
    assert error_line(run("info", "prep", code=2)) == (
        "augment: error: prep holds prepared data, not a model: pass a folder `augment train` wrote"
    )
    (workdir / "empty").mkdir()
    assert "model config not found: empty/config.json" in error_line(run("info", "empty", code=2))


def test_a_model_passed_as_data_and_data_as_a_model_say_which_is_which(workdir):
    line = error_line(run("train", "--data", "model", "--out", "again", code=2))
    assert line == (
        "augment: error: model holds a model, not prepared data: pass a folder `augment ingest`"
        " wrote"
    )
    assert not (workdir / "again").exists()
    line = error_line(run("generate", "--model", "prep", "--n", "5", "--out", "synth", code=2))
    assert "prep holds prepared data, not a model" in line
    assert not (workdir / "synth").exists()
