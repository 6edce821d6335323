"""The `alembic-toolkit` command: the toolkit's commands, and Alembic's own for the rest.

`generate`, `upgrade`, `expand`, `contract`, `sql`, `guard`, `lint`, `release` and `check`
are the toolkit's (alembic_toolkit.commands). Any other command (`current`, `history`, `downgrade`,
`stamp`, `revision`, ...) is handed to Alembic's own command line, so `alembic-toolkit` can
stand in for `alembic`. The options before the command (`-c`, `-n`, `-x`) mean what they mean
to `alembic`; `--version` names the toolkit's version and Alembic's.
"""

import configparser
import inspect
import os
import sys
import traceback
from argparse import SUPPRESS, ArgumentParser, Namespace, RawDescriptionHelpFormatter
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from pathlib import Path
from typing import NoReturn

import alembic.command
from alembic.config import CommandLine, Config
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from alembic_toolkit import __version__, commands
from alembic_toolkit.errors import FindingsError
from alembic_toolkit.review.markers import MarkerError
from alembic_toolkit.zerodowntime.sql import first_line

# What a shell reports for a program ended by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
# What Alembic's own command line exits with on an error (`sys.exit(-1)`).
ALEMBIC_FAILED = 255

EPILOG = """Any other command is Alembic's own, run as `alembic` runs it (current, history,
downgrade, stamp, revision, ...): `alembic --help` lists them. `check` here is readiness;
Alembic's own `check` (has autogenerate anything to write?) is `alembic check`.
Exit codes: 0 done, 1 refused or found problems (one line says what to do), 2 bad usage."""

GUARD = """Read every revision's source (nothing runs, no database needed) and fail on any
drop, narrowing type change or destructive SQL that the revision does not acknowledge with a
reason:

    destroys_data = {"upgrade: drop_column users.email": "why losing it is fine"}

On a history with expand and contract branches, also fail on an expand revision that drops,
narrows or renames, and on a contract revision naming no expand revision in depends_on; and
when alembic.ini names a release module, on one that does not match the revisions.
Exit 0 when nothing is found, 1 with one line per problem otherwise."""

LINT = """Write each revision's upgrade SQL offline (Alembic's --sql mode, no database
needed) and lint it with squawk (the squawk-cli package: pip install 'alembic-toolkit[lint]').
Rules excluded for every revision, each with its reason, go in .squawk.toml beside
alembic.ini; a revision accepts a rule for itself with a reason:

    squawk_accepts = {"prefer-bigint-over-int": "why int is enough"}

Run it where env.py's imports work. Exit 0 when squawk finds nothing, 1 otherwise."""

TOOLKIT_COMMANDS = frozenset(
    {"generate", "upgrade", "expand", "contract", "sql", "guard", "lint", "release", "check"}
)
SKIP_GUARD = "Apply pending revisions even when the destructive-change guard refuses them."
FORCE = "Contract even while a replica of a release that does not survive it serves."


