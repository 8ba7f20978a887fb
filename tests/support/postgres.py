"""A throwaway PostgreSQL cluster for tests: initdb into a folder, start, stop.

Uses Debian's PostgreSQL binaries (``make test`` installs them when missing). As root,
the server runs as the ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL binaries not found: `make test` installs them "
            "(apt-get install postgresql)"
        )
    return Path(found[-1]).parent


class Cluster:
    """A PostgreSQL server on ``port`` with trust auth for user ``pulpo``."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.bin = binaries()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql://pulpo@127.0.0.1:{port}/prefect"
        folder.mkdir(parents=True, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            shutil.chown(folder, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        subprocess.run(
            args, check=True, capture_output=True, user=self.user, cwd=self.folder
        )

    def start(self) -> str:
        data = str(self.folder / "data")
        self._run(str(self.bin / "initdb"), "-D", data, "-A", "trust", "-U", "pulpo")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"), "-D", data, "-o", options, "-w",
            "-l", str(self.folder / "log"), "start",
        )  # fmt: skip
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "pulpo", "prefect",
        )  # fmt: skip
        return self.url

    def query(self, sql: str) -> str:
        result = subprocess.run(
            [
                str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", "pulpo", "-d", "prefect", "-At", "-c", sql,
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return result.stdout.strip()

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown)."""
        if not (self.folder / "data" / "postmaster.pid").exists():
            return
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
            "-w", "stop",
        )  # fmt: skip
