"""Keep standard output for a command's result while user code runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to standard output to standard error meanwhile.

    Works on the file descriptor, so ``print()`` in an operation, in a worker
    process forked meanwhile, or in C code lands on stderr, and ``pulpo prefect run
    … | jq`` sees only the result printed afterwards.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    original = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = original
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
