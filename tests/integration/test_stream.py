"""The stream against the real broker, with `stream-classifier run` as a real subprocess."""

import json
import os
import shutil
import signal
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from kafka_helpers import end_offsets
from stream_harness import (
    ClassifierProcess,
    committed,
    outputs_by_source,
    produce,
    read_topic,
    settings_for,
    wait_until,
)

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"


def short_texts(n: int, seed: int = 5) -> list[str]:
    texts = [t[:40] for t in stream_texts(seed=seed) if t.strip()]
    return [texts[i % len(texts)] + f" #{i}" for i in range(n)]


@pytest.fixture
def stream(kafka_bootstrap, topics, tmp_path, default_model_dir):
    """Topics, a label file copy, and a factory for classifier processes (killed at teardown)."""
    made = []
    labels = tmp_path / "labels.yaml"
    shutil.copyfile(LABELS / "sentiment.yaml", labels)

    class Stream:
        bootstrap = kafka_bootstrap
        input = topics.create("in", partitions=3)
        output = topics.create("out", partitions=3)
        dead_letter = topics.create("dlq", partitions=1)
        label_file = labels

        def settings(self, **sections):
            return settings_for(kafka_bootstrap, self.input, self.output, self.dead_letter, labels, **sections)

        def start(self, settings=None, **sections):
            proc = ClassifierProcess(settings or self.settings(**sections), tmp_path).start()
            made.append(proc)
            proc.wait_ready()
            return proc

    yield Stream()
    for proc in made:
        proc.kill()


def json_inputs(texts):
    return [
        (f"user-{i % 50}".encode(), json.dumps({"id": i, "text": t}, ensure_ascii=False).encode())
        for i, t in enumerate(texts)
    ]


def test_every_input_labeled_once_in_order_and_committed(stream):
    total = 5000
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(total)))
    proc = stream.start()
    outputs = read_topic(stream.bootstrap, stream.output, total, timeout=300)
    group = proc.settings["kafka"]["group_id"]
    ends = end_offsets(stream.bootstrap, stream.input)
    wait_until(
        lambda: committed(stream.bootstrap, group, stream.input, 3) == ends,
        30,
        "committed offsets did not reach the end offsets",
    )

    assert len(outputs) == total
    by_source = outputs_by_source(outputs)
    assert set(by_source) == {(p, o) for p, end in ends.items() for o in range(end)}
    per_partition = defaultdict(list)
    schema = json.loads((REPO / "schemas" / "output.schema.json").read_text())
    for n, msg in enumerate(outputs):
        record = json.loads(msg.value())
        if n % 50 == 0:
            jsonschema.validate(record, schema)
        assert msg.key() == f"user-{record['id'] % 50}".encode(), "output keeps the input key"
        per_partition[record["source"]["partition"]].append(record["source"]["offset"])
        assert record["label"] in ("positive", "negative")
        assert record["label_set_version"] == load_label_set(stream.label_file).version
    for offsets in per_partition.values():
        assert offsets == sorted(offsets), "per-partition order is kept"

    # /metrics agrees with the counts
    assert proc.metric_sum("sc_records_consumed_total") == total
    assert proc.metric_sum("sc_records_produced_total", kind="output") == total
    assert proc.metric_sum("sc_labels_assigned_total") == total
    assert proc.metric_sum("sc_dead_letters_total") == 0
    assert proc.metric_sum("sc_commits_total", result="success") >= 1
    assert proc.metric_sum("sc_batch_size_count") >= total / 64
    assert proc.stop() == 0


INVALID = {
    "not_utf8": b"\xff\xfe\xfa not utf-8",
    "invalid_json": b'{"text": "unterminated',
    "not_an_object": b'["a", "list"]',
    "missing_text": b'{"id": 7, "body": "no text field"}',
    "empty_text": b'{"text": "   "}',
    "wrong_type": b'{"text": 12345}',
    "text_too_long": json.dumps({"text": "长" * 3000}, ensure_ascii=False).encode(),
    "null_value": None,
    "inference_failed": b'{"text": "lone surrogate \\ud800 cannot be tokenized"}',
}


