"""The README, and the docs pages it sends readers to for commands, executed in a scratch copy.

Setup aside: docs/own-postgresql.md's roles and migration; the Quick start's `start` serving
the walkthrough's `curl`s; "Your first schema change" step by step, in a git repository with
the project's hooks: the model line, the revision, the guard's line as shown, the app code,
the drawings, upgrade, downgrade, upgrade, then `qa`, the whole test suite and the commit, all
green; then the rename, refused without a terminal with the README's hint, applied with it,
keeping the row the walkthrough created. Every command goes through `pipenv run`, as a reader
types it. A command shown that fails, an output that differs from the one printed, or a block
that is gone fails the test.

The whole suite runs on TEST_DATABASE_URL's server when it is set, else on throwaway embedded
ones, as `pipenv run test` does: .ci/run sets it, so that this run is CI's run of the suite on
an external server, on a project one schema change past the one shipped. The toolkit's own
tests (toolkit/tests) are left out of it: they import nothing of the app, and CI runs them on
that server against the toolkit's wheel.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

import psycopg
import pytest

from alembic_stuff.paths import embedded_passfile
from support.http import answers
from support.terminal import as_foreground_job
from tests.databases import ROOT, SCRATCH_DIR, free_port

README = (ROOT / "README.md").read_text()
OWN_POSTGRESQL = (ROOT / "docs" / "own-postgresql.md").read_text()
# mypy's cache is copied: the copy's `qa` then rechecks the project's modules, not every library.
COPY_IGNORED = shutil.ignore_patterns(
    ".git", ".data", ".env", "__pycache__", ".ruff_cache", ".pytest_cache", "build"
)
# Step 4 of "Your first schema change": (file, the line the addition goes under, the addition
# as the README words it). The addition takes the indentation of the line it goes under.
APP_CODE = [
    ("src/alembic_stuff/services/countries.py", "Country.official_name,", "Country.capital,"),
    (
        "src/alembic_stuff/services/countries.py",
        "Country.official_name.key: data.official_name or entry.official_name,",
        "Country.capital.key: None,",
    ),
    ("src/alembic_stuff/schemas.py", "official_name: str | None", "capital: str | None"),
]
# Set in the copy's environment only to keep its server and API apart from others'; a reader's
# shell has none of them, and the suite's tests set their own.
COPY_ONLY = ("EMBEDDED_PORT", "EMBEDDED_DATABASE", "API_PORT")
# The whole suite takes minutes (some 5 on CI's two cores): the bound is for a hang alone.
WHOLE_SUITE_SECONDS = 3600
APP_SUITE_ONLY = {"PYTEST_ADDOPTS": "--ignore=toolkit/tests"}
# Who commits in the copy, as a reader's git configuration would say.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "README reader",
    "GIT_AUTHOR_EMAIL": "reader@example.com",
    "GIT_COMMITTER_NAME": "README reader",
    "GIT_COMMITTER_EMAIL": "reader@example.com",
}


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: its language and its text, dedented."""

    language: str
    text: str


