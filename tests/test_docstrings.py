"""Every public entry point's docstring example runs, as written, against a temporary folder."""

from __future__ import annotations

import doctest
import importlib

import pytest

from augment.evaluation import parallel

MODULES = [
    "augment.steps.ingest",
    "augment.steps.train",
    "augment.steps.generate",
    "augment.steps.evaluate",
    "augment.synthesizer",
    "augment.info",
    "augment.reporting.html",
    "augment.core.tracking",
    "augment.sklearn",
    "augment.torchdata",
    "augment.torchdata.folder",
    "augment.torchdata.generator",
    "augment.torchdata.mix",
    "augment.torchdata.real",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The examples run as on a one-core machine: the default job count (the free cores) is 1,
    # so an evaluation fits in this process instead of starting loky workers that each import
    # torch again (~10 s an example here). The fan-out is test_parallel's and test_evaluation's.
    monkeypatch.setattr(parallel, "free_cores", lambda: 1)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {**vars(module), "tmp": tmp_path}
    tests = [t for t in finder.find(module, globs=globs) if t.examples]
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has no docstring example"
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {name}"
