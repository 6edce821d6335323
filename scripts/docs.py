"""Build the documentation site from docs/ and serve it locally: `pipenv run docs`.

    pipenv run docs                 build, then serve on http://127.0.0.1:8000 until Ctrl-C
    pipenv run docs --port 8001     another port
    pipenv run docs --no-serve      build only (tests/docs/test_site.py does this)

The build is the strict one CI runs: any warning (a broken link between pages, a page left out
of every table of contents, a docstring autodoc cannot read) fails it, and it reads nothing
from the internet.
"""

import argparse
import functools
import http.server
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def build(out: Path) -> None:
    """Build the HTML site into `out`, warnings as errors; exit 1 in one line if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, out],
        check=False,
    )
    if result.returncode != 0:
        sys.exit("docs: the build failed on the warnings above: fix each, then run it again")
    print(f"docs: built {out}")


def serve(folder: Path, port: int) -> None:
    """Serve `folder` on loopback until Ctrl-C."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"docs: serving http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("docs: stopped")


def main() -> None:
    """Build the site, then serve it unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="Serve on this port (8000).")
    parser.add_argument("--no-serve", action="store_true", help="Build only.")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "docs", help="Build here.")
    options = parser.parse_args()
    build(options.out)
    if not options.no_serve:
        try:
            serve(options.out, options.port)
        except OSError as exc:
            sys.exit(f"docs: cannot serve on port {options.port} ({exc.strerror}): use --port")


if __name__ == "__main__":
    main()
