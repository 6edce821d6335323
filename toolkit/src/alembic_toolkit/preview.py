"""The SQL revisions would run, without a database (Alembic's offline mode).

Alembic's offline mode (`alembic upgrade FROM:TO --sql`) starts from one revision, and runs
everything TO needs that FROM does not imply. A revision with two parents (a merge, or a
`depends_on`, such as a contract revision depending on its expand) has no one revision to start
from: from either parent, the range also runs what the other parent implies. So does a range
from a database at two heads. `revision_sql` and `pending_sql` start from one parent (or
head) and cut off the part the other one implies, which Alembic writes first; they refuse, with
`InseparableSQLError`, when that part does not come first, or when it is implied by no one
other parent (or head), as with three that imply nothing of one another.
"""

import io
from collections.abc import Iterable, Sequence

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

from alembic_toolkit.review.destructive import CONTRACT, EXPAND


class InseparableSQLError(CommandError):
    """Offline, the SQL asked for cannot be told apart from what other revisions run."""


def offline_sql(config: Config, revisions: str, *, downgrade: bool = False) -> str:
    """Return the SQL that `alembic upgrade|downgrade <revisions> --sql` writes."""
    buffer = io.StringIO()
    previous, config.output_buffer = config.output_buffer, buffer
    try:
        (command.downgrade if downgrade else command.upgrade)(config, revisions, sql=True)
    finally:
        config.output_buffer = previous
    return buffer.getvalue()


def revision_sql(config: Config, revision: str) -> str:
    """The upgrade SQL of `revision` alone, without that of the revisions it depends on."""
    script = ScriptDirectory.from_config(config)
    try:
        found = script.get_revision(revision)
        if found is None:
            raise CommandError(f"no revision {revision}")
        parents = [*_ids(found.down_revision)]
        for dependency in _ids(found.dependencies):
            parents += [r.revision for r in script.get_revisions(dependency) if r is not None]
        return _upgrade_from(config, script, list(dict.fromkeys(parents)), found.revision)
    except RevisionError as exc:  # as `alembic` itself reports an unknown revision
        raise CommandError(str(exc)) from exc


def pending_sql(config: Config, current: Sequence[str]) -> str:
    """The SQL `alembic upgrade heads` runs on a database at the revisions `current`."""
    try:
        return _upgrade_from(config, ScriptDirectory.from_config(config), list(current), "heads")
    except RevisionError as exc:
        raise CommandError(str(exc)) from exc


def pending_downgrade_sql(config: Config, current: Sequence[str]) -> str:
    """The way back from what `pending_sql` runs: from every head down to `current`."""
    script = ScriptDirectory.from_config(config)
    ranges: list[str] = []
    for revision in current or ("base",):
        found = script.get_revision(revision) if revision != "base" else None
        branches = found.branch_labels & {EXPAND, CONTRACT} if found else set()
        # A downgrade starts from one revision: each branch's head down to where it is, or,
        # from the trunk, everything.
        target = f"{next(iter(branches))}@head" if branches else "heads"
        head = script.get_revisions(target)
        if target == "heads" or [r.revision for r in head if r] != [revision]:
            ranges.append(f"{target}:{revision}")
    return "".join(offline_sql(config, each, downgrade=True) for each in ranges)


def _upgrade_from(config: Config, script: ScriptDirectory, starts: list[str], target: str) -> str:
    """The SQL of the upgrade to `target` from a database at every one of `starts`."""
    if not starts:
        return offline_sql(config, f"base:{target}")
    implied = _closure(script, starts)
    for start in starts:
        # What the range from `start` alone would run again.
        again = implied - _closure(script, [start])
        if not again:
            return offline_sql(config, f"{start}:{target}")
        for other in starts:
            if other != start and _closure(script, [other]) - _closure(script, [start]) == again:
                sql = _without(config, start, target, other)
                if sql is not None:
                    return sql
    raise InseparableSQLError(
        f"the SQL of the upgrade to {target} from {', '.join(starts)} cannot be told apart "
        "offline from what those revisions imply (Alembic's offline mode starts from one "
        "revision)"
    )


def _without(config: Config, start: str, target: str, other: str) -> str | None:
    """`start:target`'s SQL without the part of `start:other`, or None if that is not first."""
    header = offline_sql(config, f"{start}:{start}")  # what env.py writes before any revision
    before = offline_sql(config, f"{start}:{other}")
    full = offline_sql(config, f"{start}:{target}")
    if not (before.startswith(header) and full.startswith(before)):
        return None
    return header + full[len(before) :]


def _closure(script: ScriptDirectory, revisions: Iterable[str]) -> set[str]:
    """`revisions` and every revision they imply: ancestors and dependencies."""
    # One at a time: Alembic refuses a set of revisions of which one implies another.
    return {r.revision for each in revisions for r in script.iterate_revisions(each, "base")}


def _ids(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
