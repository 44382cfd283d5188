"""Helpers of the hostile-input corpus (see conftest.py): the command-line runner and the
one-line assertion."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from augment.cli import app

runner = CliRunner()


def invoke(*args: object):
    # augment's log handler keeps the stderr of the run that made it; each run gets its own.
    logger = logging.getLogger("augment")
    for handler in [h for h in logger.handlers if getattr(h, "_augment", False)]:
        logger.removeHandler(handler)
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *words: str, code: int = 2) -> str:
    """The run failed with exit ``code`` and its last line, and only that line, is an
    ``augment: error:`` that names each of ``words`` and is not the catch-all for bugs (lines
    before it may be warnings the run logged); no traceback."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert lines and lines[-1].startswith("augment: error: "), result.output
    assert not any(line.startswith("augment: ") for line in lines[:-1]), result.output
    assert not any("Traceback" in line for line in lines), result.output
    assert "a bug in augment" not in lines[-1], lines[-1]
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders augment would leave beside its outputs."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith((".tmp", ".old")))


def tiny_table(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": np.round(rng.normal(size=rows), 3),
            "colour": rng.choice(["red", "green", "blue"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )
