"""infra/helm/guardstream rendered by the real helm binary, and the CRD schemas its custom resources follow.

`make helm-chart-tools` fetches helm and the KEDA and Prometheus-operator CRDs into .cache, pinned
by the versions in the Makefile (read from there, so the two never disagree). A missing tool fails the
test that needs it, loudly: it is never skipped.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardstream.paths import repository_root

ROOT = repository_root()
CHART = ROOT / "infra" / "helm" / "guardstream"
RELEASE = "guardstream"
NAMESPACE = "moderation"
# The Kubernetes release the manifests are rendered for and validated against (kubernetes-validate's schemas)
KUBERNETES_VERSION = "1.33.0"

Manifest = dict[str, Any]


def _makefile_variable(name: str) -> str:
    found = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found is not None, f"the Makefile pins {name}"
    return found.group(1)


def helm_binary() -> Path:
    path = ROOT / ".cache" / "helm" / _makefile_variable("HELM_VERSION") / "helm"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make helm-chart-tools` (fetches helm)")
    return path


def crd_directory() -> Path:
    keda, operator = _makefile_variable("KEDA_VERSION"), _makefile_variable("PROMETHEUS_OPERATOR_VERSION")
    path = ROOT / ".cache" / "crds" / f"keda-{keda}_prometheus-operator-{operator}"
    if not (path / ".fetched").is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make helm-chart-tools` (fetches the CRDs)")
    return path


def render(*values_files: str, extra: tuple[str, ...] = ()) -> list[Manifest]:
    """Every manifest `helm template` renders (hooks included), with the chart's values plus these files
    (a copy: the tests may change what they are given)."""
    return copy.deepcopy(_render(values_files, extra))


@functools.cache
def _render(values_files: tuple[str, ...], extra: tuple[str, ...]) -> list[Manifest]:
    command = [str(helm_binary()), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    command += ["--kube-version", KUBERNETES_VERSION]
    for name in values_files:
        command += ["--values", str(CHART / name)]
    completed = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RenderError(completed.stderr.strip())
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


class RenderError(Exception):
    """helm refused to render the chart; the message is helm's."""


def values(*values_files: str) -> dict[str, Any]:
    """The chart's values with these files laid over them, as helm merges them (maps deep, the rest replaced)."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in values_files:
        _merge(merged, yaml.safe_load((CHART / name).read_text()))
    return merged


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the openAPIV3Schema of each served version of each fetched CRD, closed to unknown
    fields as the API server's strict field validation is (unless the schema keeps unknown fields)."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_directory().glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = _closed(version["schema"]["openAPIV3Schema"])
    return schemas


def _closed(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in closed
        and "additionalProperties" not in closed
        and not closed.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


def find(manifests: list[Manifest], kind: str, component: str | None = None) -> list[Manifest]:
    """The manifests of ``kind`` (of one component, by its app.kubernetes.io/component label)."""
    return [
        m
        for m in manifests
        if m["kind"] == kind
        and (component is None or m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component)
    ]


def one(manifests: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    found = find(manifests, kind, component)
    assert len(found) == 1, f"expected one {kind} of {component}, found {len(found)}"
    return found[0]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    """The pod spec of a Deployment, Job or CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]  # type: ignore[no-any-return]


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment variables that have a value written out (not taken from a Secret)."""
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
