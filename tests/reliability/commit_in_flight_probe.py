"""Does librdkafka always answer an asynchronous commit that is in flight when the broker restarts?

One plain confluent-kafka consumer reads a topic and keeps one asynchronous commit in flight at all
times (a new one as soon as the previous result is back), as the at-least-once loop does. The
broker is stopped (SIGTERM) at a random moment, kept down 3 s, and started on the same data
directory. Per restart it prints how long until the commit in flight got its result; it stops at
the first one without a result after 150 s. See docs/reliability.md, "A commit that was never
answered".

    .venv/bin/python tests/reliability/commit_in_flight_probe.py 40
"""

import json
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kafka_helpers import free_ports  # noqa: E402

from stream_classifier_workbench.devtools.kafka_broker import LocalKafka  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
home = Path(tempfile.mkdtemp(prefix="probe-kafka-"))
port, cport = free_ports(2)
broker = LocalKafka.single(
    home=home, port=port, controller_port=cport, overrides={"auto.create.topics.enable": "false"}
)
broker.up()
boot = broker.bootstrap
topic = "probe"
admin = AdminClient({"bootstrap.servers": boot})
admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
p = Producer({"bootstrap.servers": boot, "linger.ms": 5})
for i in range(300000):
    while True:
        try:
            p.produce(topic, value=b"x" * 50, partition=i % 3)
            break
        except BufferError:
            p.poll(0.1)
p.flush(60)

state = {"outstanding": None, "results": 0}
log = logging.getLogger("rdkafka")


def on_commit(err, parts):
    sent = state["outstanding"]
    state["outstanding"] = None
    state["results"] += 1
    state["last"] = (
        time.monotonic(),
        err.str() if err else None,
        [(t.partition, t.offset, str(t.error)) for t in parts],
    )
    if sent is not None and time.monotonic() - sent[0] > 2:
        print(f"  late result after {time.monotonic() - sent[0]:.1f}s: err={err and err.str()}", flush=True)


c = Consumer(
    {
        "bootstrap.servers": boot,
        "group.id": "probe-group",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 30000,
        "queued.max.messages.kbytes": 4096,
        "queued.min.messages": 2000,
        "on_commit": on_commit,
        "logger": log,
    }
)
logging.getLogger("rdkafka").setLevel(logging.WARNING)
c.subscribe([topic])
positions = {}


def step():
    for m in c.consume(500, timeout=0.05):
        if m.error() is None:
            positions[m.partition()] = m.offset() + 1
    if state["outstanding"] is None and positions:
        offsets = [TopicPartition(topic, k, v) for k, v in positions.items()]
        state["outstanding"] = (time.monotonic(), [(t.partition, t.offset) for t in offsets])
        c.commit(offsets=offsets, asynchronous=True)


t0 = time.monotonic()
while time.monotonic() - t0 < 8:
    step()
summary = []
for r in range(rounds):
    end = time.monotonic() + random.uniform(0.5, 2.5)
    while time.monotonic() < end:
        step()
    in_flight = state["outstanding"]
    broker.stop_node(1)
    down = time.monotonic()
    while time.monotonic() - down < 3:
        step()
    broker.start_node(1)
    up = time.monotonic()
    results_at_stop = state["results"]
    waited = None
    while time.monotonic() - up < 150:
        step()
        if (
            state["results"] > results_at_stop
            and state["outstanding"] is None
            or (in_flight is not None and state["outstanding"] is not None and state["outstanding"][0] > in_flight[0])
        ):
            waited = time.monotonic() - down
            break
    line = {"round": r, "in_flight_at_stop": in_flight is not None, "answered_after_s": waited and round(waited, 1)}
    summary.append(line)
    print(json.dumps(line), flush=True)
    if waited is None:
        print("NO RESULT in 150 s; outstanding:", state["outstanding"], "last:", state.get("last"), flush=True)
        break
c.close()
broker.down()
shutil.rmtree(home, ignore_errors=True)
print("lost:", sum(1 for s in summary if s["answered_after_s"] is None), "of", len(summary))
