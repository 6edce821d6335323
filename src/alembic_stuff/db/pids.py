"""Processes by pid, as the embedded server's pid files name them (a zombie is not alive).

Development tooling, like the embedded server itself: psutil is a development dependency.
"""

from pathlib import Path

import psutil


def read_pid(path: Path) -> int | None:
    """The pid a file holds alone, or None when it is missing or not a number."""
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def read_pid_line(path: Path) -> int | None:
    """The pid on a file's first line (postmaster.pid's), or None."""
    try:
        return int(path.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None


def is_zombie(pid: int) -> bool:
    """True when `pid` has exited but not been reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs, a zombie not counted."""
    # pid_exists counts a process of another user (EPERM) as alive, and a zombie too.
    return psutil.pid_exists(pid) and not is_zombie(pid)
