"""``DocumentStore``: list, get, create, update and delete one Beanie document model.

Generated route modules are thin: each route calls one method here, so the behaviour
(errors, limits, validation through the model's own validators) lives in one place.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import bson
from beanie.odm.utils.encoder import Encoder
from bson.errors import BSONError, InvalidDocument
from fastapi import Header, Response
from pydantic import BaseModel, ValidationError
from pymongo.errors import DuplicateKeyError

from pulpo.api.errors import ApiError
from pulpo.api.idempotency import create_once
from pulpo.api.schemas import PAGING_FIELDS, DocumentSchemas, document_schemas

# Values a write filter compares (with ``If-Match``).
SCALARS = (str, int, float, bool, datetime.datetime, bson.ObjectId, type(None))
# Conditional writes of one document take turns; one lock per stripe keeps it bounded.
LOCK_STRIPES = 64

# Bytes of stored documents one list page holds at most (one larger document is
# still returned alone): 200 documents of up to 16 MiB each would be 3 GiB.
MAX_PAGE_BYTES = 4 * 1024 * 1024

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1000,
        description="Write only if the document is still the one this ETag (from GET "
        "or an earlier write) names; 412 if it changed.",
    ),
]


class DocumentStore:
    """The API's access to the documents of ``model``."""

    def __init__(self, model: type[Any], prefix: str) -> None:
        self.model = model
        self.prefix = prefix  # where the routes are: ``/api/v1/<documents>``
        self.schemas: DocumentSchemas = document_schemas(model)
        self._fields = tuple(f for f in self.schemas.read.model_fields if f != "id")
        self._encoder = Encoder(to_db=True)
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    async def list(self, query: BaseModel) -> BaseModel:
        """A page of documents matching ``query``'s filters, in its order."""
        values = query.model_dump(exclude=set(PAGING_FIELDS), exclude_none=True)
        criteria = {name: self._encoder.encode(v) for name, v in values.items()}
        skip, limit, sort = query.skip, query.limit, query.sort  # type: ignore[attr-defined]
        cursor = self.model.get_pymongo_collection().find(criteria)
        if sort:
            descending = sort.startswith("-")
            name = sort.lstrip("-")
            field = (
                "_id" if name == "id" else (self.model.model_fields[name].alias or name)
            )
            cursor = cursor.sort(field, -1 if descending else 1)
        items, full = await self._page(cursor.skip(skip).limit(limit))
        if len(items) < limit and not full and (items or skip == 0):
            total = skip + len(items)  # the last page: no count needed
        else:
            total = await self._count(criteria)
        return self.schemas.page(items=items, total=total, skip=skip, limit=limit)

    async def _page(self, cursor: Any) -> tuple[Sequence[BaseModel], bool]:
        """The items ``cursor`` yields, up to about :data:`MAX_PAGE_BYTES` of stored
        documents (at least one); and whether it stopped for that."""
        from beanie.odm.utils.parsing import parse_obj

        items: list[BaseModel] = []
        size = 0
        with self._storage_errors():
            try:
                async for raw in cursor:
                    size += len(bson.encode(raw))
                    if items and size > MAX_PAGE_BYTES:
                        return items, True
                    items.append(self.read(parse_obj(self.model, raw)))
            finally:
                await cursor.close()
        return items, False

    async def _count(self, criteria: dict[str, Any]) -> int:
        # The `count` command, not count_documents' $group pipeline: MongoDB answers it
        # from the query plan, and the embedded nx-27017 about 25x faster.
        collection = self.model.get_pymongo_collection()
        reply = await collection.database.command(
            "count", collection.name, query=criteria
        )
        return int(reply["n"])

    async def get(self, id: Any, response: Response) -> BaseModel:
        """The document with ``id``; 404 if there is none. Its ETag goes in a header."""
        document, raw = await self._find(id)
        response.headers["ETag"] = etag(raw)
        return self.read(document)

    async def create(
        self, body: BaseModel, response: Response, idempotency_key: str | None = None
    ) -> BaseModel:
        """Validate ``body`` with the model itself and insert it.

        With an ``idempotency_key``, a second request with that key (and body) gets the
        first one's answer, marked ``Idempotent-Replayed: true``, and inserts nothing.
        """
        values = body.model_dump(exclude_unset=True)

        async def insert() -> dict[str, Any]:
            document = self.model.model_validate(values)
            with self._storage_errors():
                await document.insert()
            return self.read(document).model_dump(mode="json")

        if idempotency_key is None:
            answer = await insert()
        else:
            collection = self.model.get_pymongo_collection()
            answer, replayed = await create_once(
                collection.database,
                collection.name,
                idempotency_key,
                body.model_dump(mode="json", exclude_unset=True),
                insert,
            )
            if replayed:
                response.headers["Idempotent-Replayed"] = "true"
        response.headers["Location"] = f"{self.prefix}/{answer['id']}"
        return self.schemas.read.model_validate(answer)

    async def update(
        self, id: Any, body: BaseModel, response: Response, if_match: str | None = None
    ) -> BaseModel:
        """Change the fields ``body`` sets; the result must still be a valid document.

        Only those fields are written, in one ``$set``: concurrent updates of other
        fields are never overwritten with the values this request read. With
        ``if_match``, the write happens only if the document is still the one that
        ETag names (else 412): conditional writes in this process take turns, and
        the write's filter repeats the scalar values read, which catches changes
        other writers make between the check and the write.
        """
        async with self._guarded(id, if_match):
            return await self._update(id, body, response, if_match)

    async def _update(
        self, id: Any, body: BaseModel, response: Response, if_match: str | None
    ) -> BaseModel:
        document, raw = await self._find(id)
        unchanged = self._unchanged_since(raw, if_match)
        changes = body.model_dump(exclude_unset=True)
        current = document.model_dump(exclude={"revision_id"})
        updated = self.model.model_validate({**current, **changes})
        stored = self._encoder.encode(updated)
        fields = self.model.model_fields
        keys = [fields[name].alias or name for name in changes]
        if keys:
            collection = self.model.get_pymongo_collection()
            with self._storage_errors():
                result = await collection.update_one(
                    unchanged, {"$set": {key: stored[key] for key in keys}}
                )
            if result.matched_count == 0:
                raise await self._lost_race(id)
        document, raw = await self._find(id)
        response.headers["ETag"] = etag(raw)
        return self.read(document)

    async def delete(self, id: Any, if_match: str | None = None) -> None:
        """Remove the document with ``id``; 404 if there is none. With ``if_match``,
        only if it is still the one that ETag names (else 412)."""
        collection = self.model.get_pymongo_collection()
        if if_match is None:
            result = await collection.delete_one({"_id": id})
            if result.deleted_count == 0:
                raise self._missing(id)
            return
        async with self._guarded(id, if_match):
            raw = await collection.find_one({"_id": id})
            if raw is None:
                raise self._missing(id)
            result = await collection.delete_one(self._unchanged_since(raw, if_match))
            if result.deleted_count == 0:
                raise await self._lost_race(id)

    @asynccontextmanager
    async def _guarded(self, id: Any, if_match: str | None) -> AsyncIterator[None]:
        """Conditional writes of the same document, one at a time in this process."""
        if if_match is None:
            yield
            return
        async with self._locks[hash(str(id)) % LOCK_STRIPES]:
            yield

    def _unchanged_since(self, raw: dict[str, Any], if_match: str | None) -> Any:
        """The filter of a write: the document itself, and with ``if_match`` only
        while its scalar fields still hold the values read (412 if it changed)."""
        if if_match is None:
            return {"_id": raw["_id"]}
        if not etag_matches(if_match, etag(raw)):
            raise self._changed(etag(raw))
        # nx-27017 cannot compare arrays or embedded documents in a filter; between
        # API requests the lock in _guarded covers them.
        return {key: value for key, value in raw.items() if isinstance(value, SCALARS)}

    async def _lost_race(self, id: Any) -> ApiError:
        """Why a write filtered on the document matched nothing: deleted or changed."""
        raw = await self.model.get_pymongo_collection().find_one({"_id": id})
        if raw is None:
            return ApiError(404, f"the {self.model.__name__} was deleted meanwhile")
        return self._changed(etag(raw))

    def _changed(self, current: str) -> ApiError:
        return ApiError(
            412,
            f"the {self.model.__name__} changed since the ETag sent in If-Match; GET it "
            f"again and apply the change to what it is now",
            {"etag": current},
        )

    def read(self, document: Any) -> BaseModel:
        """The response body for ``document`` (already valid: no second validation)."""
        values = {name: getattr(document, name) for name in self._fields}
        return self.schemas.read.model_construct(id=str(document.id), **values)

    async def _find(self, id: Any) -> tuple[Any, dict[str, Any]]:
        """The document with ``id`` and its stored form; 404 if there is none."""
        from beanie.odm.utils.parsing import parse_obj

        with self._storage_errors():
            raw = await self.model.get_pymongo_collection().find_one({"_id": id})
            if raw is None:
                raise self._missing(id)
            return parse_obj(self.model, raw), raw

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Turn what the data caused into 409/404/422."""
        from beanie.exceptions import DocumentNotFound

        try:
            yield
        except ValidationError as error:  # read back: the stored data is at fault
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(the document)"
            raise ApiError(
                409,
                f"a stored {self.model.__name__} no longer fits its model: field "
                f"{field!r}: {first['msg']}; fix it in the database or delete it "
                f"(DELETE works)",
                {"field": field},
            ) from None
        except DuplicateKeyError as error:
            fields = sorted(
                (error.details or {}).get("keyValue") or self.schemas.unique
            )
            raise ApiError(
                409,
                f"a {self.model.__name__} with the same "
                f"{' or '.join(fields) or 'unique key'} exists; change it or update "
                f"that document instead",
                {"fields": fields},
            ) from None
        except DocumentNotFound:
            raise ApiError(
                404, f"the {self.model.__name__} was deleted meanwhile"
            ) from None
        except (InvalidDocument, BSONError, OverflowError) as error:
            raise ApiError(
                422,
                f"the {self.model.__name__} cannot be stored: {error}; MongoDB integers "
                f"are 64-bit and keys may not start with '$' or contain '.'",
            ) from None

    def _missing(self, id: Any) -> ApiError:
        return ApiError(404, f"no {self.model.__name__} with id {str(id)!r}")


def etag(raw: dict[str, Any]) -> str:
    """The entity tag of a stored document: a digest of its BSON."""
    return f'"{hashlib.blake2b(bson.encode(raw), digest_size=12).hexdigest()}"'


def etag_matches(if_match: str, current: str) -> bool:
    """Whether an ``If-Match`` header names ``current`` (or is ``*``); weak tags never
    match, as RFC 9110 asks of If-Match."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current in tags
