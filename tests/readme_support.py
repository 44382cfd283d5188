"""Running README.md's code blocks as a reader would, from a fresh clone's root (shared by
``test_readme.py`` and ``test_readme_dvc.py``).

The repository's files (tracked, and untracked ones git does not ignore) are copied into a new
git repository: a fresh clone. Its ``bash`` and ``python`` blocks then run there in README
order, each a new process, so a block may use what an earlier one wrote, as a reader would.
The blocks that call ``dvc`` (the default pipelines and their experiments) run in one clone,
the others (single commands and the Python API) in another, so the two halves run side by
side under pytest-xdist; the second half shows too that the commands need no ``dvc repro``
first. Only what a reader brings is added, or what makes the run short:

- the reader's own files the README names: ``my.csv`` and ``my.parquet`` (label ``churn``),
  ``photos/`` (an image folder), ``unsorted/`` (images without classes), ``arrays.npz``, and
  MNIST IDX files in ``../shared/datasets/mnist`` beside the clone;
- small budgets: the clone's params.yaml gets tiny evaluation and training settings, its
  built-in Adult copy is cut to 2,000 + 800 rows, and a ``sitecustomize`` hook stops every GAN
  after a few steps and every evaluation after two seeds, whatever a block asks for;
- ``python3 -m pip install ...`` and ``python3 -m pytest`` are left out: the environment is
  installed, and these tests are part of that suite.

``yaml`` blocks that begin with ``# params.yaml`` or ``# dvc.yaml`` are a project of one's own:
they are written to a new folder with the data they name and ``dvc repro`` runs it. Other
``yaml`` blocks show settings: each must be valid for the settings' definitions, model
hyper-parameters and evaluation options included. ``text`` blocks are not code, except
the commands for machines this test does not have (a cluster): in a ``text`` block that begins
with a ``#`` comment, every ``torchrun`` or ``augment`` line must parse, for ``torchrun``'s own
arguments and for ``augment``'s.
"""

from __future__ import annotations

import gzip
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from torch.distributed.run import get_args_parser as torchrun_arguments
from typer.main import get_command

from augment.cli import app
from augment.images.evaluation.runner import evaluate_images
from augment.registry import MODELS, make_synthesizer
from augment.settings import (
    EvaluateSettings,
    GenerateSettings,
    IngestSettings,
    Params,
    TrainSettings,
)
from augment.steps.evaluate import evaluation_options
from augment.steps.train import model_hyperparameters
from augment.tabular.evaluation.runner import evaluate_tabular

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = {"bash", "python", "yaml", "text"}
GAN_STEPS = 3  # the most steps any GAN trains for here
EVALUATION_SEEDS = 2  # the most seeds any evaluation repeats its recipes for here
# A few CNN steps per image fit, pretraining included.
TINY_IMAGE_EVALUATION = {
    "per_class": [5],
    "steps": 10,
    "epochs": None,
    "fidelity_images": 50,
    "pretrain_steps": 10,
    "pretrain_images": 100,
}
# One job: for fits this small, starting a pool of worker processes costs more CPU than the fits
# (the blocks that pass --jobs or --backend still get theirs).
TINY_PARAMS = {
    "train": {"device": "cpu", "sdv-ctgan": {"epochs": 1}},
    "generate": {"n": 500},
    "evaluate": {
        "device": "cpu",
        "seeds": 2,
        "jobs": 1,
        "tabular": {"ratios": [1.0], "fractions": [0.5, 1.0], "fidelity_rows": 500},
        "image": TINY_IMAGE_EVALUATION,
    },
}
TINY_DIGITS = {
    "ingest": {"per_class": 20},
    "train": {"device": "cpu", "fidelity_every": 2, "imagegan": {"snapshot_every": 2}},
    "generate": {"n": 50},
    "evaluate": {
        "device": "cpu",
        "seeds": 2,
        "jobs": 1,
        "image": {"ratios": [1.0], **TINY_IMAGE_EVALUATION},
    },
}
# Every GAN stops after GAN_STEPS steps and every evaluation repeats its recipes for at most
# EVALUATION_SEEDS seeds, whatever the settings say (imported by each process).
SITECUSTOMIZE = f"""
import augment.core.models as models
import augment.core.validate as validate

_checked_config = models.checked_config


def checked_config(config_class, model, hyperparameters, *args, **kwargs):
    config = _checked_config(config_class, model, hyperparameters, *args, **kwargs)
    if hasattr(config, "max_steps"):
        config.max_steps = min(config.max_steps or {GAN_STEPS}, {GAN_STEPS})
    if hasattr(config, "steps"):
        config.steps = min(config.steps or {GAN_STEPS}, {GAN_STEPS})  # None: budget by data
    return config


models.checked_config = checked_config
_check_values = validate.check_values


def check_values(values, hints, where, *args, **kwargs):
    checked = _check_values(values, hints, where, *args, **kwargs)
    if where.startswith("evaluate") and "seeds" in checked:  # evaluate's own settings
        checked["seeds"] = min(checked["seeds"], {EVALUATION_SEEDS})
    return checked


validate.check_values = check_values
"""
# The README's `train_classifier` stage: a reader's script that reads real and synthetic rows.
TRAIN_PY = """
import argparse

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--real")
parser.add_argument("--synthetic")
args = parser.parse_args()
real, synthetic = pd.read_parquet(args.real), pd.read_parquet(args.synthetic)
assert set(synthetic.columns) <= set(real.columns) and len(synthetic) > 0
"""
SKIPPED = re.compile(r"^\s*python3 -m (pip install|pytest)\b")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block, in order."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)
    return [(language, code) for language, code in blocks]


