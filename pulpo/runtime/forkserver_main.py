"""Runs the command's script in the forkserver, so that the workers forked from it
do not each run it again at their start.

Every worker of a ``forkserver`` pool first runs the parent's ``__main__`` script (as
``__mp_main__``) unless the ``__main__`` it inherits already is that script. For
`pulpo prefect run` the script is the CLI, which imports Typer: about 0.1 s per worker
before its first task; for a flow module run as a script, the whole module.
multiprocessing's own ``"__main__"`` preload would do this, but Python 3.11 never
hands the forkserver the script's path (it asks for ``main_path`` where the
preparation data says ``init_main_from_path``), so it does nothing.
"""

# Imported only by the forkserver (its preload list), never on the CLI path.
import os
from multiprocessing import process, spawn

from pulpo.runtime.forkserver import MAIN_SCRIPT

_script = os.environ.get(MAIN_SCRIPT)
if _script:
    process.current_process()._inheriting = True  # type: ignore[attr-defined]
    try:
        spawn.import_main_path(_script)
    except Exception:  # noqa: BLE001, S110 - each worker then runs it, and reports it
        pass
    finally:
        del process.current_process()._inheriting  # type: ignore[attr-defined]
