"""Request and response schemas derived from a Beanie document model.

A document's API schemas are its own fields (types, defaults and constraints such as
``max_length``) so that OpenAPI shows them and FastAPI enforces them:
``<Model>Create`` (no id), ``<Model>Update`` (every field optional, for PATCH),
``<Model>`` (the stored document with its ``id``) and ``<Model>Query`` (paging, sort
and one equality filter per scalar field).
"""

from __future__ import annotations

import copy
import datetime
import enum
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from pulpo.api.storable import storable

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
SYSTEM_FIELDS = frozenset({"id", "revision_id"})
PAGING_FIELDS = frozenset({"skip", "limit", "sort"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SCALARS = (str, int, float, bool, datetime.datetime, datetime.date, uuid.UUID)

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list: the items and how many match in total.

    A page ends early when its documents reach about 4 MiB: fewer than ``limit``
    items while ``skip + len(items) < total`` means ask again from there.
    """

    items: list[Item]
    total: int
    skip: int
    limit: int


@dataclass(frozen=True)
class DocumentSchemas:
    """The API's view of one document model."""

    model: type[Any]
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]
    page: type[BaseModel]
    query: type[BaseModel]
    id_type: Any
    filters: tuple[str, ...]
    unique: tuple[str, ...] = ()


def document_schemas(model: type[Any]) -> DocumentSchemas:
    """Build the create, update, read and query schemas of ``model``."""
    name = model.__name__
    fields = {
        field: info
        for field, info in model.model_fields.items()
        if field not in SYSTEM_FIELDS
    }
    forbid = ConfigDict(extra="forbid")
    create = create_model(  # type: ignore[call-overload]
        f"{name}Create",
        __config__=forbid,
        __doc__=f"A new {name}.",
        **{
            field: (storable(info.annotation), _copy(info))
            for field, info in fields.items()
        },
    )
    update = create_model(  # type: ignore[call-overload]
        f"{name}Update",
        __config__=forbid,
        __doc__=f"The fields of a {name} to change; the others keep their values.",
        **{field: _optional(info) for field, info in fields.items()},
    )
    id_type = _strip_optional(model.model_fields["id"].annotation)
    read = create_model(  # type: ignore[call-overload]
        name,
        __doc__=model.__doc__,
        id=(str, Field(description=f"The {name}'s id.")),
        **{
            field: (info.annotation, Field(description=info.description))
            for field, info in fields.items()
        },
    )
    filters = tuple(
        field
        for field, info in fields.items()
        if field not in PAGING_FIELDS and _scalar(info.annotation) is not None
    )
    sortable = [*(["id"]), *filters]
    sort_values = tuple(v for f in sortable for v in (f, f"-{f}"))
    query = create_model(  # type: ignore[call-overload]
        f"{name}Query",
        __config__=forbid,
        skip=(int, Field(0, ge=0, le=10**9, description="Items to skip.")),
        limit=(
            int,
            Field(
                DEFAULT_PAGE_SIZE,
                ge=1,
                le=MAX_PAGE_SIZE,
                description=f"Items per page (at most {MAX_PAGE_SIZE}).",
            ),
        ),
        sort=(
            Literal[sort_values] | None,  # type: ignore[valid-type]
            Field(None, description="A field to sort by; prefix - for descending."),
        ),
        **{
            field: (
                _scalar(fields[field].annotation) | None,
                Field(None, description=f"Only items whose {field} equals this."),
            )
            for field in filters
        },
    )
    unique = tuple(field for field, info in fields.items() if _unique(info))
    page = create_model(  # type: ignore[call-overload]
        f"{name}Page",
        __base__=Page[read],  # type: ignore[valid-type]
        __doc__=f"A page of {name} documents.",
    )
    return DocumentSchemas(
        model=model,
        create=create,
        update=update,
        read=read,
        page=page,
        query=query,
        id_type=id_type,
        filters=filters,
        unique=unique,
    )


def _unique(info: FieldInfo) -> bool:
    """A field declared ``Indexed(unique=True)``, in either of Beanie's spellings."""
    markers = [*info.metadata, info.annotation]
    options: list[dict[str, Any]] = [
        getattr(marker, "_indexed", (None, {}))[1] for marker in markers
    ]
    return any(bool(option.get("unique")) for option in options)


def _copy(info: FieldInfo) -> FieldInfo:
    return copy.copy(info)


def _optional(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """Not required, but not nullable unless the model allows None."""
    optional = copy.copy(info)
    optional.default = None
    optional.default_factory = None
    return storable(info.annotation), optional


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _scalar(annotation: Any) -> Any:
    """The type of an equality filter on a field of ``annotation``, or None."""
    annotation = _strip_optional(annotation)
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return annotation
    if annotation is int:  # MongoDB integers are 64-bit
        return Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
    if isinstance(annotation, type) and (
        issubclass(annotation, SCALARS) or issubclass(annotation, enum.Enum)
    ):
        return annotation
    return None
