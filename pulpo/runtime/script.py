"""``python run_cache/orchestration/<module>.py [FLOW] [name=value ...]``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pulpo.errors import PulpoError, RunError, error_line
from pulpo.runtime.execution import result_json, run_flow, slots_of
from pulpo.runtime.parameters import bind, parse_assignments


def run_script(*flows: Any, argv: Sequence[str] | None = None) -> None:
    """Entry point of a generated module run as a script.

    The first argument may name one of ``flows`` (default: the first); the others are
    ``name=value`` parameters. Prints the result as JSON; exits 1 with a message on error.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    flows = _imported_by_name(flows)
    by_name = {flow.name: flow for flow in flows}
    chosen = flows[0]
    try:
        if args and "=" not in args[0]:
            name = args.pop(0)
            if name not in by_name:
                raise RunError.unknown_flow(name, sorted(by_name))
            chosen = by_name[name]
        parameters = bind(chosen.name, slots_of(chosen), parse_assignments(args))
        result = run_flow(chosen, parameters)
    except PulpoError as error:
        print(error_line(error), file=sys.stderr)
        raise SystemExit(1) from None
    print(result_json(result))


def _imported_by_name(flows: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same flows from their module imported under its package name, when the
    module runs as the script (``__main__``).

    The ``processes`` and ``dask`` task runners send tasks to other processes by
    reference to their module; cloudpickle copies a ``__main__`` function by value
    instead, with everything it refers to, and the copy of the flow's typed result
    fails to load (``TypedDict`` classes cannot be rebuilt that way).
    """
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script is None or not flows or flows[0].fn.__module__ != "__main__":
        return flows
    module = importlib.import_module(f"run_cache.orchestration.{Path(script).stem}")
    return tuple(getattr(module, flow.fn.__name__) for flow in flows)
