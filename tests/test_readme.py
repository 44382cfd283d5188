"""Every code block of README.md that does not call ``dvc`` runs as written from a fresh clone's
root, in README order, with the settings examples and the cluster command lines checked too
(slow: minutes). How, and what is added for speed: ``readme_support``."""

from __future__ import annotations

import pytest
from readme_support import (
    calls_dvc,
    check_cluster_launch,
    check_settings_example,
    reader_clone,
    readme_blocks,
    run_block,
)


@pytest.mark.slow
def test_readme_commands_and_python_run_as_written(tmp_path):
    clone, env = reader_clone(tmp_path)
    ran = launches = settings = 0
    for index, (language, code) in enumerate(readme_blocks()):
        if language == "python" or (language == "bash" and not calls_dvc(code)):
            run_block(index, language, code, clone, env)
            ran += 1
        elif language == "yaml" and code.splitlines()[0].removeprefix("#").strip() not in (
            "params.yaml",
            "dvc.yaml",
        ):
            check_settings_example(code)
            settings += 1
        elif language == "text" and code.startswith("#"):
            launches += check_cluster_launch(code)
    assert ran >= 15 and settings >= 1
    assert launches >= 3, "the cluster lines were not found"
