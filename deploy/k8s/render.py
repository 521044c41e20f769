#!/usr/bin/env python3
"""Render a kustomization of deploy/k8s without kubectl, as `kubectl kustomize` would.

    python deploy/k8s/render.py deploy/k8s/overlays/gke > docmemo-gke.yaml

It implements exactly the subset of kustomize these manifests use, and refuses the
rest, so that both tools give the same objects (tests/deploy/test_k8s.py compares
them wherever kubectl is installed):

- ``resources``: YAML files, and directories holding a kustomization.yaml (rendered
  first, recursively);
- ``patches`` given by ``path``: strategic-merge patches, one or more documents per
  file, each applied to the resource of the same kind and name;
- ``namespace``: set on every namespaced resource;
- ``images``: ``name`` with ``newName`` and/or ``newTag``, in containers and
  initContainers.

Strategic merge, as kubectl does it for the fields used here:

- maps merge recursively, and a ``null`` in the patch deletes the key;
- the lists below merge item by item on their key; the result holds the patch's
  items first, in the patch's order, then the untouched items; an item holding
  ``$patch: delete`` is removed;
- any other list is replaced by the patch's;
- a patch document holding ``$patch: delete`` removes its resource.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
IMAGE_FIELDS = {"name", "newName", "newTag"}

# Lists merged item by item, and the key that identifies an item (Kubernetes'
# patchMergeKey). Container ports merge on containerPort, a Service's on port.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}

CLUSTER_SCOPED_KINDS = {
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "IngressClass",
    "Namespace",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
}

# kustomize's output order (its "legacy" order): these kinds first, in this order,
# then every other kind, then the webhooks.
FIRST_KINDS = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]
LAST_KINDS = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


class RenderError(ValueError):
    """The kustomization is outside the subset render.py implements, or broken."""


def render(path: str | Path) -> list[Resource]:
    """The resources the kustomization in directory ``path`` builds, in kustomize's order."""
    directory = Path(path)
    kustomization = _load_kustomization(directory)

    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        if target.is_dir():
            resources += render(target)
        elif target.is_file():
            resources += _load_documents(target)
        else:
            raise RenderError(f"{directory}: resource {entry!r} does not exist")
    _refuse_duplicates(resources, directory)

    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise RenderError(f"{directory}: only patches given by path are supported: {entry}")
        for patch in _load_documents(directory / entry["path"]):
            resources = _apply_patch(resources, patch, directory / entry["path"])

    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource.setdefault("metadata", {})["namespace"] = namespace

    for image in kustomization.get("images", []):
        if not set(image) <= IMAGE_FIELDS or "name" not in image:
            raise RenderError(f"{directory}: images support name, newName, newTag: {image}")
        for resource in resources:
            _set_image(resource, image)

    return sorted(resources, key=_output_order)


def _load_kustomization(directory: Path) -> dict[str, Any]:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unsupported = set(kustomization) - KUSTOMIZATION_FIELDS
    if unsupported:
        raise RenderError(f"{path}: render.py does not implement {sorted(unsupported)}")
    return kustomization


def _load_documents(path: Path) -> list[Resource]:
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


def _identity(resource: Resource) -> tuple[str, str, str | None]:
    metadata = resource.get("metadata", {})
    return resource["kind"], metadata["name"], metadata.get("namespace")


def _refuse_duplicates(resources: list[Resource], directory: Path) -> None:
    seen = set()
    for resource in resources:
        identity = _identity(resource)
        if identity in seen:
            raise RenderError(f"{directory}: {identity} is defined twice")
        seen.add(identity)


def _apply_patch(resources: list[Resource], patch: Resource, source: Path) -> list[Resource]:
    kind, name, namespace = _identity(patch)
    matches = [
        index
        for index, resource in enumerate(resources)
        if resource["kind"] == kind
        and resource["metadata"]["name"] == name
        and namespace in (None, resource["metadata"].get("namespace"))
    ]
    if len(matches) != 1:
        raise RenderError(f"{source}: patch for {kind}/{name} matches {len(matches)} resources")
    index = matches[0]
    directive = patch.get("$patch")
    if directive == "delete":
        return resources[:index] + resources[index + 1 :]
    if directive is not None:
        raise RenderError(f"{source}: unsupported $patch: {directive}")
    patched = list(resources)
    patched[index] = _merge_maps(resources[index], patch)
    return patched


def _merge_maps(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith("$"):
            raise RenderError(f"unsupported patch directive in a map: {key}")
        current = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            merged[key] = _merge_maps(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list) and _merge_key(key, value) is not None:
            items = current if isinstance(current, list) else []
            merged[key] = _merge_lists(items, value, _merge_key(key, value))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if any("containerPort" in item for item in items) else "port"
    return MERGE_KEYS.get(field)


def _merge_lists(original: list[dict], patch: list[dict], key: str) -> list[dict]:
    by_key = {item[key]: item for item in original}
    merged = []
    for item in patch:
        if key not in item:
            raise RenderError(f"a patch's list item has no {key}: {item}")
        directive = item.get("$patch")
        if directive == "delete":
            continue
        if directive is not None:
            raise RenderError(f"unsupported $patch in a list: {directive}")
        merged.append(_merge_maps(by_key.get(item[key], {}), item))
    patched = {item[key] for item in patch}
    return merged + [copy.deepcopy(item) for item in original if item[key] not in patched]


def _set_image(node: Any, image: dict[str, str]) -> None:
    """Rewrite matching images in every containers/initContainers list under node."""
    if isinstance(node, list):
        for item in node:
            _set_image(item, image)
    elif isinstance(node, dict):
        for field, value in node.items():
            if field in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if "image" in container:
                        container["image"] = _new_image(container["image"], image)
            _set_image(value, image)


def _new_image(reference: str, image: dict[str, str]) -> str:
    if "@" in reference:
        if reference.split("@", 1)[0] == image["name"]:
            raise RenderError(f"render.py does not rewrite images by digest: {reference}")
        return reference
    name, tag = reference, None
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
    if name != image["name"]:
        return reference
    name = image.get("newName", name)
    tag = image.get("newTag", tag)
    return f"{name}:{tag}" if tag else name


def _output_order(resource: Resource) -> tuple:
    """kustomize's legacy order: by kind rank, then group, version, kind, name."""
    kind = resource["kind"]
    if kind in FIRST_KINDS:
        rank = FIRST_KINDS.index(kind)
    elif kind in LAST_KINDS:
        rank = len(FIRST_KINDS) + 1 + LAST_KINDS.index(kind)
    else:
        rank = len(FIRST_KINDS)
    group, _, version = resource["apiVersion"].rpartition("/")
    return rank, group or "~G", version, kind, resource["metadata"]["name"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print the resources of a kustomization (the subset deploy/k8s uses)."
    )
    parser.add_argument("directory", help="a directory holding a kustomization.yaml")
    arguments = parser.parse_args(argv)
    try:
        resources = render(arguments.directory)
    except (RenderError, OSError, yaml.YAMLError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(resources, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
