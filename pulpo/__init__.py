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
from pulpo.resources import Resource, resource

__all__ = [
    "CLI",
    "CompletedOperation",
    "CycleError",
    "DefinitionError",
    "FailedOperation",
    "GraphError",
    "ProjectError",
    "PulpoError",
    "Resource",
    "RunError",
    "ServiceError",
    "datamodel",
    "operation",
    "resource",
]
__version__ = "0.1.0"
