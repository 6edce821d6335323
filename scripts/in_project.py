"""Run a command from the project folder, wherever inside the project it was started.

`pipenv run test` and `pipenv run bench` go through this: pytest only finds its test folders,
and `python -m bench.run` its package, when started from the project folder.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Change to the project folder and replace this process with the command."""
    if len(sys.argv) < 2:
        sys.exit("usage: in_project.py COMMAND [ARGUMENTS...]")
    os.chdir(ROOT)
    os.execvp(sys.argv[1], sys.argv[1:])  # noqa: S606 - the command replaces us, as a shell would


if __name__ == "__main__":
    main()