def section(heading: str, document: str = README) -> str:
    """The text under `heading`, up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = f"\n{document}".index(f"\n{heading}\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    end = following.search(document, start + len(heading) + 1)
    return document[start : end.start() if end else len(document)]


def blocks(text: str) -> list[Block]:
    """The fenced blocks of `text`, in order."""
    found = re.finditer(r"^( *)```(\w*)\n(.*?)^\1```$", text, re.MULTILINE | re.DOTALL)
    return [Block(m[2], dedent(m[3])) for m in found]


def lines(block: Block) -> list[str]:
    return [line for line in block.text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Transcript:
    """A `$ command` and the last lines it prints, as the README shows them ("..." is any text)."""

    command: str
    output: list[str]

    def matches(self, actual: str) -> bool:
        """True when the output ends with the README's lines (it leaves out Alembic's log)."""
        shown = [line for line in actual.splitlines() if line.strip()][-len(self.output) :]
        if len(shown) != len(self.output):
            return False
        patterns = [re.escape(line).replace(re.escape("..."), ".*") for line in self.output]
        return all(re.fullmatch(p, a) for p, a in zip(patterns, shown, strict=True))


def transcript(block: Block) -> Transcript:
    first, *output = lines(block)
    assert first.startswith("$ "), block.text
    return Transcript(first.removeprefix("$ "), output)


@dataclass
class Project:
    """A scratch copy of the project, with the environment a reader's shell would have."""

    path: Path
    environment: dict[str, str]
    api_port: int

    def run(
        self,
        command: str,
        expect_success: bool = True,
        stdout_only: bool = False,
        without: tuple[str, ...] = (),
        timeout: float = 180,
        extra: dict[str, str] | None = None,
    ) -> str:
        """Run a README command line in the copy, less `without`'s variables and with `extra`'s;
        return its output."""
        environment = {k: v for k, v in self.environment.items() if k not in without}
        environment.update(extra or {})
        # Both streams in one pipe, unbuffered: in the order a terminal shows them.
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.path,
            env={**environment, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if stdout_only else subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        succeeded = result.returncode == 0
        assert succeeded == expect_success, (
            f"$ {command}\nexit {result.returncode}\n{result.stdout}"
        )
        return result.stdout

    def server(self, role: str, database: str) -> str:
        """A URL of the copy's embedded server, its password in the server's password file."""
        passfile = embedded_passfile(self.path / ".data" / "postgres")
        port = self.environment["EMBEDDED_PORT"]
        return f"postgresql://{role}@127.0.0.1:{port}/{database}?passfile={passfile}"

    @property
    def models(self) -> Path:
        return self.path / "src" / "alembic_stuff" / "models.py"

    def new_revisions(self) -> list[Path]:
        known = {path.name for path in (ROOT / "alembic" / "versions").glob("*.py")}
        return sorted(
            p for p in (self.path / "alembic" / "versions").glob("*.py") if p.name not in known
        )


@pytest.fixture
def project() -> Iterator[Project]:
    """The copy, its own embedded database on a free port, deleted afterwards."""
    pipenv = shutil.which("pipenv")
    assert pipenv is not None, "pipenv is not on PATH: `pip install pipenv`, as the README says"
    path = SCRATCH_DIR / f"readme-{uuid.uuid4().hex[:8]}"
    shutil.copytree(ROOT, path, ignore=COPY_IGNORED)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIPENV_", "PYTEST_", "DATABASE_URL", "EMBEDDED_", "API_"))
    }
    api_port = free_port()
    environment.update(
        # The environment the tests run in, for whichever folder the copy is in.
        VIRTUAL_ENV=sys.prefix,
        # A `pipenv run` inside another (each qa hook) ignores VIRTUAL_ENV and looks the
        # environment up by the project's folder, which for the copy has none: name it.
        WORKON_HOME=str(Path(sys.prefix).parent),
        PIPENV_CUSTOM_VENV_NAME=Path(sys.prefix).name,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
        PIPENV_VERBOSITY="-1",
        PIPENV_YES="1",
        PIPENV_NOSPIN="1",
        # The copy's models, not the installed package's.
        PYTHONPATH=str(path / "src"),
        EMBEDDED_PORT=str(free_port()),
        # Not the default name: "Your own PostgreSQL" creates that one on the same server.
        EMBEDDED_DATABASE="readme-walkthrough",
        API_PORT=str(api_port),
        **GIT_IDENTITY,
    )
    copy = Project(path, environment, api_port)
    try:
        yield copy
    finally:
        copy.run("pipenv run db-down --volumes")
        shutil.rmtree(path, ignore_errors=True)


def serve_and_walk_through(project: Project) -> None:
    """Quick start's `start` (setup aside), the walkthrough's curls, then Ctrl-C."""
    [quick_start] = blocks(section("## Quick start"))[:1]
    start = lines(quick_start)[0].split(" && ")[-1]
    assert start == "pipenv run start", quick_start
    process = subprocess.Popen(
        as_foreground_job(start.split()),
        cwd=project.path,
        env=project.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{project.api_port}"
        if not answers(f"{base}/ready", process, seconds=60):
            assert process.poll() is None, process.communicate()[0]
            pytest.fail("start did not answer /ready within 60 s")

        walkthrough = section("### The walkthrough")
        outputs = [
            project.run(line.replace("http://127.0.0.1:8765", base), stdout_only=True)
            for line in lines(blocks(walkthrough)[0])
        ]
        statuses = [int(output.split()[1]) for output in outputs]
        promised = [int(code) for code in re.findall(r"answers `(\d{3})`", walkthrough)]
        assert statuses[: len(promised)] == promised, outputs
        assert statuses == [404, 201, 200], outputs
        body = re.search(r"`404` with `(\{.*?\})`", walkthrough)
        assert body is not None
        assert json.loads(outputs[0].splitlines()[-1]) == json.loads(body[1]), outputs[0]
        assert re.search(r"^location: ", outputs[1], re.IGNORECASE | re.MULTILINE), outputs[1]
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "stopped the API and the embedded PostgreSQL it started" in output


def add_under(path: Path, anchor: str, addition: str) -> None:
    """Add the line `addition` under the one line of `path` that reads `anchor`, as indented."""
    text = path.read_text()
    [line] = re.findall(rf"^ *{re.escape(anchor)}\n", text, re.MULTILINE)
    indent = line[: len(line) - len(line.lstrip(" "))]
    path.write_text(text.replace(line, f"{line}{indent}{addition}\n"))


def in_git_with_hooks(project: Project) -> None:
    """The copy as a clone is: committed, with the hooks `setup` installs."""
    project.run("git init -q && git add -A && git commit -q -m 'The project as cloned'")
    project.run("pipenv run pre-commit install --install-hooks")


def first_schema_change(project: Project) -> None:
    """ "Your first schema change", every step, ending with qa, the tests and the commit green."""
    text = section("## Your first schema change")
    model_line, generate, guard, diagrams, apply, check, commit = blocks(text)[:7]
    assert [b.language for b in (model_line, generate, guard)] == ["python", "sh", ""]
    assert {b.language for b in (diagrams, apply, check, commit)} == {"sh"}
    in_git_with_hooks(project)

    add_under(
        project.models,
        "official_name: Mapped[str | None] = mapped_column(String(200))",
        model_line.text.strip(),
    )
    for command in lines(generate):
        project.run(command)
    [revision] = project.new_revisions()
    assert revision.name.endswith("_add_capital_to_country.py")
    assert 'op.add_column("country", sa.Column("capital"' in revision.read_text()

    shown = transcript(guard)
    passed = project.run(shown.command)
    assert shown.matches(passed), f"README shows:\n{shown.output}\nthe guard printed:\n{passed}"

    for file, anchor, addition in APP_CODE:
        assert f"`{addition}`" in text, f"step 4 no longer adds `{addition}`"
        add_under(project.path / file, anchor, addition)

    for command in lines(diagrams):
        project.run(command)
    outputs = [project.run(command) for command in lines(apply)]
    assert "(effective head)" in outputs[-1], outputs[-1]
    qa, test = lines(check)
    assert (qa, test) == ("pipenv run qa", "pipenv run test"), check.text
    project.run(qa)
    # A failure fails this test with the suite's whole output, its failures and summary last.
    # The toolkit's own tests are left out: they import nothing of the app, so the change
    # cannot reach them, and CI runs them on this server against the toolkit's wheel.
    suite = project.run(test, without=COPY_ONLY, timeout=WHOLE_SUITE_SECONDS, extra=APP_SUITE_ONLY)
    summary = suite.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary), suite
    for command in lines(commit):
        project.run(command)
    committed = project.run("git show --stat --format=%s HEAD")
    for changed in ("models.py", "schema_release.py", "countries.py", "schemas.py", "README.md"):
        assert changed in committed, committed
    assert project.run("git status --porcelain") == "", "the commit left changes behind"


