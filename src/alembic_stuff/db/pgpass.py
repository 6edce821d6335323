"""The embedded server's password file: the .pgpass format that libpq and asyncpg both read.

One line per role, `*:*:*:role:password`, in a file its owner alone may read (0600).
"""

import os
from pathlib import Path


def passwords(path: Path) -> dict[str, str]:
    """The passwords the file holds, by role; none when there is no file yet."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    # host:port:database:role:password, written by `remember` with wildcards.
    return {
        fields[3]: fields[4]
        for fields in (line.split(":", 4) for line in lines)
        if len(fields) == 5
    }


def remember(folder: Path, path: Path, role: str, password: str) -> None:
    """Write `role`'s password into the file at `path`, in `folder`, replacing it whole."""
    known = {**passwords(path), role: password}
    folder.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(f"*:*:*:{name}:{secret}\n" for name, secret in known.items())
    staging.replace(path)
