import json
import logging
from pathlib import Path

import pytest

from stream_classifier.observability import JsonFormatter
from stream_classifier.records import json_schemas
from stream_classifier.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_default_config_loads():
    settings = load_settings(REPO / "configs" / "default.yaml")
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.labels.file.exists() or (REPO / settings.labels.file).exists()


def test_environment_overrides_yaml(monkeypatch):
    monkeypatch.setenv("SC_KAFKA__BOOTSTRAP_SERVERS", "broker:29092")
    monkeypatch.setenv("SC_BATCH__MAX_SIZE", "128")
    settings = load_settings(REPO / "configs" / "default.yaml")
    assert settings.kafka.bootstrap_servers == "broker:29092" and settings.batch.max_size == 128
    assert settings.topics.input == "posts", "the rest of the file still applies"


@pytest.mark.parametrize(
    "content, field",
    [
        ("batch: {max_size: 0}", "batch.max_size"),
        ("delivery: {mode: sometimes}", "delivery.mode"),
        ("topics: {input: a, output: a, dead_letter: b}", "topics"),
        ("kafka: {bootstrap_servers: x, colour: red}", "kafka.colour"),
        ("metrics: {port: 70000}", "metrics.port"),
        ("delivery: {commit_stall_timeout_s: 0}", "delivery.commit_stall_timeout_s"),
        ("delivery: {commit_interval_s: 5, commit_stall_timeout_s: 5}", "delivery: commit_stall_timeout_s"),
        ("model: {name: e5-large}", "model.name"),
    ],
)
def test_config_errors_name_the_field(tmp_path, content, field):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings(path)


def test_a_model_is_chosen_by_name_in_the_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: e5-small-zh-en-L3}")
    assert load_settings(path).model.name == "e5-small-zh-en-L3"
    monkeypatch.setenv("SC_MODEL__NAME", "multilingual-e5-small")
    assert load_settings(path).model.name == "multilingual-e5-small"
    assert load_settings(REPO / "configs" / "default.yaml").model.name == "multilingual-e5-small"
    monkeypatch.delenv("SC_MODEL__NAME")
    assert load_settings(REPO / "configs" / "default.yaml").model.name is None, "None: the default model"


def test_secrets_are_secret(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("kafka: {properties: {security.protocol: SASL_SSL, sasl.password: hunter2, ssl.key.password: pw2}}")
    monkeypatch.setenv("SC_KAFKA__SASL_PASSWORD", "from-env")
    settings = load_settings(path)
    config = settings.kafka.client_config("consumer")
    assert config["sasl.password"] == "from-env" and config["ssl.key.password"] == "pw2"
    shown = json.dumps(settings.kafka.redacted()) + repr(settings) + str(settings.model_dump())
    for secret in ("hunter2", "pw2", "from-env"):
        assert secret not in shown
    record = logging.LogRecord("x", logging.INFO, "", 0, "consuming", (), None)
    record.fields = {"kafka": settings.kafka.redacted()}
    assert "from-env" not in JsonFormatter().format(record)


def test_checked_in_schemas_match_the_models():
    for name, schema in json_schemas().items():
        checked_in = json.loads((REPO / "schemas" / name).read_text())
        assert checked_in == schema, f"schemas/{name} drifted: run `stream-classifier schemas`"


def test_exactly_once_needs_a_stable_instance_id(tmp_path, capsys):
    from stream_classifier.stream.runner import run

    path = tmp_path / "c.yaml"
    path.write_text("delivery: {mode: exactly_once}\nmetrics: {port: 0}\n")
    assert run(path) == 2
    assert "kafka.group_instance_id: required when delivery.mode is exactly_once" in capsys.readouterr().err
    path.write_text("delivery: {mode: exactly_once}\nkafka: {group_instance_id: pod-0}\n")
    assert load_settings(path).delivery.mode == "exactly_once"


def test_output_values_and_dead_letter_headers_follow_their_models():
    from stream_classifier.records import (
        DeadLetterHeaders,
        DeadLetterReason,
        OutputRecord,
        Rejected,
        SourcePosition,
        dead_letter_headers,
        output_value,
    )

    source = SourcePosition(topic="in", partition=2, offset=7, timestamp_ms=None)
    result = {"label": "a", "score": 0.9, "scores": {"a": 0.9, "b": 0.1}, "label_set_version": "s@1", "model_id": "m"}
    record = OutputRecord.model_validate_json(output_value("x", "文本", result, source, 1, 2.5))
    assert (record.text, record.source, record.processing_ms) == ("文本", source, 2.5)
    headers = dead_letter_headers(Rejected(DeadLetterReason.EMPTY_TEXT, "é" * 600), source, [("own", b"1")])
    assert headers[0] == ("own", b"1") and not any(k == "sc.source.timestamp" for k, _ in headers)
    parsed = DeadLetterHeaders.model_validate({k: v.decode("utf-8", "replace") for k, v in headers[1:]})
    assert parsed.reason is DeadLetterReason.EMPTY_TEXT and parsed.source_offset == 7
    assert len(dict(headers)["sc.error"]) == 1000
