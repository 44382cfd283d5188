"""Training curves and evaluation metrics logged with DVCLive, for ``dvc exp show`` / ``dvc plots``.

:class:`RunLog` writes ``<dir>/metrics.json`` (the latest values) and
``<dir>/plots/metrics/<name>.tsv`` (one row per logged step). It is created with
``dvcyaml=False`` and ``save_dvc_exp=False``: it never writes a ``dvc.yaml``, never touches git
or DVC experiments, and outside a DVC repository it only writes its own folder. The stages that
use it declare that folder as an output, so ``dvc exp show`` and ``dvc plots show`` read it.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any


class RunLog:
    """A DVCLive run in ``directory``; use as a context manager (``close`` ends the run).

    Example:
        >>> with RunLog(tmp / "curves") as log:
        ...     log.curve(50, {"loss_d": 1.2, "loss_g": 0.4})
        ...     log.curve(100, {"loss_d": 1.1, "loss_g": 0.5})
        ...     log.summary({"quality": {"overall": 0.91}})
        >>> sorted(p.name for p in (tmp / "curves" / "plots" / "metrics").iterdir())
        ['loss_d.tsv', 'loss_g.tsv']
        >>> import json; json.loads((tmp / "curves" / "metrics.json").read_text())["quality"]
        {'overall': 0.91}
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._live = _files_only_live()(
            dir=str(self.directory), dvcyaml=False, save_dvc_exp=False, report=None, resume=False
        )

    def curve(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` at training ``step`` (a point on each curve)."""
        self._live.step = int(step)
        for name, value in values.items():
            if _finite(value):
                self._live.log_metric(name, float(value))
        self._live.make_summary()

    def summary(self, values: dict[str, Any], prefix: str = "") -> None:
        """Log final numbers (nested dicts become ``a/b`` names); they appear in metrics.json."""
        for name, value in _flatten(values, prefix).items():
            self._live.log_metric(name, value, plot=False)
        self._live.make_summary()

    def close(self) -> None:
        self._live.end()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _files_only_live() -> type:
    """DVCLive's ``Live`` without its repository integration.

    Even with ``dvcyaml=False`` and ``save_dvc_exp=False``, ``Live`` (3.49) opens the DVC repo
    around the working folder at start-up: outside one but inside git it runs ``dvc init`` there,
    and in a git repo without commits it raises. The stages here only need the files it writes,
    which ``dvc metrics`` / ``dvc plots`` / ``dvc exp show`` read as stage outputs, so that
    start-up step is skipped.
    """
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self) -> None:
            return None

    return FilesOnlyLive


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and _finite(value):
            flat[name] = value
    return flat


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
