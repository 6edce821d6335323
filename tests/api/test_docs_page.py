"""The interactive documentation renders in a real browser with no internet: headless Chromium."""

import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from alembic_stuff.api.app import create_app
from alembic_stuff.settings import Settings
from support.browser import offline_chromium
from tests.databases import free_port


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[str]:
    """The real app served over HTTP on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start within 30 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts have run, with every host but loopback unreachable."""
    with tempfile.TemporaryDirectory() as profile:
        result = offline_chromium(url, "--dump-dom", profile=profile)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_swagger_ui_renders_the_operations_offline(served: str) -> None:
    dom = rendered_dom(f"{served}/docs")
    assert "cdn.jsdelivr.net" not in dom
    assert 'id="swagger-ui"' in dom
    # One rendered block per operation, each with its method and path.
    for method, path in [
        ("get", "/country/{code}"),
        ("post", "/country"),
        ("patch", "/country/{code}"),
        ("delete", "/country/{code}"),
        ("get", "/countries"),
    ]:
        assert f"opblock-{method}" in dom, method
        assert f'data-path="{path}"' in dom, path


def test_redoc_renders_the_operations_offline(served: str) -> None:
    dom = rendered_dom(f"{served}/redoc")
    assert "/country/{code}" in dom
    assert "alembic-stuff" in dom
    assert "Something went wrong" not in dom
