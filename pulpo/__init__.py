"""pulpo: decorated Python code in, orchestrated Prefect flows out.

Users import only what is re-exported here.
"""

from pulpo.decorators import datamodel, operation
from pulpo.errors import (
    CycleError,
    DefinitionError,
    GraphError,
    ProjectError,
    PulpoError,
    RunError,
    ServiceError,
)
from pulpo.hooks import CompletedOperation, FailedOperation
from pulpo.interface import CLI

__all__ = [
    "CLI",
    "CompletedOperation",
    "CycleError",
    "DefinitionError",
    "FailedOperation",
    "GraphError",
    "ProjectError",
    "PulpoError",
    "RunError",
    "ServiceError",
    "datamodel",
    "operation",
]
__version__ = "0.1.0"
