"""`stream-classifier dlq inspect` and `dlq replay` against the real broker, with the real consumer:
dead letters replayed after a fix come out labeled exactly once; still-bad ones are dead-lettered
again, carry their replay count, and are not replayed again."""

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from stream_harness import ClassifierProcess, outputs_by_source, produce, read_topic, settings_for

from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]

GOOD, LONG, BROKEN = 60, 8, 4


def cli(config: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "stream_classifier", "dlq", *args, "--config", str(config), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_replay_after_a_fix_labels_once_and_still_bad_records_do_not_loop(
    kafka_bootstrap, topics, tmp_path, default_model_dir
):
    input_topic, output_topic = topics.create("in", partitions=2), topics.create("out", partitions=2)
    dlq_topic = topics.create("dlq", partitions=2)
    labels = tmp_path / "labels.yaml"
    shutil.copyfile(REPO / "configs" / "labels" / "sentiment.yaml", labels)
    texts = [t[:40] for t in stream_texts(seed=11) if t.strip()]
    records = [
        (f"user-{i}".encode(), json.dumps({"id": i, "text": texts[i]}, ensure_ascii=False).encode())
        for i in range(GOOD)
    ]
    # over the first deployment's max_text_bytes (200), well under the fixed one's
    records += [
        (
            f"long-{i}".encode(),
            json.dumps({"id": 1000 + i, "text": texts[i] * 12}, ensure_ascii=False).encode(),
        )
        for i in range(LONG)
    ]
    records += [(f"broken-{i}".encode(), b'{"id": %d, "text": "unterminated' % (2000 + i)) for i in range(BROKEN)]
    produce(kafka_bootstrap, input_topic, records)

    settings = settings_for(
        kafka_bootstrap,
        input_topic,
        output_topic,
        dlq_topic,
        labels,
        input={"max_text_bytes": 200},
        topics={"dead_letter_connect_headers": True},
    )
    first = ClassifierProcess(settings, tmp_path).start()
    made = [first]
    try:
        first.wait_ready()
        assert len(read_topic(kafka_bootstrap, output_topic, GOOD, timeout=120)) == GOOD
        first_dead = read_topic(kafka_bootstrap, dlq_topic, LONG + BROKEN, timeout=60)
        assert len(first_dead) == LONG + BROKEN
        for msg in first_dead:  # Kafka Connect's names beside ours (topics.dead_letter_connect_headers)
            headers = dict(msg.headers())
            assert headers["__connect.errors.topic"] == headers["sc.source.topic"] == input_topic.encode()
            assert headers["__connect.errors.offset"] == headers["sc.source.offset"]
            assert headers["__connect.errors.exception.class.name"].endswith(b"." + headers["sc.reason"])
        assert first.stop() == 0

        config = tmp_path / "dlq.yaml"
        config.write_text(
            yaml.safe_dump(
                settings_for(
                    kafka_bootstrap, input_topic, output_topic, dlq_topic, labels, group=settings["kafka"]["group_id"]
                )
            )
        )
        inspected = cli(config, "inspect", "--sample", "2")
        assert inspected["total"] == LONG + BROKEN
        assert inspected["by_reason"] == {"text_too_long": LONG, "invalid_json": BROKEN}
        assert len(inspected["samples"]["invalid_json"]) == 2
        assert inspected["samples"]["invalid_json"][0]["source"].startswith(input_topic + "/")

        # the fix: a deployment that accepts longer texts, same group
        fixed = settings_for(
            kafka_bootstrap, input_topic, output_topic, dlq_topic, labels, group=settings["kafka"]["group_id"]
        )
        second = ClassifierProcess(fixed, tmp_path).start()
        made.append(second)
        second.wait_ready()

        replayed = cli(config, "replay", "--reason", "text_too_long")
        assert replayed["replayed_by_reason"] == {"text_too_long": LONG}
        again = cli(config, "replay", "--reason", "text_too_long")
        assert again["replayed"] == 0, "the cursor keeps a second replay from repeating the first"
        assert again["cursors"] == replayed["cursors"]

        outputs = read_topic(kafka_bootstrap, output_topic, GOOD + LONG, timeout=120, settle=3.0)
        ids = Counter(json.loads(m.value())["id"] for m in outputs)
        assert len(outputs) == GOOD + LONG
        assert all(ids[1000 + i] == 1 for i in range(LONG)), "each replayed record labeled exactly once"
        assert {m.key() for m in outputs if json.loads(m.value())["id"] >= 1000} == {
            f"long-{i}".encode() for i in range(LONG)
        }, "the original keys"
        by_source = outputs_by_source(outputs)
        assert len(by_source) == GOOD + LONG

        # the replayed inputs: the dead letters' bytes, named by the replay
        inputs = read_topic(kafka_bootstrap, input_topic, len(records) + LONG, timeout=30)
        replays = [m for m in inputs if any(k == "sc.replay.id" for k, _ in (m.headers() or []))]
        assert len(replays) == LONG
        originals = {k: v for k, v in records}
        for msg in replays:
            headers = dict(msg.headers())
            assert msg.value() == originals[msg.key()], "replayed bytes unchanged"
            assert headers["sc.replay.id"].decode() == replayed["replay_id"]
            assert headers["sc.replay.count"] == b"1"
            assert headers["sc.replay.of"].decode().startswith(dlq_topic + "/")
            assert not [k for k in headers if k.startswith(("sc.reason", "sc.error", "sc.source", "__connect"))], (
                "the dead-letter headers are not sent back"
            )

        # still bad after the "fix": dead-lettered again with their replay count, and not replayed again
        broken = cli(config, "replay", "--reason", "invalid_json")
        assert broken["replayed"] == BROKEN
        dead = read_topic(kafka_bootstrap, dlq_topic, LONG + 2 * BROKEN, timeout=60, settle=3.0)
        assert len(dead) == LONG + 2 * BROKEN
        redead = [m for m in dead if dict(m.headers()).get("sc.replay.count") == b"1"]
        assert len(redead) == BROKEN
        assert all(dict(m.headers())["sc.reason"] == b"invalid_json" for m in redead)

        deliberate = cli(config, "replay", "--reason", "invalid_json", "--from-beginning")
        assert deliberate["replayed"] == BROKEN, "the original dead letters, on request"
        assert deliberate["skipped_replayed_too_often"] == {"invalid_json": BROKEN}, (
            "the dead letters of the first replay are not replayed a second time"
        )
        dead = read_topic(kafka_bootstrap, dlq_topic, LONG + 3 * BROKEN, timeout=60, settle=3.0)
        assert len(dead) == LONG + 3 * BROKEN
        assert max(int(dict(m.headers()).get("sc.replay.count", b"0")) for m in dead) == 1

        assert cli(config, "replay", "--reason", "invalid_json")["replayed"] == 0, (
            "every invalid_json dead letter is behind the cursor or replayed already"
        )
        final = cli(config, "inspect")
        assert final["by_replay_count"]["invalid_json"] == {"0": BROKEN, "1": 2 * BROKEN}
        assert second.metric_sum("sc_dead_letters_total", reason="invalid_json") == 2 * BROKEN
        assert second.stop() == 0
    finally:
        for proc in made:
            proc.kill()
