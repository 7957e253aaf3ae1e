"""What a dead letter's headers say, in the classifier's own names (sc.*) or Kafka Connect's
(__connect.errors.*), and the headers a replay adds.

The pipeline keeps an input's own headers on its dead letter, so a replayed record that fails again
carries its sc.replay.* headers into the dead-letter topic: that is how a replay of a replay is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "sc.error"
REASON = "sc.reason"
SOURCE_OFFSET = "sc.source.offset"
SOURCE_PARTITION = "sc.source.partition"
SOURCE_TOPIC = "sc.source.topic"
SOURCE_TIMESTAMP = "sc.source.timestamp"

REPLAY_ID = "sc.replay.id"  # one id per `dlq replay` run
REPLAY_COUNT = "sc.replay.count"  # how many times this input has been replayed, this time included
REPLAY_OF = "sc.replay.of"  # the dead letter replayed: "topic/partition/offset"

CONNECT_PREFIX = "__connect.errors."
CONNECT_TOPIC = CONNECT_PREFIX + "topic"
CONNECT_PARTITION = CONNECT_PREFIX + "partition"
CONNECT_OFFSET = CONNECT_PREFIX + "offset"
CONNECT_EXCEPTION_CLASS = CONNECT_PREFIX + "exception.class.name"
CONNECT_EXCEPTION_MESSAGE = CONNECT_PREFIX + "exception.message"
CONNECT_REASON_CLASS_PREFIX = "stream_classifier.DeadLetterReason."

UNKNOWN_REASON = "unknown"


def utf8_prefix(text: str, limit: int) -> bytes:
    """At most `limit` bytes of `text` as UTF-8, never ending inside a character."""
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").encode()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic, read back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    reason: str
    error: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    replay_count: int

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def from_message(cls, message) -> DeadLetter:
        headers = tuple(message.headers() or ())
        # the last value wins: a replayed input that failed again has the new sc.* after its own
        named = {name: _text(value) for name, value in headers}
        reason = named.get(REASON)
        if reason is None and named.get(CONNECT_EXCEPTION_CLASS):
            reason = named[CONNECT_EXCEPTION_CLASS].rsplit(".", 1)[-1]
        return cls(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=message.value(),
            headers=headers,
            reason=reason or UNKNOWN_REASON,
            error=named.get(ERROR) or named.get(CONNECT_EXCEPTION_MESSAGE),
            source_topic=named.get(SOURCE_TOPIC) or named.get(CONNECT_TOPIC),
            source_partition=_int(named.get(SOURCE_PARTITION) or named.get(CONNECT_PARTITION)),
            source_offset=_int(named.get(SOURCE_OFFSET) or named.get(CONNECT_OFFSET)),
            replay_count=_int(named.get(REPLAY_COUNT)) or 0,
        )


def is_dead_letter_header(name: str) -> bool:
    """Headers a dead-letter topic or an earlier replay added; a replay drops them."""
    return name.startswith("sc.") or name.startswith(CONNECT_PREFIX)


def replay_headers(dead: DeadLetter, replay_id: str) -> list[tuple[str, bytes | None]]:
    """The input's own headers, then the ones that name this replay."""
    kept = [(name, value) for name, value in dead.headers if not is_dead_letter_header(name)]
    return kept + [
        (REPLAY_ID, replay_id.encode()),
        (REPLAY_COUNT, str(dead.replay_count + 1).encode()),
        (REPLAY_OF, dead.position.encode()),
    ]


def connect_headers(
    topic: str, partition: int, offset: int, reason: str, error: str, connector: str
) -> list[tuple[str, bytes]]:
    """Kafka Connect's dead-letter context headers (errors.deadletterqueue.context.headers.enable),
    for tools that read Connect's dead-letter queues; written beside the sc.* headers."""
    stage = "TASK_PUT" if reason == "inference_failed" else "VALUE_CONVERTER"
    return [
        (CONNECT_TOPIC, topic.encode()),
        (CONNECT_PARTITION, str(partition).encode()),
        (CONNECT_OFFSET, str(offset).encode()),
        (CONNECT_PREFIX + "connector.name", connector.encode()),
        (CONNECT_PREFIX + "task.id", b"0"),
        (CONNECT_PREFIX + "stage", stage.encode()),
        (CONNECT_EXCEPTION_CLASS, (CONNECT_REASON_CLASS_PREFIX + reason).encode()),
        (CONNECT_EXCEPTION_MESSAGE, utf8_prefix(error, 1000)),
    ]
