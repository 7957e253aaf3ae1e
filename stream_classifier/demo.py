"""`make demo`: everything end to end on this machine.

Until the stream pipeline exists this stops after a broker round trip: it starts the local
Apache Kafka broker, produces a few real texts and reads them back.
"""

from __future__ import annotations

import sys
import time
import uuid

from confluent_kafka import Consumer, Producer

from stream_classifier.devtools.kafka_broker import LocalKafka

TEXTS = ["快递三天都没到，客服也不回复", "这款手机拍照效果很好，推荐", "请问怎么申请退款？"]


def main() -> int:
    broker = LocalKafka.single()
    bootstrap = broker.up()
    print(f"broker ready at {bootstrap}")
    topic = f"demo-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, text in enumerate(TEXTS):
        producer.produce(topic, key=str(i), value=text.encode())
    producer.flush(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received, deadline = [], time.monotonic() + 30
    while len(received) < len(TEXTS) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            received.append(msg.value().decode())
            print(f"  round trip {msg.partition()}:{msg.offset()}  {received[-1]}")
    consumer.close()
    print("the stream pipeline is not built yet: this demo stops after the broker round trip")
    return 0 if len(received) == len(TEXTS) else 1


if __name__ == "__main__":
    sys.exit(main())
