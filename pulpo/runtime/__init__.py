"""Helpers that generated flow modules call at run time.

Kept small and free of Prefect imports at module level: generated code brings Prefect.
"""

from pulpo.runtime.database import init_documents
from pulpo.runtime.graph import OperationFailed, OperationGraph, UpstreamFailed
from pulpo.runtime.outputs import default_of, validate_output
from pulpo.runtime.script import run_script

__all__ = [
    "OperationFailed",
    "OperationGraph",
    "UpstreamFailed",
    "default_of",
    "init_documents",
    "run_script",
    "validate_output",
]
