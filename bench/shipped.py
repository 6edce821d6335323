"""Serving any app the bench measures the way `alembic-stuff serve` serves alembic-stuff.

The comparison is fair only when every app pays for the same server: the same documented
uvicorn settings (`server_options`, the function `serve` itself uses), uvloop and httptools,
and an access-log line per request, written by uvicorn's own access logger at its default
level. alembic-stuff itself is served by `alembic-stuff serve`; this module serves the others.

    python -m bench.shipped bench.peer:app --port 8000
    python -m bench.shipped bench.greenlet_data_path:create_app --factory --port 8000
"""

import argparse

import uvicorn

from alembic_stuff.api.server import server_options
from alembic_stuff.settings import get_settings


def main() -> None:
    """Serve the app named on the command line until SIGTERM."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("target", help="module:attribute, as uvicorn takes it")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--factory", action="store_true", help="the target builds the app")
    args = parser.parse_args()
    uvicorn.run(
        args.target,
        factory=args.factory,
        host="127.0.0.1",
        port=args.port,
        access_log=True,
        **server_options(get_settings()),
    )


if __name__ == "__main__":
    main()
