"""The loop (Pipeline) driven without a broker: stand-in consumer, producer and engine
(tests/loop_stand_ins.py). Each test is a path the real-broker suites reach only by chance or
with a fault: rebalances mid-batch, a failed delivery and its replay, the dead-letter guard, a
transaction abort and rewind, the commit watchdog."""

import json
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from loop_stand_ins import make_pipeline

from stream_classifier.exit_codes import EXIT_GUARD, EXIT_KAFKA, EXIT_OK
from stream_classifier.records import DeadLetterHeaders, OutputRecord
from stream_classifier.stream.stops import CommitStalled

P0, P1 = ("in", 0), ("in", 1)


def texts(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"text": f"text {i}", "id": i}).encode() for i in range(start, start + n)]


def started(mode="at_least_once", **kw):
    pipeline, clients = make_pipeline(mode, **kw)
    assert pipeline.start()
    return pipeline, clients, clients.the_consumer


def steps(pipeline, n: int) -> None:
    """n turns of the loop, each one due for its periodic commit (the interval is a clock's)."""
    for _ in range(n):
        pipeline._next_commit = 0.0
        pipeline.step()


def outputs(producer, topic="out") -> list[dict]:
    return [r for r in producer.produced if r["topic"] == topic]


# ---------------------------------------------------------------- at-least-once
def test_outputs_and_dead_letters_follow_their_schemas_and_offsets_follow_the_acknowledgements():
    pipeline, clients, consumer = started()
    consumer.add("in", 0, texts(3) + [b"\xff not utf-8"])
    consumer.assign([P0])
    steps(pipeline, 3)
    producer = clients.producers[0]
    records = [OutputRecord.model_validate_json(r["value"]) for r in outputs(producer)]
    assert [(r.id, r.source.offset, r.label) for r in records] == [
        (0, 0, "positive"),
        (1, 1, "positive"),
        (2, 2, "positive"),
    ]
    (dead,) = outputs(producer, "dlq")
    assert dead["value"] == b"\xff not utf-8" and dead["key"] == b"k3"
    headers = DeadLetterHeaders.model_validate({k: v.decode() for k, v in dead["headers"]})
    assert (headers.reason.value, headers.source_offset) == ("not_utf8", 3)
    assert consumer.commits[-1] == ([("in", 0, 4)], True)
    steps(pipeline, 1)  # the commit's result comes with the next consume()
    assert pipeline.state.last_committed[P0] == 4 and consumer.group_offsets[P0] == 4


def test_a_revoke_mid_batch_drops_the_unprocessed_inputs_and_commits_what_was_delivered():
    pipeline, clients, consumer = started(batch={"max_size": 8, "max_wait_ms": 60_000})
    consumer.add("in", 0, texts(2))
    consumer.add("in", 1, texts(2, start=10))
    consumer.assign([P0, P1])
    steps(pipeline, 1)  # 4 inputs in hand, the batch not yet closed
    assert len(pipeline.batcher.batch.items) == 4
    consumer.revoke([P1])
    assert {m.partition() for m in pipeline.batcher.batch.items} == {0}, "the revoked partition's inputs left"
    assert P1 not in pipeline.state.assignment and P1 not in pipeline.tracker.partitions
    pipeline.request_stop()
    assert pipeline.run_loop() == EXIT_OK
    produced = [OutputRecord.model_validate_json(r["value"]).source for r in outputs(clients.producers[0])]
    assert {(s.partition, s.offset) for s in produced} == {(0, 0), (0, 1)}
    assert consumer.commits[-1] == ([("in", 0, 2)], False), "the shutdown commit, synchronous"


def test_a_revoke_after_delivery_commits_the_revoked_partition_synchronously():
    pipeline, clients, consumer = started()
    consumer.withhold_commit_results = True
    consumer.add("in", 1, texts(4))
    consumer.assign([P1])
    steps(pipeline, 1)  # delivered; the periodic commit is sent and has no result yet
    consumer.add("in", 1, texts(4, start=4))
    steps(pipeline, 1)
    assert consumer.commits == [([("in", 1, 4)], True)]
    consumer.revoke([P1])
    assert consumer.commits[-1] == ([("in", 1, 8)], False)


