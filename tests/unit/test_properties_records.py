"""Generated inputs for the record decoder, the output record and the dead-letter headers.

Any bytes a producer can write reach decode_value, and whatever it decodes reaches output_value:
neither may raise (one exception stops the stream), a decoded text must be one the model may
take, and the output must be JSON any consumer can read back. Dead-letter headers keep the
input's own headers, whatever they hold, in front of ours.

The cases are the same on every run (derandomize: CI must not be flaky); HYPOTHESIS_EXPLORE=1
draws new ones each run, to look for bugs.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_classifier.dlq import headers as names
from stream_classifier.records import (
    DeadLetterReason,
    Decoded,
    OutputRecord,
    Rejected,
    SourcePosition,
    dead_letter_headers,
    decode_value,
    output_value,
)
from stream_classifier.settings import InputSettings

EXPLORE = bool(os.environ.get("HYPOTHESIS_EXPLORE"))


def cases(n: int) -> settings:
    return settings(
        max_examples=n,
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# texts as JSON can carry them: any code point, lone surrogates included ("\ud800" escapes)
any_char = st.characters() | st.characters(categories=["Cs"])
texts = st.lists(any_char, max_size=40).map("".join)  # st.text(any_char) would all but drop the surrogates
json_texts = texts.filter(lambda t: json.loads(json.dumps(t)) == t)  # no high+low pair, JSON would join it
field_names = st.sampled_from(["text", "id", "body", ""]) | st.text(max_size=8)

input_settings = st.builds(
    InputSettings,
    format=st.sampled_from(["json", "text"]),
    text_field=field_names,
    id_field=field_names,
    max_text_bytes=st.integers(1, 64) | st.just(16384),
)
json_input_settings = st.builds(
    InputSettings,
    format=st.just("json"),
    text_field=field_names,
    id_field=field_names,
    max_text_bytes=st.integers(1, 64) | st.just(16384),
).filter(lambda s: s.text_field != s.id_field)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def serialized(value: object, ensure_ascii: bool) -> bytes:
    """Lone surrogates as raw bytes (not UTF-8) unless ensure_ascii writes them as escapes."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def valid_json(value: object, ensure_ascii: bool) -> bytes:
    """UTF-8 JSON either way, with escapes where the value holds lone surrogates."""
    try:
        return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value).encode("utf-8")


# JSON numbers of any length are valid JSON; Python refuses to turn one of over 4300 digits into an int
long_numbers = st.builds(lambda head, zeros: head + "0" * zeros, st.sampled_from(["1", "-1"]), st.integers(0, 10_000))
deep_nesting = st.integers(1, 5000).map(lambda depth: ("[" * depth + "]" * depth).encode())

raw_values = st.one_of(
    st.none(),
    st.binary(max_size=200),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(serialized, json_values, st.booleans()),
    st.builds(lambda key, n: f'{{"text": "x", {key}: {n}}}'.encode(), field_names.map(json.dumps), long_numbers),
    deep_nesting,
)


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@cases(1000)
@given(raw_values, input_settings)
def test_any_value_is_decoded_or_rejected_with_a_reason(value, input_config):
    result = decode_value(value, input_config)
    assert isinstance(result, Decoded | Rejected)
    if isinstance(result, Rejected):
        assert isinstance(result.reason, DeadLetterReason) and result.error
        return
    assert result.text.strip(), "a decoded text is never blank"
    assert utf8_size(result.text) <= input_config.max_text_bytes
    if input_config.format == "text":
        assert result.text == value.decode("utf-8") and result.record_id is None
    else:
        assert result.record_id is None or type(result.record_id) in (str, int)


ids = st.none() | json_texts | st.integers()
wrong_ids = st.booleans() | st.floats() | st.lists(st.integers(), max_size=2) | st.dictionaries(texts, st.none())


