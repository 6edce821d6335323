"""The shipped nginx configuration: rendered as the official image renders it, and valid."""

import re
import subprocess
from typing import Any

import yaml

from alembic_stuff.api.server import MAX_CONCURRENCY
from support.nginx import (
    MAIN_CONFIG,
    ROOT,
    TEMPLATE,
    configure,
    render,
    scratch_folder,
    upstream_bound,
)

IMAGE_VARIABLES = {"API_UPSTREAM": "api:8765", "PROXY_PORT": "8080"}


def compose_service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return dict(services[name])


def test_only_the_defined_variables_are_substituted() -> None:
    rendered = render(TEMPLATE.read_text(), IMAGE_VARIABLES)
    assert "server api:8765 max_conns=" in rendered
    assert "listen 8080;" in rendered
    assert "${" not in rendered
    # nginx's own variables are left for nginx.
    for variable in ("$binary_remote_addr", "$host", "$proxy_add_x_forwarded_for", "$scheme"):
        assert variable in rendered


def test_a_name_that_only_begins_like_a_variable_is_left_alone() -> None:
    assert render("$PROXY_PORTS ${PROXY_PORT} $PROXY_PORT;", {"PROXY_PORT": "1"}) == (
        "$PROXY_PORTS 1 1;"
    )


def directive(block: str, name: str) -> str:
    """The arguments of the one `name` directive in `block`."""
    [arguments] = re.findall(rf"^\s*{name}\s+([^;]+);", block, flags=re.MULTILINE)
    return str(arguments)


def test_nginx_opens_fewer_connections_to_the_api_than_uvicorn_takes() -> None:
    # Beyond MAX_CONCURRENCY uvicorn answers a plain-text 503 without Retry-After; nginx must
    # refuse first, with its JSON 502. Its idle keep-alive connections are not counted by
    # max_conns: each worker may hold `keepalive` more.
    rendered = render(TEMPLATE.read_text(), IMAGE_VARIABLES)
    [upstream] = re.findall(r"upstream api \{(.*?)\n\}", rendered, flags=re.DOTALL)
    assert directive(upstream, "zone").split()[0] == "api"  # one count for all the workers
    active = upstream_bound(rendered)
    idle_each = int(directive(upstream, "keepalive"))
    workers = int(directive(MAIN_CONFIG.read_text(), "worker_processes"))
    assert active + idle_each * workers < MAX_CONCURRENCY


def test_nginx_accepts_the_shipped_configuration() -> None:
    with scratch_folder() as folder:
        command = configure(folder, "http://127.0.0.1:8765", 8080)
        checked = subprocess.run(
            [*command, "-t", "-q"], capture_output=True, text=True, timeout=30, check=False
        )
    assert checked.returncode == 0, checked.stderr


def test_the_compose_service_gives_the_template_every_variable_it_uses() -> None:
    nginx = compose_service("nginx")
    used = set(re.findall(r"\$\{([A-Z_]+)\}", TEMPLATE.read_text()))
    assert used == set(nginx["environment"]) == set(IMAGE_VARIABLES)
    assert nginx["environment"]["API_UPSTREAM"] == "api:8765"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in nginx["volumes"]}
    assert ROOT / mounts["/etc/nginx/templates"] == TEMPLATE.parent
    assert ROOT / mounts["/etc/nginx/nginx.conf"] == MAIN_CONFIG
    port = nginx["environment"]["PROXY_PORT"]
    assert nginx["ports"] == [f"127.0.0.1:{port}:{port}"]
    # The API stays reachable without the edge, as promised.
    assert compose_service("api")["ports"] == ["127.0.0.1:8765:8765"]
