"""The data that jobhunter's operations exchange."""

from __future__ import annotations

from typing import Annotated

from beanie import Document, Indexed
from pydantic import BaseModel, Field

from pulpo import datamodel


class JobPosting(BaseModel):
    title: str
    company: str
    url: str
    source: str


@datamodel(name="RawJobs")
class RawJobs(BaseModel):
    """Postings as one job board returned them."""

    source: str
    keywords: str
    postings: list[JobPosting] = Field(default_factory=list)


@datamodel
class CleanedJobs(BaseModel):
    """Postings from every board, deduplicated by URL."""

    sources: list[str]
    postings: list[JobPosting]


@datamodel
class PostingSkills(BaseModel):
    """One posting's URL with the skills its title mentions."""

    url: str
    skills: list[str]


@datamodel
class SkillReport(BaseModel):
    """How often each skill is asked for, most wanted first."""

    total_postings: int
    top_skills: list[tuple[str, int]]


@datamodel
class HealthStatus(BaseModel):
    ok: bool
    checked: list[str]


@datamodel
class JobRecord(Document):
    """A posting stored in the database; the URL is unique, so saving is idempotent."""

    url: Annotated[str, Indexed(unique=True)]
    title: str
    company: str
    source: str
    keywords: str

    class Settings:
        name = "job_postings"


@datamodel
class StoredJobs(BaseModel):
    """What a save did: postings written this time, and how many the database holds."""

    saved: int
    total_in_database: int
