"""The loop's commit path with a stand-in consumer (no broker): one asynchronous commit in flight,
and the commit watchdog's bounded retry and exit."""

import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, TopicPartition

from stream_classifier.observability import Health, Metrics
from stream_classifier.settings import load_settings
from stream_classifier.stream.pipeline import CommitStalled, Pipeline

TP = ("in", 0)


class StandInEngine:
    model = SimpleNamespace(max_length=512)
    model_id = "stand-in"

    def prepare(self, label_set) -> None:
        pass


class StandInConsumer:
    """Records commits; a synchronous commit returns at once, or blocks while `hold` is set."""

    def __init__(self) -> None:
        self.commits: list[tuple[list[tuple[str, int, int]], bool]] = []
        self.hold = threading.Event()

    def commit(self, offsets, asynchronous):
        self.commits.append(([(t.topic, t.partition, t.offset) for t in offsets], asynchronous))
        if not asynchronous:
            if self.hold.is_set():
                threading.Event().wait(5)
            return [TopicPartition(t.topic, t.partition, t.offset) for t in offsets]
        return None


@pytest.fixture
def pipeline():
    settings = load_settings("configs/default.yaml", labels={"file": "configs/labels/sentiment.yaml"},
                             delivery={"commit_stall_timeout_s": 60, "flush_timeout_s": 0.2})
    p = Pipeline(settings, StandInEngine(), Metrics(), Health())
    p.consumer = StandInConsumer()
    p.assignment.add(TP)
    p.tracker.assign(TP)
    return p


def deliver(p: Pipeline, offsets) -> None:
    for offset in offsets:
        p.tracker.track(TP, offset, 1)
        p.tracker.ack(TP, offset, p.tracker.generation(TP))


def test_a_periodic_commit_waits_for_the_result_of_the_previous_one(pipeline):
    deliver(pipeline, range(0, 10))
    pipeline._commit(wait=False)
    deliver(pipeline, range(10, 20))
    pipeline._commit(wait=False)  # the first has no result yet: nothing is sent
    assert pipeline.consumer.commits == [([("in", 0, 10)], True)]

    pipeline._on_async_commit(None, [TopicPartition("in", 0, 10)])
    pipeline._commit(wait=False)
    assert pipeline.consumer.commits[-1] == ([("in", 0, 20)], True)
    assert pipeline.last_committed[TP] == 10


def test_a_failed_asynchronous_commit_is_sent_again(pipeline):
    deliver(pipeline, range(0, 5))
    pipeline._commit(wait=False)
    pipeline._on_async_commit(KafkaError(KafkaError._WAIT_COORD), [TopicPartition("in", 0, 5)])
    pipeline._commit(wait=False)
    assert [c for c, _ in pipeline.consumer.commits] == [[("in", 0, 5)], [("in", 0, 5)]]
    assert TP not in pipeline.last_committed


def test_the_watchdog_retries_synchronously_and_recovers(pipeline):
    deliver(pipeline, range(0, 5))
    pipeline._commit(wait=False)  # its result never comes
    pipeline._watch_commits(now=1000.0)
    pipeline._watch_commits(now=1061.0)
    assert pipeline.consumer.commits[-1] == ([("in", 0, 5)], False)
    assert pipeline.last_committed[TP] == 5 and not pipeline.commit_outstanding
    assert not pipeline.health.commit_stalled


def test_the_watchdog_ends_the_process_when_the_retry_does_not_return(pipeline):
    deliver(pipeline, range(0, 5))
    pipeline._commit(wait=False)
    pipeline.consumer.hold.set()
    pipeline._watch_commits(now=1000.0)
    with pytest.raises(CommitStalled, match=r"in\[0\]: committable 5, committed -1"):
        pipeline._watch_commits(now=1061.0)
    assert pipeline.health.commit_stalled and not pipeline.health.live()
