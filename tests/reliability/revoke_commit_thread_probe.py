"""Can the revoke's synchronous commit run on another thread, under a deadline?

Two plain confluent-kafka consumers (cooperative-sticky) share a 6-partition topic; the second one's
arrival revokes three partitions from the first, whose revoke callback commits them synchronously,
on its own thread (`main`) or on a helper thread that it waits 30 s for (`helper`, as
`stream/deadline.py` would). It prints how long each commit took. See docs/reliability.md, "A stop
that waited for a broker that was gone".

    .venv/bin/python tests/reliability/revoke_commit_thread_probe.py main     # ('a', 3, 0.03)
    .venv/bin/python tests/reliability/revoke_commit_thread_probe.py helper   # blocked, 30.0
"""

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kafka_helpers import free_ports  # noqa: E402

from stream_classifier_workbench.devtools.kafka_broker import LocalKafka  # noqa: E402

HELPER_WAIT_S = 30


def member(bootstrap: str, name: str, thread: str, took: list) -> Consumer:
    def on_revoke(consumer, partitions):
        offsets = [TopicPartition(p.topic, p.partition, 10) for p in partitions]
        began = time.monotonic()
        if thread == "main":
            consumer.commit(offsets=offsets, asynchronous=False)
        else:
            helper = threading.Thread(target=lambda: consumer.commit(offsets=offsets, asynchronous=False), daemon=True)
            helper.start()
            helper.join(HELPER_WAIT_S)
            if helper.is_alive():
                print(f"{name}: the helper thread's commit is still blocked after {HELPER_WAIT_S} s", flush=True)
        took.append((name, len(partitions), round(time.monotonic() - began, 2)))
        print(f"{name}: revoke commit {took[-1]}", flush=True)

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "probe",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "auto.offset.reset": "earliest",
            "on_commit": lambda err, partitions: None,
        }
    )
    consumer.subscribe(["probe"], on_revoke=on_revoke)
    return consumer


def main(thread: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="sc-revoke-probe-"))
    port, controller_port = free_ports(2)
    broker = LocalKafka.single(home=home, port=port, controller_port=controller_port)
    broker.up()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic("probe", 6, 1)])["probe"].result()
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(6000):
            producer.produce("probe", str(i).encode(), partition=i % 6)
        producer.flush()
        took: list = []
        first = member(broker.bootstrap, "a", thread, took)
        for _ in range(100):
            first.consume(10, 0.1)
        second = member(broker.bootstrap, "b", thread, took)
        end = time.monotonic() + HELPER_WAIT_S - 5
        while time.monotonic() < end:
            first.consume(10, 0.1)
            second.consume(10, 0.1)
        print("revoke commits (member, partitions, seconds):", took)
    finally:
        broker.down()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main")
