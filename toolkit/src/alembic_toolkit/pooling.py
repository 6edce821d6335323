"""Whether a migration's connection is one database session: what the migration lock needs.

A PostgreSQL advisory lock taken with `pg_advisory_lock` belongs to the session that took it,
until that session releases it or ends. A direct connection is one session for its whole
life. A pooler in transaction mode (PgBouncer's `pool_mode = transaction`) is not: it lends
its client whichever server session is free, one transaction at a time. Through one, in
trials, the lock meant nothing: two replicas ran in the same server session, where the lock is
re-entrant, so both took it and one revision ran twice at once; and the lock was taken in
one server session and released in another, which left it held by a session nobody would
release it from. So the migrations must connect to PostgreSQL itself, and this module is how
the lock (alembic_toolkit.lock) makes sure of it, in four steps that each stop a different way
a pooler shows itself, and that never leave a lock behind:

1. `Session.mark`, before the lock: a token is set in the session (a session-level
   `set_config`) with its backend pid read, then a second client connection (a new one, from
   the engine's own pool settings) reads the pid and token of the session it is served by.
   A direct server never gives the second client the first one's session; an idle pooler
   hands it the very session the first just gave back (PgBouncer reuses the last one freed).
2. `Session.state` in every try to take the lock, in the same transaction as the try: the
   session must still be the marked one (pid and token), and must not already hold the lock.
   Through a pooler another client's lock can sit in the session this one is lent; it is
   neither taken (the lock is re-entrant) nor released (it is not this client's).
3. While the lock is held, `Session.state` again at the start of every transaction
   (alembic_toolkit.lock watches them): a revision runs only in the marked session, and
   only while that session still holds the lock.
4. Releasing it checks the same, and a release never runs in another session.

Steps 1 and 2 cannot prove there is no pooler: a busy one may, by chance, give the second
client another session and the first its own back. Steps 3 and 4 catch the first transaction
it hands elsewhere; the lock is then in a session this client can no longer reach, and
instead of stranding it there, `free_stranded` ends that session (`pg_terminate_backend`,
allowed on a session of one's own role, waited for until its locks are gone). Every refusal
is one line (`PooledConnectionError`) that says to connect directly. What no check can
help: a migration killed outright (SIGKILL) between two transactions, after passing them
all, leaves its lock in the pooled session until the pooler closes that (PgBouncer's
server_idle_timeout); a direct connection's session ends with the process.
"""

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from alembic_toolkit.errors import PooledConnectionError

# A custom setting, per session: the token of the migration that marked the session.
SETTING = "alembic_toolkit.session"

# Runs one statement without parameters and returns its one row: on a SQLAlchemy Connection,
# or on a DBAPI cursor where SQLAlchemy hands one over (the lock's per-transaction check).
Run = Callable[[str], Sequence[Any]]


def on_connection(connection: Connection) -> Run:
    """Run statements on `connection`, in its current (or a new) transaction."""
    return lambda statement: connection.exec_driver_sql(statement).one()


def on_cursor(cursor: Any) -> Run:
    """Run statements on a DBAPI cursor."""

    def run(statement: str) -> Sequence[Any]:
        cursor.execute(statement)
        row: Sequence[Any] = cursor.fetchone()
        return row

    return run


@dataclass(frozen=True)
class State:
    """What a transaction finds about its session: pid, token, and whether it holds the lock."""

    pid: int
    token: str
    holds_lock: bool


@dataclass(frozen=True)
class Session:
    """The database session a migration marked as its own: its backend pid and token."""

    pid: int
    token: str
    # Named in refusals: where the user sets the migrations' direct connection.
    url_name: str

    @classmethod
    def mark(cls, connection: Connection, url_name: str) -> "Session":
        """Mark `connection`'s session; refuse if a second client is served by the same one."""
        token = secrets.token_hex(8)
        # Set only in a session no other migration marked: through a pooler that one may be
        # another client's, in use. The statements hold only integers and tokens of ours.
        pid, found = on_connection(connection)(
            f"SELECT pg_backend_pid(), CASE WHEN {_TOKEN} = ''"
            f" THEN set_config('{SETTING}', '{token}', false) ELSE {_TOKEN} END"
        )
        connection.commit()
        session = cls(pid, token, url_name)
        if found != token:
            session.refuse(f"its server session (pid {pid}) is marked by another migration")
        other = _second_client_view(connection)
        if other is not None and (other[0] == pid or other[1] == token):
            session.refuse(f"a second client connection was served by its session (pid {pid})")
        return session

    def state(self, run: Run, key: int) -> State:
        """The session the current transaction runs in, as seen from inside it."""
        pid, token, holds_lock = run(
            f"SELECT pg_backend_pid(), {_TOKEN}, EXISTS ({_held(key, 'pg_backend_pid()')})"
        )
        return State(pid, token, holds_lock)

    def moved(self, state: State) -> str | None:
        """Why `state` is not this session's, or None when it is."""
        if state.pid != self.pid:
            return (
                f"two of its transactions ran in different server sessions "
                f"(pids {self.pid} and {state.pid})"
            )
        if state.token != self.token:
            return f"its server session (pid {state.pid}) was marked by another migration"
        return None

    def free_stranded(self, run: Run, key: int) -> str:
        """End the marked session if it still holds the lock `key`; say what became of it."""
        freed = run(
            f"SELECT count(pg_terminate_backend(pid, {END_WAIT_MS}))"  # noqa: S608 - integers only
            f" FROM ({_held(key, str(self.pid))}) AS held"
        )
        if freed[0]:
            return f"the lock it took was freed by ending server session pid {self.pid}"
        return "the lock it took is no longer held"

    def unmark(self, run: Run) -> None:
        """Clear the mark from the session the current transaction runs in (commit to keep)."""
        run(f"SELECT set_config('{SETTING}', '', false)")

    def refuse(self, reason: str, outcome: str = "nothing was migrated") -> None:
        """Raise the one-line refusal for a connection that is not one database session."""
        raise PooledConnectionError(
            f"the migrations' database connection is not one database session: {reason}; "
            f"{outcome}. The migration lock needs one: connect the migrations to PostgreSQL "
            f"itself ({self.url_name}), not through a pooler in transaction mode (PgBouncer)"
        )


# How long ending a session may take: its locks are freed only once it has ended.
END_WAIT_MS = 5000
_TOKEN = f"coalesce(current_setting('{SETTING}', true), '')"


def _held(key: int, pid: str) -> str:
    """A query for the rows of pg_locks in which session `pid` holds the advisory lock `key`."""
    # pg_advisory_lock(bigint) splits its key: the high half is classid, the low half objid.
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    lock = f"classid::bigint = {classid} AND objid::bigint = {objid} AND objsubid = 1"
    where = f"locktype = 'advisory' AND granted AND pid = {pid} AND {lock}"
    return f"SELECT pid FROM pg_locks WHERE {where}"  # noqa: S608 - integers only


def _second_client_view(connection: Connection) -> tuple[int, str] | None:
    """The pid and token of the session a new client connection is served by, if one opens."""
    # A pool of the engine's own settings (driver, URL, connect arguments), whatever its
    # class: the engine's own pool may hold a single connection, this very one.
    pool = connection.engine.pool.recreate()
    try:
        other = pool.connect()
    except connection.dialect.loaded_dbapi.Error:
        # No room for one more connection: the other steps still stand.
        pool.dispose()
        return None
    try:
        pid, token = on_cursor(other.cursor())(f"SELECT pg_backend_pid(), {_TOKEN}")
        other.rollback()
        return pid, token
    finally:
        other.close()
        pool.dispose()