def distribution_version(name: str) -> str:
    """The installed version of the distribution `name`, from its metadata."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


def versions() -> str:
    """What `alembic-toolkit --version` prints: the toolkit's version, then Alembic's."""
    return f"alembic-toolkit {__version__} (Alembic {distribution_version('alembic')})"


class OneLineParser(ArgumentParser):
    """A parser whose usage errors are one line naming the help, not the usage and the error."""

    def error(self, message: str) -> NoReturn:
        """Print one line saying what is wrong and where the help is; exit 2."""
        self.exit(2, f"{self.prog}: {message}; `{self.prog} --help` says what it takes\n")


def parser() -> ArgumentParser:
    """The command line of the toolkit's own commands."""
    top = OneLineParser(
        prog="alembic-toolkit",
        description="Safer PostgreSQL schema changes for an Alembic project.",
        epilog=EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=versions())
    top.add_argument("-c", "--config", help="Alembic's configuration file (default alembic.ini).")
    top.add_argument("-n", "--name", default="alembic", help="Its section (default alembic).")
    top.add_argument("-x", action="append", help="Arguments for env.py, as for `alembic`.")
    top.add_argument("--raiseerr", action="store_true", help="Raise a full traceback on error.")
    sub = top.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, run: Callable[..., None], description: str | None = None) -> ArgumentParser:
        summary = (run.__doc__ or "").splitlines()[0]
        each = sub.add_parser(
            name,
            help=summary,
            description=description or summary,
            formatter_class=RawDescriptionHelpFormatter,
        )
        each.set_defaults(run=run)
        # As after Alembic's own commands: `pipenv run alembic-revision -m "..." -x rename=...`.
        each.add_argument("-x", action="append", default=SUPPRESS, help="As before the command.")
        return each

    generate = add("generate", commands.generate)
    generate.add_argument("-m", "--message", required=True, help="What the revision does.")
    branch = generate.add_mutually_exclusive_group()
    branch.add_argument("--expand", action="store_true", help="Onto the expand branch (default).")
    branch.add_argument(
        "--contract",
        action="store_true",
        help="Onto the contract branch: removals, depending on the expand head.",
    )
    upgrade = add("upgrade", commands.upgrade)
    upgrade.add_argument("target", nargs="?", default="heads", help="Default: heads.")
    for each in (upgrade, add("expand", commands.expand), add("contract", commands.contract)):
        each.add_argument("--skip-guard", action="store_true", help=SKIP_GUARD)
        if each.prog.split()[-1] != "expand":
            each.add_argument("--force", action="store_true", help=FORCE)
    sql = add("sql", commands.sql)
    sql.add_argument(
        "revisions", nargs="?", help="FROM:TO, e.g. base:heads; default: what is pending."
    )
    sql.add_argument("--downgrade", action="store_true", help="The downgrade's SQL instead.")
    guard = add("guard", commands.guard, GUARD)
    guard.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="Revision files to read (what pre-commit passes); default: every revision.",
    )
    add("lint", commands.lint, LINT)
    add("release", commands.release)
    add("check", commands.check)
    return top


def _fail(message: str, problems: Sequence[str] = ()) -> NoReturn:
    for problem in problems:
        print(problem)
    print(f"FAILED: {message}")
    raise SystemExit(1)


def _run(options: Namespace) -> None:
    name = options.config or os.environ.get("ALEMBIC_CONFIG", "alembic.ini")
    config = Config(file_=name, ini_section=options.name, cmd_opts=options)
    arguments = {
        key: value
        for key, value in vars(options).items()
        if key not in {"config", "name", "x", "raiseerr", "run", "expand"}
    }
    target = arguments.pop("target", None) or arguments.pop("revisions", None)
    positional = [target] if target is not None else []
    try:
        options.run(config, *positional, **arguments)
    except FindingsError as exc:
        if options.raiseerr:
            raise
        _fail(str(exc), exc.problems)
    except (CommandError, MarkerError) as exc:
        if options.raiseerr:
            raise
        _fail(str(exc))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    word = _command_word(arguments)
    alembics = word is not None and word not in TOOLKIT_COMMANDS
    try:
        if alembics:
            if word not in alembic_commands():
                parser().error(f"no command {word!r}")
            if word not in {"init", "list_templates"}:
                _config_file_or_exit(arguments)
            CommandLine(prog="alembic-toolkit").main(arguments)
            return
        options = parser().parse_args(arguments)
        if getattr(options, "run", None) is None:
            parser().error("name a command")
        _run(options)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    except configparser.Error as exc:
        if "--raiseerr" in arguments:
            raise
        print(
            f"FAILED: {_config_name(arguments)} cannot be read: {' '.join(str(exc).split())}; fix "
            "it and "
            "run this again"
        )
        raise SystemExit(ALEMBIC_FAILED if alembics else 1) from None
    except (ImportError, SyntaxError, OSError, DBAPIError) as exc:
        # What env.py or a revision raises on the way, which Alembic leaves as a traceback:
        # one line, with Alembic's exit code for its own commands.
        if "--raiseerr" in arguments:
            raise
        print(f"FAILED: {_describe(exc, _project_folder(arguments))}")
        raise SystemExit(ALEMBIC_FAILED if alembics else 1) from None
    except Exception as exc:
        # A bug in a revision or env.py (a name it never imported, say): one line naming the
        # project's file and line. One raised in the toolkit's own code keeps its traceback.
        folder = _project_folder(arguments)
        if "--raiseerr" in arguments or _project_frame(exc, folder) is None:
            raise
        print(
            f"FAILED: {_describe(exc, folder)}: a revision or env.py failed; fix it and run "
            "this again (--raiseerr shows the traceback)"
        )
        raise SystemExit(ALEMBIC_FAILED if alembics else 1) from None


