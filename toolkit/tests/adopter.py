"""A project that adopts the toolkit: a fresh `alembic init`, then what toolkit/README.md says.

The README is read, not paraphrased: the lines its sections give are cut out of it and put
where it says, into Alembic's own templates (generic and async) as they come. The models are
a small shop of eleven tables as SQLAlchemy's tutorial writes them (integer keys
`mapped_column(primary_key=True)`), with foreign keys, a composite key, composite unique
constraints, indexes, an enum and checks. Commands run as their user types them, in the
project's folder, with the programs this environment installed (the toolkit's wheel, in CI).
"""

import os
import re
import shlex
import subprocess
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import URL
from toolkit_support import TIMEOUT_SECONDS, dsn

README = Path(__file__).resolve().parents[1] / "README.md"
WIRING, BRANCHES, COMMANDS = (
    "## Use it in your Alembic project",
    "## Expand and contract",
    "## Commands",
)
# Alembic's templates, and the driver each is used with.
DRIVERS = {"generic": "postgresql+psycopg", "async": "postgresql+asyncpg"}
# The lock key the README's `lock_key("myproject")` becomes here.
LOCK_NAME = "adopter"

# The product's name column is the one the tests rename: TITLE marks it.
TITLE = "title"
MODELS = '''"""A small shop, as SQLAlchemy's tutorial writes models."""

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OrderStatus(enum.Enum):
    placed = "placed"
    paid = "paid"
    shipped = "shipped"


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Address(Base):
    __tablename__ = "address"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(20))


class Category(Base):
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (CheckConstraint("price >= 0", name="ck_product_price"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))


class Warehouse(Base):
    __tablename__ = "warehouse"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Stock(Base):
    __tablename__ = "stock"
    __table_args__ = (CheckConstraint("quantity >= 0", name="ck_stock_quantity"),)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    quantity: Mapped[int]


class PurchaseOrder(Base):
    __tablename__ = "purchase_order"
    __table_args__ = (Index("ix_purchase_order_customer_placed", "customer_id", "placed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    status: Mapped[OrderStatus]
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        CheckConstraint("quantity > 0", name="ck_order_line_quantity"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int]


class Tag(Base):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)


product_tag = Table(
    "product_tag",
    Base.metadata,
    Column("product_id", ForeignKey("product.id"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id"), primary_key=True),
)


class Review(Base):
    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("product_id", "customer_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="ck_review_rating"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    rating: Mapped[int]
    body: Mapped[str] = mapped_column(Text)


metadata = Base.metadata
'''
TABLES = 11

# Alembic's templates as they are; the lines added are the README's, read from it.
TEMPLATE_CONFIGURE = {
    "generic": """        context.configure(
            connection=connection, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()
""",
    "async": """    context.configure(connection=connection, target_metadata=target_metadata)

    with context.begin_transaction():
        context.run_migrations()
""",
}
# run_migrations_offline's, the same in both templates.
TEMPLATE_OFFLINE = """    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
"""
# The stock logging line, the same in both templates.
TEMPLATE_LOGGING = "    fileConfig(config.config_file_name)\n"
INDENT = {"generic": 8, "async": 4}
TEMPLATE_CHANGED = "Alembic's template changed: update the lines the README gives"


def readme_blocks(language: str, section: str) -> list[str]:
    """The toolkit README section's blocks in `language`, dedented, in order."""
    readme = README.read_text()
    text = readme[readme.index(section) :]
    text = text[: text.index("\n## ", len(section))]
    found = re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)
    return [textwrap.dedent(block) for block in found]


def program(name: str) -> str:
    """The path of a command this environment installed (`alembic`, `alembic-toolkit`)."""
    return str(Path(sysconfig.get_path("scripts")) / name)


