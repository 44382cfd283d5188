"""One end-to-end `dvc repro` of the repository's own dvc.yaml, with tiny params, in a temp repo."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from importgraph import command_modules, module_files
from readme_support import merge

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "ingest": {"source": "table.csv", "label": "label"},
    "train": {
        "device": "cpu",
        "fidelity_every": 3,
        "tabgan": {"epochs": 2, "batch_size": 100, "min_steps": 0},
    },
    "generate": {"n": 200},
    "evaluate": {
        "seeds": 2,
        "device": "cpu",
        "tabular": {
            "ratios": [1.0],
            "fractions": [0.5, 1.0],
            "classifiers": ["logreg"],
            "smote": True,
            "sweep_hyperparameters": {"epochs": 1, "min_steps": 0},
        },
    },
}
TINY_DIGITS = {
    "train": {
        "device": "cpu",
        "fidelity_every": 10,
        "imagegan": {"steps": 20, "batch_size": 32, "snapshot_every": 10},
    },
    "generate": {"n": 50},
    "evaluate": {
        "seeds": 2,
        "device": "cpu",
        "image": {
            "ratios": [1.0],
            "per_class": [5],
            "steps": 20,
            "epochs": None,  # every fit its 20 steps, stopped early or not
            "fidelity_images": 100,
            "sweep_hyperparameters": {"steps": 10},
            "pretrain_steps": 10,
            "pretrain_images": 100,
        },
    },
}


def command_files(command: str) -> set[str]:
    return module_files(command_modules(command))


def out_of_date(repo: Path) -> set[str]:
    """The stages `dvc status` reports as changed."""
    return set(json.loads(sh(sys.executable, "-m", "dvc", "status", "--json", cwd=repo)))


@contextmanager
def edited(path: Path, change: Callable[[str], str]) -> Iterator[None]:
    original = path.read_text()
    path.write_text(change(original))
    try:
        yield
    finally:
        path.write_text(original)


def sh(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_dvc_repro_runs_the_default_pipeline(tmp_path, small_table):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    # The stages depend on the package's code; a copy gives them something to hash.
    shutil.copytree(
        ROOT / "augment", repo / "augment", ignore=shutil.ignore_patterns("__pycache__")
    )
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    merge(params, TINY)
    merge(params["digits"], TINY_DIGITS)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    small_table.to_csv(repo / "table.csv", index=False)

    dvc = (sys.executable, "-m", "dvc")
    sh("git", "init", "-q", cwd=repo)
    sh(*dvc, "init", "-q", cwd=repo)
    sh(*dvc, "config", "core.analytics", "false", cwd=repo)
    sh(*dvc, "repro", cwd=repo)

    summary = (repo / "reports" / "summary.md").read_text()
    # the verdict first: whether synthetic data helps, then the best mix's gain
    first = summary.splitlines()[0]
    assert re.search(r": real \+ (1× synthetic|synthetic to balance): macro-F1 ", first)
    assert (repo / "synth" / "tabular" / "synthetic.parquet" / "part-00000.parquet").is_file()
    # The image pipeline on the built-in digits ran beside it.
    for page in ("summary.html", "images.html"):  # the report stages, last in each pipeline
        html = (repo / "reports" / page).read_text()
        assert "<img" in html and "http://" not in html and "https://" not in html
    images_summary = (repo / "reports" / "images.md").read_text()
    assert "synthetic" in images_summary.splitlines()[0]
    classes = json.loads((repo / "synth" / "digits" / "classes.json").read_text())
    assert classes == [str(d) for d in range(10)]
    assert len((repo / "synth" / "digits" / "manifest.csv").read_text().splitlines()) == 51
    assert sorted(p.name for p in (repo / "plots" / "digits_training").iterdir())[-1].endswith(
        "000020.png"
    )
    metrics = json.loads(sh(*dvc, "metrics", "show", "--json", cwd=repo))
    assert "metrics/tabular.json" in json.dumps(metrics)
    assert "metrics/images.json" in json.dumps(metrics)
    sh(*dvc, "plots", "show", "-o", "dvc_plots", cwd=repo)
    html = (repo / "dvc_plots" / "index.html").read_text()
    assert "gain vs real images per class" in html and "samples.png" in html
    assert "training curves (digits" in html and "training curves (tabular" in html
    curves = json.loads((repo / "dvclive" / "digits_train" / "metrics.json").read_text())
    assert curves["step"] == 20 and curves["pixel_fd"] > 0
    # A second repro finds every stage up to date: the pipeline is deterministic in its inputs.
    assert "up to date" in sh(*dvc, "repro", cwd=repo).lower()
    assert out_of_date(repo) == set()

    # Editing a module puts exactly the stages whose command imports it out of date; editing a
    # parameter, exactly the stages that read it (one key at a time, not whole sections).
    commands = {
        name: shlex.split(stage["cmd"])[1]
        for name, stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].items()
    }
    for module in ("augment/reporting/html.py", "augment/images/gan.py", "augment/steps/ingest.py"):
        expected = {name for name, cmd in commands.items() if module in command_files(cmd)}
        with edited(repo / module, lambda text: text + "\n# edited\n"):
            assert out_of_date(repo) == expected, module
    assert {"report", "train", "digits_evaluate"} <= {
        name for name, cmd in commands.items() if "augment/images/gan.py" in command_files(cmd)
    }  # the module edits above reach several stages, not none
    for key, stage in (("seeds: 2", "evaluate"), ("n: 50", "digits_generate")):
        with edited(repo / "params.yaml", lambda text, key=key: text.replace(key, key + "1", 1)):
            assert out_of_date(repo) == {stage}, key
    assert out_of_date(repo) == set()

    # An experiment with another parameter value, as a user would run one (one that re-runs
    # few stages: the README's experiments, in test_readme_dvc, retrain the GANs).
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base", cwd=repo)
    sh(*dvc, "exp", "run", "-S", "generate.n=150", cwd=repo)
    shown = json.dumps(json.loads(sh(*dvc, "exp", "show", "--json", cwd=repo)))
    assert '"n": 150' in shown and '"n": 200' in shown  # the experiment's and the base's
