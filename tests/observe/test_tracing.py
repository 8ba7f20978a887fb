"""Turning tracing on without the `otel` extra."""

from __future__ import annotations

import os
import subprocess
import sys

# A fresh interpreter in which OpenTelemetry's SDK cannot be imported.
WITHOUT_SDK = (
    "import sys\n"
    "sys.modules['opentelemetry.sdk'] = None\n"
    "from pulpo.observe.tracing import start_tracing\n"
)


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PULPO_"))
    }
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SDK + code],
        capture_output=True,
        text=True,
        env={**clean, **env},
    )


def test_tracing_true_without_the_extra_names_the_extra() -> None:
    result = run(
        "from pulpo.errors import PulpoError\n"
        "try:\n    start_tracing(True)\n"
        "except PulpoError as error:\n    print(error)\n"
    )
    assert "pip install 'pulpo[otel]'" in result.stdout, result.stderr
    assert "tracing = true" in result.stdout


def test_an_endpoint_alone_without_the_extra_only_warns() -> None:
    result = run(
        "print(start_tracing(False))\n",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
    )
    assert result.stdout.strip() == "False", result.stderr
    assert "pulpo[otel]" in result.stderr


def test_nothing_is_traced_unless_asked() -> None:
    result = run("print(start_tracing(False))\n")
    assert result.stdout.strip() == "False", result.stderr
    assert "opentelemetry" not in result.stderr