def test_lost_partitions_are_forgotten_without_a_commit():
    pipeline, clients, consumer = started(batch={"max_size": 8, "max_wait_ms": 60_000})
    consumer.add("in", 0, texts(3))
    consumer.assign([P0])
    steps(pipeline, 1)
    consumer.revoke([P0], lost=True)
    assert pipeline.batcher.batch.items == [] and P0 not in pipeline.state.assignment
    assert consumer.commits == [] and clients.producers[0].produced == []


def test_a_failed_delivery_replays_its_partition_from_the_first_undelivered_input():
    pipeline, clients, consumer = started()
    consumer.add("in", 0, texts(4))
    consumer.assign([P0])
    producer = clients.producers[0]
    producer.fail = {b"k2"}
    steps(pipeline, 1)
    assert consumer.seeks == [("in", 0, 2)]
    assert pipeline.tracker.committable(P0) == 2
    assert consumer.commits[-1] == ([("in", 0, 2)], True), "nothing past the failed input"
    producer.fail = set()
    steps(pipeline, 2)
    sources = [OutputRecord.model_validate_json(r["value"]).source.offset for r in outputs(producer)]
    assert sources == [0, 1, 3, 2, 3], "offset 3 was delivered before the replay and is repeated"
    assert consumer.commits[-1] == ([("in", 0, 4)], True)


def test_an_inference_failure_dead_letters_only_the_guilty_text():
    pipeline, clients, consumer = started()
    consumer.add("in", 0, [json.dumps({"text": t}).encode() for t in ("fine", "boom", "fine too", "ok")])
    consumer.assign([P0])
    steps(pipeline, 1)
    producer = clients.producers[0]
    assert len(outputs(producer)) == 3
    (dead,) = outputs(producer, "dlq")
    assert dict(dead["headers"])["sc.reason"] == b"inference_failed"


def test_the_guard_stops_the_loop_without_committing_its_window():
    pipeline, clients, consumer = started(
        dead_letter_guard={"enabled": True, "window": 10, "min_records": 5, "max_ratio": 0.5}
    )
    consumer.add("in", 0, texts(8) + [b"{}"] * 12)
    consumer.assign([P0])
    assert pipeline.run_loop() == EXIT_GUARD
    committed = [offsets for offsets, _ in consumer.commits]
    assert committed and all(o < 8 for batch in committed for _, _, o in batch), committed
    assert consumer.closed


# ---------------------------------------------------------------- the commit path and its watchdog
def deliver(pipeline, offsets) -> None:
    for offset in offsets:
        pipeline.tracker.track(P0, offset, 1)
        pipeline.tracker.ack(P0, offset, pipeline.tracker.generation(P0))


@pytest.fixture
def alo():
    pipeline, clients, consumer = started()
    consumer.assign([P0])
    return pipeline


def test_a_periodic_commit_waits_for_the_result_of_the_previous_one(alo):
    deliver(alo, range(0, 10))
    alo.delivery.commit(wait=False)
    deliver(alo, range(10, 20))
    alo.delivery.commit(wait=False)  # the first has no result yet: nothing is sent
    assert alo.consumer.commits == [([("in", 0, 10)], True)]
    alo.delivery.on_commit_result(None, [TopicPartition("in", 0, 10)])
    alo.delivery.commit(wait=False)
    assert alo.consumer.commits[-1] == ([("in", 0, 20)], True)
    assert alo.state.last_committed[P0] == 10


