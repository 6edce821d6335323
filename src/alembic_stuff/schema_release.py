"""The schema revisions this release works with (see alembic_toolkit.compatibility).

Written from the revision history by `pipenv run migrations-release`;
`pipenv run migrations-check` fails when it is stale. Do not edit.
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