@cases(500)
@given(
    st.dictionaries(texts, json_values, max_size=4),
    json_texts,
    ids | wrong_ids,
    st.booleans(),
    json_input_settings,
)
def test_a_json_object_gives_back_its_text_and_id(extra, text, record_id, ensure_ascii, input_config):
    obj = {k: v for k, v in extra.items() if k not in (input_config.text_field, input_config.id_field)}
    obj[input_config.text_field] = text
    obj[input_config.id_field] = record_id
    value = valid_json(obj, ensure_ascii)
    result = decode_value(value, input_config)
    limit = input_config.max_text_bytes
    if len(value) > limit * 4 + 4096:  # the whole value is refused before it is parsed
        assert result.reason is DeadLetterReason.TEXT_TOO_LONG
    elif record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, str | int)):
        assert result.reason is DeadLetterReason.WRONG_TYPE
    elif not text.strip():
        assert result.reason is DeadLetterReason.EMPTY_TEXT
    elif utf8_size(text) > limit:
        assert result.reason is DeadLetterReason.TEXT_TOO_LONG
    else:
        assert result == Decoded(text, record_id)


labels = st.text(min_size=1, max_size=10)
engine_results = st.builds(
    lambda names_, score: {
        "label": names_[0],
        "score": score,
        "scores": dict.fromkeys(names_, score),
        "labels": names_[:1],
        "label_set_version": "set@0123456789ab",
        "model_id": "model",
    },
    st.lists(labels, min_size=1, max_size=4, unique=True),
    st.floats(0, 1),
)
topics = st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True)
sources = st.builds(
    SourcePosition,
    topic=topics,
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    timestamp_ms=st.none() | st.integers(0, 2**63 - 1),
)


@cases(500)
@given(json_texts.filter(str.strip), ids, st.booleans(), engine_results, sources)
def test_the_output_record_is_utf8_json_that_reads_back(text, record_id, include_text, result, source):
    value = output_value(record_id, text if include_text else None, result, source, 1_700_000_000_000, 1.5)
    parsed = json.loads(value.decode("utf-8"))  # strict UTF-8: what a consumer in any language expects
    assert parsed["text"] == (text if include_text else None) and parsed["id"] == record_id
    OutputRecord.model_validate(parsed)


header_values = st.none() | st.binary(max_size=64) | st.integers(0, 1_000_000).map(lambda n: b"\xff" * n)
original_headers = st.none() | st.lists(st.tuples(st.text(max_size=20), header_values), max_size=6)
# error messages of any length: what a failing input or exception said, repeated
error_messages = st.builds(lambda text, times: text * times, texts, st.integers(1, 400))
rejections = st.builds(Rejected, st.sampled_from(DeadLetterReason), error_messages)


@cases(500)
@given(original_headers, rejections, sources, st.none() | st.text(max_size=20))
def test_dead_letter_headers_keep_the_input_headers_first(original, rejected, source, connector):
    headers = dead_letter_headers(rejected, source, original, connector)
    kept = list(original or [])
    assert headers[: len(kept)] == kept
    added = dict(headers[len(kept) :])
    assert all(name.startswith(("sc.", names.CONNECT_PREFIX)) for name in added)
    assert added[names.REASON] == rejected.reason.value.encode()
    for name in (names.ERROR, names.CONNECT_EXCEPTION_MESSAGE):
        if name in added:
            assert len(added[name]) <= 1000
            added[name].decode("utf-8")  # a string header (dead-letter.schema.json), even when cut short


# regressions: the minimal examples the properties above found


def test_a_json_number_too_long_for_python_is_invalid_json():
    value = b'{"text": "x", "n": 1' + b"0" * 4300 + b"}"
    result = decode_value(value, InputSettings())
    assert result.reason is DeadLetterReason.INVALID_JSON and "4300 digits" in result.error


def test_a_lone_surrogate_is_written_back_as_its_json_escape():
    decoded = decode_value(b'{"text": "\\ud800"}', InputSettings())
    assert decoded == Decoded("\ud800", None)
    source = SourcePosition(topic="posts", partition=0, offset=0)
    value = output_value(None, decoded.text, {"label": "a"}, source, 0, 0.0)
    assert b'"text": "\\ud800"' in value
    assert json.loads(value.decode("utf-8"))["text"] == "\ud800"


def test_an_error_cut_at_1000_bytes_does_not_end_inside_a_character():
    rejected = Rejected(DeadLetterReason.INFERENCE_FAILED, "e" * 999 + "\u00e9")
    source = SourcePosition(topic="posts", partition=0, offset=0)
    headers = dict(dead_letter_headers(rejected, source, None, "stream-classifier"))
    assert headers[names.ERROR] == headers[names.CONNECT_EXCEPTION_MESSAGE] == b"e" * 999
