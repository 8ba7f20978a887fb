from datetime import timedelta

import pytest
from pydantic import BaseModel

from pulpo import DefinitionError, datamodel, operation
from pulpo.decorators import datamodel_spec, operation_spec


@datamodel
class Jobs(BaseModel):
    titles: list[str] = []


def test_datamodel_returns_the_class_and_records_its_name() -> None:
    @datamodel(name="Listing")
    class Raw(BaseModel):
        url: str

    spec = datamodel_spec(Raw)
    assert spec is not None and spec.name == "Listing" and spec.cls is Raw
    assert Raw(url="u").url == "u"
    assert datamodel_spec(Jobs).name == "Jobs"  # type: ignore[union-attr]


def test_subclasses_of_a_datamodel_are_not_datamodels_themselves() -> None:
    class MoreJobs(Jobs):
        pass

    assert datamodel_spec(MoreJobs) is None


def test_datamodel_rejects_classes_that_are_not_pydantic_models() -> None:
    with pytest.raises(DefinitionError, match="pydantic BaseModel"):
        datamodel(type("Plain", (), {}))


def test_operation_returns_the_original_function_still_callable() -> None:
    def fetch(keywords: str = "python") -> Jobs:
        return Jobs(titles=[keywords])

    decorated = operation(
        name="scraping.fetch", outputs=Jobs, retries=2, retry_delay=1.0
    )(fetch)
    assert decorated is fetch
    assert fetch("go").titles == ["go"]
    spec = operation_spec(fetch)
    assert spec is not None
    assert spec.output is Jobs and spec.inputs == ()
    assert spec.retry_delays == (1.0, 2.0)


def test_retry_delays_grow_by_backoff() -> None:
    @operation(name="a", retries=3, retry_delay=0.5, backoff=3)
    def a() -> None: ...

    assert operation_spec(a).retry_delays == (0.5, 1.5, 4.5)  # type: ignore[union-attr]


def test_retry_delays_stop_at_the_cap() -> None:
    @operation(name="a", retries=4, retry_delay=0.5, backoff=3, max_retry_delay=2)
    def a() -> None: ...

    assert operation_spec(a).retry_delays == (0.5, 1.5, 2.0, 2.0)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name", ["", "scraping..fetch", "1st.op", "scraping.fetch-all", "a.class"]
)
def test_operation_names_must_be_dotted_identifiers(name: str) -> None:
    with pytest.raises(DefinitionError, match="invalid operation name"):
        operation(name=name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 51}, "retries"),
        ({"retry_delay": -1}, "retry_delay"),
        ({"backoff": 0}, "backoff"),
        ({"timeout": 0}, "timeout"),
        ({"max_retry_delay": -1}, "max_retry_delay"),
        ({"retry_jitter": -0.1}, "retry_jitter"),
        ({"retry_on": ValueError("x")}, "retry_on must list exception classes"),
        ({"retry_on": [int]}, "retry_on must list exception classes"),
        ({"cache": "yes"}, "cache must be True or False"),
        ({"cache_expiration": 60}, "cache_expiration is set but cache is off"),
        ({"cache": True, "cache_expiration": 0}, "cache_expiration must be a positive"),
        ({"cache": True, "cache_expiration": "1h"}, "cache_expiration must be a pos"),
        (
            {"cache": True, "cache_expiration": timedelta(seconds=-1)},
            "cache_expiration must be a positive",
        ),
    ],
)
def test_policies_are_checked(options: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        operation(name="op", **options)


def test_cache_is_off_by_default_and_its_expiry_is_kept_in_seconds() -> None:
    @operation(name="plain")
    def plain() -> None: ...

    @operation(name="kept", cache=True)
    def kept() -> None: ...

    @operation(name="hourly", cache=True, cache_expiration=timedelta(hours=1))
    def hourly() -> None: ...

    specs = [operation_spec(f) for f in (plain, kept, hourly)]
    assert [(s.cache, s.cache_expiration) for s in specs if s] == [
        (False, None),
        (True, None),
        (True, 3600.0),
    ]


def test_a_bad_cache_option_names_the_operation() -> None:
    with pytest.raises(DefinitionError) as raised:
        operation(name="topics.enrich", cache_expiration=60)
    assert raised.value.operation == "topics.enrich"
    assert "operation 'topics.enrich'" in str(raised.value)
    assert "add cache=True" in str(raised.value)


def test_inputs_must_be_models_or_names() -> None:
    with pytest.raises(DefinitionError, match="inputs must be"):
        operation(name="op", inputs=int)  # type: ignore[arg-type]


def test_base_model_means_no_inputs() -> None:
    @operation(name="op", inputs=BaseModel)
    def op() -> None: ...

    assert operation_spec(op).inputs == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(*args): ...", r"\*args"),
        ("def f(**kwargs): ...", r"\*\*kwargs"),
        ("def f(a, /): ...", "positional-only"),
        ("def f(wait_for): ...", "reserved"),
        ("def f(return_state): ...", "reserved"),
        ("def f():\n    yield 1", "generators"),
    ],
)
def test_signatures_pulpo_cannot_wire_are_rejected(source: str, message: str) -> None:
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(DefinitionError, match=message):
        operation(name="op")(namespace["f"])


def test_retry_on_needs_a_module_level_exception_class() -> None:
    class Local(Exception):
        pass

    with pytest.raises(DefinitionError, match="define it at module level"):
        operation(name="op", retry_on=Local)


def undo(failed: object) -> None:
    """A module-level hook."""


def two(failed: object, extra: object) -> None:
    """Not a hook: it needs two arguments."""


def test_hooks_are_module_level_functions_of_one_argument() -> None:
    @operation(name="op", on_failure=undo, on_completion=undo)
    def op() -> None: ...

    spec = operation_spec(op)
    assert spec is not None and (spec.on_failure, spec.on_completion) == (undo, undo)

    def local(failed: object) -> None: ...

    with pytest.raises(DefinitionError, match="on_failure hook .*local.* module level"):
        operation(name="op", on_failure=local)
    with pytest.raises(DefinitionError, match="on_completion hook .*lambda"):
        operation(name="op", on_completion=lambda done: None)
    with pytest.raises(DefinitionError, match="must take one argument"):
        operation(name="op", on_failure=two)
    with pytest.raises(DefinitionError, match="on_failure must be a function"):
        operation(name="op", on_failure="undo")  # type: ignore[arg-type]
