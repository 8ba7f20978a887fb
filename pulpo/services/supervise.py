"""``python -m pulpo.services.supervise LOG MAX_BYTES EXIT_FILE -- COMMAND…``

Runs COMMAND, copies its output into LOG and keeps LOG under MAX_BYTES by rotating it
to LOG.1; writes COMMAND's exit code to EXIT_FILE when it ends. The service manager
starts this as the leader of a new session, so stopping the session stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    log, max_bytes, exit_file, separator, *command = argv
    if separator != "--" or not command:
        print(__doc__, file=sys.stderr)
        return 2
    # Signals reach the whole session; the child decides how to end, we keep copying.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, limit = Path(log), int(max_bytes)
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_default_signals,
    )
    assert child.stdout is not None
    out = path.open("ab")
    for line in iter(child.stdout.readline, b""):
        if out.tell() + len(line) > limit:
            out.close()
            os.replace(path, path.with_name(path.name + ".1"))
            out = path.open("ab")
        out.write(line)
        out.flush()
    code = child.wait()
    out.close()
    Path(exit_file).write_text(str(code))
    return code


def _default_signals() -> None:
    # A shell's background job inherits SIGINT ignored; Prefect's worker turns SIGTERM
    # into SIGINT and would then never stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
