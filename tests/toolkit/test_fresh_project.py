"""The toolkit in a project that is not this one: a fresh `alembic init`, toolkit installed by path.

A new virtual environment gets the toolkit from toolkit/ with pip, as another project would
install it (its other dependencies, Alembic, SQLAlchemy and the drivers, come from this
environment through a .pth file, so nothing is downloaded). The project is Alembic's own
template, generic or async, plus the lines the README tells a user to add. Then, on a real
database: a rename hint, the destructive-change guard and the migration lock; and, on the
README's expand and contract branches, a rename as an expand and contract pair, there and back.
"""

import os
import re
import shlex
import shutil
import site
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import psycopg
import pytest
from alembic_toolkit.lock import lock_key
from filelock import FileLock
from sqlalchemy import URL

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT = ROOT / "toolkit"

MODELS = """
from sqlalchemy import BigInteger, Column, Identity, MetaData, String, Table

metadata = MetaData()
item = Table(
    "item",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("{title}", String(80), nullable=False),
)
"""

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
# The toolkit's own README, which stands alone: its wiring, and its expand/contract commands.
README = ROOT / "toolkit" / "README.md"
WIRING, BRANCHES = "## Use it in your Alembic project", "## Expand and contract"
DRIVERS = {"generic": "postgresql+psycopg", "async": "postgresql+asyncpg"}


