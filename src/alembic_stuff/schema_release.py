"""The schema revisions this release works with (see alembic_toolkit.compatibility).

Generated from alembic/versions by `pipenv run migrations-release`, which `alembic-revision`
runs; `migrations-check` fails when it is stale. Do not edit.
"""

from alembic_toolkit.compatibility import SchemaRelease

RELEASE = SchemaRelease(
    expand_head="f7bf9bf8474f",
    contract_head="224c380b9281",
    contract=frozenset(
        {
            "224c380b9281",
        }
    ),
    older=frozenset(
        {
            "5b2e0c1d9a47",
            "9c4d7e2f1b38",
            "e1a8f3b6c5d2",
        }
    ),
)
