"""Which operations need the database: code that reaches a Beanie document in any of
the ways users write it, not only by exchanging one."""

from __future__ import annotations

from pulpo import CLI
from pulpo.orchestration.codegen import flows_needing_database
from tests.conftest import MakeProject

MODELS = """
from beanie import Document
from pulpo import datamodel

@datamodel
class Item(Document):
    key: str
"""

HELPERS = """
from app import models

async def count_items() -> int:
    return await models.Item.count()

class Store:
    @staticmethod
    async def total() -> int:
        return await models.Item.count()
"""

OPS = """
from pydantic import BaseModel
from pulpo import datamodel, operation

from app import helpers, models
from app.helpers import Store

CACHE = {"a": [1, 2]}  # unhashable module globals must not break the scan


@datamodel
class Total(BaseModel):
    n: int


@operation(name="module_attribute.count")
async def through_module() -> Total:
    return Total(n=len(await models.Item.find_all().to_list()))


@operation(name="helper_module.count")
async def through_helper_module() -> Total:
    return Total(n=await helpers.count_items())


@operation(name="local_import.count")
async def through_local_import() -> Total:
    from app.models import Item

    return Total(n=await Item.count())


@operation(name="static_method.count")
async def through_a_class() -> Total:
    return Total(n=await Store.total())


@operation(name="plain.count")
def plain() -> Total:
    return Total(n=len(CACHE))
"""


def test_every_way_of_reaching_a_document_needs_the_database(
    make_project: MakeProject,
) -> None:
    root = make_project(
        models=MODELS, helpers=HELPERS, ops=OPS, modules=["app.models", "app.ops"]
    )
    needing = flows_needing_database(CLI(root).compile().orchestration)
    assert {flow: ops for flow, ops in needing.items() if ops} == {
        "module_attribute_flow": ["module_attribute.count"],
        "helper_module_flow": ["helper_module.count"],
        "local_import_flow": ["local_import.count"],
        "static_method_flow": ["static_method.count"],
    }
    assert needing["plain_flow"] == []
