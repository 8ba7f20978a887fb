"""How class names become Python identifiers and URL segments, one rule for both."""

from __future__ import annotations

import re

# Before an upper-case letter that follows a lower-case letter or digit, before the
# last capital of an acronym that starts a word (HTTPLog: HTTP|Log), and at "_".
_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|_+")


def words(name: str) -> list[str]:
    """``HTTPLog`` → ``["http", "log"]``; digits stay with their word (``S3Object``)."""
    return [word.lower() for word in _BOUNDARY.split(name) if word]


def snake_case(name: str) -> str:
    """``CleanedJobs`` → ``cleaned_jobs``, ``HTTPLog`` → ``http_log``."""
    return "_".join(words(name)) or name.lower()


def kebab_plural(name: str) -> str:
    """``JobRecord`` → ``job-records``: how a document's collection appears in URLs."""
    parts = words(name) or [name.lower()]
    parts[-1] = plural(parts[-1])
    return "-".join(parts)


def plural(word: str) -> str:
    """An English plural good enough for names: box → boxes, day → days."""
    if word.endswith(("ss", "us", "is", "x", "z", "ch", "sh")):
        return f"{word}es"
    if word.endswith("s"):  # already plural: RawJobs → raw-jobs
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return f"{word[:-1]}ies"
    return f"{word}s"