@pytest.fixture(scope="session")
def toolkit_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment's Python, with the toolkit installed in it from its folder.

    One for the whole run: pytest-xdist's workers share their base temporary folders' parent
    (this run's own), and the first to get there builds it while the others wait.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / "toolkit-venv"
    built = folder / "built"
    with FileLock(shared / "toolkit-venv.lock"):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            build_toolkit_venv(folder)
            built.touch()
    return folder / "bin" / "python"


def build_toolkit_venv(folder: Path) -> None:
    """Create the environment in `folder` and install the toolkit into it."""
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Third-party packages from this environment: dependencies, not the toolkit (an editable
    # install is activated by its own .pth file, which a path listed here does not run).
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # From a copy: pip builds in the source folder, and another worker may be building too.
    source = shutil.copytree(
        TOOLKIT, folder / "toolkit", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    install += ["--no-build-isolation", "--target", purelib, str(source)]
    subprocess.run(install, check=True, capture_output=True)


def run(python: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a module of the new environment in `project`, no terminal attached."""
    environment = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(python), *args],
        cwd=project,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def readme_blocks(language: str, section: str = WIRING) -> list[str]:
    """The toolkit README section's blocks in `language`, dedented, in order."""
    readme = README.read_text()
    text = readme[readme.index(section) :]
    text = text[: text.index("\n## ", len(section))]
    found = re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)
    return [textwrap.dedent(block) for block in found]


def fresh_project(python: Path, folder: Path, template: str, database: URL) -> Path:
    """`alembic init -t template`, the models, and the README's lines in env.py."""
    assert (
        run(python, folder, "-m", "alembic", "init", "-t", template, "migrations").returncode == 0
    )
    (folder / "models.py").write_text(MODELS.format(title="title"))
    ini = folder / "alembic.ini"
    url = database.set(drivername=DRIVERS[template]).render_as_string(hide_password=False)
    # alembic.ini interpolates "%": the URL's escapes are doubled.
    ini.write_text(
        ini.read_text().replace("driver://user:pass@localhost/dbname", url.replace("%", "%%"))
    )
    env = folder / "migrations" / "env.py"
    source = env.read_text()
    before = TEMPLATE_CONFIGURE[template]
    changed = "Alembic's template changed: update the lines the README gives"
    assert before in source, changed
    assert TEMPLATE_OFFLINE in source, changed
    assert TEMPLATE_LOGGING in source, changed
    imports, configure, offline, logging_line = readme_blocks("python")
    # The test's own choices: its models, and a short wait for the lock the test holds.
    imports += "from models import metadata\n"
    imports = imports.replace("lock_wait_seconds=60", "lock_wait_seconds=1")
    configure = textwrap.indent(configure, " " * INDENT[template]).replace("myproject", "fresh")
    source = source.replace("target_metadata = None", "target_metadata = metadata")
    source = source.replace(
        "from alembic import context\n", f"from alembic import context\n{imports}"
    )
    source = source.replace(TEMPLATE_OFFLINE, textwrap.indent(offline, "    "))
    source = source.replace(TEMPLATE_LOGGING, textwrap.indent(logging_line, "    "))
    env.write_text(source.replace(before, configure))
    [marker] = readme_blocks("mako")
    mako = folder / "migrations" / "script.py.mako"
    lines = mako.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("depends_on")) + 1
    mako.write_text("".join([*lines[:at], marker, *lines[at:]]))
    # The squawk rules this project leaves out for every revision, each with its reason.
    shutil.copy(ROOT / ".squawk.toml", folder / ".squawk.toml")
    return folder


def upgrade_and_keep_a_row(python: Path, project: Path, database: URL) -> str:
    """Upgrade to the heads and insert the item whose survival the test follows; its DSN."""
    assert run(python, project, "-m", "alembic", "upgrade", "heads").returncode == 0
    dsn = database.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("INSERT INTO item (id, title) VALUES (1, 'kept')")
    return dsn


@pytest.mark.parametrize("template", ["generic", "async"])
def test_rename_hint_guard_and_lock_in_a_fresh_alembic_project(
    toolkit_python: Path, tmp_path: Path, template: str, database: URL
) -> None:
    project = fresh_project(toolkit_python, tmp_path, template, database)
    alembic = ["-m", "alembic"]

    first = run(toolkit_python, project, *alembic, "revision", "--autogenerate", "-m", "item")
    assert first.returncode == 0, first.stderr
    dsn = upgrade_and_keep_a_row(toolkit_python, project, database)

    # The model's column is renamed: without a hint nobody can answer, so nothing is written.
    (project / "models.py").write_text(MODELS.format(title="name"))
    refused = run(toolkit_python, project, *alembic, "revision", "--autogenerate", "-m", "rename")
    assert refused.returncode != 0
    assert "-x rename=item.title:name" in refused.stderr
    assert len(list((project / "migrations" / "versions").glob("*.py"))) == 1

    hinted = [*alembic, "-x", "rename=item.title:name", "revision", "--autogenerate", "-m", "rn"]
    assert run(toolkit_python, project, *hinted).returncode == 0
    [renaming] = (project / "migrations" / "versions").glob("*_rn.py")
    assert "new_column_name='name'" in renaming.read_text().replace('"', "'")
    assert "drop_column" not in renaming.read_text()

    # Offline SQL carries the limits, and the lint finds nothing, the generated rename included.
    offline = run(toolkit_python, project, *alembic, "upgrade", "base:heads", "--sql")
    assert offline.returncode == 0, offline.stderr
    assert "SET lock_timeout = '5000ms';" in offline.stdout
    lint = run(toolkit_python, project, "-m", "alembic_toolkit", "lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "squawk_accepts = {" in renaming.read_text()

    # The migration lock: while another session holds it, the upgrade waits, then says why.
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("fresh"),))
        locked = run(toolkit_python, project, *alembic, "upgrade", "heads")
    assert locked.returncode != 0
    assert "another process has held the migration lock" in locked.stderr
    assert "Traceback" not in locked.stderr

    assert run(toolkit_python, project, *alembic, "upgrade", "heads").returncode == 0
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT id, name FROM item").fetchall() == [(1, "kept")]

    # The guard: a revision that drops a column without saying why is refused, by name.
    guard = ["-m", "alembic_toolkit"]
    assert run(toolkit_python, project, *guard, "guard").returncode == 0
    assert run(toolkit_python, project, *alembic, "revision", "-m", "drop").returncode == 0
    [dropping] = (project / "migrations" / "versions").glob("*_drop.py")
    source = dropping.read_text()
    dropping.write_text(source.replace("    pass\n", "    op.drop_column('item', 'name')\n", 1))
    refused_drop = run(toolkit_python, project, *guard, "guard")
    assert refused_drop.returncode == 1
    assert dropping.name in refused_drop.stdout
    assert "FAILED: 1 destructive change(s) without a reason" in refused_drop.stdout


def test_the_readmes_branches_carry_an_expand_rename_in_a_fresh_project(
    toolkit_python: Path, tmp_path: Path, database: URL
) -> None:
    project = fresh_project(toolkit_python, tmp_path, "generic", database)
    alembic = ["-m", "alembic"]
    first = run(toolkit_python, project, *alembic, "revision", "--autogenerate", "-m", "item")
    assert first.returncode == 0, first.stderr
    split_into_branches(toolkit_python, project)
    dsn = upgrade_and_keep_a_row(toolkit_python, project, database)

    # The rename as an expand revision and a contract revision, applied with both heads.
    (project / "models.py").write_text(MODELS.format(title="name"))
    pair = [*alembic, "-x", "rename=item.title:name", "-x", "rename_mode=expand"]
    pair += ["revision", "--autogenerate", "--head", "expand@head", "-m", "rn"]
    written = run(toolkit_python, project, *pair)
    assert written.returncode == 0, written.stderr
    # The first revision, the two roots, and the pair.
    assert len(list((project / "migrations" / "versions").glob("*.py"))) == 5
    assert run(toolkit_python, project, "-m", "alembic_toolkit", "guard").returncode == 0
    assert run(toolkit_python, project, *alembic, "upgrade", "heads").returncode == 0
    checked = run(toolkit_python, project, *alembic, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT id, name FROM item").fetchall() == [(1, "kept")]

    # And back: the contract, then the expand.
    for step in ("contract@-1", "expand@-1"):
        undone = run(toolkit_python, project, *alembic, "downgrade", step)
        assert undone.returncode == 0, undone.stderr
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT id, title FROM item").fetchall() == [(1, "kept")]


def split_into_branches(python: Path, project: Path) -> None:
    """Run the README's commands that split the one-revision history into expand and contract."""
    [item] = (project / "migrations" / "versions").glob("*.py")
    newest = item.name.partition("_")[0]  # Alembic's template names files <revision>_<slug>
    [branches] = [block for block in readme_blocks("sh", BRANCHES) if "--branch-label" in block]
    for line in branches.splitlines():
        words = shlex.split(line.replace("<newest revision>", newest))
        assert words[0] == "alembic", line
        made = run(python, project, "-m", "alembic", *words[1:])
        assert made.returncode == 0, made.stderr


def branched_project_with_title_renamed(python: Path, folder: Path, database: URL) -> Path:
    """A fresh project split into the README's branches, at its heads with a row, then the
    models' item.title renamed to name (no revision written for that yet)."""
    project = fresh_project(python, folder, "generic", database)
    first = run(python, project, "-m", "alembic", "revision", "--autogenerate", "-m", "item")
    assert first.returncode == 0, first.stderr
    split_into_branches(python, project)
    upgrade_and_keep_a_row(python, project, database)
    (project / "models.py").write_text(MODELS.format(title="name"))
    return project


def test_a_generated_expand_pair_passes_the_lint_in_a_fresh_project(
    toolkit_python: Path, tmp_path: Path, database: URL
) -> None:
    """The README's env.py, then a rename written as a pair: squawk lints each revision alone.

    Without transaction_per_migration in run_migrations_offline, the offline SQL of the
    contract's parents is not a prefix of its own, and the lint cannot cut its revision out.
    """
    project = branched_project_with_title_renamed(toolkit_python, tmp_path, database)
    alembic = ["-m", "alembic"]
    pair = [*alembic, "-x", "rename=item.title:name", "-x", "rename_mode=expand"]
    pair += ["revision", "--autogenerate", "--head", "expand@head", "-m", "rn"]
    assert run(toolkit_python, project, *pair).returncode == 0
    lint = run(toolkit_python, project, "-m", "alembic_toolkit", "lint")
    assert "cannot be linted alone" not in lint.stdout, lint.stdout
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_an_expand_revision_after_a_contract_rename_migrates_an_empty_database(
    toolkit_python: Path, tmp_path: Path, database: URL
) -> None:
    """A rename on contract, then an index of the new name on expand: base to heads still works.

    The expand revision is written onto expand@head, whose history lacks the contract revision
    that made the column it indexes: it names it in depends_on, or from an empty database
    Alembic would run it first, on a column that does not exist yet.
    """
    project = branched_project_with_title_renamed(toolkit_python, tmp_path, database)
    alembic = ["-m", "alembic"]
    rename = [*alembic, "-x", "rename=item.title:name", "revision", "--autogenerate"]
    rename += ["--head", "contract@head", "--depends-on", "expand@head", "-m", "rn"]
    assert run(toolkit_python, project, *rename).returncode == 0
    assert run(toolkit_python, project, *alembic, "upgrade", "heads").returncode == 0
    indexed = MODELS.format(title="name").replace("nullable=False)", "nullable=False, index=True)")
    (project / "models.py").write_text(indexed)
    index = [*alembic, "revision", "--autogenerate", "--head", "expand@head", "-m", "ix"]
    assert run(toolkit_python, project, *index).returncode == 0
    assert run(toolkit_python, project, *alembic, "upgrade", "heads").returncode == 0
    # The next contract revision depends on that expand revision, which depends in turn on
    # the contract head it is written onto.
    (project / "models.py").write_text(MODELS.format(title="name"))
    unindex = [*alembic, "revision", "--autogenerate", "--head", "contract@head"]
    unindex += ["--depends-on", "expand@head", "-m", "no ix"]
    written = run(toolkit_python, project, *unindex)
    assert written.returncode == 0, written.stderr[-2000:]
    assert run(toolkit_python, project, *alembic, "upgrade", "heads").returncode == 0
    emptied = run(toolkit_python, project, *alembic, "downgrade", "base")
    assert emptied.returncode == 0, emptied.stderr[-2000:]
    rebuilt = run(toolkit_python, project, *alembic, "upgrade", "heads")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
