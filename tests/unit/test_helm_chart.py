"""The Helm chart: `helm lint`, `helm template`, and the rendered pod's environment loaded through the
project's own settings loader — probes, ports, the KEDA trigger's group and topic, the grace period.

helm: on PATH, or built by `make helm` (a step of `make test`) from the Go module proxy into .cache/bin."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from system_tools import find_tool, needs

from stream_classifier.labels import load_label_set
from stream_classifier.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "stream-classifier"
SHIPPED = REPO / "stream_classifier" / "label_sets"
HELM_HINT = "`make helm` builds it into .cache/bin from the Go module proxy"
HELM = find_tool("helm", HELM_HINT)
pytestmark = needs(HELM, "helm", HELM_HINT)

EXACTLY_ONCE = [
    "--set",
    "deliveryMode=exactly_once",
    "--set",
    "keda.enabled=true",
    "--set",
    "keda.maxReplicaCount=6",
    "--set",
    "topics.inputPartitions=6",
    "--set",
    "kafka.bootstrapServers=broker-0.kafka:9093\\,broker-1.kafka:9093",
    "--set",
    "kafka.sasl.enabled=true",
    "--set",
    "kafka.sasl.username=classifier",
    "--set",
    "kafka.sasl.password=s3cret",
    "--set",
    "topics.input=tickets",
    "--set",
    "kafka.groupId=tickets-classifier",
]


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)


def render(*values: str) -> dict[tuple[str, str], dict]:
    done = helm("template", "rel", str(CHART), *values)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def one(objects: dict, kind: str) -> dict:
    found = [o for (k, _), o in objects.items() if k == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def pod_settings(objects: dict, workload: dict, pod_name: str, tmp_path: Path, monkeypatch):
    """Load the settings the pod would load: its settings file, its environment (fieldRefs and
    secretKeyRefs resolved as the kubelet would), through stream_classifier.settings.load_settings."""
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_path = container["args"][container["args"].index("--config") + 1]
    mount = next(m for path, m in mounts.items() if config_path.startswith(path + "/"))
    configmap = objects[("ConfigMap", volumes[mount["name"]]["configMap"]["name"])]
    settings_file = tmp_path / Path(config_path).name
    settings_file.write_text(configmap["data"][Path(config_path).name])
    for key in [k for k in os.environ if k.startswith("SC_")]:
        monkeypatch.delenv(key)
    for env in container.get("env", []):
        if "value" in env:
            value = env["value"]
        elif "fieldRef" in env["valueFrom"]:
            assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            value = pod_name
        else:
            ref = env["valueFrom"]["secretKeyRef"]
            value = objects[("Secret", ref["name"])]["stringData"][ref["key"]]
        monkeypatch.setenv(env["name"], value)
    return load_settings(settings_file)


def check_pod(objects, workload, settings, tmp_path):
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == settings.metrics.port and settings.metrics.host == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # the stop's worst case: flush, an asynchronous commit's result, the last commit, closing the
    # consumer and the review store's flush, each bounded by the flush timeout
    assert pod["terminationGracePeriodSeconds"] > 5 * settings.delivery.flush_timeout_s
    # the label files come from the labels ConfigMap, mounted as a directory (no subPath: updates arrive)
    for path in settings.labels.files:
        labels_mount = next(m for m in container["volumeMounts"] if str(path).startswith(m["mountPath"] + "/"))
        assert "subPath" not in labels_mount
        volume = next(v for v in pod["volumes"] if v["name"] == labels_mount["name"])
        (tmp_path / path.name).write_text(
            objects[("ConfigMap", volume["configMap"]["name"])]["data"][path.name], encoding="utf-8"
        )
    first = load_label_set(tmp_path / settings.labels.files[0].name)
    assert first.names == ["complaint", "inquiry", "suggestion", "praise", "other"]
    assert first.version == load_label_set(SHIPPED / "opinion_zh.yaml").version, "the set the project ships"
    monitor = one(objects, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]


def test_helm_lint():
    for values in ([], EXACTLY_ONCE):
        done = helm("lint", "--strict", str(CHART), *values)
        assert done.returncode == 0, done.stdout + done.stderr


def test_at_least_once_renders_a_deployment(tmp_path, monkeypatch):
    objects = render()
    assert not [k for k, _ in objects if k in ("StatefulSet", "ScaledObject", "Secret")]
    deployment = one(objects, "Deployment")
    settings = pod_settings(objects, deployment, "rel-stream-classifier-7d9f-abcde", tmp_path, monkeypatch)
    assert settings.delivery.mode == "at_least_once" and settings.kafka.group_instance_id is None
    assert (settings.kafka.bootstrap_servers, settings.topics.input) == ("kafka:9092", "posts")
    check_pod(objects, deployment, settings, tmp_path)


def test_exactly_once_renders_a_statefulset_scaled_by_keda_on_the_groups_lag(tmp_path, monkeypatch):
    objects = render(*EXACTLY_ONCE)
    assert not [k for k, _ in objects if k == "Deployment"]
    statefulset = one(objects, "StatefulSet")
    pod_name = f"{statefulset['metadata']['name']}-2"
    settings = pod_settings(objects, statefulset, pod_name, tmp_path, monkeypatch)
    assert settings.delivery.mode == "exactly_once"
    assert settings.kafka.group_instance_id == pod_name, "group_instance_id from the pod name"
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    client = settings.kafka.client_config("consumer")
    assert client["sasl.username"] == "classifier" and client["security.protocol"] == "SASL_SSL"
    assert client["sasl.mechanism"] == "SCRAM-SHA-512"
    check_pod(objects, statefulset, settings, tmp_path)
    assert objects[("Service", statefulset["spec"]["serviceName"])]["spec"]["clusterIP"] == "None"

    scaled = one(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": statefulset["metadata"]["name"],
    }
    assert "replicas" not in statefulset["spec"], "KEDA owns the replica count"
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == settings.kafka.group_id == "tickets-classifier"
    assert trigger["metadata"]["topic"] == settings.topics.input == "tickets"
    assert trigger["metadata"]["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert scaled["spec"]["maxReplicaCount"] <= 6
    assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    auth = objects[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"username", "password"}


def test_several_label_sets_and_ones_own_are_served_from_the_configmap(tmp_path, monkeypatch):
    mine = "name: mine\nlabels:\n  - name: spam\n    description: 广告\n  - name: ham\n    description: 正常\n"
    objects = render(
        "--set-json",
        'labels.files=["opinion_zh.yaml","topic_zh.yaml","urgency_zh.yaml","mine.yaml"]',
        "--set-json",
        f'labels.content={{"mine.yaml": {json.dumps(mine)}}}',
    )
    deployment = one(objects, "Deployment")
    settings = pod_settings(objects, deployment, "rel-stream-classifier-7d9f-abcde", tmp_path, monkeypatch)
    check_pod(objects, deployment, settings, tmp_path)
    names = [load_label_set(tmp_path / path.name).name for path in settings.labels.files]
    assert names == ["opinion-zh", "topic-zh", "urgency-zh", "mine"]
    data = objects[("ConfigMap", "rel-stream-classifier-labels")]["data"]
    assert sorted(data) == sorted([p.name for p in SHIPPED.glob("*.yaml")] + ["mine.yaml"])
    for shipped in SHIPPED.glob("*.yaml"):
        assert data[shipped.name] == shipped.read_text(encoding="utf-8"), f"{shipped.name}: the chart's copy differs"


@pytest.mark.parametrize(
    "values,message",
    [
        (
            ["--set", "keda.enabled=true", "--set", "keda.maxReplicaCount=12", "--set", "topics.inputPartitions=6"],
            "keda.maxReplicaCount (12) must not exceed topics.inputPartitions (6)",
        ),
        (["--set", "terminationGracePeriodSeconds=150"], "must be longer than 5 x delivery.flushTimeoutSeconds (150)"),
        (
            ["--set", "delivery.flushTimeoutSeconds=30.5", "--set", "terminationGracePeriodSeconds=152"],
            "must be longer than 5 x delivery.flushTimeoutSeconds (152.5)",
        ),
        (["--set", "deliveryMode=exactly-once"], "deliveryMode: at_least_once or exactly_once"),
        (["--set", "kafka.sasl.enabled=true"], "kafka.sasl: set existingSecret, or username and password"),
        (
            ["--set", "labels.files={opinion_zh.yaml,mine.yaml}"],
            "labels.files: mine.yaml is neither a shipped set (opinion_zh.yaml, sentiment.yaml, topic_zh.yaml, "
            "urgency_zh.yaml) nor a key of labels.content",
        ),
        (["--set", "labels.content=name: mine"], "labels.content: a map of file name -> label-set YAML"),
    ],
)
def test_the_chart_refuses_what_would_break(values, message):
    done = helm("template", "rel", str(CHART), *values)
    assert done.returncode != 0 and message in done.stderr, done.stderr
