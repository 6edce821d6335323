"""docs/deploy.md: the commands it gives name real resources and subcommands, and its table
of nginx limits says what the shipped nginx files say."""

import re

from alembic_toolkit.cli import TOOLKIT_COMMANDS

from alembic_stuff.cli import main
from support.kustomize import render
from tests.databases import ROOT

RUNBOOK = ROOT / "docs" / "deploy.md"
NGINX = ROOT / "deploy" / "nginx"


def runbook() -> str:
    return RUNBOOK.read_text()


def test_the_kubernetes_commands_name_resources_the_manifests_define() -> None:
    folders = set(re.findall(r"kubectl (?:apply -k|kustomize) ([\w./-]+)", runbook()))
    assert {"deploy", "deploy/k8s/expand", "deploy/k8s/contract"} <= folders
    defined = {
        (resource["kind"].lower(), resource["metadata"]["name"])
        for folder in folders
        for resource in render(ROOT / folder)
    }
    named = set(re.findall(r"\b(job|deployment)[/ ]([a-z][a-z0-9-]+)", runbook()))
    assert named, "the runbook names no Job or Deployment"
    assert named <= defined, sorted(named - defined)


def test_the_commands_named_are_commands() -> None:
    app = set(re.findall(r"alembic-stuff ([a-z][a-z-]*)", runbook()))
    assert app <= set(main.commands), sorted(app - set(main.commands))
    toolkit = set(re.findall(r"alembic-toolkit ([a-z][a-z-]*)", runbook()))
    assert {"expand", "contract"} <= toolkit
    assert toolkit <= TOOLKIT_COMMANDS, sorted(toolkit - TOOLKIT_COMMANDS)


def test_the_limits_table_quotes_the_nginx_files() -> None:
    """Each directive the table quotes is, word for word, in the template or nginx.conf."""
    shipped = " ".join(
        " ".join(path.read_text().split()) for path in NGINX.rglob("*") if path.is_file()
    )
    table = runbook().split("| The template (`deploy/nginx/`) |", 1)[1]
    quoted = [
        snippet
        for row in table.splitlines()
        if row.startswith("| `")
        for snippet in re.findall(r"`([^`]+)`", row.split(" | ")[0])
        if re.fullmatch(r"[a-z_]+ \S.*", snippet)
    ]
    assert len(quoted) >= 10, quoted
    missing = [snippet for snippet in quoted if snippet not in shipped]
    assert not missing, f"in the table, not in deploy/nginx/: {missing}"
