"""Pure logic of the stream: batching, offset tracking, the dead-letter guard, decoding."""

import json

import pytest

from stream_classifier.records import DeadLetterReason, Decoded, Rejected, decode_value
from stream_classifier.settings import InputSettings
from stream_classifier.stream.batcher import Batcher, estimate_tokens
from stream_classifier.stream.offsets import DeadLetterGuard, OffsetTracker

TP = ("in", 0)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_batch_closes_when_full_by_count():
    b = Batcher(max_size=3, max_wait_s=10, max_tokens=10_000, clock=FakeClock())
    for i in range(3):
        assert not b.ready()
        b.add(i, 1)
    assert b.ready() and b.room() == 0
    assert b.take().items == [0, 1, 2] and len(b) == 0


def test_batch_closes_when_its_first_message_waited_long_enough():
    clock = FakeClock()
    b = Batcher(max_size=100, max_wait_s=0.05, max_tokens=10_000, clock=clock)
    assert b.remaining_wait() == 0.05 and not b.ready()
    b.add("a", 1)
    clock.now += 0.03
    b.add("b", 1)
    assert not b.ready() and b.remaining_wait() == pytest.approx(0.02)
    clock.now += 0.021
    assert b.ready()


def test_batch_closes_on_tokens_and_drops_revoked_items():
    b = Batcher(max_size=100, max_wait_s=10, max_tokens=100, clock=FakeClock())
    b.add(("p0", 1), 60)
    b.add(("p1", 2), 50)
    assert b.ready()
    assert b.drop(lambda item: item[0] != "p1") == 1
    assert b.batch.items == [("p0", 1)]
    assert estimate_tokens("很好".encode() * 10, 512) == 22
    assert estimate_tokens(b"x" * 10_000, 512) == 512


def test_offsets_commit_only_the_acknowledged_prefix():
    t = OffsetTracker()
    t.assign(TP)
    gen = t.generation(TP)
    for offset in (10, 11, 12):
        t.track(TP, offset, 1)
    assert t.committable(TP) == 10
    t.ack(TP, 11, gen)
    assert t.committable(TP) == 10, "a gap blocks the commit"
    t.ack(TP, 10, gen)
    assert t.committable(TP) == 12
    t.ack(TP, 12, gen)
    assert t.committable(TP) == 13 and t.in_flight() == 0
    assert t.committable(TP, held=12) == 12


def test_offsets_rewind_ignores_stale_acks():
    t = OffsetTracker()
    t.track(TP, 0, 1)
    t.track(TP, 1, 1)
    old = t.generation(TP)
    t.ack(TP, 0, old)
    assert t.rewind(TP) == 1
    t.ack(TP, 1, old)  # an ack from before the rewind
    assert t.committable(TP) == 1
    t.track(TP, 1, 1)
    t.ack(TP, 1, t.generation(TP))
    assert t.committable(TP) == 2


def test_guard_trips_on_share_and_holds_back_the_window():
    g = DeadLetterGuard(window=10, min_records=5, max_ratio=0.5, idle_release_s=2)
    for offset in range(20):
        g.observe(TP, offset, dead_letter=False, now=0)
    assert not g.tripped() and g.held_from() == {TP: 10}
    for offset in range(20, 26):
        g.observe(TP, offset, dead_letter=True, now=1)
    assert g.tripped() and g.ratio() == 0.6
    assert g.held_from() == {TP: 16}


def test_guard_needs_min_records_and_releases_when_idle():
    g = DeadLetterGuard(window=100, min_records=10, max_ratio=0.5, idle_release_s=2)
    for offset in range(5):
        g.observe(TP, offset, dead_letter=True, now=0)
    assert not g.tripped()
    g.release_if_idle(now=1)
    assert g.held_from() == {TP: 0}
    g.release_if_idle(now=3)
    assert g.held_from() == {}


SETTINGS = InputSettings(max_text_bytes=30)


@pytest.mark.parametrize(
    "value, reason",
    [
        (None, DeadLetterReason.NULL_VALUE),
        (b"\xff\xfe", DeadLetterReason.NOT_UTF8),
        (b"{nope", DeadLetterReason.INVALID_JSON),
        (b"[1, 2]", DeadLetterReason.NOT_AN_OBJECT),
        (b'{"id": 1}', DeadLetterReason.MISSING_TEXT),
        (b'{"text": null}', DeadLetterReason.MISSING_TEXT),
        (b'{"text": " \\n "}', DeadLetterReason.EMPTY_TEXT),
        (b'{"text": ["a"]}', DeadLetterReason.WRONG_TYPE),
        (b'{"text": "ok", "id": {"x": 1}}', DeadLetterReason.WRONG_TYPE),
        (json.dumps({"text": "长" * 11}).encode(), DeadLetterReason.TEXT_TOO_LONG),
    ],
)
def test_decode_rejections(value, reason):
    result = decode_value(value, SETTINGS)
    assert isinstance(result, Rejected) and result.reason == reason and result.error


def test_decode_json_and_plain_text():
    assert decode_value('{"text": "好评", "id": "a1"}'.encode(), SETTINGS) == Decoded("好评", "a1")
    assert decode_value('{"body": "好评"}'.encode(), InputSettings(text_field="body")) == Decoded("好评", None)
    assert decode_value("就是一段文字".encode(), InputSettings(format="text")) == Decoded("就是一段文字", None)
