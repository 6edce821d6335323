"""Concurrent indexes and NOT VALID constraints: idempotent, and clean after a failed attempt."""

import pytest
from alembic_toolkit import zerodowntime as zd
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from toolkit_support import migration_operations


def create_tables(engine: Engine) -> None:
    """An account table keyed by text, and an order table keyed by integer referring to it."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE account (handle text PRIMARY KEY, email text)"))
        connection.execute(
            text(
                "CREATE TABLE purchase (id bigint PRIMARY KEY, handle text, total integer,"
                " placed_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        connection.execute(
            text(
                "INSERT INTO account SELECT 'user' || n, 'u' || n || '@example.org'"
                " FROM generate_series(1, 200) n"
            )
        )
        connection.execute(
            text(
                "INSERT INTO purchase (id, handle, total)"
                " SELECT n, 'user' || (n % 200 + 1), n % 50 FROM generate_series(1, 2000) n"
            )
        )


def index_oid(engine: Engine, name: str) -> int | None:
    with engine.connect() as connection:
        oid: int | None = connection.execute(
            text("SELECT to_regclass(:n)::oid"), {"n": name}
        ).scalar()
        return oid


def test_a_concurrent_index_after_a_failed_attempt_is_rebuilt_then_left_alone(
    engine: Engine,
) -> None:
    create_tables(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE account SET email = 'shared@example.org' WHERE handle IN ('user1', 'user2')"
            )
        )

    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(zd.ZeroDowntimeError) as failed,
    ):
        zd.create_index_concurrently("uq_account_email", "account", ["email"], unique=True)
    message = str(failed.value)
    assert "\n" not in message
    assert "could not create unique index" in message
    assert "PostgreSQL left it INVALID, and the next run drops it first" in message
    with engine.connect() as connection:
        assert zd.index_state(connection, "uq_account_email") == "invalid"
        invalid_oid = index_oid(engine, "uq_account_email")

    with engine.begin() as connection:
        connection.execute(
            text("UPDATE account SET email = 'two@example.org' WHERE handle = 'user2'")
        )
    with engine.connect() as connection, migration_operations(connection):
        zd.create_index_concurrently("uq_account_email", "account", ["email"], unique=True)
    rebuilt = index_oid(engine, "uq_account_email")
    with engine.connect() as connection:
        assert zd.index_state(connection, "uq_account_email") == "valid"
    assert rebuilt != invalid_oid

    # Run again: the valid index is kept as it is, not rebuilt.
    with engine.connect() as connection, migration_operations(connection):
        zd.create_index_concurrently("uq_account_email", "account", ["email"], unique=True)
    assert index_oid(engine, "uq_account_email") == rebuilt
    with engine.begin() as connection, pytest.raises(IntegrityError, match="duplicate key"):
        connection.execute(text("INSERT INTO account VALUES ('user9999', 'shared@example.org')"))


def test_a_partial_index_on_a_second_table_and_its_drop(engine: Engine) -> None:
    create_tables(engine)
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            zd.create_index_concurrently(
                "ix_purchase_big_by_handle", "purchase", ["handle", "placed_at"], where="total > 40"
            )
    with engine.connect() as connection:
        assert zd.index_state(connection, "ix_purchase_big_by_handle") == "valid"
        definition = connection.execute(
            text("SELECT pg_get_indexdef('ix_purchase_big_by_handle'::regclass)")
        ).scalar()
    assert definition is not None
    assert "WHERE (total > 40)" in definition
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            zd.drop_index_concurrently("ix_purchase_big_by_handle", "purchase")
    with engine.connect() as connection:
        assert zd.index_state(connection, "ix_purchase_big_by_handle") == "missing"


def test_a_check_constraint_stays_not_valid_until_the_rows_are_fixed(engine: Engine) -> None:
    create_tables(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE purchase SET total = -1 WHERE id = 7"))

    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(zd.ZeroDowntimeError) as failed,
    ):
        zd.add_check_constraint("ck_purchase_total", "purchase", "total >= 0")
    assert "\n" not in str(failed.value)
    assert "stays NOT VALID, still checking new writes" in str(failed.value)
    with engine.connect() as connection:
        assert zd.constraint_state(connection, "purchase", "ck_purchase_total", None) == "not valid"
    # New writes are checked already.
    with engine.begin() as connection, pytest.raises(IntegrityError, match="ck_purchase_total"):
        connection.execute(
            text("INSERT INTO purchase (id, handle, total) VALUES (-1, 'user1', -5)")
        )

    with engine.begin() as connection:
        connection.execute(text("UPDATE purchase SET total = 0 WHERE id = 7"))
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            zd.add_check_constraint("ck_purchase_total", "purchase", "total >= 0")
        with engine.connect() as connection:
            assert (
                zd.constraint_state(connection, "purchase", "ck_purchase_total", None)
                == "validated"
            )


def test_a_foreign_key_on_a_text_key_is_added_not_valid_then_validated(engine: Engine) -> None:
    create_tables(engine)
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            zd.add_foreign_key(
                "fk_purchase_handle_account",
                "purchase",
                "account",
                ["handle"],
                ["handle"],
                ondelete="RESTRICT",
            )
    with engine.connect() as connection:
        assert (
            zd.constraint_state(connection, "purchase", "fk_purchase_handle_account", None)
            == "validated"
        )
        count = connection.execute(
            text("SELECT count(*) FROM pg_constraint WHERE conname = 'fk_purchase_handle_account'")
        ).scalar()
    assert count == 1
    refused = pytest.raises(IntegrityError, match="fk_purchase_handle_account")
    with engine.begin() as connection, refused:
        connection.execute(
            text("INSERT INTO purchase (id, handle, total) VALUES (-1, 'nobody', 1)")
        )