def run(project: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`command` as typed in the project's folder, with no terminal to answer questions."""
    words = shlex.split(command)
    return subprocess.run(
        [program(words[0]), *words[1:]],
        cwd=project,
        # The tests rewrite revisions and models between commands, within the same second at
        # times: no bytecode cached from the file as it was can stand in for it.
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_SECONDS,
    )


def succeeds(project: Path, command: str) -> subprocess.CompletedProcess[str]:
    """Run `command`; fail the test with its output unless it exits 0."""
    done = run(project, command)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done


@dataclass(frozen=True)
class Project:
    """A fresh project's folder and its database."""

    folder: Path
    database: URL

    @property
    def versions(self) -> Path:
        """Where its revisions are written."""
        return self.folder / "migrations" / "versions"

    def revisions(self) -> list[Path]:
        """Its revision files."""
        return sorted(self.versions.glob("*.py"))

    def rename_title(self, to: str) -> None:
        """Rename the product's title column in the models (no revision written for it)."""
        models = self.folder / "models.py"
        models.write_text(models.read_text().replace(f"    {TITLE}: Mapped", f"    {to}: Mapped"))


def fresh_project(folder: Path, template: str, database: URL) -> Project:
    """`alembic init -t template`, the models, and the README's lines where it says."""
    succeeds(folder, f"alembic init -t {template} migrations")
    (folder / "models.py").write_text(MODELS)
    ini = folder / "alembic.ini"
    url = database.set(drivername=DRIVERS[template]).render_as_string(hide_password=False)
    # alembic.ini interpolates "%": the URL's escapes are doubled.
    ini.write_text(
        ini.read_text().replace("driver://user:pass@localhost/dbname", url.replace("%", "%%"))
    )
    env = folder / "migrations" / "env.py"
    source = env.read_text()
    before = TEMPLATE_CONFIGURE[template]
    for stock in (before, TEMPLATE_OFFLINE, TEMPLATE_LOGGING):
        assert stock in source, TEMPLATE_CHANGED
    imports, configure, offline, logging_line = readme_blocks("python", WIRING)
    # The project's own choices: its models, and a short wait for a lock a test holds.
    imports += "from models import metadata\n"
    imports = imports.replace("lock_wait_seconds=60", "lock_wait_seconds=1")
    configure = textwrap.indent(configure, " " * INDENT[template])
    configure = configure.replace('"myproject"', f'"{LOCK_NAME}"')
    source = source.replace("target_metadata = None", "target_metadata = metadata")
    source = source.replace(
        "from alembic import context\n", f"from alembic import context\n{imports}"
    )
    source = source.replace(TEMPLATE_OFFLINE, textwrap.indent(offline, "    "))
    source = source.replace(TEMPLATE_LOGGING, textwrap.indent(logging_line, "    "))
    env.write_text(source.replace(before, configure))
    [marker] = readme_blocks("mako", WIRING)
    mako = folder / "migrations" / "script.py.mako"
    lines = mako.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("depends_on")) + 1
    mako.write_text("".join([*lines[:at], marker, *lines[at:]]))
    # The README's starting point for the lint's configuration, beside alembic.ini.
    [squawk_toml] = readme_blocks("toml", COMMANDS)
    (folder / ".squawk.toml").write_text(squawk_toml)
    return Project(folder, database)


def split_into_branches(project: Project) -> None:
    """Run the README's commands that split the history into expand and contract branches."""
    newest = newest_revision(project)
    [branches] = [b for b in readme_blocks("sh", BRANCHES) if "--branch-label" in b]
    for line in branches.splitlines():
        assert line.startswith("alembic "), line
        succeeds(project.folder, line.replace("<newest revision>", newest))


def newest_revision(project: Project) -> str:
    """The id of the project's one head, as `alembic heads` prints it."""
    [head] = succeeds(project.folder, "alembic heads").stdout.split()[:1]
    return head


def exclude_integer_key_rules(text: str) -> str:
    """.squawk.toml's text with the two rules the tutorial's integer keys break excluded.

    What the README's "Commands" section offers instead of changing every key in the models.
    """
    return text.replace("excluded_rules = [\n", INTEGER_KEY_RULES, 1)


INTEGER_KEY_RULES = """excluded_rules = [
    # The shop's keys stay 32-bit integers with their sequences, as the tutorial writes them.
    "prefer-bigint-over-int",
    "prefer-identity",
"""


def keep_a_row(project: Project) -> None:
    """Insert the product whose survival a test follows (and the category it needs)."""
    with psycopg.connect(dsn(project.database), autocommit=True) as connection:
        connection.execute("INSERT INTO category (id, name) VALUES (1, 'books')")
        columns = sql.SQL("id, sku, {}, category_id, price").format(sql.Identifier(TITLE))
        connection.execute(
            sql.SQL("INSERT INTO product ({}) VALUES (1, 'B-1', 'kept', 1, 9.5)").format(columns)
        )


def products(project: Project, column: str) -> list[tuple[object, ...]]:
    """The products' ids and `column`, as the database holds them now."""
    with psycopg.connect(dsn(project.database)) as connection:
        query = sql.SQL("SELECT id, {} FROM product ORDER BY id").format(sql.Identifier(column))
        return connection.execute(query).fetchall()


def drop_the_enum_type_left(project: Project) -> None:
    """Drop the enum type that autogenerate's downgrade to base leaves behind, by hand.

    Alembic's autogenerate writes `op.drop_table` for the table using the enum, not the type:
    the next upgrade from base fails on CREATE TYPE (test_adopter_commands.py marks it known).
    """
    with psycopg.connect(dsn(project.database), autocommit=True) as connection:
        connection.execute("DROP TYPE IF EXISTS orderstatus")
