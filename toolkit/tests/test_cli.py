"""The `alembic-toolkit` command line: Alembic's, plus the toolkit's own."""

from importlib.metadata import version
from pathlib import Path

import pytest
from alembic_toolkit.cli import main


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
