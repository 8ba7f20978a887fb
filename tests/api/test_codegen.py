"""API code generation: URL names and clashes."""

from __future__ import annotations

import pytest

from pulpo.api.codegen import kebab_plural
from tests.cli.test_errors import assert_user_error
from tests.conftest import MakeProject, run_pulpo


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("JobRecord", "job-records"),
        ("Note", "notes"),
        ("Company", "companies"),
        ("Address", "addresses"),
        ("Day", "days"),
        ("HTTPLog", "http-logs"),
        ("Box", "boxes"),
        ("OAuth2Token", "o-auth-2-tokens"),
    ],
)
def test_documents_are_served_at_kebab_case_plurals(name: str, url: str) -> None:
    assert kebab_plural(name) == url


def test_two_documents_at_one_url_fail_the_build(make_project: MakeProject) -> None:
    root = make_project(
        ops="""
        from beanie import Document
        from pulpo import datamodel, operation

        @datamodel(name="JobRecord")
        class A(Document):
            x: int

        @datamodel(name="Job_Record")
        class B(Document):
            y: int

        @operation(name="make", outputs=A)
        def make() -> A: ...
        """
    )
    assert_user_error(
        run_pulpo("build", cwd=root),
        "'JobRecord' and 'Job_Record' would both be served at /api/v1/job-records",
        '@datamodel(name="...")',
    )
    assert not (root / "run_cache" / "api").exists()
