"""Extensions to Alembic's autogenerate: rename detection and the operations it writes."""

# The comparisons autogenerate (and `alembic check`) runs: Alembic's own, plus check
# constraints, which Alembic compares by name only when asked to.
AUTOGENERATE_PLUGINS = ["alembic.autogenerate.*", "alembic.ext.checkconstraint_byname"]
