"""Schedule mistakes through the CLI: one `error:` line naming the table and the fix."""

from __future__ import annotations

import pytest

from tests.cli.test_errors import assert_user_error
from tests.conftest import MakeProject, run_pulpo

OPS = "from pulpo import operation\n\n@operation(name='report.make')\ndef make() -> int:\n    return 1\n"
CONFIG = (
    '[project]\nname = "app"\nversion = "0"\n\n[tool.pulpo]\nmodules = ["app.ops"]\n'
)


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        (
            "[tool.pulpo.flows.report_flow]\nschedule = '*/5 * * *'\n",
            ["[tool.pulpo.flows.report_flow] schedule must be a cron line"],
        ),
        (
            "[tool.pulpo.flows.report_flow]\nschedule = '5m'\ntimezone = 'Madrid'\n",
            ["[tool.pulpo.flows.report_flow] timezone must be an IANA time zone"],
        ),
        (
            "[tool.pulpo.flows.reprot_flow]\nschedule = '5m'\n",
            ["[tool.pulpo.flows.reprot_flow] names no flow", "'report_flow'"],
        ),
    ],
)
def test_a_wrong_schedule_stops_the_build_with_one_line(
    make_project: MakeProject, table: str, fragments: list[str]
) -> None:
    root = make_project(pyproject=CONFIG + table, ops=OPS)
    assert_user_error(run_pulpo("inspect", cwd=root), *fragments)


def test_inspect_shows_the_schedule_and_its_next_run_without_a_server(
    make_project: MakeProject,
) -> None:
    root = make_project(
        pyproject=CONFIG
        + "[tool.pulpo.flows.report_flow]\nschedule = '0 6 * * *'\n"
        + "timezone = 'Europe/Madrid'\n",
        ops=OPS,
    )
    result = run_pulpo("inspect", cwd=root, env={"PULPO_PREFECT_PORT": "47999"})
    assert result.returncode == 0, result.stderr
    assert "    schedule: cron 0 6 * * * (Europe/Madrid), next " in result.stdout
    assert "T06:00:00+0" in result.stdout  # in the schedule's own time zone
