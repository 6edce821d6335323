"""Render the kustomizations under deploy/ in Python, as `kubectl kustomize` would.

CI has no kubectl, and the manifests are checked offline (tests/deploy/test_manifests.py).
This renders the few kustomize features they use: `resources` (files and folders),
`components`, `configMapGenerator` (`files`, `envs`, `literals`) and `images`. Anything else
in a kustomization is refused rather than ignored, so a feature added to the manifests
cannot pass unrendered. Like kustomize, it loads files only from inside the
kustomization's own folder.

One difference: kustomize appends a hash of each generated ConfigMap's content to its name
and to every reference to it; here names stay as written, which is how the manifests
refer to them.
"""

from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILE = "kustomization.yaml"
SUPPORTED = {"apiVersion", "kind", "resources", "components", "configMapGenerator", "images"}
GENERATOR_FIELDS = {"name", "files", "envs", "literals"}
# Where pods are described, by kind: the containers' images are under these paths.
POD_SPEC_PATH = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


class KustomizeError(ValueError):
    """A kustomization this renderer, or kustomize itself, would refuse."""


def load_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document of a file."""
    return parse_documents(path.read_text())


def parse_documents(text: str) -> list[Resource]:
    """Every non-empty document of a YAML stream."""
    return [document for document in yaml.safe_load_all(text) if document]


def render(folder: Path) -> list[Resource]:
    """The resources the kustomization in `folder` builds, in kustomize's order of listing."""
    resources, images = _build(folder, {"Kustomization"})
    for resource in resources:
        _set_images(resource, images)
    return resources


def pod_spec(resource: Resource) -> Resource | None:
    """The pod template's spec of a workload, or None for other kinds."""
    path = POD_SPEC_PATH.get(resource["kind"])
    if path is None:
        return None
    spec: Resource = resource
    for key in path:
        spec = spec[key]
    return spec


def _build(folder: Path, kinds: set[str]) -> tuple[list[Resource], list[Resource]]:
    kustomization = _load_kustomization(folder, kinds)
    resources: list[Resource] = []
    images: list[Resource] = list(kustomization.get("images", []))
    for entry in kustomization.get("resources", []):
        target = folder / entry
        if target.is_dir():
            nested, nested_images = _build(target, {"Kustomization"})
            for resource in nested:
                _set_images(resource, nested_images)
            resources += nested
        else:
            resources += load_documents(_inside(folder, entry))
    resources += [
        _generate(folder, generator) for generator in kustomization.get("configMapGenerator", [])
    ]
    for entry in kustomization.get("components", []):
        component_resources, component_images = _build(folder / entry, {"Component"})
        resources += component_resources
        images += component_images
    return resources, images


def _load_kustomization(folder: Path, kinds: set[str]) -> Resource:
    path = folder / KUSTOMIZATION_FILE
    if not path.is_file():
        raise KustomizeError(f"{folder}: no {KUSTOMIZATION_FILE}")
    kustomization: Resource = yaml.safe_load(path.read_text())
    if kustomization.get("kind") not in kinds:
        raise KustomizeError(f"{path}: kind {kustomization.get('kind')!r}, expected {kinds}")
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise KustomizeError(f"{path}: fields this renderer does not render: {sorted(unsupported)}")
    return kustomization


def _inside(folder: Path, entry: str) -> Path:
    """A file named by a kustomization, refused outside its folder (kustomize's rule)."""
    path = (folder / entry).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise KustomizeError(f"{folder}: {entry} is outside the kustomization's root")
    if not path.is_file():
        raise KustomizeError(f"{folder}: {entry} does not exist")
    return path


def _generate(folder: Path, generator: Resource) -> Resource:
    unsupported = set(generator) - GENERATOR_FIELDS
    if unsupported:
        raise KustomizeError(f"{folder}: configMapGenerator fields {sorted(unsupported)}")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        data[Path(entry).name] = _inside(folder, entry).read_text()
    for entry in generator.get("envs", []):
        data |= _env_file(_inside(folder, entry))
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": data,
    }


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as kustomize reads an `envs` file: no quotes, no expansion."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, equals, value = stripped.partition("=")
        if not equals:
            raise KustomizeError(f"{path}:{number}: not KEY=VALUE: {line!r}")
        pairs[key] = value
    return pairs


def _set_images(resource: Resource, images: list[Resource]) -> None:
    spec = pod_spec(resource)
    if spec is None:
        return
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        name = _image_name(container["image"])
        for image in images:
            if image["name"] == name:
                tag = image.get("newTag")
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def _image_name(reference: str) -> str:
    """An image reference without its tag or digest (a registry's :port is kept)."""
    name = reference.split("@")[0]
    head, colon, tail = name.rpartition(":")
    return head if colon and "/" not in tail else name
