"""Against a running consumer (real broker): every metric the Grafana dashboard and the Prometheus
rules name is in its /metrics, and a partition it gives up in a rebalance leaves its lag series."""

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from monitoring_names import dashboard_expressions, exported_names, metric_names, rule_expressions
from stream_harness import ClassifierProcess, produce, read_topic, settings_for, wait_until

from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


def lag_partitions(proc: ClassifierProcess, topic: str) -> set[str]:
    return {
        name.split('partition="')[1].split('"')[0]
        for name in proc.metrics()
        if name.startswith("sc_consumer_lag{") and f'topic="{topic}"' in name
    }


def test_dashboard_and_rule_metrics_exist_and_revoked_lag_series_go(
    kafka_bootstrap, topics, tmp_path, default_model_dir
):
    input_topic, output_topic = topics.create("in", partitions=2), topics.create("out", partitions=2)
    dlq_topic = topics.create("dlq")
    labels = tmp_path / "labels.yaml"
    shutil.copyfile(REPO / "configs" / "labels" / "sentiment.yaml", labels)
    texts = [t[:40] for t in stream_texts(seed=3) if t.strip()][:300]
    produce(
        kafka_bootstrap,
        input_topic,
        [(f"k{i}".encode(), json.dumps({"text": t}, ensure_ascii=False).encode()) for i, t in enumerate(texts)]
        + [(b"bad", b"not json")],
    )
    settings = settings_for(kafka_bootstrap, input_topic, output_topic, dlq_topic, labels)
    first = ClassifierProcess(settings, tmp_path).start()
    made = [first]
    try:
        first.wait_ready()
        assert len(read_topic(kafka_bootstrap, output_topic, len(texts), timeout=120)) == len(texts)
        wait_until(lambda: lag_partitions(first, input_topic) == {"0", "1"}, 30, "no lag series for both partitions")

        with urllib.request.urlopen(first.metrics_url + "/metrics", timeout=5) as resp:
            exported = exported_names(resp.read().decode())
        used = metric_names(dashboard_expressions()) | metric_names(rule_expressions())
        assert len(used) >= 15
        missing = sorted(used - exported)
        assert not missing, f"named by the dashboard or the rules but not exported: {missing}"

        # a second consumer in the group takes one partition; the first keeps the other's series only
        second = ClassifierProcess(
            {**settings, "metrics": {**settings["metrics"], "port": settings["metrics"]["port"] + 1}}, tmp_path
        ).start()
        made.append(second)
        second.wait_ready()
        wait_until(
            lambda: len(lag_partitions(first, input_topic)) == 1,
            60,
            f"the revoked partition's lag series stayed: {lag_partitions(first, input_topic)}",
        )
        wait_until(
            lambda: (
                lag_partitions(second, input_topic) | lag_partitions(first, input_topic) == {"0", "1"}
                and not lag_partitions(second, input_topic) & lag_partitions(first, input_topic)
            ),
            30,
            "each partition's lag is reported by its owner only",
        )
        assert first.stop() == 0 and second.stop() == 0
    finally:
        for proc in made:
            proc.kill()
