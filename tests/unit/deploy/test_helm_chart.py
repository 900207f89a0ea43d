"""The Helm chart (infra/helm/guardstream) renders with its default and its production values; every manifest
is valid for Kubernetes (kubernetes-validate's schemas, strict: no unknown field), the KEDA and Prometheus-
operator resources against their projects' CRDs; and what matters holds: the probes ask the paths the services
answer, KEDA scales the workers on their own consumer group up to the topic's partitions (authenticated the way
the workers are), migrations run once in a hook and never in a service, the training job never overlaps
itself, Triton gets its GPU, and every setting the chart writes is one the code reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from devtools.devstack.settings import DevStackSettings
from guardstream.settings import ENV_PREFIX, Settings, TelemetrySettings, WorkerSettings, load_settings
from tests.support.helm_chart import (
    CHART,
    KUBERNETES_VERSION,
    ROOT,
    Manifest,
    RenderError,
    crd_schemas,
    find,
    one,
    plain_env,
    pod_spec,
    render,
    values,
)
from training.config import load_config
from workers.escalation.settings import ENV_PREFIX as ESCALATION_PREFIX
from workers.escalation.settings import EscalationSettings
from workers.review.settings import ENV_PREFIX as REVIEW_PREFIX
from workers.review.settings import ReviewSettings

PRODUCTION = "values-production.yaml"
VARIANTS = {"default": (), "production": (PRODUCTION,)}
SERVICES = ("worker", "stream-worker", "escalation", "review", "review-relay")


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, list[Manifest], dict[str, Any]]:
    files = VARIANTS[request.param]
    return request.param, render(*files), values(*files)


@pytest.fixture(scope="module")
def default() -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(PRODUCTION)


def _container(workload: Manifest) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def _workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in ("Deployment", "Job", "CronJob")]


def _guardstream_workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [w for w in _workloads(manifests) if w["metadata"]["labels"]["app.kubernetes.io/component"] != "triton"]


def _probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)  # type: ignore[no-any-return]


# ── every manifest is valid ─────────────────────────────────────────────────────────────────────────


def test_every_manifest_is_valid_for_kubernetes_or_its_crd(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    schemas = crd_schemas()
    custom = 0
    for manifest in manifests:
        name = f"{manifest['kind']} {manifest['metadata']['name']}"
        schema = schemas.get((manifest["apiVersion"], manifest["kind"]))
        if schema is not None:
            custom += 1
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
            assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
        elif manifest["apiVersion"].split("/")[0].endswith((".sh", ".coreos.com")):
            pytest.fail(f"{name}: no CRD fetched for {manifest['apiVersion']}")
        else:
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name} is not valid for Kubernetes {KUBERNETES_VERSION}: {exc}")
    assert custom >= 4, "the ScaledObject, ServiceMonitors and PrometheusRule are validated against their CRDs"


def test_the_crd_check_finds_an_unknown_field(default: list[Manifest]) -> None:
    scaled = json.loads(json.dumps(one(default, "ScaledObject", "worker")))
    scaled["spec"]["maxReplicas"] = 6  # KEDA's field is maxReplicaCount
    schema = crd_schemas()[("keda.sh/v1alpha1", "ScaledObject")]
    assert not jsonschema.Draft7Validator(schema).is_valid(scaled)


def test_the_kubernetes_check_finds_an_unknown_field(default: list[Manifest]) -> None:
    cronjob = json.loads(json.dumps(one(default, "CronJob", "training")))
    cronjob["spec"]["concurrency"] = "Forbid"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES_VERSION, strict=True)


def test_every_object_name_is_unique_and_labelled(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    names = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(names) == len(set(names))
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "guardstream"
        assert labels["app.kubernetes.io/component"]


# ── the workers and their autoscaling ───────────────────────────────────────────────────────────────


def test_worker_probes_ask_the_status_server_on_the_metrics_port(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, chart_values = variant
    container = _container(one(manifests, "Deployment", "worker"))
    assert container["args"] == ["worker"]
    port = int(plain_env(container)["GUARDSTREAM_TELEMETRY__METRICS_PORT"])
    assert port == chart_values["worker"]["metricsPort"]
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"]["path"] == path
        assert _probe_port(container, container[probe]) == port
    service = one(manifests, "Service", "worker")
    assert [p["port"] for p in service["spec"]["ports"] if p["name"] == "metrics"] == [port]


def test_the_default_metrics_port_is_the_workers_own() -> None:
    assert values()["worker"]["metricsPort"] == TelemetrySettings().metrics_port


def test_keda_scales_the_workers_group_on_chat_events_up_to_its_partitions(
    variant: tuple[str, list[Manifest], Any],
) -> None:
    _, manifests, chart_values = variant
    worker = one(manifests, "Deployment", "worker")
    env = plain_env(_container(worker))
    scaled = one(manifests, "ScaledObject", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert "replicas" not in worker["spec"], "KEDA owns the replicas; a Deployment value would fight it"
    assert scaled["spec"]["maxReplicaCount"] == chart_values["chatEvents"]["partitions"]
    assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["consumerGroup"] == env["GUARDSTREAM_WORKER__GROUP_ID"] == chart_values["worker"]["groupId"]
    assert metadata["topic"] == env["GUARDSTREAM_TOPICS__CHAT_EVENTS"]
    assert metadata["bootstrapServers"] == env["GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS"]


def test_the_default_group_and_partitions_are_those_the_code_and_the_stacks_use() -> None:
    chart = values()
    assert chart["worker"]["groupId"] == WorkerSettings().group_id
    assert chart["chatEvents"]["topic"] == Settings().topics.chat_events
    assert chart["chatEvents"]["partitions"] == DevStackSettings().chat_events_partitions
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    script = " ".join(compose["services"]["topics"]["command"])
    assert f"{chart['chatEvents']['topic']}:{chart['chatEvents']['partitions']} " in script


def test_without_kafka_security_keda_needs_no_authentication(default: list[Manifest]) -> None:
    (trigger,) = one(default, "ScaledObject", "worker")["spec"]["triggers"]
    assert "authenticationRef" not in trigger
    assert trigger["metadata"]["tls"] == "disable"
    assert "sasl" not in trigger["metadata"]
    assert not find(default, "TriggerAuthentication")


def test_with_sasl_ssl_keda_authenticates_as_the_workers_do(production: list[Manifest]) -> None:
    chart = values(PRODUCTION)
    kafka = chart["kafka"]
    assert kafka["securityProtocol"] == "SASL_SSL"
    (trigger,) = one(production, "ScaledObject", "worker")["spec"]["triggers"]
    assert trigger["metadata"]["tls"] == "enable"
    assert trigger["metadata"]["sasl"] == {"SCRAM-SHA-512": "scram_sha512"}[kafka["sasl"]["mechanism"]]
    authentication = one(production, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == authentication["metadata"]["name"]
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in authentication["spec"]["secretTargetRef"]}
    sasl_secret, ca_secret = kafka["sasl"]["existingSecret"], kafka["tls"]["caSecret"]
    assert refs == {
        "username": (sasl_secret, kafka["sasl"]["usernameKey"]),
        "password": (sasl_secret, kafka["sasl"]["passwordKey"]),
        "ca": (ca_secret, kafka["tls"]["caKey"]),
    }
    # the workers read the same Secrets: the user from the environment, password and CA as files
    worker = one(production, "Deployment", "worker")
    container = _container(worker)
    env = plain_env(container)
    assert env["GUARDSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["GUARDSTREAM_KAFKA__SASL_MECHANISM"] == kafka["sasl"]["mechanism"]
    username = next(e for e in container["env"] if e["name"] == "GUARDSTREAM_KAFKA__SASL_USERNAME")
    assert username["valueFrom"]["secretKeyRef"] == {"name": sasl_secret, "key": kafka["sasl"]["usernameKey"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod_spec(worker)["volumes"] if "secret" in v}
    assert env["GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE"] == f"{mounts['kafka-sasl']}/{kafka['sasl']['passwordKey']}"
    assert env["GUARDSTREAM_KAFKA__SSL_CA_LOCATION"] == f"{mounts['kafka-ca']}/{kafka['tls']['caKey']}"
    assert secrets == {"kafka-sasl": sasl_secret, "kafka-ca": ca_secret}


def test_sasl_without_its_secret_is_refused_at_render_time() -> None:
    with pytest.raises(RenderError, match=r"kafka\.sasl\.existingSecret"):
        render(extra=("--set", "kafka.securityProtocol=SASL_SSL", "--set", "kafka.tls.caSystem=true"))
    with pytest.raises(RenderError, match="caSecret"):
        render(extra=("--set", "kafka.securityProtocol=SSL"))


def test_autoscaling_off_gives_the_deployment_its_replicas() -> None:
    manifests = render(extra=("--set", "worker.autoscaling.enabled=false", "--set", "worker.replicas=3"))
    assert not find(manifests, "ScaledObject")
    assert one(manifests, "Deployment", "worker")["spec"]["replicas"] == 3


# ── migrations ─────────────────────────────────────────────────────────────────────────────────────


def test_migrations_run_in_a_hook_job_before_install_and_upgrade(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    (job,) = find(manifests, "Job")
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations"
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"pre-install", "pre-upgrade"}
    assert _container(job)["args"] == ["audit", "migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_no_service_migrates_the_schema_itself(variant: tuple[str, list[Manifest], Any], monkeypatch: Any) -> None:
    _, manifests, _ = variant
    services = [w for w in _guardstream_workloads(manifests) if w["kind"] != "Job"]
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"] for w in services} >= set(SERVICES)
    for workload in services:
        container = _container(workload)
        assert "migrate" not in container["args"]
        env = plain_env(container)
        assert env["GUARDSTREAM_AUDIT__MIGRATE_ON_START"] == "false", workload["metadata"]["name"]
    monkeypatch.setenv("GUARDSTREAM_AUDIT__MIGRATE_ON_START", "false")
    assert load_settings().audit.migrate_on_start is False


# ── training, Triton, the review app ───────────────────────────────────────────────────────────────


def test_training_is_a_cronjob_that_never_overlaps_itself(
    variant: tuple[str, list[Manifest], Any], tmp_path: Path
) -> None:
    _, manifests, chart_values = variant
    cronjob = one(manifests, "CronJob", "training")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["schedule"] == chart_values["training"]["schedule"]
    container = _container(cronjob)
    assert container["args"][:2] == ["train", "--schedule"]
    config_path = container["args"][container["args"].index("--config") + 1]
    config_map = one(manifests, "ConfigMap", "training")
    mount = next(m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"] + "/"))
    assert config_path.rsplit("/", 1)[1] in config_map["data"]
    assert (
        next(v for v in pod_spec(cronjob)["volumes"] if v["name"] == mount["name"])["configMap"]["name"]
        == (config_map["metadata"]["name"])
    )
    (tmp_path / "train.yaml").write_text(config_map["data"]["train.yaml"])
    config = load_config(tmp_path / "train.yaml")  # the training settings the job reads are valid
    # the job publishes into the folder Triton serves: the same claim, at the subPath Triton mounts as /models
    data = next(m for m in container["volumeMounts"] if config.repository.startswith(m["mountPath"] + "/"))
    claim = next(v for v in pod_spec(cronjob)["volumes"] if v["name"] == data["name"])["persistentVolumeClaim"]
    triton = one(manifests, "Deployment", "triton")
    models = next(m for m in _container(triton)["volumeMounts"] if m["mountPath"] == "/models")
    triton_claim = next(v for v in pod_spec(triton)["volumes"] if v["name"] == models["name"])["persistentVolumeClaim"]
    assert claim == triton_claim
    assert config.repository == f"{data['mountPath']}/{models['subPath']}"
    assert config.runs_dir.startswith(data["mountPath"] + "/")
    assert not config.runs_dir.startswith(config.repository)


def test_triton_requests_a_gpu_and_probes_its_health_endpoints(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, chart_values = variant
    triton = one(manifests, "Deployment", "triton")
    container = _container(triton)
    gpus = chart_values["triton"]["gpus"]
    assert gpus >= 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == gpus
    assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
    probes = {name: container[name]["httpGet"]["path"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes == {
        "startupProbe": "/v2/health/ready",
        "readinessProbe": "/v2/health/ready",
        "livenessProbe": "/v2/health/live",
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--metrics-port={ports['metrics']}" in container["args"]
    assert f"--grpc-port={ports['grpc']}" in container["args"]
    for probe in probes:
        assert container[probe]["httpGet"]["port"] == "http"
    # the workers reach this Triton's gRPC port through its Service
    service = one(manifests, "Service", "triton")
    grpc = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    worker_env = plain_env(_container(one(manifests, "Deployment", "worker")))
    assert worker_env["GUARDSTREAM_TRITON__GRPC_URL"] == f"{service['metadata']['name']}:{grpc}"


def test_prometheus_scrapes_the_workers_and_triton(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    for component in ("worker", "triton"):
        monitor = one(manifests, "ServiceMonitor", component)
        service = one(manifests, "Service", component)
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_review_app_is_reached_through_its_ingress(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, chart_values = variant
    ingress = one(manifests, "Ingress", "review")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == chart_values["review"]["ingress"]["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = one(manifests, "Service", "review")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    review = one(manifests, "Deployment", "review")
    container = _container(review)
    assert container["args"] == ["review", "serve", "--no-relay"]
    env = plain_env(container)
    allowed = json.loads(env["GUARDSTREAM_REVIEW__ALLOWED_HOSTS"])
    assert rule["host"] in allowed
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert _probe_port(container, container[probe]) == int(env["GUARDSTREAM_REVIEW__PORT"])
        # the app answers only the hosts it is told (a probe with the pod's address would get a 400)
        assert {h["name"]: h["value"] for h in get["httpHeaders"]}["Host"] in allowed


def test_one_feedback_relay_never_two(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    relay = one(manifests, "Deployment", "review-relay")
    assert _container(relay)["args"] == ["review", "serve", "--relay"]
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"] == {"type": "Recreate"}
    for workload in _guardstream_workloads(manifests):
        if workload is not relay:
            assert "--relay" not in _container(workload)["args"]


def test_production_turns_the_workers_analysis_thread_off_for_its_own_deployment(production: list[Manifest]) -> None:
    analysis = one(production, "Deployment", "analysis")
    assert _container(analysis)["args"] == ["analysis"]
    assert plain_env(_container(one(production, "Deployment", "worker")))["GUARDSTREAM_ANALYSIS__ENABLED"] == "false"


def test_the_dashboard_config_map_carries_the_charts_dashboard(default: list[Manifest]) -> None:
    config_map = one(default, "ConfigMap", "dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = (CHART / "dashboards" / "guardstream.json").read_text()
    assert json.loads(config_map["data"]["guardstream.json"]) == json.loads(shipped)


# ── every setting the chart writes is one the code reads ───────────────────────────────────────────


def _known_setting(name: str) -> bool:
    if name.startswith(REVIEW_PREFIX):
        return name.removeprefix(REVIEW_PREFIX).lower() in ReviewSettings.model_fields
    if name.startswith(ESCALATION_PREFIX):
        return name.removeprefix(ESCALATION_PREFIX).lower() in EscalationSettings.model_fields
    section, _, field = name.removeprefix(ENV_PREFIX).lower().partition("__")
    model = Settings.model_fields.get(section)
    annotation = model.annotation if model is not None else None
    return annotation is not None and field in getattr(annotation, "model_fields", {})


def test_every_guardstream_variable_names_a_real_setting(variant: tuple[str, list[Manifest], Any]) -> None:
    _, manifests, _ = variant
    seen = 0
    for workload in _guardstream_workloads(manifests):
        for item in _container(workload)["env"]:
            seen += 1
            assert _known_setting(item["name"]), f"{workload['metadata']['name']}: {item['name']} is no setting"
    assert seen > 50
    assert not _known_setting("GUARDSTREAM_WORKER__NO_SUCH_FIELD")
    assert not _known_setting("GUARDSTREAM_NOSECTION__URL")


def test_the_workers_default_environment_loads_as_settings(default: list[Manifest], monkeypatch: Any) -> None:
    container = _container(one(default, "Deployment", "worker"))
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", "postgresql+psycopg://guardstream@postgres/guardstream")
    for name, value in plain_env(container).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    chart = values()
    assert settings.worker.group_id == chart["worker"]["groupId"]
    assert settings.telemetry.metrics_port == chart["worker"]["metricsPort"]
    assert settings.kafka.bootstrap_servers == chart["kafka"]["bootstrapServers"]
    assert settings.audit.migrate_on_start is False
