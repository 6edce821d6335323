"""Click commands whose usage errors are one line: what was wrong, and where the help is.

Click prints a usage error as the command's usage, a hint and the error, over four lines;
this project's commands answer every mistake in one line, with exit status 2 (click's and
argparse's status for a command line that could not be parsed).
"""

from typing import Any

import click


class UsageProblem(click.ClickException):
    """A command line that could not be parsed, said in one line."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        where = error.ctx.command_path if error.ctx is not None else "alembic-stuff"
        message = error.format_message().rstrip(".")
        super().__init__(f"{where}: {message}; `{where} --help` lists what it takes")


class OneLineUsageCommand(click.Command):
    """A command that reports a usage error in one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse `args`, turning click's usage error into a one-line UsageProblem."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise UsageProblem(exc) from None


class OneLineUsageGroup(OneLineUsageCommand, click.Group):
    """A group whose commands and subgroups report usage errors in one line."""

    command_class = OneLineUsageCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the subcommand, turning "No such command" into a one-line UsageProblem."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise UsageProblem(exc) from None


OneLineUsageGroup.group_class = OneLineUsageGroup
