"""A deadline for librdkafka calls that have none of their own (or overrun it)."""

from __future__ import annotations

import threading

from confluent_kafka import KafkaError, KafkaException


def call_with_deadline(name: str, timeout: float, call, *args, **kwargs):
    """Run a blocking librdkafka call on a helper thread and give up on it after `timeout` s
    (a synchronous commit has no timeout of its own); its result, or a fatal _TIMED_OUT error."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{name} blocked past its deadline", fatal=True))
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
