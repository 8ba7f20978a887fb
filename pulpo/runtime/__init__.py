"""Helpers that generated flow modules call at run time.

Kept small and free of Prefect imports at module level: generated code brings Prefect.
"""

from pulpo.observe.tracing import start_tracing_from_environment
from pulpo.runtime.database import init_documents
from pulpo.runtime.hooks import Hooks
from pulpo.runtime.outputs import default_of, validate_output
from pulpo.runtime.resources import (
    run_resources,
    use_resource,
    use_resource_in_process,
)
from pulpo.runtime.retries import RetryOnlyOn
from pulpo.runtime.script import run_script
from pulpo.runtime.task_runners import dask_cluster, process_pool
from pulpo.runtime.tasks import (
    OperationFailed,
    gather_limited,
    run_coroutine,
    run_submitted,
    run_task,
    wait_all,
)
from pulpo.runtime.threads import in_thread

# Every process that runs generated flows imports this package first (the worker's
# flow-run processes too): with tracing on, Prefect's flow-run and task-run spans are
# exported from here on.
start_tracing_from_environment()

__all__ = [
    "Hooks",
    "OperationFailed",
    "RetryOnlyOn",
    "dask_cluster",
    "default_of",
    "gather_limited",
    "in_thread",
    "init_documents",
    "process_pool",
    "run_coroutine",
    "run_resources",
    "run_script",
    "run_submitted",
    "run_task",
    "use_resource",
    "use_resource_in_process",
    "validate_output",
    "wait_all",
]
