"""Per-partition series are removed when the partition is given up, and librdkafka statistics of a
partition that is no longer fetched do not bring its lag back."""

import json

from stream_classifier.observability import Metrics


def stats(**fetch_states: str) -> str:
    return json.dumps(
        {
            "topics": {
                "posts": {
                    "partitions": {p: {"consumer_lag": 40, "fetch_state": state} for p, state in fetch_states.items()}
                    | {"-1": {}}
                }
            }
        }
    )


def series(metrics: Metrics, name: str) -> set[str]:
    return {s.labels["partition"] for family in metrics.registry.collect() for s in family.samples if s.name == name}


def test_forget_partition_removes_lag_and_offset_series():
    metrics = Metrics()
    metrics.update_from_statistics(stats(**{"0": "active", "1": "active"}))
    metrics.offset_committed.labels(topic="posts", partition="1").set(7)
    assert series(metrics, "sc_consumer_lag") == {"0", "1"}
    metrics.forget_partition("posts", 1)
    metrics.forget_partition("posts", 1)  # twice: revoke after lost, nothing left to remove
    assert series(metrics, "sc_consumer_lag") == {"0"}
    assert series(metrics, "sc_offset_committed") == set()
    for state in ("none", "stopping", "stopped"):
        metrics.update_from_statistics(stats(**{"0": "active", "1": state}))
        assert series(metrics, "sc_consumer_lag") == {"0"}
