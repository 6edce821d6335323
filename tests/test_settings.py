"""The settings object: defaults, DATABASE_URL and the URLs derived from it."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import URL

from alembic_stuff.settings import Settings, get_settings
from tests.databases import ROOT


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        "DATABASE_URL",
        "DATABASE_POOLER",
        "MIGRATION_DATABASE_URL",
        "API_PORT",
        "EMBEDDED_PORT",
        "EMBEDDED_DATA_DIR",
    ]:
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_database() -> None:
    settings = make()
    assert settings.uses_embedded_database
    # The owner migrates; the API connects as its own role; the passwords are in a file.
    passfile = str(ROOT / ".data" / "postgres" / "pgpass")
    assert settings.server_url == URL.create(
        "postgresql",
        username="postgres",
        host="127.0.0.1",
        port=5555,
        database="alembic-stuff",
        query={"passfile": passfile},
    )
    assert settings.app_url.username == "alembic_stuff_app"
    assert settings.app_url.query == {"passfile": passfile}
    assert settings.app_url.password is None
    assert settings.embedded_data_dir == ROOT / ".data" / "postgres"
    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 8765


def test_one_url_gives_the_app_and_migration_urls() -> None:
    settings = make(database_url=SecretStr("postgresql://app:s3cret@db:5432/alembic-stuff"))
    assert not settings.uses_embedded_database
    assert settings.app_url.drivername == "postgresql+asyncpg"
    assert settings.migration_url.drivername == "postgresql+psycopg"
    assert settings.app_url.password == "s3cret"
    assert (
        settings.migration_url.render_as_string()
        == "postgresql+psycopg://app:***@db:5432/alembic-stuff"
    )


def test_migrations_use_their_own_url_when_one_is_set() -> None:
    settings = make(
        database_url=SecretStr("postgresql://app:s3cret@pgbouncer:6432/alembic-stuff"),
        migration_database_url=SecretStr("postgresql://owner:0wner@db:5432/alembic-stuff"),
        database_pooler="transaction",
    )
    assert settings.app_url.port == 6432
    assert settings.migration_url.render_as_string(hide_password=False) == (
        "postgresql+psycopg://owner:0wner@db:5432/alembic-stuff"
    )
    assert settings.database_pooler == "transaction"
    assert "0wner" not in repr(settings)


def test_migrations_use_database_url_by_default() -> None:
    settings = make(database_url=SecretStr("postgresql://app@db/alembic-stuff"))
    assert settings.database_pooler == "direct"
    assert settings.migration_url == settings.server_url.set(drivername="postgresql+psycopg")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database_pooler": "session"}, "Input should be 'direct' or 'transaction'"),
        (
            {"database_url": SecretStr("postgresql://u@h/d"), "migration_database_url": "x y"},
            "MIGRATION_DATABASE_URL is not a URL",
        ),
        ({"migration_database_url": SecretStr("postgresql://u@h/d")}, "needs DATABASE_URL"),
    ],
)
def test_bad_pooler_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**values)


def test_the_password_is_never_shown() -> None:
    settings = make(database_url=SecretStr("postgresql://app:s3cret@db/alembic-stuff"))
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


def test_a_driver_in_the_url_is_replaced() -> None:
    settings = make(database_url=SecretStr("postgresql+psycopg2://u@h/d"))
    assert settings.app_url.drivername == "postgresql+asyncpg"


def test_an_empty_database_url_means_embedded() -> None:
    assert make(database_url=SecretStr("")).uses_embedded_database


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/app", "must be a postgresql:// URL"),
        ("not a url", "is not a URL"),
        ("postgresql://u@h", "must name a database"),
    ],
)
def test_bad_database_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(database_url=SecretStr(url))


def test_get_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "9000")
    get_settings.cache_clear()
    assert get_settings().api_port == 9000
    monkeypatch.setenv("API_PORT", "9001")
    assert get_settings().api_port == 9000
    get_settings.cache_clear()
    assert get_settings().api_port == 9001
    get_settings.cache_clear()


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("API_PORT=9100\nEMBEDDED_DATABASE=other\n")
    settings = Settings(_env_file=env)
    assert settings.api_port == 9100
    assert settings.server_url.database == "other"


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert name.upper() in example, name
    assert "\nDATABASE_URL=" not in example  # left unset: a fresh setup uses the embedded server


def test_a_relative_data_dir_is_relative_to_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "src" / "alembic_stuff")
    assert make(embedded_data_dir=Path(".data/elsewhere")).embedded_data_dir == (
        ROOT / ".data" / "elsewhere"
    )
