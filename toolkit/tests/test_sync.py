"""Two-way sync triggers under concurrent writes from both releases, while a backfill runs."""

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest
from alembic_toolkit.zerodowntime import (
    StreamProgress,
    ZeroDowntimeError,
    backfill,
    create_sync_triggers,
    drop_sync_triggers,
    sync_names,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text
from toolkit_support import migration_operations

KEYS = 4


@dataclass(frozen=True)
class Change:
    """A column being renamed or retyped, and how a value is written on each side."""

    old: str
    new: str
    old_type: str
    new_type: str
    to_new: str | None
    to_old: str | None
    old_value: Callable[[int], object]
    new_value: Callable[[int], object]


RENAME = Change(
    "title", "headline", "text", "text", None, None, lambda v: f"t{v}", lambda v: f"t{v}"
)
RETYPE = Change(
    "quantity", "amount", "text", "integer", "quantity::integer", "amount::text", str, lambda v: v
)


@dataclass(frozen=True)
class Write:
    side: str  # "old": the previous release, writing the old column; "new": the next release
    kind: str  # "upsert", "update" or "delete"
    key: int
    value: int


WRITES = st.lists(
    st.builds(
        Write,
        side=st.sampled_from(["old", "new"]),
        kind=st.sampled_from(["upsert", "upsert", "update", "delete"]),
        key=st.integers(0, KEYS - 1),
        value=st.integers(0, 999),
    ),
    max_size=40,
)


def reset(engine: Engine, change: Change, seeded: list[int]) -> None:
    """The table as the expand step leaves it: rows written by the old release only."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS item"))
        connection.execute(text("DROP SCHEMA IF EXISTS zerodowntime CASCADE"))
        connection.execute(text("DROP SEQUENCE IF EXISTS stamp"))
        connection.execute(text("CREATE SEQUENCE stamp"))
        connection.execute(
            text(f"CREATE TABLE item (id integer PRIMARY KEY, {change.old} {change.old_type})")
        )
        for key in seeded:
            connection.execute(
                text(f"INSERT INTO item (id, {change.old}) VALUES (:k, :v)"),  # noqa: S608
                {"k": key, "v": change.old_value(1000 + key)},
            )
        connection.execute(text(f"ALTER TABLE item ADD COLUMN {change.new} {change.new_type}"))
    with engine.connect() as connection, migration_operations(connection):
        create_sync_triggers(
            "item", change.old, change.new, to_new=change.to_new, to_old=change.to_old
        )


def apply(connection: Connection, change: Change, write: Write) -> int | None:
    """Run one write as its release would; the stamp orders writes to the same row."""
    column = change.old if write.side == "old" else change.new
    value = (change.old_value if write.side == "old" else change.new_value)(write.value)
    # RETURNING runs while the row is locked, so stamps follow the order rows were written in.
    upsert = f"INSERT INTO item (id, {column}) VALUES (:k, :v) ON CONFLICT (id) DO UPDATE"  # noqa: S608
    statements = {
        "upsert": f"{upsert} SET {column} = EXCLUDED.{column} RETURNING nextval('stamp')",
        "update": f"UPDATE item SET {column} = :v WHERE id = :k RETURNING nextval('stamp')",  # noqa: S608
        "delete": "DELETE FROM item WHERE id = :k RETURNING nextval('stamp')",
    }
    stamp: int | None = connection.execute(
        text(statements[write.kind]), {"k": write.key, "v": value}
    ).scalar()
    return stamp


def release(
    engine: Engine,
    change: Change,
    writes: list[Write],
    start: threading.Barrier,
    done: list[tuple[int, Write]],
) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        start.wait()
        for write in writes:
            stamp = apply(connection, change, write)
            if stamp is not None:
                done.append((stamp, write))


def backfilling(engine: Engine, change: Change, start: threading.Barrier) -> None:
    with engine.connect() as connection, migration_operations(connection):
        start.wait()
        backfill(
            "item",
            {change.new: change.to_new or change.old},
            batch_size=1,
            progress=StreamProgress(io.StringIO()),
        )


def run_together(work: list[Callable[[], None]]) -> None:
    """Run each function in a thread of its own; re-raise the first error any of them met."""
    errors: list[BaseException] = []

    def guarded(function: Callable[[], None]) -> None:
        try:
            function()
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(function,)) for function in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]


@pytest.mark.parametrize("change", [RENAME, RETYPE], ids=["rename", "retype"])
@settings(
    derandomize=True,
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=WRITES, seeded=st.lists(st.integers(0, KEYS - 1), unique=True))
def test_both_releases_writing_at_once_always_read_what_was_last_written(
    engine: Engine, change: Change, writes: list[Write], seeded: list[int]
) -> None:
    reset(engine, change, seeded)
    done: list[tuple[int, Write]] = []
    # First while the backfill runs, then while both releases serve on a backfilled table.
    half = len(writes) // 2
    for batch, with_backfill in ((writes[:half], True), (writes[half:], False)):
        start = threading.Barrier(3 if with_backfill else 2)
        work: list[Callable[[], None]] = [
            partial(release, engine, change, [w for w in batch if w.side == side], start, done)
            for side in ("old", "new")
        ]
        if with_backfill:
            work.append(partial(backfilling, engine, change, start))
        run_together(work)

    with engine.connect() as connection:
        rows = {
            key: (old, new)
            for key, old, new in connection.execute(
                text(f"SELECT id, {change.old}, {change.new} FROM item")  # noqa: S608
            )
        }
    last = {write.key: write for _, write in sorted(done, key=lambda pair: pair[0])}
    for key in range(KEYS):
        write = last.get(key)
        if write is None:
            expected = (
                (change.old_value(1000 + key), change.new_value(1000 + key))
                if key in seeded
                else None
            )
        elif write.kind == "delete":
            expected = None
        else:
            expected = (change.old_value(write.value), change.new_value(write.value))
        assert rows.get(key) == expected, (key, write)


def test_drop_removes_the_trigger_and_its_function_and_the_columns_go_their_own_ways(
    engine: Engine,
) -> None:
    reset(engine, RETYPE, [])
    names = sync_names("item", RETYPE.old, RETYPE.new)
    for _ in range(2):  # idempotent both ways
        with engine.connect() as connection, migration_operations(connection):
            create_sync_triggers(
                "item", "quantity", "amount", to_new=RETYPE.to_new, to_old=RETYPE.to_old
            )
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            drop_sync_triggers("item", "quantity", "amount")
    with engine.begin() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = :n"), {"n": names.trigger}
            ).scalar()
            == 0
        )
        assert (
            connection.execute(text("SELECT to_regproc(:n)"), {"n": names.function}).scalar()
            is None
        )
        connection.execute(text("INSERT INTO item (id, quantity) VALUES (1, '5')"))
        assert connection.execute(text("SELECT amount FROM item")).scalar() is None


def test_a_new_column_with_a_default_is_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE item (id integer PRIMARY KEY, title text)"))
        connection.execute(text("ALTER TABLE item ADD COLUMN headline text DEFAULT ''"))
    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(ZeroDowntimeError, match="has a default"),
    ):
        create_sync_triggers("item", "title", "headline")
