"""The application's settings: one typed object, read from the environment and `.env`."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from alembic_stuff.paths import embedded_passfile, project_root

APP_DRIVER = "postgresql+asyncpg"
MIGRATION_DRIVER = "postgresql+psycopg"
# The embedded server's roles: the owner, which migrates, and the API's own, which may only
# read and write rows (docker/initdb/10-app-role.sql), as in Docker.
EMBEDDED_OWNER = "postgres"
APP_ROLE = "alembic_stuff_app"

Port = Annotated[int, Field(ge=1, le=65535)]
# How the API reaches PostgreSQL: itself (or a pooler that gives each client a session of
# its own), or a pooler that lends a server session for one transaction at a time.
Pooler = Literal["direct", "transaction"]


class Settings(BaseSettings):
    """Everything the app, the migrations and the CLI can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db; unset: the embedded server.",
    )
    # "transaction" when DATABASE_URL is a pooler in transaction mode (PgBouncer's
    # pool_mode = transaction): such a pooler refuses the settings "direct" sends when it
    # connects, and hands each transaction whichever server session is free
    # (alembic_stuff.db.database says what changes).
    database_pooler: Pooler = "direct"
    # The migrations' own URL, which must reach PostgreSQL itself: the migration lock lives
    # in one database session for the whole run, which a transaction pooler cannot promise.
    migration_database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db of PostgreSQL itself; "
        "unset: DATABASE_URL.",
    )
    # Connections the API keeps to the database in each of its two pools: one for units of
    # work in a transaction (the writes), one for single-statement reads in autocommit, so up
    # to twice this many in all. Requests beyond them wait for one, first come first served:
    # opening and closing overflow connections under load costs more than waiting.
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    # Bounds on every wait for the database, so that a database that hangs (stopped, or its
    # host gone) makes the API answer 503 instead of holding requests as long as it hangs:
    # opening a connection, one statement (enforced by the server), and a whole request
    # (enforced by the API, whatever it waits for: a free connection, a reply, a lock).
    database_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=2.0, gt=0)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    api_host: str = "127.0.0.1"
    api_port: Port = 8765
    embedded_port: Port = 5555
    embedded_database: str = Field(default="alembic-stuff", min_length=1, max_length=63)
    embedded_data_dir: Path = Field(default_factory=lambda: project_root() / ".data" / "postgres")
    # How long `alembic upgrade` waits for another process's migration to finish.
    migration_lock_wait_seconds: float = Field(default=60.0, gt=0)
    # How long one migration statement may wait for a table lock, and may run.
    migration_lock_timeout_seconds: float = Field(default=10.0, gt=0)
    migration_statement_timeout_seconds: float = Field(default=300.0, gt=0)
    # How long the server may answer nothing at all (frozen, its host gone) before a
    # migration command gives up on it; the timeouts above are the server's to enforce.
    migration_silence_seconds: float = Field(default=15.0, gt=0)
    # How often a serving replica renews its entry in the registry alembic-contract reads; an
    # entry expires after three missed renewals (a replica killed with SIGKILL drops out then).
    replica_heartbeat_seconds: float = Field(default=5.0, gt=0, le=600)

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _must_be_postgresql(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        name = str(info.field_name).upper()
        if value is None or not value.get_secret_value():
            return None
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError as exc:
            raise ValueError(f"{name} is not a URL like postgresql://user@host/db") from exc
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"{name} must be a postgresql:// URL, not {url.drivername}://")
        if not url.database:
            raise ValueError(f"{name} must name a database: postgresql://user@host/db")
        return value

    @field_validator("migration_database_url")
    @classmethod
    def _only_beside_database_url(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # Without DATABASE_URL the app uses the embedded server, which the migrations must
        # change too: another database for them alone would be migrated in its place.
        if value is not None and "database_url" in info.data and info.data["database_url"] is None:
            raise ValueError(
                "MIGRATION_DATABASE_URL needs DATABASE_URL: with neither set, both the API and "
                "the migrations use the embedded server"
            )
        return value

    @field_validator("embedded_data_dir")
    @classmethod
    def _relative_to_the_project(cls, value: Path) -> Path:
        # Relative to the project, not to wherever in it a command was started.
        return value if value.is_absolute() else project_root() / value

    @property
    def uses_embedded_database(self) -> bool:
        """True when no DATABASE_URL is set and the embedded server is the database."""
        return self.database_url is None

    @property
    def server_url(self) -> URL:
        """The database's URL with no driver named: the form users write and psql reads."""
        if self.database_url is None:
            return self._embedded_url(EMBEDDED_OWNER)
        return make_url(self.database_url.get_secret_value()).set(drivername="postgresql")

    @property
    def app_url(self) -> URL:
        """The URL the API's async engine connects with (asyncpg): the app role if embedded."""
        url = self.server_url if self.database_url else self._embedded_url(APP_ROLE)
        return url.set(drivername=APP_DRIVER)

    def _embedded_url(self, role: str) -> URL:
        # The passwords are in the server's password file, which libpq and asyncpg both read:
        # none is in the URL, so none is printed with it.
        return URL.create(
            "postgresql",
            username=role,
            host="127.0.0.1",
            port=self.embedded_port,
            database=self.embedded_database,
            query={"passfile": str(embedded_passfile(self.embedded_data_dir))},
        )

    @property
    def migration_url(self) -> URL:
        """The URL Alembic connects with (psycopg 3): MIGRATION_DATABASE_URL, else the server's."""
        if self.migration_database_url is None:
            return self.server_url.set(drivername=MIGRATION_DRIVER)
        given = make_url(self.migration_database_url.get_secret_value())
        return given.set(drivername=MIGRATION_DRIVER)

    @property
    def migration_url_variable(self) -> str:
        """The variable the migrations' URL comes from, as messages name it."""
        return "MIGRATION_DATABASE_URL" if self.migration_database_url else "DATABASE_URL"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read once; tests call `get_settings.cache_clear()`."""
    return Settings()