def _config_name(arguments: list[str]) -> str:
    """The configuration file the command line names, as Alembic finds it."""
    given = [value for option, value in pairwise(arguments) if option in {"-c", "--config"}]
    given += [word.partition("=")[2] for word in arguments if word.startswith("--config=")]
    return given[-1] if given else os.environ.get("ALEMBIC_CONFIG", "alembic.ini")


def _project_folder(arguments: list[str]) -> Path:
    """The project's folder: its configuration file's, wherever the command runs from."""
    return Path(_config_name(arguments)).resolve().parent


def _config_file_or_exit(arguments: list[str]) -> None:
    """End Alembic's command in one line, as the toolkit's, when its alembic.ini is missing."""
    name = _config_name(arguments)
    if not Path(name).is_file():
        print(
            f"FAILED: {name} not found: run alembic-toolkit in the folder that holds it, or name "
            "it with -c PATH"
        )
        raise SystemExit(ALEMBIC_FAILED)


def _describe(exc: BaseException, folder: Path) -> str:
    """One line for an error env.py or a revision raised: what, where, and what to do."""
    if isinstance(exc, DBAPIError):
        return (
            f"database error: {first_line(exc)} (if it could not connect: check the URL env.py "
            "connects to, and that the server is running)"
        )
    detail = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, (ImportError, SyntaxError)):
        return (
            f"{type(exc).__name__}: {detail} ({_where(exc, folder)}): env.py or a revision does "
            "not load; fix it and run this again"
        )
    if isinstance(exc, ConnectionError):  # asyncpg's, where psycopg's is a DBAPIError
        return (
            f"{type(exc).__name__}: {detail} (check the URL env.py connects to, and that the "
            "server is running)"
        )
    return f"{type(exc).__name__}: {detail} ({_where(exc, folder)})"


def _where(exc: BaseException, folder: Path) -> str:
    """The file and line of the project's that raised `exc` (a path relative to here)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{os.path.relpath(exc.filename)}:{exc.lineno}"
    return _project_frame(exc, folder) or "outside the project's folder"


def _project_frame(exc: BaseException, folder: Path) -> str | None:
    """The innermost `path:line` of `exc`'s traceback in the project's own files, if any.

    The path is relative to the folder the command runs in. Neither an installed package's
    files nor the toolkit's own are the project's, even where the toolkit is installed from a
    folder inside it (as in its own repository).
    """
    toolkit = Path(__file__).resolve().parent
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if (
            path.is_absolute()
            and path.is_relative_to(folder)
            and not path.is_relative_to(toolkit)
            and "site-packages" not in path.parts
        ):
            return f"{os.path.relpath(path)}:{frame.lineno}"
    return None


def alembic_commands() -> set[str]:
    """The commands of Alembic's own command line: the functions of `alembic.command`."""
    return {
        name
        for name, function in inspect.getmembers(alembic.command, inspect.isfunction)
        if function.__module__ == alembic.command.__name__ and not name.startswith("_")
    }


def _command_word(arguments: list[str]) -> str | None:
    """The command named in `arguments`: the first word that is not an option or its value."""
    takes_value = {"-c", "--config", "-n", "--name", "-x"}
    words = iter(arguments)
    for word in words:
        if word in takes_value:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None