def test_invalid_inputs_go_to_the_dead_letter_topic_unchanged(stream):
    valid = json_inputs(short_texts(300, seed=9))
    records = list(valid)
    for n in range(4):
        for reason, value in INVALID.items():
            records.insert(17 * (n + 1) + len(records) // 3, (f"bad-{reason}-{n}".encode(), value))
    produce(stream.bootstrap, stream.input, records)
    bad_count = 4 * len(INVALID)
    proc = stream.start(input={"max_text_bytes": 4096})
    outputs = read_topic(stream.bootstrap, stream.output, len(valid), timeout=180)
    dead = read_topic(stream.bootstrap, stream.dead_letter, bad_count, timeout=60)

    assert len(outputs) == len(valid)
    assert {json.loads(m.value())["id"] for m in outputs} == set(range(len(valid)))
    assert len(dead) == bad_count
    seen = defaultdict(int)
    for msg in dead:
        headers = {k: v.decode() for k, v in msg.headers()}
        key = msg.key().decode()
        reason = next(r for r in INVALID if key.startswith(f"bad-{r}-"))
        assert headers["sc.reason"] == reason, (key, headers)
        assert msg.value() == INVALID[reason], "dead letters keep the original bytes"
        assert headers["sc.source.topic"] == stream.input
        assert int(headers["sc.source.offset"]) >= 0 and headers["sc.error"]
        seen[reason] += 1
    assert seen == {reason: 4 for reason in INVALID}

    for reason in INVALID:
        assert proc.metric_sum("sc_dead_letters_total", reason=reason) == 4
    assert proc.metric_sum("sc_records_produced_total", kind="dead_letter") == bad_count
    assert proc.metric_sum("sc_records_produced_total", kind="output") == len(valid)
    assert proc.metric_sum("sc_records_consumed_total") == len(records)
    assert proc.stop() == 0


def test_label_file_replaced_mid_stream(stream):
    proc = stream.start()
    old_version = load_label_set(stream.label_file).version
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(200, seed=1)))
    assert len(read_topic(stream.bootstrap, stream.output, 200, timeout=120)) == 200

    replacement = stream.label_file.with_suffix(".new")
    shutil.copyfile(LABELS / "opinion_zh.yaml", replacement)
    os.replace(replacement, stream.label_file)
    new_version = load_label_set(stream.label_file).version
    wait_until(
        lambda: proc.metric_sum("sc_label_reloads_total", result="success") == 1,
        30,
        "the new label set was not swapped in",
    )
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(200, seed=2)))
    first_two = read_topic(stream.bootstrap, stream.output, 400, timeout=120)

    stream.label_file.write_text("name: broken\nlabels: [{name: only-one}]\n")
    wait_until(
        lambda: proc.metric_sum("sc_label_reloads_total", result="failure") == 1,
        30,
        "the invalid label file was not rejected",
    )
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(200, seed=3)))
    everything = read_topic(stream.bootstrap, stream.output, 600, timeout=120)

    assert len(first_two) == 400 and len(everything) == 600
    versions = [json.loads(m.value())["label_set_version"] for m in everything]
    assert versions.count(old_version) == 200
    assert versions.count(new_version) == 400, "after the swap, and after the rejected file, the new set labels"
    shipped = load_label_set(LABELS / "opinion_zh.yaml")
    opinion = set(shipped.names) | ({shipped.abstain.label} if shipped.abstain else set())
    assert all(
        json.loads(m.value())["label"] in opinion
        for m in everything
        if json.loads(m.value())["label_set_version"] == new_version
    )
    assert proc.metric_sum("sc_label_set_info", version=new_version) == 1
    assert proc.stop() == 0


def test_sigterm_mid_stream_then_restart_labels_everything(stream):
    total = 3000
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(total, seed=4)))
    settings = stream.settings()
    group = settings["kafka"]["group_id"]
    proc = stream.start(settings)
    wait_until(lambda: proc.metric_sum("sc_records_produced_total") >= 800, 120, "no progress")
    proc.signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.log_tail()

    after_stop = outputs_by_source(read_topic(stream.bootstrap, stream.output, 800, timeout=30))
    done = committed(stream.bootstrap, group, stream.input, 3)
    for partition, offset in done.items():
        assert all((partition, o) in after_stop for o in range(max(offset, 0))), (
            "nothing is committed without its output"
        )

    second = stream.start(settings)
    outputs = read_topic(stream.bootstrap, stream.output, total, timeout=300)
    ends = end_offsets(stream.bootstrap, stream.input)
    assert set(outputs_by_source(outputs)) == {(p, o) for p, end in ends.items() for o in range(end)}
    wait_until(
        lambda: committed(stream.bootstrap, group, stream.input, 3) == ends,
        30,
        "committed offsets did not reach the end offsets after the restart",
    )
    assert second.stop() == 0


def test_backpressure_pauses_fetching_and_loses_nothing(stream):
    total = 1500
    produce(stream.bootstrap, stream.input, json_inputs(short_texts(total, seed=6)))
    proc = stream.start(delivery={"max_in_flight": 16, "commit_interval_s": 0.5})
    outputs = read_topic(stream.bootstrap, stream.output, total, timeout=240)
    assert len(outputs_by_source(outputs)) == total == len(outputs)
    assert proc.metric_sum("sc_backpressure_pauses_total") >= 1
    assert proc.stop() == 0
