"""Headless Chromium on a page served from loopback, with every other host unresolvable.

What the docs-page and docs-site tests load a page with: a script or font fetched from a CDN
would fail to resolve, so a page that renders proves it needs no internet.
"""

import subprocess

from support.programs import required


def offline_chromium(url: str, *options: str, profile: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on `url` with `options` (e.g. --dump-dom), in profile `profile`."""
    return subprocess.run(
        [
            required("chromium", "chromium-browser", package="chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            *options,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
