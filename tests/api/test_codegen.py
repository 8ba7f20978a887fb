"""API code generation: URL names and clashes."""

from __future__ import annotations

import pytest

from pulpo.naming import kebab_plural, snake_case
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
        ("OAuth2Token", "o-auth2-tokens"),
        ("RawJobs", "raw-jobs"),
        ("Status", "statuses"),
        ("S3Object", "s3-objects"),
    ],
)
def test_documents_are_served_at_kebab_case_plurals(name: str, url: str) -> None:
    assert kebab_plural(name) == url


@pytest.mark.parametrize(
    ("name", "function"),
    [("HTTPLog", "http_log"), ("JobRecord", "job_record"), ("S3Object", "s3_object")],
)
def test_url_and_python_names_split_words_alike(name: str, function: str) -> None:
    """``/http-logs`` is served by ``create_http_log``, not ``create_h_t_t_p_log``."""
    assert snake_case(name) == function
    assert kebab_plural(name).replace("-", "_").startswith(function)


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
