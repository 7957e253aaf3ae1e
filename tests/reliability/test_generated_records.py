"""Generated records, valid and not, through the real broker and `stream-classifier run`.

A seeded generator (python `random`, fixed seeds: the same records on every run) mixes valid posts
(Chinese and English) with random bytes, invalid UTF-8, JSON of every shape, texts past
input.max_text_bytes, empty and huge headers, null keys and tombstones. Each record's fate (an
output with its text and id, or a dead letter with its reason) comes from `expected_fate` below, an
oracle written here from the documented rules, not from the classifier's decoder; the generator's
own intent for each constructed record is checked against it first.

Every input must come back exactly once, on the output topic or on the dead-letter topic (by source
partition and offset), in both delivery modes; a dead letter keeps its key, value and headers
unchanged and says the predicted reason. The dead-letter guard is set from the generated stream
itself: at the highest share any consumption order could show it never trips, and on one partition,
set just below the stream's peak share, it trips at the predicted record. (The 100 % bad storm, and
30 % bad with the guard out of the way, are in test_dead_letter_storm.py.)
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer
from faults import read_all, wait_all_committed
from kafka_helpers import committed_offsets, end_offsets
from stream_harness import REPO, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.model]

MAX_TEXT_BYTES = 2000
PRECHECK_BYTES = MAX_TEXT_BYTES * 4 + 4096  # a value longer than this is refused before it is decoded
FIGURES_FILE = REPO / "results" / "reliability" / "generated-records.jsonl"
SC_HEADERS = ["sc.reason", "sc.error", "sc.source.topic", "sc.source.partition", "sc.source.offset"]
SENTIMENT = {"positive", "negative"}

ZH = [
    "物流很快，包装完好",
    "质量一般，有点失望",
    "客服态度差，不推荐",
    "非常满意，还会再买",
    "颜色和图片不一样",
    "性价比很高",
]
EN = ["Fast delivery, well packed", "Broke after two days", "Works as described", "Terrible support", "Love it"]
WHITESPACE = [" ", "\t", "\n", "\r", "\u3000", "\u2028", "\u00a0", "\x1c", "\x1f", "\x85", "\u2003"]
ODD_CHARS = ["\x00", "\u200b", "\u202e", "\u0301", "\ufeff", "😀", "\U0010ffff", "\ufffd", "</script>", '"', "\\"]


# ---------------------------------------------------------------- the oracle
def expected_fate(value: bytes | None, max_bytes: int = MAX_TEXT_BYTES) -> tuple:
    """('output', text, id) or ('dead', reason), from the rules of input.format json (records.py's
    docstrings, docs/configuration.md), checked in this order: no value; a value far over the limit
    (4 x max_text_bytes + 4096 bytes, refused before decoding); not UTF-8; not JSON (Python's json,
    nesting too deep included); not an object; no `text` (or null); `text` not a string, or `id` neither
    a string nor an integer; text only whitespace; text over max_text_bytes UTF-8 bytes; a text the
    tokenizer cannot take (a lone surrogate, from a \\udXXX escape) fails inference."""
    if value is None:
        return ("dead", "null_value")
    if len(value) > max_bytes * 4 + 4096:
        return ("dead", "text_too_long")
    try:
        raw = value.decode("utf-8")
    except UnicodeDecodeError:
        return ("dead", "not_utf8")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return ("dead", "invalid_json")
    if not isinstance(obj, dict):
        return ("dead", "not_an_object")
    text = obj.get("text")
    if text is None:
        return ("dead", "missing_text")
    if not isinstance(text, str):
        return ("dead", "wrong_type")
    record_id = obj.get("id")
    if record_id is not None and (type(record_id) is bool or not isinstance(record_id, (str, int))):
        return ("dead", "wrong_type")
    if all(ch.isspace() for ch in text):
        return ("dead", "empty_text")
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        return ("dead", "text_too_long")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return ("dead", "inference_failed")
    return ("output", text, record_id)


# ---------------------------------------------------------------- the generator
@dataclass
class Generated:
    kind: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None
    intended: str | None = None  # the reason the generator meant, or "output"; None: unknown (random bytes)
    fate: tuple = ()
    partition: int = -1
    offset: int = -1
    timestamp: int | None = None
    header_kind: str = "none"

    @property
    def dead(self) -> bool:
        return self.fate[0] == "dead"


def _dumps(obj, rng: random.Random) -> bytes:
    return json.dumps(obj, ensure_ascii=rng.random() < 0.3).encode()


def _post(rng: random.Random, i: int) -> str:
    words = rng.choice([ZH, EN])
    text = "，".join(rng.sample(words, rng.randint(1, 2))) if words is ZH else ", ".join(rng.sample(words, 2))
    if rng.random() < 0.25:
        text += rng.choice(ODD_CHARS)
    return f"{text} #{i}"


def _random_json(rng: random.Random, depth: int = 0):
    pick = rng.randrange(8 if depth < 3 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 7, 2**63, -(2**70), rng.randrange(10**6)])
    if pick == 3:
        return rng.choice([0.5, -1e300, 3.14159, 1e-9])
    if pick in (4, 5):
        return "".join(rng.choice(ZH[0] + "abc<>&\"'\\\n" + "".join(ODD_CHARS)) for _ in range(rng.randrange(12)))
    if pick == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = rng.sample(["text", "id", "k0", "k1", "标题"], rng.randrange(4))
    return {key: _random_json(rng, depth + 1) for key in keys}


def _random_object(rng: random.Random) -> dict:
    return {f"field_{j}": _random_json(rng, 1) for j in range(rng.randrange(4))}


def _key(rng: random.Random, i: int) -> bytes | None:
    pick = rng.randrange(10)
    if pick < 3:
        return None
    if pick == 3:
        return b""
    if pick == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    if pick == 5:
        return rng.randbytes(8192)
    return f"user-{i % 41}-{rng.choice(['张', 'li', 'ü'])}".encode()


def _headers(rng: random.Random) -> tuple[str, list[tuple[str, bytes | None]] | None]:
    pick = rng.randrange(10)
    if pick < 3:
        return "none", None
    if pick == 3:
        return "empty", []
    if pick == 4:
        return "many", [(f"h{j}", str(j).encode()) for j in range(rng.randrange(100, 400))]
    if pick == 5:
        return "large", [("trace", rng.randbytes(rng.randrange(16_000, 64_000))), ("big-text", "长".encode() * 9000)]
    if pick == 6:
        return "none_values", [("n1", None), ("n2", b""), ("n1", None), ("来源", None)]
    if pick == 7:  # names the dead-letter topic uses: the classifier's own sc.* come after them
        return "forged_sc", [("sc.reason", b"forged"), ("sc.source.offset", b"-1"), ("x", b"\xff\x00")]
    return "small", [(rng.choice(["source", "来源", "Content-Type", "x"]), rng.randbytes(rng.randrange(0, 30)))]


def _too_long_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "长" * (MAX_TEXT_BYTES // 3 + 1)  # 2001 bytes
    return ("x" * (MAX_TEXT_BYTES + 1 - 5)) + "#tail"


def _record_of_kind(kind: str, rng: random.Random, i: int) -> tuple[bytes | None, str | None]:
    """(value, the fate meant) for one kind of record."""
    if kind == "valid":
        obj = {"text": _post(rng, i)}
        pick = rng.randrange(6)
        if pick == 0:
            obj["id"] = i
        elif pick == 1:
            obj["id"] = f"post-{i}"
        elif pick == 2:
            obj["id"] = None
        elif pick == 3:
            obj.update(_random_object(rng), id=rng.choice([0, -5, 2**70, ""]))
        elif pick == 4:
            obj["meta"] = {"nested": {"text": 5, "list": [None, {"text": []}]}}
        value = _dumps(obj, rng)
        if rng.random() < 0.1:
            value = b" \n\t" + value + b"\r\n "  # whitespace around the JSON is allowed
        return value, "output"
    if kind == "valid_at_limit":
        text = rng.choice(["好" * (MAX_TEXT_BYTES // 3) + "ab", "y" * (MAX_TEXT_BYTES - 3) + "好"])  # 2000 bytes
        return _dumps({"id": i, "text": text}, rng), "output"
    if kind == "valid_duplicate_field":  # Python's json: the last one wins
        return f'{{"text": "", "text": "重复的字段 #{i}", "id": 1, "id": {i}}}'.encode(), "output"
    if kind == "random_bytes":
        return rng.randbytes(rng.randrange(0, 300)), None
    if kind == "invalid_utf8":
        inner = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe4\xb8", b"\x80abc", b"\xf8\x88\x80\x80\x80"])
        value = b'{"id": %d, "text": "good start ' % i + inner + b' end"}'
        return value, "not_utf8"
    if kind == "invalid_utf8_big":  # long, still under the size pre-check: decoded and refused
        return b"\xfe" * rng.randrange(5_000, PRECHECK_BYTES), "not_utf8"
    if kind == "huge_value":  # over the pre-check: refused before decoding, whatever it holds
        value = rng.choice(
            [rng.randbytes(PRECHECK_BYTES + 1), _dumps({"text": "ok", "pad": "p" * PRECHECK_BYTES}, rng)]
        )
        return value, "text_too_long"
    if kind == "random_json":  # any JSON value at the top: the oracle says what becomes of it
        return _dumps(_random_json(rng), rng), None
    if kind == "invalid_json":
        return rng.choice(
            [
                b"",
                b"   ",
                b'{"text": "unterminated',
                b'{"text": "a",}',
                b"{'text': 'single quotes'}",
                b'{"text": "raw \x01 control"}',
                '\ufeff{"text": "BOM first"}'.encode(),
                b'{"text": "x"} trailing',
                b"[" * 3000 + b"]" * 3000,  # deeper than Python's json goes
                b"undefined",
            ]
        ), "invalid_json"
    if kind == "json_not_object":
        return _dumps(
            rng.choice(
                [
                    [{"text": "in a list"}],
                    [],
                    42,
                    -0.5,
                    None,
                    True,
                    "just a string",
                    [[[[]]]],
                    [_random_json(rng, 1) for _ in range(3)],
                ]
            ),
            rng,
        ), "not_an_object"
    if kind == "json_deep_object":  # nested, not too deep, no top-level text
        obj: dict = {"text": None}
        node = obj
        for _ in range(rng.randrange(10, 60)):
            node["child"] = {"text": "inner"}
            node = node["child"]
        return _dumps(obj if rng.random() < 0.5 else {"data": obj}, rng), "missing_text"
    if kind == "missing_text":
        obj = rng.choice([{}, {"id": i}, {"Text": "capital T"}, {"body": "no text"}, {"text": None, "id": i}])
        return _dumps({**_random_object(rng), **obj}, rng), "missing_text"
    if kind == "text_wrong_type":
        bad = rng.choice([12345, 0, 1.5, True, False, [], ["a"], {"zh": "文本"}])
        return _dumps({"id": i, "text": bad}, rng), "wrong_type"
    if kind == "id_wrong_type":
        bad = rng.choice([True, False, 1.0, 2.5, [i], {"n": i}])
        text = rng.choice([_post(rng, i), "   "])  # the id is checked before the text's content
        return _dumps({"id": bad, "text": text}, rng), "wrong_type"
    if kind == "empty_text":
        text = "".join(rng.choice(WHITESPACE) for _ in range(rng.randrange(0, 8)))
        if rng.random() < 0.15:
            text = " " * (MAX_TEXT_BYTES + 50)  # whitespace only, past the limit: empty first
        return _dumps({"id": i, "text": text}, rng), "empty_text"
    if kind == "text_too_long":
        return _dumps({"id": i, "text": _too_long_text(rng)}, rng), "text_too_long"
    if kind == "lone_surrogate":  # valid JSON, but no tokenizer takes a lone surrogate
        escape = rng.choice(["\\ud800", "\\udfff", "\\ude00\\ud83d"])
        return f'{{"id": {i}, "text": "broken {escape} pair #{i}"}}'.encode(), "inference_failed"
    if kind == "tombstone":
        return None, "null_value"
    raise AssertionError(kind)


KINDS = {  # kind: weight
    "valid": 50,
    "valid_at_limit": 1,
    "valid_duplicate_field": 2,
    "random_bytes": 5,
    "invalid_utf8": 4,
    "invalid_utf8_big": 1,
    "huge_value": 1,
    "invalid_json": 5,
    "json_not_object": 4,
    "random_json": 4,
    "json_deep_object": 2,
    "missing_text": 4,
    "text_wrong_type": 3,
    "id_wrong_type": 3,
    "empty_text": 4,
    "text_too_long": 4,
    "lone_surrogate": 2,
    "tombstone": 4,
}


def generate(seed: int, count: int, bad_weight=lambda i: 1.0) -> list[Generated]:
    """`count` records; `bad_weight(i)` scales the weight of every kind but "valid" at position i."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    records = []
    for i in range(count):
        weights = [w if k == "valid" else w * bad_weight(i) for k, w in KINDS.items()]
        kind = rng.choices(kinds, weights)[0]
        value, intended = _record_of_kind(kind, rng, i)
        header_kind, headers = _headers(rng)
        key = _key(rng, i)
        records.append(Generated(kind, key, value, headers, intended, expected_fate(value), header_kind=header_kind))
    for record in records:  # the generator and the oracle agree on everything the generator built
        if record.intended is not None:
            got = "output" if record.fate[0] == "output" else record.fate[1]
            assert got == record.intended, (record.kind, record.value[:200] if record.value else None, record.fate)
    return records


