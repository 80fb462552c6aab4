"""Render a kustomization: `kubectl kustomize` when kubectl is installed, else a small renderer that
covers what deploy/k8s uses (resources, namespace, labels, images, configMapGenerator literals,
JSON6902 patches by kind/name). The test compares both where kubectl exists."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import yaml


def kubectl_kustomize(path: Path) -> list[dict] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _json_patch(doc: dict, ops: list[dict]) -> None:
    for op in ops:
        *parents, leaf = [p for p in op["path"].split("/") if p]
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if op["op"] in ("replace", "add"):
            node[int(leaf) if isinstance(node, list) else leaf] = op["value"]
        else:
            raise ValueError(f"patch op {op['op']} not supported by the fallback renderer")


def _config_refs(doc: dict, old: str) -> list[dict]:
    """Every configMapRef / configMapKeyRef naming ``old`` inside a Deployment."""
    found, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in ("configMapRef", "configMapKeyRef"):
                if isinstance(node.get(key), dict) and node[key].get("name") == old:
                    found.append(node[key])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def render(path: Path) -> list[dict]:
    k = yaml.safe_load((path / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for res in k.get("resources", []):
        target = path / res
        docs += render(target) if target.is_dir() else [d for d in yaml.safe_load_all(target.read_text()) if d]
    docs = copy.deepcopy(docs)
    for gen in k.get("configMapGenerator", []):
        data = dict(item.split("=", 1) for item in gen.get("literals", []))
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    for patch in k.get("patches", []):
        for doc in docs:
            t = patch["target"]
            if doc["kind"] == t["kind"] and doc["metadata"]["name"] == t["name"]:
                _json_patch(doc, yaml.safe_load(patch["patch"]))
    for doc in docs:
        if "namespace" in k:
            doc["metadata"]["namespace"] = k["namespace"]
        for label in k.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
        for image in k.get("images", []):
            for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                name = c["image"].split(":")[0]
                if name in (image["name"], image.get("newName")):
                    c["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return docs


def rendered(path: Path) -> list[dict]:
    return kubectl_kustomize(path) or render(path)
