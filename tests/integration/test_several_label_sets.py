"""Several label sets on one stream (`labels.file` a list), against the real broker with
`stream-classifier run` as a real subprocess: every record carries each set's result under the set's
name, the top-level fields stay the first set's, and each file is swapped on its own — an invalid
file keeps its old version without stopping the others."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from stream_harness import ClassifierProcess, produce, read_topic, settings_for, wait_until

from stream_classifier.labels import load_label_set
from stream_classifier.records import OutputRecord
from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = [pytest.mark.kafka, pytest.mark.model]
REPO = Path(__file__).resolve().parents[2]
SETS = {
    "opinion_zh.yaml": REPO / "configs" / "labels" / "opinion_zh.yaml",
    "sentiment.yaml": REPO / "configs" / "labels" / "sentiment.yaml",
    "headlines.yaml": REPO
    / "workbench"
    / "stream_classifier_workbench"
    / "datasets"
    / "label_sets"
    / "thucnews-headlines.yaml",
}


def _inputs(texts: list[str], start: int) -> list[tuple[bytes, bytes]]:
    return [(None, json.dumps({"id": start + i, "text": t}, ensure_ascii=False).encode()) for i, t in enumerate(texts)]


def test_each_record_is_labeled_by_every_set_and_each_file_is_swapped_on_its_own(
    kafka_bootstrap, topics, tmp_path, default_model_dir
):
    files = []
    for name, source in SETS.items():
        shutil.copy(source, tmp_path / name)
        files.append(tmp_path / name)
    in_topic, out_topic, dlq_topic = topics.create("in", partitions=2), topics.create("out"), topics.create("dlq")
    settings = settings_for(
        kafka_bootstrap,
        in_topic,
        out_topic,
        dlq_topic,
        files[0],
        model={"dir": str(default_model_dir)},
    )
    settings["labels"]["file"] = [str(f) for f in files]
    proc = ClassifierProcess(settings, tmp_path).start()
    try:
        proc.wait_ready()
        texts = [t[:100] for t in stream_texts(seed=11) if t.strip()][:120]
        produce(kafka_bootstrap, in_topic, _inputs(texts, 0))
        records = [json.loads(m.value()) for m in read_topic(kafka_bootstrap, out_topic, len(texts), timeout=120)]
        assert len(records) == len(texts)
        sets = [load_label_set(f) for f in files]
        schema = OutputRecord.model_json_schema()
        for record in records:
            jsonschema.validate(record, schema)
            assert list(record["label_sets"]) == [s.name for s in sets]
            for label_set in sets:
                result = record["label_sets"][label_set.name]
                assert result["label_set_version"] == label_set.version
                assert set(result["scores"]) == set(label_set.names)
            first = record["label_sets"][sets[0].name]
            assert {k: record[k] for k in first} == first, "the top-level fields are the first set's"
        for label_set in sets:
            assigned = proc.metric_sum("sc_labels_assigned_total", label_set=label_set.name)
            assert assigned == len(texts), f"{label_set.name}: {assigned} labels counted"
            assert proc.metric_sum("sc_label_set_info", label_set=label_set.name, version=label_set.version) == 1

        # an edit of the second file swaps that set alone; an invalid third file keeps its version
        sentiment = sets[1].model_copy(update={"temperature": sets[1].temperature * 2})
        files[1].write_text(json.dumps(sentiment.model_dump(mode="json"), ensure_ascii=False), encoding="utf-8")
        files[2].write_text("name: headlines\nlabels: [{name: only-one}]\n", encoding="utf-8")
        wait_until(lambda: proc.metric_sum("sc_label_reloads_total", result="success") == 1, 30, "the swap")
        wait_until(lambda: proc.metric_sum("sc_label_reloads_total", result="failure") >= 1, 30, "the rejection")
        produce(kafka_bootstrap, in_topic, _inputs(texts[:40], 1000))
        after = [json.loads(m.value()) for m in read_topic(kafka_bootstrap, out_topic, len(texts) + 40, timeout=120)]
        fresh = [r for r in after if r["id"] >= 1000]
        assert len(fresh) == 40
        new_sentiment = load_label_set(files[1]).version
        assert {r["label_sets"][sets[1].name]["label_set_version"] for r in fresh} == {new_sentiment}
        assert {r["label_sets"][sets[0].name]["label_set_version"] for r in fresh} == {sets[0].version}
        assert {r["label_sets"][sets[2].name]["label_set_version"] for r in fresh} == {sets[2].version}
        assert proc.metric_sum("sc_label_set_info", label_set=sets[1].name, version=new_sentiment) == 1
        assert proc.metric_sum("sc_label_set_info", label_set=sets[1].name, version=sets[1].version) == 0
    finally:
        assert proc.stop() == 0, proc.log_tail()
