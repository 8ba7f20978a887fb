"""``OperationCache``: the Prefect cache policy of an operation declared ``cache=True``.

Imported by generated modules only (it subclasses Prefect's ``CachePolicy``), so it is
not re-exported by :mod:`pulpo.runtime`, which must stay free of Prefect imports.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy, Inputs  # noqa: TID253
from prefect.logging import get_run_logger  # noqa: TID253
from prefect.utilities.hashing import hash_objects  # noqa: TID253


@dataclass
class OperationCache(CachePolicy):
    """A cache key from the task's inputs and the operation's own version.

    Prefect's ``TASK_SOURCE`` hashes the generated task, which calls the user's
    function by name and so stays the same when that function changes. The version
    here hashes the user's function source instead, and the fields of the datamodel
    it returns: a result of an older shape must not reach consumers of the new one.
    Plain data, so that process and Dask task runners can pickle it.
    """

    operation: str = ""
    version: str = ""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The key, or None (not cached, with a warning) when an input cannot be
        hashed: a cache is worth less than a run that fails for want of one."""
        try:
            inputs_key = Inputs().compute_key(task_ctx, inputs, flow_parameters)
        except ValueError:
            _warn_unhashable(self.operation, inputs)
            return None
        return hash_objects(
            self.operation, self.version, inputs_key, raise_on_failure=True
        )


def operation_cache(
    operation: str, function: Callable[..., Any], returns: type[Any] | None = None
) -> OperationCache:
    """The cache policy of ``operation``, whose function is ``function`` and whose
    output datamodel is ``returns``."""
    return OperationCache(
        operation=operation, version=_version(function, returns) or ""
    )


def _version(function: Callable[..., Any], returns: type[Any] | None) -> str | None:
    try:
        source: object = inspect.getsource(function)
    except (OSError, TypeError):  # no source file (built in a notebook, zipped)
        source = function.__code__.co_code
    shape: object = None
    if returns is not None:
        try:
            shape = json.dumps(returns.model_json_schema(), sort_keys=True)
        except Exception:  # arbitrary field types have no schema
            shape = f"{returns.__module__}.{returns.__qualname__}"
    return hash_objects(source, shape)


def _warn_unhashable(operation: str, inputs: dict[str, Any]) -> None:
    culprits = [
        f"{name!r} ({type(value).__name__})"
        for name, value in sorted(inputs.items())
        if hash_objects(value) is None
    ] or ["(unknown)"]
    get_run_logger().warning(
        "operation %r is not cached: its input %s cannot be hashed for the cache "
        "key, so it runs every time; make it data that serializes to JSON or "
        "pickles, or remove cache=True",
        operation,
        ", ".join(culprits),
    )
