"""Which schemas autogenerate compares: the default one and those the models put tables in.

Without `include_schemas`, autogenerate looks at the default schema only, so a model table in
another schema looks missing on every run and is created again in every revision. With it
alone, it would compare every schema in the database, other tools' included (the backfill
progress of `alembic_toolkit.zerodowntime` lives in a schema of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import MetaData

IncludeName = Callable[[str | None, str, Mapping[str, str | None]], bool]


def modelled_schemas(metadata: MetaData) -> IncludeName:
    """An `include_name` hook for `context.configure(include_schemas=True, ...)`."""
    schemas = {table.schema for table in metadata.tables.values()}

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        return type_ != "schema" or name is None or name in schemas

    return include_name
