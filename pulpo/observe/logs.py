"""One JSON object per log line (``log_format = "json"``), in every process pulpo starts.

Prefect configures logging in each of them from ``PREFECT_LOGGING_SETTINGS_PATH``;
pulpo points it at ``logging.yml`` beside this module, which is Prefect's own
configuration with :class:`JsonFormatter` on the console. Each line carries the
timestamp, level, service, logger and message, and where known the flow, flow run id,
operation and task run id (from Prefect's run loggers or the run context of the thread
that logged), the API request id, and the trace and span ids when tracing.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

CONFIG_FILE = Path(__file__).with_name("logging.yml")
SETTINGS_PATH = "PREFECT_LOGGING_SETTINGS_PATH"
# Set on every service process (pulpo.services.processes.MARKER): <project>/<service>.
SERVICE_MARKER = "PULPO_SERVICE_OF"

# The request the API is answering in this task (pulpo.api.metrics sets it).
request_id: ContextVar[str | None] = ContextVar("pulpo_request_id", default=None)

_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
) | {"message", "asctime"}
# Prefect's run-logger fields, shown under pulpo's names, and noise of other libraries.
_NOT_EXTRA = frozenset(
    {
        "flow_run_id",
        "flow_run_name",
        "flow_name",
        "task_run_id",
        "task_run_name",
        "task_name",
        "worker_id",
        "send_to_api",
        "color_message",
    }
)


def logging_environment(log_format: str) -> dict[str, str]:
    """The variables that make Prefect (and so every pulpo process) log ``log_format``.

    A logging configuration of the user's own (``PREFECT_LOGGING_SETTINGS_PATH``) wins.
    """
    if log_format != "json" or os.environ.get(SETTINGS_PATH):
        return {}
    return {SETTINGS_PATH: str(CONFIG_FILE)}


def use_log_format(log_format: str) -> None:
    """Make Prefect in this process, and the processes it starts, log ``log_format``.

    Prefect reads its settings, and configures logging, when it is first imported,
    which a build may already have done (the project's modules import it); then its
    settings are read again and pulpo's file applied now.
    """
    variables = logging_environment(log_format)
    if not variables:
        return
    os.environ.update(variables)
    context = sys.modules.get("prefect.context")
    if context is not None:
        context.refresh_global_settings_context()
    configuration = sys.modules.get("prefect.logging.configuration")
    if configuration is not None and configuration.PROCESS_LOGGING_CONFIG:
        import logging.config

        config = configuration.load_logging_config(CONFIG_FILE)
        logging.config.dictConfig(config)
        configuration.PROCESS_LOGGING_CONFIG.update(config)


def use_json_logs_without_prefect() -> None:
    """JSON lines for a process that does not load Prefect (the UI server): its own
    and uvicorn's loggers, with the levels of uvicorn's defaults."""
    import logging.config

    console = {"handlers": ["console"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": "ext://sys.stderr",
                }
            },
            "loggers": {"uvicorn": console, "uvicorn.access": console},
            "root": {"level": "WARNING", "handlers": ["console"]},
        }
    )


def service_name() -> str:
    """The pulpo service this process belongs to (``api``, ``worker``, …), or ``cli``
    for a run of ``pulpo prefect run`` and other commands."""
    marker = os.environ.get(SERVICE_MARKER, "")
    return marker.rpartition("/")[2] or "cli"


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON with pulpo's ids."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.service = service_name()

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "timestamp": stamp.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_run_ids(record))
        entry.update(_trace_ids())
        given = request_id.get()
        if given is not None:
            entry["request_id"] = given
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in _NOT_EXTRA:
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _run_ids(record: logging.LogRecord) -> dict[str, str]:
    """Flow, flow run id, operation and task run id of the record, where known."""
    found = {
        "flow": getattr(record, "flow_name", None),
        "flow_run_id": getattr(record, "flow_run_id", None),
        "operation": getattr(record, "task_name", None),
        "task_run_id": getattr(record, "task_run_id", None),
    }
    context = sys.modules.get("prefect.context")  # only once Prefect is loaded
    if context is not None and None in found.values():
        _from_context(context, found)
    return {
        key: str(value)
        for key, value in found.items()
        if value is not None and value != "<unknown>"
    }


def _trace_ids() -> dict[str, str]:
    """The OpenTelemetry trace and span of the line, when tracing (pulpo.observe.tracing)."""
    trace = sys.modules.get("opentelemetry.trace")  # only once tracing loaded it
    if trace is None:
        return {}
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}"}


def _from_context(context: Any, found: dict[str, Any]) -> None:
    try:
        flow_run = context.FlowRunContext.get()
        task_run = context.TaskRunContext.get()
    except Exception:  # noqa: BLE001 - a log line never fails for its ids
        return
    if flow_run is not None:
        if found["flow"] is None and flow_run.flow is not None:
            found["flow"] = flow_run.flow.name
        if found["flow_run_id"] is None and flow_run.flow_run is not None:
            found["flow_run_id"] = flow_run.flow_run.id
    if task_run is not None:
        if found["operation"] is None:
            found["operation"] = task_run.task.name
        if found["task_run_id"] is None:
            found["task_run_id"] = task_run.task_run.id
        if found["flow_run_id"] is None:
            found["flow_run_id"] = task_run.task_run.flow_run_id
