"""Every DVC stage of the repository's pipelines depends on exactly the code its command runs
and tracks each setting it reads, so editing a module or a parameter makes the right stages,
and only those, out of date (stale metrics are the worst failure a pipeline can have)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo
from importgraph import PACKAGE, ROOT, as_deps, command_modules, module_files

from augment.settings import STAGES

# `augment report` reads these settings of other stages (its own are options).
REPORT_READS = ("evaluate.data", "evaluate.metrics", "evaluate.plots", "evaluate.report")
REPORT_READS_GENERATED = "generate.out"


def pipeline_stages() -> list:
    with Repo(str(ROOT)) as repo:
        return list(repo.index.stages)


STAGE_LIST = pipeline_stages()


def command_of(stage) -> tuple[str, str | None]:
    """(``train``, ``digits``) for ``augment train --pipeline digits``."""
    words = shlex.split(stage.cmd)
    assert words[0] == "augment", f"{stage.addressing}: not an augment command: {stage.cmd}"
    pipeline = words[words.index("--pipeline") + 1] if "--pipeline" in words else None
    return words[1], pipeline


def repo_path(stage, path: str) -> Path:
    return (Path(stage.path_in_repo).parent / path) if not Path(path).is_absolute() else Path(path)


def code_deps(stage) -> set[str]:
    """The package's .py files a stage depends on (a folder dependency: every one under it)."""
    files: set[str] = set()
    for dep in stage.deps:
        path = (ROOT / repo_path(stage, dep.def_path)).resolve()
        if path != PACKAGE and PACKAGE not in path.parents:
            continue
        found = path.rglob("*.py") if path.is_dir() else [path]
        files |= {p.relative_to(ROOT).as_posix() for p in found if p.suffix == ".py"}
    return files


def tracked(stage) -> tuple[set[str], set[str]]:
    """(parameters tracked by key, parameters interpolated into the stage's definition)."""
    keys = {key for dep in stage.params for key in dep.params}
    interpolated = {key for values in stage.tracked_vars.values() for key in values}
    return keys, interpolated


@pytest.mark.parametrize("stage", STAGE_LIST, ids=lambda s: s.addressing)
def test_stage_depends_on_exactly_the_code_its_command_runs(stage):
    command, _ = command_of(stage)
    expected = module_files(command_modules(command))
    actual = code_deps(stage)
    prefix = Path("../" * len(Path(stage.path_in_repo).parent.parts)).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    listing = "\n".join(f"      - {prefix}{dep}" for dep in as_deps(expected))
    assert actual == expected, (
        f"{stage.addressing}: `augment {command}` imports {sorted(expected - actual)} that the"
        f" stage does not depend on; it depends on {sorted(actual - expected)} that it does not"
        f" import. The code deps should read:\n{listing}"
    )


@pytest.mark.parametrize("stage", STAGE_LIST, ids=lambda s: s.addressing)
def test_stage_tracks_each_setting_it_reads_by_key(stage):
    command, pipeline = command_of(stage)
    params_file = ROOT / repo_path(stage, "params.yaml")
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    block = params[pipeline] if pipeline else params
    prefix = f"{pipeline}." if pipeline else ""
    keys, interpolated = tracked(stage)
    assert not keys & {f"{prefix}{name}" for name in STAGES}, "whole sections are tracked"
    if command == "report":
        wanted = {f"{prefix}{key}" for key in (*REPORT_READS, REPORT_READS_GENERATED)}
        assert wanted <= interpolated, (
            f"{stage.addressing} does not depend on {wanted - interpolated}"
        )
        return
    section = block.get(command) or {}
    untracked = sorted(
        f"{prefix}{command}.{key}"
        for key in section
        if f"{prefix}{command}.{key}" not in keys | interpolated
    )
    assert not untracked, (
        f"{stage.addressing} reads {untracked} from {params_file.name} but does not track them:"
        " a change there would leave its outputs stale; add them to its params"
    )
    missing = sorted(k for k in keys if _lookup(params, k) is _MISSING)
    assert not missing, f"{stage.addressing} tracks {missing}, absent from {params_file.name}"


def test_the_adult_ingest_depends_on_the_built_in_data():
    for stage in STAGE_LIST:
        command, pipeline = command_of(stage)
        params = yaml.safe_load((ROOT / repo_path(stage, "params.yaml")).read_text())
        section = (params[pipeline] if pipeline else params).get("ingest") or {}
        if command == "ingest" and section.get("source", "adult") == "adult":
            data = (PACKAGE / "datasets" / "adult").resolve()
            deps = {(ROOT / repo_path(stage, d.def_path)).resolve() for d in stage.deps}
            assert data in deps, f"{stage.addressing} reads the built-in Adult data"


def test_every_pipeline_in_the_repository_is_checked():
    files = {Path(s.path_in_repo).as_posix() for s in STAGE_LIST}
    assert files == {"dvc.yaml", "pipelines/adult/dvc.yaml", "pipelines/mnist/dvc.yaml"}


_MISSING = object()


def _lookup(params: dict, dotted: str):
    value = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value
