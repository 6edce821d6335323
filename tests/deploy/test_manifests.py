"""The Kubernetes manifests (deploy/): valid offline, and true to what the app promises.

Each kustomization is rendered (support/kustomize.py) and every resource validated against
the Kubernetes API's schemas, strictly (an unknown field is an error), with
kubernetes-validate. Then the promises a schema cannot see: the probes' paths, the rolling
update, the Jobs' commands, the Secrets and ConfigMaps named, and the ports.
"""

import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type hints
import pytest
from alembic_toolkit.cli import TOOLKIT_COMMANDS
from sqlalchemy import make_url

from alembic_stuff.api.health import READY_TIMEOUT_SECONDS
from alembic_stuff.api.server import server_options
from alembic_stuff.cli import main as app_cli
from alembic_stuff.settings import Settings
from support.kustomize import Resource, load_documents, parse_documents, pod_spec, render
from tests.databases import ROOT

DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = {
    "serving": DEPLOY,
    "expand": DEPLOY / "k8s" / "expand",
    "contract": DEPLOY / "k8s" / "contract",
}
SECRETS = DEPLOY / "k8s" / "secrets.example.yaml"
# The Kubernetes release whose schemas the manifests must satisfy (kubernetes-validate's).
KUBERNETES_VERSION = "1.37"
APP_IMAGE = "alembic-stuff"


def rendered(step: str) -> list[Resource]:
    return render(KUSTOMIZATIONS[step])


def every_resource() -> list[Any]:
    """Each resource of each kustomization and of the Secrets' example, as a test's parameter."""
    found = [(step, resource) for step in KUSTOMIZATIONS for resource in rendered(step)]
    found += [("secrets", secret) for secret in load_documents(SECRETS)]
    return [
        pytest.param(step, r, id=f"{step}-{r['kind']}-{r['metadata']['name']}") for step, r in found
    ]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def containers(resource: Resource) -> list[Resource]:
    spec = pod_spec(resource)
    assert spec is not None, f"{resource['kind']} runs no pods"
    found: list[Resource] = spec["containers"]
    return found


def container(resource: Resource, name: str) -> Resource:
    matches = [c for c in containers(resource) if c["name"] == name]
    assert len(matches) == 1, f"{resource['metadata']['name']}: container {name}"
    return matches[0]


def env_value(found: Resource, name: str) -> Any:
    values = [entry for entry in found.get("env", []) if entry["name"] == name]
    assert len(values) == 1, f"{found['name']}: env {name}"
    return values[0].get("value", values[0].get("valueFrom"))


def port_number(found: Resource, port: int | str) -> int:
    """A container's port, by number or by name."""
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in found["ports"] if p.get("name") == port]
    assert len(numbers) == 1, f"{found['name']}: port {port}"
    number: int = numbers[0]
    return number


def secret_values() -> dict[tuple[str, str], str]:
    """(Secret, key) -> value of the placeholder Secrets."""
    return {
        (secret["metadata"]["name"], key): value
        for secret in load_documents(SECRETS)
        for key, value in secret["stringData"].items()
    }


def workloads() -> list[Resource]:
    return [r for step in KUSTOMIZATIONS for r in rendered(step) if pod_spec(r) is not None]


def app_workloads() -> list[Resource]:
    """The workloads that run the app's image (the API and the Jobs)."""
    return [
        r
        for r in workloads()
        if any(
            c.get("command", [""])[0] in {"alembic-stuff", "alembic-toolkit"} for c in containers(r)
        )
    ]


@pytest.mark.parametrize(("step", "resource"), every_resource())
def test_every_manifest_satisfies_the_kubernetes_schemas(step: str, resource: Resource) -> None:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{step}: {resource['kind']} {resource['metadata']['name']}: {where}: {exc}")


BROKEN = {
    "a misspelt field": ("spec", "template", "spec", "containers", 0, "readinesProbe"),
    "a wrong type": ("spec", "replicas"),
    "a missing required field": ("spec", "selector"),
}


