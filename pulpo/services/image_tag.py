"""Names tying Docker objects to a project: its image repository and label value."""

from __future__ import annotations

from pulpo.errors import ServiceError
from pulpo.project import Project
from pulpo.services.processes import project_key

TAG_FILE = "image"
"""File in ``run_cache/docker/`` naming the image the last build made or found."""


def image_repository(project: Project) -> str:
    """``pulpo-<project>`` in the lower case Docker requires."""
    name = "".join(c if c.isalnum() else "-" for c in project.name.lower()).strip("-")
    return f"pulpo-{name or 'project'}"


def project_label(project: Project) -> str:
    """The value of the project label: a key of the project's directory, so that two
    projects of the same name never take each other's containers."""
    return project_key(project.root)


def built_image(project: Project) -> str:
    """The tag of the project's image, as the last ``pulpo build`` recorded it.

    Raises:
        ServiceError: no image was built yet.
    """
    path = project.run_cache / "docker" / TAG_FILE
    try:
        return path.read_text().strip()
    except OSError:
        raise ServiceError(
            "the project has no image yet; run `pulpo build --image`"
        ) from None
