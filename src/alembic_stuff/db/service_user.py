"""The system user the embedded PostgreSQL runs as when we are root, which PostgreSQL refuses.

Development tooling, like the embedded server itself: filelock is a development dependency.
"""

import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from filelock import FileLock

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; when we are root the server runs as this system user.
SERVICE_USER = "embedded_postgres"


def service_user() -> str | None:
    """The user the server runs as: ourselves, or a dedicated system user when we are root."""
    if os.geteuid() != 0:
        return None
    if user_exists(SERVICE_USER):
        return SERVICE_USER
    # Concurrent useradd runs (parallel test workers on a fresh machine) can each write the
    # user with a different uid, the last one winning: a server started as a loser's uid
    # finds no such user. One at a time, and only by whoever still finds it missing.
    with FileLock(Path(tempfile.gettempdir()) / f"{SERVICE_USER}-useradd.lock"):
        if not user_exists(SERVICE_USER):
            subprocess.run(
                [
                    shutil.which("useradd") or "/usr/sbin/useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )
    return SERVICE_USER


def user_exists(name: str) -> bool:
    """Whether the system has a user `name`."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def as_service_user() -> dict[str, Any]:
    """Subprocess arguments that drop root to the service user, its group and no others."""
    user = service_user()
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def chown_to_service_user(path: Path) -> None:
    """Give `path` to the service user, when the server runs as one."""
    user = service_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def make_reachable(binaries: Path, data_dir: Path) -> None:
    """As root, let the service user traverse to the binaries and the data (o+x only)."""
    if service_user() is None:
        return
    for target in (binaries, data_dir):
        for folder in (target, *target.parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                log.info("granting others traverse (o+x) on %s for %s", folder, SERVICE_USER)
                folder.chmod(mode | stat.S_IXOTH)
    chown_to_service_user(data_dir)
