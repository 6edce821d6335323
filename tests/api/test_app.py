"""The application factory's lifespan."""

import gc

from alembic_stuff.api.app import create_app
from alembic_stuff.settings import Settings


async def test_the_collector_is_tuned_while_serving_and_restored_after(
    settings: Settings,
) -> None:
    before = gc.get_threshold()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] > before[0]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