def test_a_failed_asynchronous_commit_is_sent_again(alo):
    deliver(alo, range(0, 5))
    alo.delivery.commit(wait=False)
    alo.delivery.on_commit_result(KafkaError(KafkaError._WAIT_COORD), [TopicPartition("in", 0, 5)])
    alo.delivery.commit(wait=False)
    assert [c for c, _ in alo.consumer.commits] == [[("in", 0, 5)], [("in", 0, 5)]]
    assert P0 not in alo.state.last_committed


def test_the_watchdog_retries_synchronously_and_recovers(alo):
    deliver(alo, range(0, 5))
    alo.delivery.commit(wait=False)  # its result never comes
    alo.delivery.watch_commits(now=1000.0)
    alo.delivery.watch_commits(now=1061.0)
    assert alo.consumer.commits[-1] == ([("in", 0, 5)], False)
    assert alo.state.last_committed[P0] == 5 and not alo.delivery.commit_outstanding
    assert not alo.health.commit_stalled


def test_the_watchdog_ends_the_process_when_the_retry_does_not_return(alo):
    deliver(alo, range(0, 5))
    alo.delivery.commit(wait=False)
    alo.consumer.hold_sync_commit.set()
    alo.delivery.watch_commits(now=1000.0)
    with pytest.raises(CommitStalled, match=r"in\[0\]: committable 5, committed -1"):
        alo.delivery.watch_commits(now=1061.0)
    assert alo.health.commit_stalled and not alo.health.live()


def test_a_stalled_loop_exits_5_without_another_commit():
    pipeline, clients, consumer = started(delivery={"commit_stall_timeout_s": 0.05})
    consumer.add("in", 0, texts(4))
    consumer.assign([P0])
    consumer.withhold_commit_results = True
    consumer.hold_sync_commit.set()
    assert pipeline.run_loop() == 5
    assert [sync for _, sync in consumer.commits].count(False) == 1, "only the watchdog's bounded retry"


def test_a_stop_whose_last_commit_does_not_return_ends_within_its_deadline_and_exits_4():
    """With the coordinator gone a synchronous commit waits for good (docs/reliability.md)."""
    pipeline, clients, consumer = started(delivery={"flush_timeout_s": 0.2})
    consumer.add("in", 0, texts(4))
    consumer.assign([P0])
    consumer.withhold_commit_results = True
    steps(pipeline, 3)
    consumer.hold_sync_commit.set()  # each synchronous commit takes 5 s
    pipeline.request_stop()
    began = time.monotonic()
    assert pipeline.run_loop() == EXIT_KAFKA
    assert time.monotonic() - began < 4
    assert [asynchronous for _, asynchronous in consumer.commits].count(False) == 1
    assert consumer.closed


def test_an_unanswered_commit_gets_the_bounded_retry_before_any_partition_has_stalled(alo):
    alo.delivery.clock = lambda: 1000.0
    deliver(alo, range(0, 5))
    alo.delivery.commit(wait=False)  # its result never comes
    alo.delivery.watch_commits(now=1059.0)  # the first look at the partition: behind for 0 s
    assert alo.consumer.commits == [([("in", 0, 5)], True)]
    alo.delivery.watch_commits(now=1061.0)  # the partition is behind for 2 s, the commit unanswered for 61 s
    assert alo.consumer.commits[-1] == ([("in", 0, 5)], False)
    assert alo.state.last_committed[P0] == 5 and not alo.delivery.commit_outstanding
    assert not alo.health.commit_stalled


def test_an_unanswered_commit_is_a_stall_after_the_partitions_are_lost(alo):
    """librdkafka starts no fetcher for a new assignment while a commit of its own is outstanding:
    with nothing assigned the loop has nothing to watch but that commit."""
    alo.delivery.clock = lambda: 1000.0
    deliver(alo, range(0, 5))
    alo.delivery.commit(wait=False)
    alo.consumer.revoke([P0], lost=True)
    alo.delivery.watch_commits(now=1059.0)
    with pytest.raises(CommitStalled, match=r"commit \(in\[0\]@5\) has had no result for 61s; assigned: none"):
        alo.delivery.watch_commits(now=1061.0)
    assert alo.health.commit_stalled and not alo.health.live()
    assert [sync for _, sync in alo.consumer.commits].count(False) == 0, "nothing was left to commit"


