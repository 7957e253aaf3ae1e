"""Reading dead-letter headers (ours and Kafka Connect's) and the headers a replay sends."""

from confluent_kafka import Message

from stream_classifier.dlq.headers import DeadLetter, connect_headers, replay_headers


def message(headers, topic="dlq", partition=1, offset=7):
    return Message(topic=topic, partition=partition, offset=offset, key=b"k", value=b"\xff raw", headers=headers)


def test_classifier_headers():
    dead = DeadLetter.from_message(
        message(
            [
                ("trace", b"abc"),
                ("sc.reason", b"invalid_json"),
                ("sc.error", b"value is not JSON"),
                ("sc.source.topic", b"posts"),
                ("sc.source.partition", b"2"),
                ("sc.source.offset", b"41"),
            ]
        )
    )
    assert (dead.reason, dead.error, dead.source_topic, dead.source_partition, dead.source_offset) == (
        "invalid_json",
        "value is not JSON",
        "posts",
        2,
        41,
    )
    assert dead.replay_count == 0 and dead.position == "dlq/1/7"


def test_kafka_connect_headers():
    dead = DeadLetter.from_message(
        message(
            [
                ("__connect.errors.topic", b"posts"),
                ("__connect.errors.partition", b"0"),
                ("__connect.errors.offset", b"9"),
                ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
                ("__connect.errors.exception.message", b"Converting byte[] to Kafka Connect data failed"),
            ]
        )
    )
    assert dead.reason == "DataException"
    assert dead.error.startswith("Converting") and (dead.source_topic, dead.source_offset) == ("posts", 9)


def test_a_replay_keeps_the_inputs_headers_drops_dead_letter_ones_and_counts():
    once = DeadLetter.from_message(
        message(
            [
                ("trace", b"abc"),
                ("sc.replay.id", b"r1"),
                ("sc.replay.count", b"1"),
                ("sc.replay.of", b"dlq/0/3"),
                ("sc.reason", b"invalid_json"),
                ("__connect.errors.topic", b"x"),
            ]
        )
    )
    assert once.replay_count == 1
    assert replay_headers(once, "r2") == [
        ("trace", b"abc"),
        ("sc.replay.id", b"r2"),
        ("sc.replay.count", b"2"),
        ("sc.replay.of", b"dlq/1/7"),
    ]


def test_without_a_reason_header():
    assert DeadLetter.from_message(message(None)).reason == "unknown"


def test_connect_headers_written_by_the_classifier_read_back_alone():
    headers = connect_headers("posts", 3, 99, "invalid_json", "value is not JSON", "sc-group")
    dead = DeadLetter.from_message(message(headers))
    assert (dead.reason, dead.error, dead.source_topic, dead.source_partition, dead.source_offset) == (
        "invalid_json",
        "value is not JSON",
        "posts",
        3,
        99,
    )
    assert dict(headers)["__connect.errors.stage"] == b"VALUE_CONVERTER"


def test_inspection_and_replay_tables_read_plainly():
    from stream_classifier.dlq.inspect import format_inspection
    from stream_classifier.dlq.replay import ReplayReport, format_replay

    text = format_inspection(
        {
            "topic": "posts-dlq",
            "total": 3,
            "end_offsets": {"0": 3},
            "by_reason": {"invalid_json": 2, "not_utf8": 1},
            "by_replay_count": {"invalid_json": {"0": 1, "1": 1}, "not_utf8": {"0": 1}},
            "samples": {
                "not_utf8": [
                    {
                        "dead_letter": "posts-dlq/0/2",
                        "key": "k",
                        "value": "\\xff",
                        "error": "bad",
                        "replay_count": 0,
                        "source": "posts/1/7",
                    }
                ]
            },
        }
    )
    assert "invalid_json        2  1: 1" in text and "posts-dlq/0/2 key='k' from posts/1/7" in text
    report = ReplayReport("r1", "posts-dlq", "posts", ["invalid_json"], dry_run=True)
    report.replayed["invalid_json"] = 2
    assert format_replay(report).startswith("would replay 2 dead letters from posts-dlq into posts")
