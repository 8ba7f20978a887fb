"""Observability shared by the processes pulpo starts: JSON log lines (``logs``) and
OpenTelemetry traces (``tracing``). The API's metrics live in ``pulpo.api``.

Imports neither Prefect nor OpenTelemetry at module level: the CLI's help loads it.
"""