def rename_through_the_hint(project: Project) -> None:
    """The rename: refused without a terminal with the README's hint, then applied with it."""
    renames = blocks(section("## Renames"))
    [model_line] = [b for b in renames if b.language == "python"]
    [refusal] = [b for b in renames if b.language == "" and "< /dev/null" in b.text]
    [with_hint] = [b for b in renames if b.language == "sh"]

    models = project.models.read_text()
    common_name = re.search(r"^    common_name: .*$", models, re.MULTILINE)
    assert common_name is not None
    project.models.write_text(models.replace(common_name[0], "    " + model_line.text.strip()))

    shown = transcript(refusal)
    refused = project.run(shown.command, expect_success=False)
    assert shown.matches(refused), f"README shows:\n{shown.output}\nthe command printed:\n{refused}"

    for command in lines(with_hint):
        project.run(command)
    with psycopg.connect(project.server("postgres", "readme-walkthrough")) as connection:
        row = connection.execute("SELECT display_name FROM country WHERE code = 'GB'").fetchone()
    assert row == ("United Kingdom",)  # the walkthrough's row, through the rename


def own_postgresql(project: Project) -> None:
    """docs/own-postgresql.md: the roles' SQL as a superuser, migrations as the owner, the API as
    the app role."""
    text = section("# Your own PostgreSQL", OWN_POSTGRESQL)
    [roles] = [b for b in blocks(text) if b.language == "sql"]
    [migrate, serve] = lines(next(b for b in blocks(text) if b.language == "sh"))
    (project.path / "roles.sql").write_text(roles.text)
    # The superuser's psql: the project's, on the embedded server `db-up` runs (see Commands).
    project.run("pipenv run db-up")
    # db-up gave the embedded server the project's app role; a server of your own has none.
    project.run(
        "pipenv run psql -v ON_ERROR_STOP=1"
        " -c 'DROP OWNED BY alembic_stuff_app' -c 'DROP ROLE alembic_stuff_app'"
    )
    project.run("pipenv run psql -v ON_ERROR_STOP=1 -f roles.sql")

    here = f"127.0.0.1:{project.environment['EMBEDDED_PORT']}"
    project.run(migrate.replace("db.example.com", here))
    assert serve.endswith(" pipenv run start")
    app_url = serve.split()[0].removeprefix("DATABASE_URL=").replace("db.example.com", here)
    with psycopg.connect(app_url) as connection:
        connection.execute(
            "INSERT INTO country (code, alpha_3, numeric_code, common_name) "
            "VALUES ('FR', 'FRA', '250', 'France')"
        )
        connection.commit()
        for statement in (
            "DROP TABLE country",
            "TRUNCATE country",
            "CREATE TABLE t (i int)",
            "ALTER TABLE country ADD COLUMN x int",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
            connection.rollback()
    owner_url = migrate.split()[0].removeprefix("DATABASE_URL=").replace("db.example.com", here)
    with psycopg.connect(owner_url) as connection:
        owner = connection.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'country'")
        assert owner.fetchone() == ("alembic_stuff_owner",)
    project.run("pipenv run db-down")


@pytest.mark.readme
def test_the_readme_runs_as_written(project: Project) -> None:
    own_postgresql(project)  # first: it inserts a row by the columns the project has now
    serve_and_walk_through(project)
    first_schema_change(project)
    rename_through_the_hint(project)
