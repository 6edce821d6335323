"""Waiting for a server started in another process (by the tests or the bench) to answer."""

import subprocess
import time
from typing import Any

import httpx


def answers(url: str, process: subprocess.Popen[Any], seconds: float) -> bool:
    """Poll `url` until it answers 200 (True), or until `process` exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    # One client for every poll: each new one loads the CA certificates, CPU the server that
    # is starting needs more.
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get(url).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return False
