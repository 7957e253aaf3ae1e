"""Settings: a YAML file plus environment overrides (SC_ prefix, __ for nesting).

    SC_KAFKA__BOOTSTRAP_SERVERS=broker:9092 SC_BATCH__MAX_SIZE=128 stream-classifier run --config FILE

Validated at start-up; an error names the field. Secrets are SecretStr and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream_classifier.serve.config import ServeSettings

SECRET_MARKERS = ("password", "secret", "token", "key.pem", "private.key", "credentials")


class SettingsError(ValueError):
    pass


def _is_secret_key(key: str) -> bool:
    return any(marker in key.lower() for marker in SECRET_MARKERS)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(Strict):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "stream-classifier"
    group_instance_id: str | None = None
    # librdkafka properties passed through to both clients (security.protocol, sasl.*, ssl.*,
    # ...); values of secret-looking keys are kept as SecretStr.
    properties: dict[str, str | SecretStr] = Field(default_factory=dict)
    consumer: dict[str, str | SecretStr] = Field(default_factory=dict)
    producer: dict[str, str | SecretStr] = Field(default_factory=dict)
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    session_timeout_ms: int = Field(default=45000, ge=1000)
    connect_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("properties", "consumer", "producer", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if isinstance(item, bool):
                item = str(item).lower()
            elif isinstance(item, (int, float)):
                item = str(item)
            out[str(key)] = SecretStr(item) if _is_secret_key(str(key)) and isinstance(item, str) else item
        return out

    def client_config(self, role: Literal["consumer", "producer", "admin"]) -> dict[str, str]:
        """The librdkafka configuration with secrets revealed (for the client only)."""
        config: dict[str, str] = {"bootstrap.servers": self.bootstrap_servers}
        extra = {**self.properties, **(self.consumer if role == "consumer" else {}),
                 **(self.producer if role == "producer" else {})}
        for key, value in extra.items():
            config[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config

    def redacted(self) -> dict[str, str]:
        return {k: ("***" if _is_secret_key(k) else v) for k, v in self.client_config("admin").items()}


class TopicSettings(Strict):
    input: str = "posts"
    output: str = "posts-labeled"
    dead_letter: str = "posts-dead-letter"
    # also write Kafka Connect's __connect.errors.* headers on dead letters (beside the sc.* ones)
    dead_letter_connect_headers: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> "TopicSettings":
        if len({self.input, self.output, self.dead_letter}) != 3:
            raise ValueError("input, output and dead_letter must be three different topics")
        return self


class InputSettings(Strict):
    format: Literal["json", "text"] = "json"
    text_field: str = "text"
    id_field: str = "id"
    max_text_bytes: int = Field(default=16384, ge=1)


class OutputSettings(Strict):
    include_text: bool = True


class BatchSettings(Strict):
    max_size: int = Field(default=64, ge=1, le=4096)
    max_wait_ms: int = Field(default=50, ge=0)
    max_tokens: int = Field(default=16384, ge=16)


class ModelSettings(Strict):
    # a model by name (stream_classifier.model.catalog), built on first use; None: the default model
    name: str | None = None
    dir: Path | None = None  # any built model directory; wins over name
    variant: str = "model.onnx"
    threads: int | None = Field(default=None, ge=1)
    cache_entries: int = Field(default=50000, ge=0)


    @field_validator("name")
    @classmethod
    def _a_known_model(cls, name: str | None) -> str | None:
        from stream_classifier.model.catalog import check_name

        return None if name is None else check_name(name)


class LabelSettings(Strict):
    file: Path = Path("configs/labels/opinion_zh.yaml")
    watch_interval_s: float = Field(default=1.0, gt=0)


class DeliverySettings(Strict):
    mode: Literal["at_least_once", "exactly_once"] = "at_least_once"
    commit_interval_s: float = Field(default=1.0, gt=0)
    max_in_flight: int = Field(default=20000, ge=1)  # produced but not yet acknowledged
    flush_timeout_s: float = Field(default=30.0, gt=0)
    # the commit watchdog: a partition whose committable offset stays ahead of its committed offset
    # this long without a successful commit (at-least-once) or transaction (exactly-once) ends the
    # process with exit code 5 after one bounded synchronous retry
    commit_stall_timeout_s: float = Field(default=60.0, gt=0)
    # exactly_once: how long the broker lets a transaction stay open before aborting it
    transaction_timeout_ms: int = Field(default=60000, ge=1000)

    @model_validator(mode="after")
    def _watchdog_outlasts_the_commit_interval(self) -> "DeliverySettings":
        if self.commit_stall_timeout_s <= self.commit_interval_s:
            raise ValueError(f"commit_stall_timeout_s ({self.commit_stall_timeout_s:g}) must be longer than "
                             f"commit_interval_s ({self.commit_interval_s:g}), or every interval reads as a stall")
        return self


class GuardSettings(Strict):
    """Stop when the dead-letter share over the last `window` records exceeds `max_ratio`."""

    enabled: bool = True
    window: int = Field(default=500, ge=1)
    min_records: int = Field(default=100, ge=1)
    max_ratio: float = Field(default=0.5, gt=0, le=1)
    idle_release_s: float = Field(default=2.0, gt=0)


class MetricsSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9400, ge=0, le=65535)  # 0: no HTTP endpoint
    statistics_interval_ms: int = Field(default=5000, ge=0)


class LoggingSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SC_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    input: InputSettings = Field(default_factory=InputSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    dead_letter_guard: GuardSettings = Field(default_factory=GuardSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)  # stream-classifier serve

    @model_validator(mode="after")
    def _exactly_once_needs_an_instance_id(self) -> "Settings":
        if self.delivery.mode == "exactly_once" and not self.kafka.group_instance_id:
            raise ValueError(
                "kafka.group_instance_id: required when delivery.mode is exactly_once; a stable name per "
                "consumer process (e.g. the pod name). It makes the transactional.id, so a restarted "
                "process fences its predecessor instead of waiting for its transaction to time out")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment over the YAML file (passed as init kwargs by load_settings)
        return env_settings, init_settings


def _format_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{field}: {message}" if field else message)
    return f"invalid settings ({source}):\n  " + "\n  ".join(lines)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read YAML (if given), apply SC_* environment variables, validate; SettingsError names the field."""
    data: dict[str, Any] = {}
    source = "defaults + environment"
    if path is not None:
        path = Path(path)
        source = f"{path} + environment"
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"settings file {path} must be a mapping at the top level")
        data = loaded or {}
    data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, source)) from None


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