@pytest.mark.parametrize("breakage", BROKEN)
def test_a_broken_manifest_is_refused(breakage: str) -> None:
    """The validation above fails on a manifest broken in each usual way."""
    deployment = named(rendered("serving"), "Deployment", "alembic-stuff-api")
    *path, last = BROKEN[breakage]
    parent: Any = deployment
    for key in path:
        parent = parent[key]
    if breakage == "a misspelt field":
        parent[last] = {"httpGet": {"path": "/ready", "port": "http"}}
    elif breakage == "a wrong type":
        parent[last] = "two"
    else:
        del parent[last]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_api_is_probed_on_its_own_paths_and_rolled_with_none_unavailable() -> None:
    resources = rendered("serving")
    deployment = named(resources, "Deployment", "alembic-stuff-api")
    api = container(deployment, "api")
    readiness, liveness = api["readinessProbe"], api["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/ready"
    assert liveness["httpGet"]["path"] == "/health"
    for probe in (readiness, liveness):
        assert port_number(api, probe["httpGet"]["port"]) == api["ports"][0]["containerPort"]
    # The probe must outwait /ready's own bound on the database, or it sees no 503 at all.
    assert readiness["timeoutSeconds"] > READY_TIMEOUT_SECONDS
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = named(resources, "PodDisruptionBudget", "alembic-stuff-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    assert api["resources"]["requests"]
    assert api["resources"]["limits"]["memory"]


def test_a_stopping_replica_finishes_its_requests_before_it_is_killed() -> None:
    deployment = named(rendered("serving"), "Deployment", "alembic-stuff-api")
    pause = container(deployment, "api")["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown = server_options(Settings())["timeout_graceful_shutdown"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > (
        pause + shutdown
    )


@pytest.mark.parametrize("step", ["expand", "contract"])
def test_each_job_runs_its_own_alembic_toolkit_command(step: str) -> None:
    (job,) = rendered(step)
    assert job["kind"] == "Job"
    command = container(job, "migrate")["command"]
    assert command == ["alembic-toolkit", step]
    assert command[1] in TOOLKIT_COMMANDS, f"`alembic-toolkit {command[1]}` is no command"
    spec = job["spec"]
    assert spec["backoffLimit"] >= 0
    assert spec["activeDeadlineSeconds"] > Settings().migration_lock_wait_seconds
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_the_two_jobs_differ_only_in_name_and_command() -> None:
    (expand,), (contract,) = rendered("expand"), rendered("contract")
    for job in (expand, contract):
        del job["metadata"]["name"]
        del container(job, "migrate")["command"]
    assert expand == contract


def test_the_migrations_connect_directly_and_the_api_through_pgbouncer() -> None:
    resources = rendered("serving")
    secrets = secret_values()
    api = container(named(resources, "Deployment", "alembic-stuff-api"), "api")
    api_url = make_url(secrets[_secret_key(env_value(api, "DATABASE_URL"))])
    pgbouncer = named(resources, "Service", "pgbouncer")
    assert (api_url.host, api_url.port) == ("pgbouncer", pgbouncer["spec"]["ports"][0]["port"])

    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(named(resources, "ConfigMap", "pgbouncer")["data"]["pgbouncer.ini"])
    pooler = container(named(resources, "Deployment", "pgbouncer"), "pgbouncer")
    assert int(ini["pgbouncer"]["listen_port"]) == pooler["ports"][0]["containerPort"]
    # The API's pooled mode is the pooler's.
    settings = named(resources, "ConfigMap", api["envFrom"][0]["configMapRef"]["name"])["data"]
    assert settings["DATABASE_POOLER"] == ini["pgbouncer"]["pool_mode"] == "transaction"
    assert api_url.database in ini["databases"], "the API's database is not in pgbouncer.ini"
    auth_file = Path(ini["pgbouncer"]["auth_file"])
    mounts = {m["mountPath"]: m for m in pooler["volumeMounts"]}
    assert auth_file.as_posix() in mounts, f"pgbouncer.ini's auth_file {auth_file} is not mounted"

    for step in ("expand", "contract"):
        (job,) = rendered(step)
        migrate = container(job, "migrate")
        direct = _secret_key(env_value(migrate, "MIGRATION_DATABASE_URL"))
        url = make_url(secrets[direct])
        assert url.host == named(resources, "Service", "db")["metadata"]["name"]
        assert url.port == 5432
        assert url.database == api_url.database
        # Nothing in a Job goes through the pooler, whichever URL a setting falls back to.
        assert _secret_key(env_value(migrate, "DATABASE_URL")) == direct


def test_every_secret_and_configmap_named_exists_with_its_key() -> None:
    secrets = secret_values()
    configmaps = {
        r["metadata"]["name"]: set(r["data"])
        for r in rendered("serving")
        if r["kind"] == "ConfigMap"
    }
    for workload in workloads():
        spec = pod_spec(workload)
        assert spec is not None
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for found in spec["containers"]:
            where = f"{workload['metadata']['name']}/{found['name']}"
            for entry in found.get("env", []):
                if "valueFrom" in entry:
                    assert _secret_key(entry["valueFrom"]) in secrets, f"{where}: {entry}"
            for source in found.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, f"{where}: {source}"
            for mount in found.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    keys = configmaps.get(volume["configMap"]["name"], set())
                elif "secret" in volume:
                    name = volume["secret"]["secretName"]
                    keys = {key for (secret, key) in secrets if secret == name}
                else:
                    continue
                assert keys, f"{where}: {volume} names nothing defined"
                assert mount.get("subPath", next(iter(keys))) in keys, f"{where}: {mount}"


def _secret_key(source: Resource) -> tuple[str, str]:
    reference = source["secretKeyRef"]
    return reference["name"], reference["key"]


def test_the_ports_agree_with_the_app_and_the_edge() -> None:
    resources = rendered("serving")
    deployment = named(resources, "Deployment", "alembic-stuff-api")
    api = container(deployment, "api")
    port = api["ports"][0]["containerPort"]
    assert port == Settings.model_fields["api_port"].default
    assert api["command"][:2] == ["alembic-stuff", "serve"]
    assert api["command"][1] in app_cli.commands
    assert api["command"][api["command"].index("--port") + 1] == str(port)
    assert f"EXPOSE {port}\n" in (ROOT / "Dockerfile").read_text()
    service = named(resources, "Service", "alembic-stuff-api")
    assert port_number(api, service["spec"]["ports"][0]["targetPort"]) == port

    edge = container(named(resources, "Deployment", "alembic-stuff-edge"), "nginx")
    service_port = service["spec"]["ports"][0]["port"]
    assert env_value(edge, "API_UPSTREAM") == f"{service['metadata']['name']}:{service_port}"
    assert int(env_value(edge, "PROXY_PORT")) == edge["ports"][0]["containerPort"]
    template = named(resources, "ConfigMap", "nginx-templates")["data"]
    mounts = {m["mountPath"] for m in edge["volumeMounts"]}
    assert "/etc/nginx/templates" in mounts
    assert any("${PROXY_PORT}" in text and "${API_UPSTREAM}" in text for text in template.values())


def test_the_edge_adds_no_directive_its_nginx_conf_sets() -> None:
    """nginx refuses a directive given twice: in nginx.conf and again by `-g` in the args."""
    resources = rendered("serving")
    edge = container(named(resources, "Deployment", "alembic-stuff-edge"), "nginx")
    assert edge["args"][:2] == ["nginx", "-g"]
    added = {part.split()[0] for part in edge["args"][2].split(";") if part.strip()}
    conf = named(resources, "ConfigMap", "nginx")["data"]["nginx.conf"]
    given = {line.split()[0] for line in conf.splitlines() if line.strip() and line[0].isalpha()}
    assert not added & given, f"both in nginx.conf and in the args: {sorted(added & given)}"


def test_the_app_settings_given_are_settings_the_app_reads() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for workload in app_workloads():
        for found in containers(workload):
            given = {entry["name"] for entry in found.get("env", [])}
            for source in found.get("envFrom", []):
                configmap = named(rendered("serving"), "ConfigMap", source["configMapRef"]["name"])
                given |= set(configmap["data"])
            assert given <= known, f"{workload['metadata']['name']}: {sorted(given - known)}"


def test_every_pod_runs_unprivileged_on_a_read_only_root() -> None:
    for workload in workloads():
        spec = pod_spec(workload)
        assert spec is not None
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        # Service links would put ALEMBIC_STUFF_API_PORT=tcp://... and the like in the
        # environment, where settings read from it could take them for their own.
        assert spec["enableServiceLinks"] is False, name
        for found in spec["containers"]:
            context = found["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert found["resources"]["requests"], name


def test_every_container_runs_a_tagged_image_and_the_app_the_release() -> None:
    images = {found["image"] for workload in app_workloads() for found in containers(workload)}
    assert len(images) == 1, images
    assert APP_IMAGE not in images, "the release component did not replace the placeholder"
    for workload in workloads():
        for found in containers(workload):
            assert ":" in found["image"].rsplit("/", 1)[-1], f"untagged: {found['image']}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl here to compare with")
@pytest.mark.parametrize("step", KUSTOMIZATIONS)
def test_the_rendering_matches_kubectl_kustomize(step: str) -> None:
    """Where kubectl is installed, support/kustomize.py renders what it renders."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZATIONS[step])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = parse_documents(result.stdout)
    # kustomize appends a content hash to generated names, and to every reference to them.
    hashed = {
        r["metadata"]["name"]: r["metadata"]["name"].rsplit("-", 1)[0]
        for r in theirs
        if r["kind"] == "ConfigMap"
    }
    unhashed = set(_configmap_references(theirs)) - set(hashed)
    assert not unhashed, f"references kustomize did not give the hash: {unhashed}"
    theirs = [_renamed(r, hashed) for r in theirs]
    by_name = {(r["kind"], r["metadata"]["name"]): r for r in theirs}
    ours = {(r["kind"], r["metadata"]["name"]): r for r in rendered(step)}
    assert by_name == ours


def _configmap_references(value: Any) -> list[str]:
    """The ConfigMap names a resource refers to: volumes, envFrom and env."""
    if isinstance(value, list):
        return [name for item in value for name in _configmap_references(item)]
    if not isinstance(value, dict):
        return []
    found = [
        value[key]["name"]
        for key in ("configMap", "configMapRef", "configMapKeyRef")
        if key in value
    ]
    return found + [name for item in value.values() for name in _configmap_references(item)]


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _renamed(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    return names.get(value, value) if isinstance(value, str) else value
