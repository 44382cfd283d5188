"""The four commands on an image dataset, as a user types them: same commands as for tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from augment.cli import app

runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, ["--quiet", *args])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    assert lines[0].startswith("augment: error: ")
    return lines[0]


@pytest.fixture
def image_folder(tmp_path):
    """An ImageFolder with 3 classes of 12 RGB PNGs: dark, mid-grey and bright squares."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for level, name in ((30, "dark"), (128, "mid"), (220, "bright")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(level + rng.integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_image_folder_through_all_four_commands(tmp_path, monkeypatch, image_folder):
    monkeypatch.chdir(tmp_path)
    run("ingest", "--source", str(image_folder), "--size", "8", "--out", "prep")
    schema = json.loads((tmp_path / "prep" / "schema.json").read_text())
    assert schema["modality"] == "image" and schema["classes"] == ["bright", "dark", "mid"]
    assert (schema["size"], schema["channels"]) == (8, 3)

    run("train", "--data", "prep", "--out", "model", "--steps", "3", "--batch-size", "8",
        "--device", "cpu", "--snapshots", "grids", "--set", "snapshot_every=2")  # fmt: skip
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model"] == "imagegan"
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == [
        "step_000002.png",
        "step_000003.png",
    ]

    shown = run("info", "model").output
    assert "imagegan" in shown and "8x8 px" in shown and "bright=" in shown
    # The budget: steps given on the command line, width and EMA chosen for the data and device.
    assert "steps=3 (given), channels=8 (auto)" in shown and "images of 8 px on cpu" in shown
    assert json.loads(run("info", "model", "--json").output)["data"]["modality"] == "image"

    run("generate", "--model", "model", "--n", "9", "--out", "synth", "--balance")
    assert json.loads((tmp_path / "synth" / "classes.json").read_text()) == schema["classes"]
    for name in schema["classes"]:
        assert len(list((tmp_path / "synth" / name).glob("*.png"))) == 3

    run("evaluate", "--data", "prep", "--model", "model", "--seeds", "2", "--ratio", "1",
        "--set", "per_class=[]", "--set", "steps=5", "--set", "epochs=null",
        "--set", "fidelity_images=20", "--set", "pretrain_steps=5",
        "--metrics", "m.json", "--plots", "p", "--report", "r.md", "--device", "cpu")  # fmt: skip
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics  # the numbers dvc metrics show reads
    assert (tmp_path / "p" / "samples.png").is_file()
    assert "synthetic" in (tmp_path / "r.md").read_text().splitlines()[0]

    run("report", "--data", "prep", "--metrics", "m.json", "--plots", "p", "--summary", "r.md",
        "--synthetic", "synth", "--out", "page.html")  # fmt: skip
    page = (tmp_path / "page.html").read_text()
    first_verdict_words = (tmp_path / "r.md").read_text().split(":")[0]
    assert first_verdict_words in page and "data:image/png;base64," in page


def test_pipeline_block_of_params(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"ingest": {"source": "adult"}, "imgs": {"ingest": {"source": "digits", "out": "d"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run("ingest", "--pipeline", "imgs", "--per-class", "5")
    schema = json.loads((tmp_path / "d" / "schema.json").read_text())
    assert schema["class_counts"] == [5] * 10 and schema["size"] == 8
    line = error_line(run("ingest", "--pipeline", "nope", code=2))
    assert "no pipeline 'nope'" in line and "imgs" in line


def test_image_user_errors_are_one_line(tmp_path, monkeypatch, image_folder):
    monkeypatch.chdir(tmp_path)
    assert "size" in error_line(
        run("ingest", "--source", str(image_folder), "--size", "100", "--out", "p", code=2)
    )
    run("ingest", "--source", str(image_folder), "--size", "8", "--out", "prep")
    line = error_line(run("train", "--data", "prep", "--model", "tabgan", code=2))
    assert "cannot train on images" in line
    line = error_line(run("train", "--data", "prep", "--epochs", "3", code=2))
    assert "epochs" in line and "steps" in line
    run("train", "--data", "prep", "--out", "img_model", "--steps", "2", "--device", "cpu")
    line = error_line(run("evaluate", "--data", "prep", "--model", "img_model",
                          "--set", "fractions=[0.1]", code=2))  # fmt: skip
    assert "'fractions' does not apply to images" in line and "evaluate.image" in line
    (tmp_path / "tab.csv").write_text(
        "a,y\n" + "".join(f"{i % 4},{'ab'[i % 2]}\n" for i in range(40))
    )
    run("ingest", "--source", "tab.csv", "--label", "y", "--out", "tab")
    line = error_line(run("evaluate", "--data", "tab", "--model", "img_model", code=2))
    assert "img_model was trained on images but tab holds tables" in line
    missing = tmp_path / "nowhere"
    assert "nowhere" in error_line(run("ingest", "--source", f"{missing}.npz", code=2))
