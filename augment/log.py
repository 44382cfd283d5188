"""The package logger: warnings and summaries go to stderr, never mixed with data on stdout."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("augment")


def configure(verbosity: int = 0) -> None:
    """0: info and up; -1 (``--quiet``): warnings only; 1 (``--verbose``): debug."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    if not any(getattr(h, "_augment", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._augment = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