# ---------------------------------------------------------------- exactly-once
def test_one_transaction_per_batch_holds_its_records_and_its_offsets():
    pipeline, clients, consumer = started("exactly_once")
    consumer.add("in", 0, texts(3) + [b"null"])
    consumer.assign([P0])
    steps(pipeline, 1)
    producer = clients.producers[0]
    ((records, offsets),) = producer.committed_transactions
    assert offsets == [("in", 0, 4)] and [r["topic"] for r in records] == ["out"] * 3 + ["dlq"]
    assert consumer.commits == [], "no offset commit outside the transaction"
    assert pipeline.state.last_committed[P0] == 4


def test_an_aborted_transaction_rewinds_to_the_committed_offsets_and_is_written_again():
    pipeline, clients, consumer = started("exactly_once")
    consumer.add("in", 0, texts(8))
    consumer.group_offsets[P0] = 0
    consumer.assign([P0])
    steps(pipeline, 1)  # first batch committed: 0..3
    consumer.group_offsets[P0] = 4
    producer = clients.producers[0]
    producer.errors["send_offsets_to_transaction"] = KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE)
    steps(pipeline, 1)
    assert "abort_transaction" in producer.calls and consumer.seeks == [("in", 0, 4)]
    steps(pipeline, 1)  # the same inputs, handed over again after the seek, are new to the tracker
    assert [o for _, offs in producer.committed_transactions for *_, o in offs] == [4, 8]
    sources = [OutputRecord.model_validate_json(r["value"]).source.offset for r in outputs(producer)]
    assert sources == list(range(8)), "the aborted records are not among the committed ones"


def test_a_fenced_producer_is_replaced_and_the_batch_written_by_its_successor():
    pipeline, clients, consumer = started("exactly_once")
    consumer.add("in", 0, texts(4))
    consumer.assign([P0])
    clients.producers[0].errors["commit_transaction"] = KafkaError(KafkaError.PRODUCER_FENCED)
    steps(pipeline, 1)
    assert len(clients.producers) == 2 and clients.producers[1].calls == ["init_transactions"]
    assert consumer.seeks == [("in", 0, OFFSET_BEGINNING)], "no committed offset yet: back to the beginning"
    steps(pipeline, 1)
    assert clients.producers[1].committed_transactions[0][1] == [("in", 0, 4)]


def test_the_fault_hook_runs_inside_each_transaction_before_its_offsets_are_sent():
    seen = []
    pipeline, clients, consumer = started(
        "exactly_once", hook=lambda n, producer: seen.append((n, list(producer.calls)))
    )
    consumer.add("in", 0, texts(8))
    consumer.assign([P0])
    steps(pipeline, 2)
    assert seen == [
        (1, ["init_transactions", "begin_transaction"]),
        (
            2,
            [
                "init_transactions",
                "begin_transaction",
                "send_offsets_to_transaction",
                "commit_transaction",
                "begin_transaction",
            ],
        ),
    ]


def test_the_guard_aborts_the_open_transaction():
    pipeline, clients, consumer = started(
        "exactly_once", dead_letter_guard={"enabled": True, "window": 4, "min_records": 4, "max_ratio": 0.5}
    )
    consumer.add("in", 0, [b"{}"] * 4)
    consumer.assign([P0])
    assert pipeline.run_loop() == EXIT_GUARD
    producer = clients.producers[0]
    assert producer.calls[-1] == "abort_transaction" and producer.committed_transactions == []


def test_an_open_transaction_that_stops_committing_is_a_stall():
    pipeline, clients, consumer = started("exactly_once")
    pipeline.state.watchdog.observe(P0, 4, -1, now=1000.0)
    with pytest.raises(CommitStalled):
        pipeline.delivery.watch_commits(now=1061.0)