def runnable(code: str) -> str:
    """A bash block without the install and test-suite commands (see the module docstring)."""
    lines = []
    for line in code.replace("\\\n", " ").splitlines():
        kept = [part for part in line.split("&&") if not SKIPPED.match(part)]
        lines.append("&&".join(kept) if kept and kept[0].strip() else "")
    return "\n".join(lines) + "\n"


def run(args: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (
        f"README {what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


def merge(base: dict, changes: dict) -> None:
    """``changes`` written into ``base`` (params.yaml's), sub-sections key by key."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def fresh_clone(tmp: Path) -> Path:
    """The repository's files, untracked ones git does not ignore included, as a new repo."""
    clone = tmp / "augment"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    return clone


def small_budgets(clone: Path) -> None:
    params = yaml.safe_load((clone / "params.yaml").read_text())
    merge(params, TINY_PARAMS)
    merge(params["digits"], TINY_DIGITS)
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    adult = clone / "augment" / "datasets" / "adult"
    for name, rows in (("adult.data.gz", 2000), ("adult.test.gz", 801)):  # test: 1 header line
        lines = gzip.decompress((adult / name).read_bytes()).splitlines(keepends=True)
        (adult / name).write_bytes(gzip.compress(b"".join(lines[:rows])))


def readers_files(clone: Path) -> None:
    """The files a reader brings, as the README names them."""
    rng = np.random.default_rng(0)
    n = 2000
    plan = rng.choice(["basic", "plus", "pro"], n)
    monthly = np.round(rng.gamma(4, 10, n) + (plan == "pro") * 20, 2)
    churn = np.where(rng.random(n) < 0.15 + 0.2 * (plan == "basic"), "yes", "no")
    table = pd.DataFrame(
        {
            "user_id": np.arange(10_000, 10_000 + n),
            "age": rng.integers(18, 80, n),
            "plan": plan,
            "monthly": monthly,
            "churn": churn,
        }
    )
    table.to_csv(clone / "my.csv", index=False)
    table.to_parquet(clone / "my.parquet", index=False)
    for level, name in ((40, "dark"), (128, "grey"), (215, "bright")):
        (clone / "photos" / name).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(level + rng.integers(-30, 30, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(clone / "photos" / name / f"{i}.png")
    (clone / "unsorted" / "batch1").mkdir(parents=True)
    for i in range(40):
        pixels = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(clone / "unsorted" / "batch1" / f"{i}.jpg")
    x = rng.integers(0, 256, (120, 12, 12)).astype(np.uint8)
    np.savez(clone / "arrays.npz", x=x, y=np.arange(120) % 4)
    mnist = clone.parent / "shared" / "datasets" / "mnist"
    mnist.mkdir(parents=True)
    for prefix, count in (("train", 1000), ("t10k", 200)):
        images = rng.integers(0, 256, (count, 28, 28)).astype(np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        for kind, array, magic in (("images-idx3", images, 0x803), ("labels-idx1", labels, 0x801)):
            head = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
            (mnist / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + array.tobytes()))


def check_settings_example(code: str) -> None:
    """A settings example is valid: stage fields, model sub-sections, evaluation options."""
    params = Params(yaml.safe_load(code), "README.md")
    for stage in (IngestSettings, GenerateSettings):
        stage.resolve(params)
    train = TrainSettings.resolve(params)
    for name in set(train.hyperparameters) & set(MODELS):
        make_synthesizer(name, model_hyperparameters(name, train.hyperparameters))
    evaluate = EvaluateSettings.resolve(params)
    evaluation_options(evaluate.options, "tabular", evaluate_tabular)
    evaluation_options(evaluate.options, "image", evaluate_images)


def check_cluster_launch(code: str) -> int:
    """Each ``torchrun ... -m augment ...`` or ``augment ...`` line of a text block parses;
    returns how many."""
    checked = 0
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if "torchrun" in words:
            launch = torchrun_arguments().parse_args(words[words.index("torchrun") + 1 :])
            assert launch.module and launch.training_script == "augment", line
            words = ["augment", *launch.training_script_args]
        if words[:1] != ["augment"]:
            continue
        command, *rest = words[1:]
        get_command(app).commands[command].make_context(command, rest)
        checked += 1
    return checked


def own_project(tmp: Path, blocks: dict[str, str], env: dict[str, str]) -> None:
    """The README's params.yaml and dvc.yaml for a project of one's own, run with dvc repro."""
    project = tmp / "own"
    (project / "data").mkdir(parents=True)
    for name, text in blocks.items():
        (project / name).write_text(text)
    pd.read_csv(tmp / "augment" / "my.csv").to_parquet(project / "data" / "features.parquet")
    (project / "train.py").write_text(TRAIN_PY)
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        run(args, project, env, "own project set-up")
    run([sys.executable, "-m", "dvc", "repro"], project, env, "own project's dvc.yaml")


def readme_blocks() -> list[tuple[str, str]]:
    blocks = code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert {language for language, _ in blocks} <= LANGUAGES, "a block without a known language"
    return blocks


def calls_dvc(code: str) -> bool:
    """A bash block with a ``dvc`` command (after the install and test commands are left out)."""
    return any(re.match(r"\s*dvc\b", line) for line in runnable(code).splitlines())


def reader_clone(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A fresh clone with small budgets and the reader's files, and the environment to run its
    blocks in."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = fresh_clone(tmp)
    small_budgets(clone)
    readers_files(clone)
    hooks = tmp / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{clone}{os.pathsep}{hooks}",
        "GIT_AUTHOR_NAME": "reader",
        "GIT_AUTHOR_EMAIL": "reader@example.com",
        "GIT_COMMITTER_NAME": "reader",
        "GIT_COMMITTER_EMAIL": "reader@example.com",
    }
    for args in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        run(args, clone, env, "clone set-up")
    return clone, env


def run_block(index: int, language: str, code: str, clone: Path, env: dict[str, str]) -> None:
    """Block ``index`` (0-based) of the README, a ``bash`` or ``python`` one, in a new process."""
    what = f"block {index + 1} ({language}):\n{code}"
    script = clone.parent / f"block{index + 1}.{'sh' if language == 'bash' else 'py'}"
    if language == "bash":
        script.write_text("set -euo pipefail\n" + runnable(code))
        run(["bash", str(script)], clone, env, what)
    else:
        script.write_text(code)
        run([sys.executable, str(script)], clone, env, what)
