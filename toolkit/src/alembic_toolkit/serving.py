"""The releases serving a database: whether each can (readiness), and which are up (registry).

Readiness follows what a release survives, read from the record of applied revisions
(alembic_toolkit.ledger), never from the heads in alembic_version: an older release stays
ready through any number of expand revisions applied after it, and turns unready only once a
contract revision it does not survive is applied.

The registry: each replica renews its entry (`heartbeat`) every few seconds, saying which
contract revision its release survives; an entry not renewed expires, so a replica killed
with SIGKILL drops out after its time to live. `alembic-contract` refuses to remove what a
live replica still uses (`blocking_replicas`). It works behind a transaction pooler, since
each renewal is one transaction, and sees an idle replica, since it holds no connection open.
A registry created on a database that was migrated before it may not yet list a replica that
served already (that one registers at its next heartbeat): a contract waits for it
(`registration_wait`).
"""

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from alembic_toolkit import ledger
from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.objects import REGISTRY_TABLE, REPLICA_TABLE, SCHEMA

# After how many missed renewals an entry expires: one late renewal must not drop a replica.
MISSED_BEATS = 3
# How long after the registry is created on a migrated database a contract waits, at least:
# one time to live at a heartbeat every 5 s, within which a replica that served already has
# had its next heartbeat. Entries that live longer make the wait as long as they live.
REGISTRATION_SECONDS = 15.0


def schema_problem(connection: Connection, release: SchemaRelease) -> str | None:
    """Why the database cannot serve `release`, or None when it can (one statement)."""
    try:
        applied = ledger.read(connection)
    except ProgrammingError:
        # No record yet: the database was never migrated with the toolkit.
        return (
            f"the database has no {SCHEMA} record of applied revisions: run the migrations "
            "(any upgrade, even with nothing pending, writes it)"
        )
    return release.judge(applied)


@dataclass(frozen=True)
class Replica:
    """One serving process of a release, as the registry names it."""

    label: str
    release: SchemaRelease
    instance: str = field(default_factory=lambda: str(uuid.uuid4()))
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


def heartbeat(
    connection: Connection,
    replica: Replica,
    ttl_seconds: float,
    *,
    timeout_seconds: float | None = None,
) -> None:
    """Renew `replica`'s entry for `ttl_seconds` more (creating it the first time).

    With `timeout_seconds`, the renewal fails once it has waited that long for a lock (one
    held on the entry), or twice that in all, rather than waiting on.
    """
    if timeout_seconds is not None:
        # Local to the transaction (SET LOCAL), so a pooler's next client does not inherit it.
        # A lock held on the entry is what blocks a renewal, and says so when it fails; the
        # statement's bound, twice that, covers any other wait.
        connection.execute(
            text(
                "SELECT set_config('lock_timeout', :lock, true),"
                " set_config('statement_timeout', :statement, true)"
            ),
            {"lock": _ms(timeout_seconds), "statement": _ms(2 * timeout_seconds)},
        )
    connection.execute(
        text(
            "SELECT zerodowntime.heartbeat(:instance, :label, :survives, :needs, :host, :pid, :ttl)"
        ),
        {
            "instance": replica.instance,
            "label": replica.label,
            "survives": replica.release.contract_head,
            "needs": replica.release.expand_head,
            "host": replica.host,
            "pid": replica.pid,
            "ttl": ttl_seconds,
        },
    )


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def leave(connection: Connection, replica: Replica) -> None:
    """Remove `replica`'s entry: it stops serving."""
    connection.execute(text("SELECT zerodowntime.leave(:instance)"), {"instance": replica.instance})


@dataclass(frozen=True)
class Entry:
    """A live entry of the registry."""

    label: str
    host: str | None
    pid: int | None
    survives_contract: str | None
    seen_at: datetime
    expires_at: datetime

    @property
    def lifetime_seconds(self) -> float:
        """How long after its last heartbeat the entry expires."""
        return (self.expires_at - self.seen_at).total_seconds()

    def describe(self) -> str:
        """The replica in a few words, as an operator finds it."""
        where = f"pid {self.pid} on {self.host}" if self.host else f"pid {self.pid}"
        return f"{self.label} ({where}, surviving contract {self.survives_contract})"


def _exists(connection: Connection, table: str) -> bool:
    found = connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": table})
    return bool(found.scalar_one())


def registry_exists(connection: Connection) -> bool:
    """Whether the database has the registry of serving replicas."""
    return _exists(connection, REPLICA_TABLE)


def live_entries(connection: Connection) -> list[Entry]:
    """The replicas whose entry has not expired, oldest first; none when there is no registry."""
    if not registry_exists(connection):
        return []
    rows = connection.execute(
        text(
            "SELECT label, host, pid, survives_contract, seen_at, expires_at"
            " FROM zerodowntime.serving_replica"
            " WHERE expires_at > now() ORDER BY started_at, instance"
        )
    )
    return [Entry(*row) for row in rows]


def registration_wait(connection: Connection, *, migrated: bool) -> float:
    """Seconds before a replica that served before the registry existed must be in it; or 0.

    A replica of a release with the registry that started before its objects existed cannot
    register until its next heartbeat after they are created. `migrated`: whether the
    database has applied revisions, i.e. whether a release can be serving from it; without a
    registry, the whole wait is still ahead (it starts when a migration creates it).
    """
    window = max([REGISTRATION_SECONDS, *(e.lifetime_seconds for e in live_entries(connection))])
    if not registry_exists(connection):
        return window if migrated else 0.0
    if not _exists(connection, REGISTRY_TABLE):
        return 0.0  # a registry from before this record: its replicas have registered long since
    age = connection.execute(
        text(
            "SELECT extract(epoch FROM now() - created_at) FROM zerodowntime.registry"
            " WHERE migrated_before"
        )
    ).scalar()
    return 0.0 if age is None else max(0.0, window - float(age))


@dataclass(frozen=True)
class Blocking:
    """A live replica whose release does not survive a pending contract revision."""

    entry: Entry
    fatal: str
    """The first pending contract revision it does not survive."""


def blocking_replicas(
    connection: Connection, script: ScriptDirectory, pending: Iterable[str]
) -> list[Blocking]:
    """Live replicas that would break if the `pending` contract revisions were applied."""
    pending = list(pending)
    known = {revision.revision for revision in script.walk_revisions()}
    found: list[Blocking] = []
    for entry in live_entries(connection):
        survived = entry.survives_contract
        if survived is None or survived not in known:
            continue  # a newer release (or another project's): it knows more than we do
        survives = {r.revision for r in script.iterate_revisions(survived, "base")}
        fatal = [revision for revision in reversed(pending) if revision not in survives]
        if fatal:
            found.append(Blocking(entry, fatal[0]))
    return found
