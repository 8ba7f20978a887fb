"""Datamodels shared by the in-process analysis and compiler tests."""

from pydantic import BaseModel

from pulpo import datamodel


@datamodel
class Raw(BaseModel):
    items: list[str] = []


@datamodel
class Clean(BaseModel):
    items: list[str] = []


@datamodel
class Report(BaseModel):
    count: int = 0