def produce_recorded(bootstrap: str, topic: str, records: list[Generated], partition: int | None = None) -> None:
    """Produce in order and note where each record landed (partition, offset, timestamp)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors = []

    def landed(record: Generated):
        def on_delivery(err, msg):
            if err is not None:
                errors.append(err)
                return
            record.partition, record.offset, record.timestamp = msg.partition(), msg.offset(), msg.timestamp()[1]

        return on_delivery

    for record in records:
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(
                    topic, key=record.key, value=record.value, headers=record.headers,
                    on_delivery=landed(record), **extra,
                )  # fmt: skip
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0 and not errors, errors
    assert all(r.offset >= 0 for r in records)


# ---------------------------------------------------------------- the guard, worked out here
def worst_share_any_order(records: list[Generated], window: int, min_records: int) -> float:
    """The highest dead-letter share a guard window could show, whatever the order the consumer
    interleaves partitions in: a window holds, of each partition, a run of consecutive offsets, so
    the worst is the best split of n records (min_records <= n <= window) between partitions' runs."""
    by_partition: dict[int, list[bool]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(r.partition, []).append(r.dead)
    best = [0] + [-(10**9)] * window  # best[n]: most dead letters in n records
    for flags in by_partition.values():
        runs = [0] * (min(window, len(flags)) + 1)  # runs[length]: most dead letters in a run of that length
        for length in range(1, len(runs)):
            runs[length] = max(sum(flags[s : s + length]) for s in range(len(flags) - length + 1))
        best = [max(best[n - k] + runs[k] for k in range(min(n, len(runs) - 1) + 1)) for n in range(window + 1)]
    return max(best[n] / n for n in range(max(1, min(min_records, window)), window + 1))


@dataclass
class GuardWalk:
    """The guard replayed over one partition's records in offset order: per record, the share of
    dead letters over the last `window` records once there are `min_records` of them."""

    shares: list[float | None] = field(default_factory=list)

    @classmethod
    def over(cls, records: list[Generated], window: int, min_records: int) -> GuardWalk:
        walk, recent = cls(), []
        for record in records:
            recent = (recent + [record.dead])[-window:]
            enough = len(recent) >= min(min_records, window)
            walk.shares.append(sum(recent) / len(recent) if enough else None)
        return walk

    @property
    def peak(self) -> float:
        return max(s for s in self.shares if s is not None)

    def trips_at(self, max_ratio: float) -> int | None:
        return next((i for i, s in enumerate(self.shares) if s is not None and s > max_ratio), None)


# ---------------------------------------------------------------- reading back and checking
def audit(rig, records: list[Generated], expected: set[tuple[int, int]] | None = None) -> dict:
    """Every input (or only `expected` positions) exactly once, on the output or the dead-letter
    topic as the oracle says; nothing else there. Returns the figures."""
    by_source = {(r.partition, r.offset): r for r in records}
    expected = set(by_source) if expected is None else expected
    outputs, dead = Counter(), Counter()
    problems: list[str] = []
    for msg in read_all(rig.bootstrap, rig.output):
        out = json.loads(msg.value())
        source = (out["source"]["partition"], out["source"]["offset"])
        outputs[source] += 1
        record = by_source.get(source)
        if record is None or record.fate[0] != "output":
            problems.append(f"output for {source}: {record.kind if record else 'no such input'}, {out}")
            continue
        _, text, record_id = record.fate
        if (out["text"], out["id"], msg.key()) != (text, record_id, record.key):
            problems.append(f"output for {source} ({record.kind}) changed text, id or key: {out}")
        if out["label"] not in SENTIMENT or out["source"]["topic"] != rig.input:
            problems.append(f"output for {source}: label {out['label']}, source {out['source']}")
        if out["source"]["timestamp_ms"] != record.timestamp:
            problems.append(f"output for {source}: timestamp {out['source']['timestamp_ms']} != {record.timestamp}")
    reasons = Counter()
    for msg in read_all(rig.bootstrap, rig.dead_letter):
        headers = msg.headers() or []
        own = dict(headers[-6:] if headers[-1][0] == "sc.source.timestamp" else headers[-5:])
        source = (int(own["sc.source.partition"]), int(own["sc.source.offset"]))
        dead[source] += 1
        record = by_source.get(source)
        if record is None or not record.dead:
            problems.append(f"dead letter for {source}: {record.kind if record else 'no such input'}, {own}")
            continue
        reason = own["sc.reason"].decode()
        reasons[reason] += 1
        original = record.headers or []
        if reason != record.fate[1]:
            problems.append(f"dead letter for {source} ({record.kind}): reason {reason}, predicted {record.fate[1]}")
        if (msg.key(), msg.value()) != (record.key, record.value):
            problems.append(f"dead letter for {source} ({record.kind}): key or value bytes changed")
        if headers[: len(original)] != original:
            problems.append(f"dead letter for {source} ({record.header_kind} headers): original headers changed")
        names = [name for name, _ in headers[len(original) :]]
        if names != SC_HEADERS + ["sc.source.timestamp"] or own["sc.source.topic"].decode() != rig.input:
            problems.append(f"dead letter for {source}: headers after the input's own: {names}")
        if int(own["sc.source.timestamp"]) != record.timestamp or not own["sc.error"]:
            problems.append(f"dead letter for {source}: timestamp or error header wrong: {own}")
    seen = outputs + dead
    missing = sorted(expected - set(seen))
    unexpected = sorted(set(seen) - expected)
    repeated = sorted(s for s, n in seen.items() if n > 1)
    assert not problems, "\n".join(problems[:20])
    assert not missing, f"{len(missing)} inputs neither labeled nor dead-lettered: {missing[:20]}"
    assert not unexpected, f"{len(unexpected)} inputs past the expected ones came back: {unexpected[:20]}"
    assert not repeated, f"{len(repeated)} inputs came back more than once: {repeated[:20]}"
    want = Counter(r.fate[1] for s, r in by_source.items() if s in expected and r.dead)
    assert reasons == want, (reasons, want)
    return {"outputs": sum(outputs.values()), "dead_letters": dict(sorted(reasons.items()))}


def report(test: str, mode: str, records: list[Generated], started: float, **values) -> None:
    row = {
        "test": test,
        "mode": mode,
        "records": len(records),
        "kinds": dict(sorted(Counter(r.kind for r in records).items())),
        "header_kinds": dict(sorted(Counter(r.header_kind for r in records).items())),
        "null_keys": sum(r.key is None for r in records),
        **values,
        "seconds": round(time.monotonic() - started, 1),
    }
    print("\nFIGURES " + json.dumps(row, ensure_ascii=False))
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES_FILE.open("a") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def settings(rig, mode: str, window: int, min_records: int, max_ratio: float, idle_release_s: float = 2.0) -> dict:
    return rig.settings(
        mode,
        input={"max_text_bytes": MAX_TEXT_BYTES},
        dead_letter_guard={
            "window": window,
            "min_records": min_records,
            "max_ratio": max_ratio,
            "idle_release_s": idle_release_s,
        },
    )


def test_the_oracle_and_the_generator_agree_on_hand_picked_cases():
    """A few fates worked out by hand, and the generated stream's mix (no broker needed)."""
    assert expected_fate(None) == ("dead", "null_value")
    assert expected_fate(b'{"text": "  \\u3000"}') == ("dead", "empty_text")
    assert expected_fate(b'{"text": "  ", "id": true}') == ("dead", "wrong_type")
    assert expected_fate(b'{"text": "%s"}' % ("长" * 667).encode()) == ("dead", "text_too_long")
    assert expected_fate(b'{"text": "%s"}' % ("长" * 666).encode())[0] == "output"
    assert expected_fate(b"\xff" * (PRECHECK_BYTES + 1)) == ("dead", "text_too_long")
    assert expected_fate(b"\xff" * PRECHECK_BYTES) == ("dead", "not_utf8")
    assert expected_fate(b'{"text": "a\\ud83d\\ude00"}') == ("output", "a😀", None)
    assert expected_fate(b'{"text": "a\\ud83d"}') == ("dead", "inference_failed")
    assert expected_fate(b'{"text": "x", "id": 2}') == ("output", "x", 2)
    records = generate(27, 360)
    assert set(Counter(r.kind for r in records)) == set(KINDS), "every kind is drawn"
    assert 0.3 < sum(r.dead for r in records) / len(records) < 0.6


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_generated_mix_every_input_once_and_the_guard_stays_quiet(rig_factory, default_model_dir, mode):
    """360 generated records over 3 partitions: each labeled or dead-lettered exactly once, as
    predicted, offsets committed to the end; the guard, set to the worst share any consumption
    order could show, does not trip."""
    started = time.monotonic()
    rig = rig_factory(partitions=3)
    records = generate(27, 360)
    produce_recorded(rig.bootstrap, rig.input, records)
    window, min_records = 100, 50
    worst = worst_share_any_order(records, window, min_records)
    bad_share = sum(r.dead for r in records) / len(records)
    assert bad_share < worst < 1.0
    proc = rig.start(settings(rig, mode, window, min_records, max_ratio=worst))

    wait_all_committed(rig.bootstrap, rig.group, rig.input, 150, proc)  # raises if the process stopped
    assert proc.proc.poll() is None, "the guard (or anything else) stopped the consumer"
    expected_reasons = Counter(r.fate[1] for r in records if r.dead)
    for reason, n in expected_reasons.items():
        assert proc.metric_sum("sc_dead_letters_total", reason=reason) == n, reason
    assert proc.metric_sum("sc_records_consumed_total") == len(records)
    assert proc.metric_sum("sc_records_produced_total", kind="output") == len(records) - sum(expected_reasons.values())
    assert proc.metric_sum("sc_dead_letter_window_ratio") <= worst
    assert proc.stop() == 0, proc.log_tail()
    assert "dead-letter guard tripped" not in proc.log_path.read_text()

    figures = audit(rig, records)
    ends = end_offsets(rig.bootstrap, rig.input)
    assert committed_offsets(rig.bootstrap, rig.group, rig.input) == ends
    aborted = None
    if mode == "exactly_once":  # records of aborted transactions, visible to read_uncommitted only
        everything = len(read_all(rig.bootstrap, rig.output, committed_only=False)) + len(
            read_all(rig.bootstrap, rig.dead_letter, committed_only=False)
        )
        aborted = everything - len(records)
    report(
        "generated mix, guard at the worst share of any order",
        mode,
        records,
        started,
        **figures,
        partitions={p: sum(r.partition == p for r in records) for p in sorted(ends)},
        bad_share=round(bad_share, 3),
        guard={"window": window, "min_records": min_records, "max_ratio": round(worst, 4), "tripped": False},
        committed=ends,
        aborted_writes=aborted,
    )


def _burst(i: int) -> float:
    """Calm, a burst of bad records in the middle, calm again."""
    return 3.5 if 130 <= i < 170 else 0.6


@pytest.mark.parametrize(
    ("mode", "tripped"),
    [("at_least_once", False), ("at_least_once", True), ("exactly_once", False), ("exactly_once", True)],
)
def test_the_guard_on_one_partition_trips_exactly_past_its_max_ratio(rig_factory, default_model_dir, mode, tripped):
    """240 generated records on one partition, bad ones bunched in the middle. The guard is replayed
    here over the stream: with max_ratio at the stream's peak share it never trips (the share must
    exceed max_ratio); a hair below the peak it trips at the first record that reaches it: exit code
    3, every record before it accounted for, none after. At-least-once commits up to the start of
    the tripping window; exactly-once aborts the tripping batch and commits up to its start."""
    started = time.monotonic()
    rig = rig_factory(partitions=1)
    records = generate(2027, 240, _burst)
    produce_recorded(rig.bootstrap, rig.input, records, partition=0)
    window, min_records, batch = 40, 20, 64
    walk = GuardWalk.over(records, window, min_records)
    peak = walk.peak
    max_ratio = peak - 1e-9 if tripped else peak
    trip = walk.trips_at(max_ratio)
    bad_share = sum(r.dead for r in records) / len(records)
    assert bad_share < peak < 1.0
    if not tripped:
        assert trip is None
    else:  # the seed puts the trip well inside the stream, past the first window
        assert trip is not None and max(window, batch) <= trip < len(records) - 40, trip
    # idle release off the table: the whole stream is in the topic before the consumer starts
    proc = rig.start(settings(rig, mode, window, min_records, max_ratio, idle_release_s=60), ready=not tripped)

    if not tripped:
        wait_until(
            lambda: proc.metric_sum("sc_records_consumed_total") == len(records), 120, "not all records consumed"
        )
        # at-least-once holds the window's offsets back (no idle release for 60 s); exactly-once
        # commits each batch's offsets in its transaction
        held = len(records) - window if mode == "at_least_once" else len(records)
        wait_until(
            lambda: committed_offsets(rig.bootstrap, rig.group, rig.input)[0] == held,
            30,
            f"committed offset not {held}",
        )
        assert proc.proc.poll() is None, proc.log_tail()
        assert proc.metric_sum("sc_dead_letter_window_ratio") <= max_ratio
        assert proc.stop() == 0, proc.log_tail()  # a clean stop releases the window and commits it
        figures = audit(rig, records)
        committed = committed_offsets(rig.bootstrap, rig.group, rig.input)[0]
        assert committed == len(records)
        figures["held_back_until_stop"] = len(records) - held
        extra = {}
    else:
        code = proc.wait(120)
        assert code == 3, f"exit code {code}, not the guard's 3:\n{proc.log_tail()}"
        assert "dead-letter guard tripped" in proc.log_path.read_text()
        committed = committed_offsets(rig.bootstrap, rig.group, rig.input)[0]
        if mode == "at_least_once":
            # everything before the tripping record delivered; the tripping window not committed
            figures = audit(rig, records, expected={(0, o) for o in range(trip)})
            assert committed == trip - window + 1, (committed, trip)
        else:
            # the tripping batch aborted; everything before it committed, with its offsets
            assert trip - batch < committed <= trip, (committed, trip)
            figures = audit(rig, records, expected={(0, o) for o in range(committed)})
        extra = {"trip_offset": trip, "exit_code": code}
    report(
        f"generated mix on one partition, guard {'a hair below' if tripped else 'at'} the peak share",
        mode,
        records,
        started,
        **figures,
        bad_share=round(bad_share, 3),
        guard={"window": window, "min_records": min_records, "max_ratio": max_ratio, "peak": peak, "tripped": tripped},
        committed_offset=committed,
        **extra,
    )
