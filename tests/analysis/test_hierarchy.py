from pulpo.analysis.hierarchy import HierarchyParser, flow_name


def test_parse_splits_a_dotted_name_into_parent_level_and_namespaces() -> None:
    parsed = HierarchyParser().parse("scraping.linkedin.fetch")
    assert parsed.segments == ("scraping", "linkedin", "fetch")
    assert parsed.parent == "scraping.linkedin"
    assert parsed.level == 2
    assert parsed.leaf == "fetch"
    assert parsed.namespaces == ("scraping", "scraping.linkedin")


def test_undotted_names_are_standalone_with_no_parent() -> None:
    parser = HierarchyParser()
    assert parser.is_standalone("healthcheck")
    assert not parser.is_standalone("scraping.merge")
    assert parser.get_parent("healthcheck") is None
    assert parser.get_level("healthcheck") == 0


def test_namespaces_are_every_proper_prefix_sorted() -> None:
    names = [
        "scraping.stepstone.fetch",
        "scraping.linkedin.fetch",
        "scraping.merge",
        "ping",
    ]
    assert HierarchyParser().namespaces(names) == (
        "scraping",
        "scraping.linkedin",
        "scraping.stepstone",
    )


def test_is_leaf_looks_for_names_below() -> None:
    names = {"a.b.c", "a.d"}
    parser = HierarchyParser()
    assert parser.is_leaf("a.b.c", names)
    assert not parser.is_leaf("a.b", names)


def test_flow_names_replace_dots() -> None:
    assert flow_name("scraping.linkedin") == "scraping_linkedin_flow"
    assert flow_name("healthcheck") == "healthcheck_flow"
