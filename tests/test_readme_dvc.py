"""Every code block of README.md that calls ``dvc`` runs as written from a fresh clone's root, in
README order (the default pipelines, metrics, plots and experiments), and the README's
``params.yaml`` and ``dvc.yaml`` for a project of one's own run with ``dvc repro`` (slow:
minutes). How, and what is added for speed: ``readme_support``."""

from __future__ import annotations

import pytest
from readme_support import calls_dvc, own_project, reader_clone, readme_blocks, run_block


@pytest.mark.slow
def test_readme_dvc_pipelines_and_own_project_run_as_written(tmp_path):
    clone, env = reader_clone(tmp_path)
    project: dict[str, str] = {}
    ran = 0
    for index, (language, code) in enumerate(readme_blocks()):
        if language == "bash" and calls_dvc(code):
            run_block(index, language, code, clone, env)
            ran += 1
        elif language == "yaml":
            name = code.splitlines()[0].removeprefix("#").strip()
            if name in ("params.yaml", "dvc.yaml"):
                project[name] = code
    assert ran >= 3 and set(project) == {"params.yaml", "dvc.yaml"}
    own_project(tmp_path, project, env)
