"""The `alembic-toolkit` command line: Alembic's, plus the toolkit's own."""

import os
from importlib.metadata import version
from pathlib import Path

import pytest
from alembic_toolkit.cli import main
from sqlalchemy import URL
from toolkit_support import URL_VARIABLE, scratch_alembic_project, scratch_url


def test_version_names_the_toolkit_and_alembic(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    toolkit, alembic = version("alembic-toolkit"), version("alembic")
    assert capsys.readouterr().out.strip() == f"alembic-toolkit {toolkit} (Alembic {alembic})"


def test_alembic_commands_still_run(tmp_path: Path) -> None:
    main(["-c", str(tmp_path / "alembic.ini"), "init", str(tmp_path / "migrations")])
    assert (tmp_path / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("command", ["guard", "lint"])
def test_a_missing_configuration_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    missing = tmp_path / "alembic.ini"
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(missing), command])
    assert exited.value.code == 1
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line == (
        f"FAILED: {missing} not found: run alembic-toolkit in the folder that holds it, or "
        "name it with -c PATH"
    )


@pytest.mark.parametrize("where", [".", "docs"], ids=["project-folder", "another-subfolder"])
def test_a_revision_that_raises_is_one_line_from_any_folder_of_the_project(
    tmp_path: Path,
    database: URL,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    # It never imported `op`: a bug of the project's, named by its file and line.
    ini = scratch_alembic_project(tmp_path, [("a1", "undefined_name()", "")])
    monkeypatch.setenv(URL_VARIABLE, scratch_url(database))
    (tmp_path / where).mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / where)
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(ini), "upgrade"])
    assert exited.value.code == 1
    [line] = capsys.readouterr().out.strip().splitlines()
    revision = Path(os.path.relpath(tmp_path / "versions" / "a1.py"))
    assert line.startswith(
        f"FAILED: NameError: name 'undefined_name' is not defined ({revision}:"
    ), line


@pytest.mark.parametrize(
    "text",
    [
        "[alembic\nscript_location = x\n",
        "[alembic]\nscript_location = x\nscript_location = y\n",
        "[alembic]\nscript_location = %(nope)s\n",
    ],
    ids=["unclosed-section", "duplicate-option", "unknown-interpolation"],
)
@pytest.mark.parametrize("command", ["upgrade", "guard", "history"])
def test_a_configuration_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, command: str
) -> None:
    broken = tmp_path / "alembic.ini"
    broken.write_text(text)
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(broken), command])
    assert exited.value.code == (255 if command == "history" else 1)
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"FAILED: {broken} cannot be read: "), line
