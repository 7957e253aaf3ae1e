"""`model distill --topic`: a student made from the texts of a real topic, read by a group of its own
that commits nothing, named in the model cache and taken by `classify` by that name; its manifest
names every source with a hash. Bad inputs are one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from kafka_helpers import committed_offsets
from stream_harness import produce

from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier_workbench.datasets.evaluation_texts import without_evaluation_texts
from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]
SENTIMENT = REPO / "configs" / "labels" / "sentiment.yaml"
GOOD, BAD = 1100, 40


def cli(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream_classifier", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def short_reviews(count: int) -> list[str]:
    """Real reviews cut short (a faster test), none of them an evaluation text."""
    seen, texts = set(), []
    for text in stream_texts(seed=23):
        cut = text[:30].strip()
        if len(cut) >= 6 and cut not in seen:
            seen.add(cut)
            texts.append(cut)
    kept, _ = without_evaluation_texts(texts)
    return kept[:count]


def test_a_student_from_a_topic_is_named_and_served_and_the_topic_is_left_as_it_was(kafka_bootstrap, topics, tmp_path):
    topic = topics.create("own-texts", partitions=2)
    texts = short_reviews(GOOD)
    records = [(None, json.dumps({"text": t}, ensure_ascii=False).encode()) for t in texts]
    records += [(None, b"not json %d" % i) for i in range(BAD)]
    produce(kafka_bootstrap, topic, records)
    env = {"SC_MODEL_CACHE": str(tmp_path / "cache"), "SC_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}

    done = cli(
        env,
        *("model", "distill", "--topic", topic, "--name", "own-l1", "--layers", "1", "--epochs", "1"),
        *("--device", "cpu", "--labels", str(SENTIMENT), "--max-texts", "5000"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "own-l1:" in done.stdout and "texts (teacher)" in done.stderr  # the progress bar

    built = tmp_path / "cache" / "own-l1"
    weights_manifest = json.loads((tmp_path / "cache" / "distilled" / "own-l1" / "own-l1.json").read_text())
    operator, general, labels = weights_manifest["corpus"]["sources"]
    assert operator["texts"] == GOOD and operator["left_out"] == {"invalid_json": BAD}
    assert f"kafka topic {topic} on {kafka_bootstrap}" in operator["origin"]
    # the general text is half their number, less any evaluation text among it (a lexicon word)
    assert general["texts"] + weights_manifest["corpus"]["evaluation_texts_dropped"] == round(GOOD * 0.5)
    assert labels["origin"].startswith(str(SENTIMENT))
    assert all(len(source["sha256"]) == 64 for source in (operator, general, labels))
    assert weights_manifest["shape"]["layers"] == 1 and (built / "manifest.json").exists()

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=10).valid]
    for group in groups:
        assert all(offset < 0 for offset in committed_offsets(kafka_bootstrap, group, topic).values()), group

    labeled = subprocess.run(
        [sys.executable, "-m", "stream_classifier", "classify", "--model", "own-l1", "--labels", str(SENTIMENT)],
        cwd=REPO,
        env={**os.environ, **env},
        input="服务很好，下次还来\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert labeled.returncode == 0, labeled.stderr
    assert json.loads(labeled.stdout.splitlines()[0])["label"] in ("positive", "negative", "uncertain")


def test_inputs_that_cannot_make_a_student_are_one_line_errors(kafka_bootstrap, topics, tmp_path):
    env = {"SC_MODEL_CACHE": str(tmp_path / "cache"), "SC_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
    few = topics.create("few-texts", partitions=1)
    produce(kafka_bootstrap, few, [(None, json.dumps({"text": f"第{i}条评论"}).encode()) for i in range(30)])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    missing = f"{few}-absent"
    cases = [
        (["--topic", missing, "--name", "x"], f"--topic: topic {missing!r} on {kafka_bootstrap}: "),
        (["--topic", few, "--name", "x"], "30 distinct Chinese or English texts, at least 1000 needed"),
        (["--texts", str(empty), "--name", "x"], f"--texts: {empty}: the file is empty"),
        (["--texts", str(empty)], "--name: --texts, --topic and --corpus wide make a student other than the shipped"),
        (["--corpus", "wide"], "--name: --texts, --topic and --corpus wide make a student other than the shipped"),
        (["--corpus", "wide", "--name", "x", "--wide-texts", "0"], "--wide-texts: 0: at least 1"),
        (["--texts", str(empty), "--name", "e5-small-zh-en-L3"], "--name: 'e5-small-zh-en-L3': a student's name"),
        (["--out", str(tmp_path / "w")], "--name: weights written elsewhere (--out) need a --name"),
        (["--texts", str(empty), "--name", "x", "--lr", "0.5"], "--lr: 0.5: above 0 and at most 0.01"),
        (["--texts", str(empty), "--name", "x", "--label-weight", "-1"], "--label-weight: -1.0: between 0 and 100"),
        (
            ["--texts", str(empty), "--name", "x", "--start-from", "absent"],
            "--start-from: absent: no student weights in",
        ),
        (["--texts", str(empty), "--name", "x", "--start-from", "x"], "--start-from: x: a student cannot start from"),
        (["--texts", str(empty), "--name", "x", "--start-from", "../x"], "--start-from: '../x': a student's name is"),
        (
            ["--texts", str(empty), "--name", "x", "--start-from", "e5-small-zh-en-L3", "--layers", "4"],
            "--start-from: e5-small-zh-en-L3 has 3 layers, not the 4 of --layers",
        ),
    ]
    for args, says in cases:
        done = cli(env, "model", "distill", *args, timeout=120)
        assert done.returncode == EXIT_CONFIG, (args, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], (args, done.stderr)
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert missing not in metadata.topics  # reading it did not create it
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
