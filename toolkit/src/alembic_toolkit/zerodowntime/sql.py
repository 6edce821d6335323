"""Small SQL building blocks shared by the helpers: quoting and generating names, settings."""

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Connection, Dialect, TextClause, text
from sqlalchemy.exc import DBAPIError

# PostgreSQL truncates identifiers to 63 bytes; longer generated names get a hash suffix.
MAX_IDENTIFIER = 63


def quote(dialect: Dialect, name: str) -> str:
    """Quote one identifier the way the dialect does."""
    return dialect.identifier_preparer.quote(name)


def quote_always(name: str) -> str:
    """Quote one identifier whatever it is: PL/pgSQL keywords (`by`, `loop`) are not SQL's."""
    return '"' + name.replace('"', '""') + '"'


def qualified(dialect: Dialect, name: str, schema: str | None) -> str:
    """Quote `name`, prefixed by its quoted schema when one is given."""
    quoted = quote(dialect, name)
    if schema is None:
        return quoted
    return f"{dialect.identifier_preparer.quote_schema(schema)}.{quoted}"


def first_line(error: DBAPIError) -> str:
    """The server's message for a driver error, on one line."""
    return str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else str(error)


def generated_name(*parts: str) -> str:
    """A deterministic identifier from `parts`, shortened with a hash to fit PostgreSQL's limit."""
    name = "_".join(parts)
    if len(name.encode()) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name.encode()[: MAX_IDENTIFIER - 9].decode(errors='ignore')}_{digest}"


def seconds_setting(seconds: float) -> str:
    """A PostgreSQL duration setting for `seconds` ('0' disables the timeout)."""
    return f"{round(seconds * 1000)}ms"


PROBE_TABLE = "zd_probe"


@contextmanager
def table_probe(connection: Connection, table: str, schema: str | None) -> Iterator[str]:
    """An empty temporary copy of `table`'s columns, named as yielded, dropped after the block.

    Building an index or a constraint on it, as asked, lets PostgreSQL print the definition
    asked for the way it prints the one it has, so the two compare as text; the copy takes
    no lock that blocks writes to `table`.
    """
    source = qualified(connection.dialect, table, schema)
    connection.execute(text(f"CREATE TEMPORARY TABLE {PROBE_TABLE} (LIKE {source})"))
    try:
        yield PROBE_TABLE
    finally:
        connection.execute(text(f"DROP TABLE IF EXISTS pg_temp.{PROBE_TABLE}"))


@contextmanager
def session_settings(connection: Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """Set PostgreSQL settings for the session while the block runs, then restore them.

    For autocommit blocks, where there is no transaction for `SET LOCAL` to end with.
    """
    read = text("SELECT current_setting(:name)")
    write = text("SELECT set_config(:name, :value, false)")
    previous = {name: connection.execute(read, {"name": name}).scalar_one() for name in settings}
    for name, value in settings.items():
        connection.execute(write, {"name": name, "value": value})
    try:
        yield
    finally:
        for name, value in previous.items():
            connection.execute(write, {"name": name, "value": value})


def catalog_state(
    connection: Connection,
    query: TextClause,
    parameters: Mapping[str, str],
    states: tuple[str, str],
) -> str:
    """One of `states` (for a true and a false answer to `query`), or 'missing' for no row."""
    answer = connection.execute(query, parameters).scalar()
    if answer is None:
        return "missing"
    return states[0] if answer else states[1]
