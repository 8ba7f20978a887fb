"""Observability shared by every process pulpo starts: JSON logs, run metrics, traces.

Imports neither Prefect nor OpenTelemetry at module level: the CLI's help loads it.
"""
