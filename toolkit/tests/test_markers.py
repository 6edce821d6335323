"""The markers a generated revision carries read within a project's line-length rule."""

from alembic_toolkit.autogen.renames import markers
from alembic_toolkit.project import ProjectCommands

# ruff's and black's default line length: the least a project that copies the toolkit uses.
LINE_LENGTH = 88


def test_the_markers_comment_lines_fit_a_line_with_a_project_s_long_command_names() -> None:
    named = ProjectCommands(guard="pipenv run migrations-check", lint="pipenv run migrations-lint")
    source = markers({"country.name": "renamed"}, {"ban-drop-column": "renamed"}, named)
    comments = [line for line in source.splitlines() if line.startswith("#")]
    assert comments
    assert all(len(line) <= LINE_LENGTH for line in comments), comments
