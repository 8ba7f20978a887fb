"""What a task-runner worker would otherwise do at its first task; the forkserver
imports this once, and every worker it forks starts with it done.

Prefect loads its installed collections (entry points such as prefect-dask, which
imports Dask, and prefect-docker) the first time a worker hydrates a task's context:
about 0.5 s per worker on two cores, before the first task can start.
"""

# Imported only by the forkserver (its preload list), never on the CLI path.
from prefect.plugins import load_prefect_collections  # noqa: TID253

load_prefect_collections()
