"""Run under torchrun by tests/test_distributed.py: rank 0's work done for all ranks
(``distributed.from_main``) outlasts the collectives' timeout, and the other ranks still get its
result; then its error reaches them too.

    torchrun --standalone --nproc-per-node 2 tests/ddp_wait_driver.py OUT

Each rank writes what it received to ``OUT/rank<R>.json``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from augment.core import distributed
from augment.errors import AugmentError

# Long enough for both ranks to start (torch imported) and join; rank 0 then works past it.
distributed.TIMEOUT = timedelta(seconds=10)
WORK_SECONDS = 12


def slow_result() -> list[bytes]:
    time.sleep(WORK_SECONDS)
    return [b"labels", b""]


def failure() -> list[bytes]:
    raise AugmentError("the judge failed")


def main() -> None:
    out = Path(sys.argv[1])
    with distributed.session("cpu") as context:
        received = distributed.from_main(slow_result, context)
        try:
            distributed.from_main(failure, context)
            error = None
        except AugmentError as exc:
            error = str(exc)
    report = {"received": [part.decode() for part in received], "error": error}
    (out / f"rank{context.rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
