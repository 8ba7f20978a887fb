"""jobhunter's operations. Names place them in namespaces; data flow orders them.

Fetchers return deterministic fake postings after a simulated network delay, so the
example runs offline and always gives the same result.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter

from jobhunter.models import (
    CleanedJobs,
    HealthStatus,
    JobPosting,
    JobRecord,
    PostingSkills,
    RawJobs,
    SkillReport,
    StoredJobs,
)
from pulpo import operation

SKILLS = ("python", "sql", "docker", "kubernetes", "aws", "react", "rust", "pandas")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark")
LATENCY_SECONDS = 0.5


def fake_postings(source: str, keywords: str, limit: int) -> list[JobPosting]:
    """Deterministic postings: the same source and keywords give the same list."""
    postings = []
    for index in range(limit):
        digest = hashlib.sha256(f"{keywords}:{index}".encode()).digest()
        skill = SKILLS[digest[0] % len(SKILLS)]
        company = COMPANIES[digest[1] % len(COMPANIES)]
        postings.append(
            JobPosting(
                title=f"{keywords.title()} developer ({skill})",
                company=company,
                # Boards share some postings: half of the URLs do not depend on source.
                url=f"https://jobs.example/{keywords}/{index if index % 2 else f'{source}-{index}'}",
                source=source,
            )
        )
    return postings


@operation(name="scraping.stepstone.fetch", outputs=RawJobs, retries=2, retry_delay=0.2)
def fetch_stepstone(keywords: str = "python", limit: int = 4) -> RawJobs:
    """Fetch postings from StepStone (a blocking client, run in a worker thread)."""
    time.sleep(LATENCY_SECONDS)
    return RawJobs(
        source="stepstone",
        keywords=keywords,
        postings=fake_postings("stepstone", keywords, limit),
    )


@operation(name="scraping.linkedin.fetch", outputs=RawJobs, timeout=30)
async def fetch_linkedin(keywords: str = "python", limit: int = 4) -> RawJobs:
    """Fetch postings from LinkedIn (an async client)."""
    await asyncio.sleep(LATENCY_SECONDS)
    # A plain dict is fine: pulpo validates it into RawJobs.
    return {  # type: ignore[return-value]
        "source": "linkedin",
        "keywords": keywords,
        "postings": [
            p.model_dump() for p in fake_postings("linkedin", keywords, limit)
        ],
    }


@operation(name="scraping.merge", inputs=[RawJobs], outputs=CleanedJobs)
def merge(stepstone: RawJobs, linkedin: RawJobs) -> CleanedJobs:
    """Combine both boards, keeping the first posting of each URL."""
    seen: dict[str, JobPosting] = {}
    for posting in [*stepstone.postings, *linkedin.postings]:
        seen.setdefault(posting.url, posting)
    return CleanedJobs(
        sources=sorted({stepstone.source, linkedin.source}),
        postings=sorted(seen.values(), key=lambda p: p.url),
    )


@operation(
    name="parsing.skills.extract",
    map_over={"posting": "CleanedJobs.postings"},
    max_concurrency=8,
    outputs=PostingSkills,
)
async def extract_skills(posting: JobPosting) -> PostingSkills:
    """Find known skills in one posting's title (runs once per posting)."""
    title = posting.title.lower()
    return PostingSkills(url=posting.url, skills=[s for s in SKILLS if s in title])


@operation(name="parsing.summarize", inputs=PostingSkills, outputs=SkillReport)
def summarize(parsed: list[PostingSkills], top: int = 3) -> SkillReport:
    """Count skills across postings."""
    counts = Counter(skill for posting in parsed for skill in posting.skills)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return SkillReport(total_postings=len(parsed), top_skills=ranked[:top])


@operation(
    name="storage.save",
    inputs=CleanedJobs,
    outputs=StoredJobs,
    retries=2,
    retry_delay=0.5,
)
async def save_postings(jobs: CleanedJobs, keywords: str = "python") -> StoredJobs:
    """Upsert every posting by URL: running the flow twice leaves no duplicates."""
    for posting in jobs.postings:
        await JobRecord.find_one(JobRecord.url == posting.url).upsert(
            {"$set": {"title": posting.title, "company": posting.company}},
            on_insert=JobRecord(keywords=keywords, **posting.model_dump()),
        )
    return StoredJobs(
        saved=len(jobs.postings), total_in_database=await JobRecord.count()
    )


@operation(name="healthcheck", outputs=HealthStatus)
def healthcheck() -> HealthStatus:
    """A standalone operation: checks the example's own configuration."""
    return HealthStatus(ok=bool(SKILLS and COMPANIES), checked=["skills", "companies"])
