"""Settings: a YAML file plus environment overrides (SC_ prefix, __ for nesting).

    SC_KAFKA__BOOTSTRAP_SERVERS=broker:9092 SC_BATCH__MAX_SIZE=128 stream-classifier run --config FILE

Validated at start-up; an error names the field. Secrets are SecretStr and never logged.
Each field's `description` is its documentation: docs/configuration.md is generated from them
(python -m stream_classifier_workbench.devtools.config_reference > docs/configuration.md), and
tests/unit/test_configuration_reference.py checks the two agree.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import pydantic_settings
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SECRET_MARKERS = ("password", "secret", "token", "key.pem", "private.key", "credentials")


class SettingsError(ValueError):
    pass


def _is_secret_key(key: str) -> bool:
    return any(marker in key.lower() for marker in SECRET_MARKERS)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(Strict):
    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="The brokers to connect to first, as a comma-separated host:port list (librdkafka's "
        "bootstrap.servers).",
    )
    group_id: str = Field(
        default="stream-classifier",
        description="The consumer group id. The dead-letter tools' groups, the exactly-once transactional.id "
        "and the Kafka Connect connector name on dead letters are derived from it.",
    )
    group_instance_id: str | None = Field(
        default=None,
        description="A stable name per consumer process (e.g. the pod name), set as group.instance.id "
        "(static group membership). Required when delivery.mode is exactly_once: it makes the "
        "transactional.id, so a restarted process fences its predecessor.",
    )
    properties: dict[str, str | SecretStr] = Field(
        default_factory=dict,
        description="librdkafka properties passed through to both clients (security.protocol, sasl.*, ssl.*, "
        "...); values of secret-looking keys are kept as SecretStr.",
    )
    consumer: dict[str, str | SecretStr] = Field(
        default_factory=dict,
        description="librdkafka properties for the consumer only, applied over kafka.properties; values of "
        "secret-looking keys are kept as SecretStr.",
    )
    producer: dict[str, str | SecretStr] = Field(
        default_factory=dict,
        description="librdkafka properties for the producer only, applied over kafka.properties; values of "
        "secret-looking keys are kept as SecretStr.",
    )
    sasl_username: str | None = Field(
        default=None,
        description="The SASL user name (sasl.username); when set, it wins over one given in the properties.",
    )
    sasl_password: SecretStr | None = Field(
        default=None,
        description="The SASL password (sasl.password); when set, it wins over one given in the properties. "
        "Give it by environment (`SC_KAFKA__SASL_PASSWORD`) rather than in the file.",
    )
    session_timeout_ms: int = Field(
        default=45000, ge=1000, description="The consumer group session timeout in milliseconds (session.timeout.ms)."
    )
    connect_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long, in seconds, start-up waits for the cluster to answer (and, with exactly_once, "
        "for the producer's transactions to initialise) before it gives up.",
    )

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
        extra = {
            **self.properties,
            **(self.consumer if role == "consumer" else {}),
            **(self.producer if role == "producer" else {}),
        }
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
    input: str = Field(
        default="posts", description="The topic the records to label are read from. The four topics must all differ."
    )
    output: str = Field(default="posts-labeled", description="The topic the labeled records are written to.")
    dead_letter: str = Field(
        default="posts-dead-letter",
        description="The topic records that cannot be labeled are written to, with the reason in sc.* headers.",
    )
    dead_letter_connect_headers: bool = Field(
        default=False,
        description="Also write Kafka Connect's __connect.errors.* headers on dead letters (beside the sc.* ones).",
    )
    review: str | None = Field(
        default=None,
        description="The compacted topic of review candidates (the records the stream was least sure of, keyed "
        "by label set and text); unset: the output topic's name followed by '-review'. Created, compacted, "
        "when missing.",
    )

    @property
    def review_topic(self) -> str:
        return self.review or f"{self.output}-review"

    @model_validator(mode="after")
    def _distinct(self) -> TopicSettings:
        if len({self.input, self.output, self.dead_letter, self.review_topic}) != 4:
            raise ValueError("input, output, dead_letter and review must be four different topics")
        return self


class InputSettings(Strict):
    format: Literal["json", "text"] = Field(
        default="json",
        description="How a record's value is read: json, an object with the text (and optionally an id) in "
        "named fields; text, the whole value is the text.",
    )
    text_field: str = Field(
        default="text", description="The JSON field holding the text to label; a record without it is dead-lettered."
    )
    id_field: str = Field(
        default="id",
        description="The JSON field holding the record's optional id (a string or an integer), copied to "
        "the output record.",
    )
    max_text_bytes: int = Field(
        default=16384,
        ge=1,
        description="The longest text accepted, in UTF-8 bytes; a longer one is dead-lettered (text_too_long).",
    )


class OutputSettings(Strict):
    include_text: bool = Field(
        default=True, description="Whether each output record repeats the input text; when false, its text is null."
    )


class BatchSettings(Strict):
    max_size: int = Field(
        default=64, ge=1, le=4096, description="The most records (texts, in serve) in one batch run through the model."
    )
    max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="How long, in milliseconds, a batch that is not full waits for more records before it "
        "runs (in serve, only with serve.wait_when_idle).",
    )
    max_tokens: int = Field(
        default=16384,
        ge=16,
        description="The token budget of a batch: it runs as soon as its texts' estimated tokens reach this.",
    )


class ModelSettings(Strict):
    name: str | None = Field(
        default=None,
        description="A model by name (stream_classifier.model.catalog), built on first use; null means the "
        "default model.",
    )
    dir: Path | None = Field(default=None, description="Any built model directory; it wins over model.name.")
    variant: str = Field(
        default="model.onnx",
        description="The ONNX file to run in the model directory: model.onnx is the shipped INT8 model, "
        "model.fp32.onnx the float one kept for evaluation.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="onnxruntime's intra-op threads; null means one per CPU available to the process.",
    )
    cache_entries: int = Field(
        default=50000,
        ge=0,
        description="The size of the repeat cache, an LRU of (text, label-set version, model) -> scores; "
        "0 turns it off.",
    )

    @field_validator("name")
    @classmethod
    def _a_known_model(cls, name: str | None) -> str | None:
        from stream_classifier.model.catalog import check_name

        return None if name is None else check_name(name)


class LabelSettings(Strict):
    file: Path | list[Path] = Field(
        default=Path("configs/labels/opinion_zh.yaml"),
        description="The label-set YAML file, or a list of them: each record is labeled with every set (one "
        "forward pass for all with the embedding engine); the output's top-level label fields are the first "
        "set's, `label_sets` holds each set's by name. A change to a file (or SIGHUP, for the stream) is "
        "picked up without a restart.",
    )
    watch_interval_s: float = Field(
        default=1.0, gt=0, description="How often, in seconds, label-set files are checked for changes."
    )

    @property
    def files(self) -> list[Path]:
        return list(self.file) if isinstance(self.file, list) else [self.file]

    @field_validator("file")
    @classmethod
    def _files_listed_once(cls, value: Path | list[Path]) -> Path | list[Path]:
        if isinstance(value, list):
            if not value:
                raise ValueError("the list of label-set files is empty")
            repeated = sorted({str(p) for p in value if value.count(p) > 1})
            if repeated:
                raise ValueError(f"label-set files listed twice: {repeated}")
        return value


class DeliverySettings(Strict):
    mode: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="at_least_once commits offsets after the outputs are acknowledged (a crash may repeat a "
        "few outputs); exactly_once runs one Kafka transaction per batch (outputs, dead letters "
        "and input offsets commit together) and needs kafka.group_instance_id.",
    )
    commit_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often, in seconds, acknowledged offsets are committed (at_least_once; exactly_once "
        "commits them in each batch's transaction).",
    )
    max_in_flight: int = Field(
        default=20000,
        ge=1,
        description="The most records produced but not yet acknowledged; at this many, fetching pauses until "
        "half of them are acknowledged (at_least_once; exactly_once commits each batch's "
        "transaction before the next).",
    )
    flush_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="The bound, in seconds, on a blocking Kafka call: a producer flush, the stop's synchronous commit, "
        "a transaction's commit or abort, closing the consumer.",
    )
    commit_stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="The commit watchdog: a partition whose committable offset stays ahead of its committed "
        "offset this long without a successful commit (at-least-once) or transaction "
        "(exactly-once), or an asynchronous commit without a result this long (at-least-once), ends "
        "the process with exit code 5 after one bounded synchronous retry. "
        "It must be longer than delivery.commit_interval_s.",
    )
    transaction_timeout_ms: int = Field(
        default=60000,
        ge=1000,
        description="With exactly_once, how long, in milliseconds, the broker lets a transaction stay open "
        "before aborting it (transaction.timeout.ms).",
    )

    @model_validator(mode="after")
    def _watchdog_outlasts_the_commit_interval(self) -> DeliverySettings:
        if self.commit_stall_timeout_s <= self.commit_interval_s:
            raise ValueError(
                f"commit_stall_timeout_s ({self.commit_stall_timeout_s:g}) must be longer than "
                f"commit_interval_s ({self.commit_interval_s:g}), or every interval reads as a stall"
            )
        return self


class GuardSettings(Strict):
    """Stop when the dead-letter share over the last `window` records exceeds `max_ratio`."""

    enabled: bool = Field(
        default=True, description="Whether the dead-letter guard runs; when off, nothing is measured or held back."
    )
    window: int = Field(
        default=500,
        ge=1,
        description="The number of latest records the dead-letter share is measured over; their offsets are "
        "not committed until they leave the window.",
    )
    min_records: int = Field(
        default=100,
        ge=1,
        description="The guard trips only once the window holds at least this many records (or window "
        "records, if fewer).",
    )
    max_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The dead-letter share above which the guard stops the process (exit code 3).",
    )
    idle_release_s: float = Field(
        default=2.0,
        gt=0,
        description="After this many seconds without records, an untripped guard releases its window so its "
        "offsets can be committed.",
    )


class ReviewSettings(Strict):
    enabled: bool = Field(
        default=True,
        description="Whether the stream writes review candidates to topics.review for the page's review queue.",
    )
    size: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="The least sure records each consumer keeps per label-set version; a record that enters "
        "them is written to topics.review.",
    )
    max_margin: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A record is a candidate when its two best labels' scores are closer than this, or when "
        "it abstained.",
    )


class MetricsSettings(Strict):
    host: str = Field(
        default="127.0.0.1",
        description="The address the stream's HTTP endpoint (/metrics, /healthz, /readyz) listens on.",
    )
    port: int = Field(
        default=9400, ge=0, le=65535, description="The port of the stream's HTTP endpoint; 0 means no HTTP endpoint."
    )
    statistics_interval_ms: int = Field(
        default=5000,
        ge=0,
        description="How often, in milliseconds, librdkafka reports the consumer's statistics "
        "(statistics.interval.ms), the source of the consumer-lag metric; 0 turns them off.",
    )


class LoggingSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The lowest level of the log records written to stderr."
    )
    format: Literal["json", "text"] = Field(
        default="json",
        description="json writes one JSON object per log record; text a plain line (time, level, logger, message).",
    )


class LiveViewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Whether the server reads topics.output and topics.dead_letter for the page."
    )
    history: int = Field(
        default=300,
        ge=0,
        le=100_000,
        description="The number of records read back from the end of each partition at start; 0 starts at the end.",
    )
    bucket_s: int = Field(
        default=5, ge=1, le=3600, description="The width, in seconds, of a bar of the label-share chart."
    )
    buckets: int = Field(default=60, ge=2, le=1440, description="The number of bars kept in the chart.")
    latest: int = Field(default=30, ge=1, le=500, description="The number of latest records shown.")


class ReviewQueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Whether the server reads topics.review for the page's review queue (answers need serve.token).",
    )
    max_items: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="The candidates held per label set: past it, the surest one held gives way.",
    )


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="The address the HTTP server listens on.")
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        description="The port the HTTP server listens on; 0 means any free port (printed at start).",
    )
    label_files: list[Path] = Field(
        default_factory=list,
        description="Named label sets served by /v1/label-sets: files, keyed by the set's own `name`; the "
        "stream's labels.file is always one of them.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="PUT /v1/label-sets/{name} needs `Authorization: Bearer <token>`; with no token, writes "
        "are refused.",
    )
    wait_when_idle: bool = Field(
        default=False,
        description="False (continuous batching): an idle engine starts at once on what is queued, and what "
        "arrives during a forward pass forms the next batch (batch.max_size, batch.max_tokens "
        "still bound it). True: a batch waits up to batch.max_wait_ms for company, as the "
        "stream's does.",
    )
    max_queue: int = Field(
        default=256,
        ge=1,
        description="The most texts waiting for the engine; a request that would exceed it is answered 429.",
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, description="A request not answered within this many seconds is answered 503."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="The largest request body accepted, in bytes; a larger one is answered 413.",
    )
    max_texts: int = Field(
        default=64, ge=1, description="The most texts per request; it must not exceed serve.max_queue."
    )
    max_text_chars: int = Field(
        default=4000, ge=1, description="The longest text accepted in a request, in characters."
    )
    live: LiveViewSettings = Field(
        default_factory=LiveViewSettings, description="The live view of the labeled stream on the server's page."
    )
    review: ReviewQueueSettings = Field(
        default_factory=ReviewQueueSettings,
        description="The review queue on the server's page: the stream's least sure records, answered by an operator.",
    )

    @model_validator(mode="after")
    def _a_request_fits_the_queue(self) -> ServeSettings:
        if self.max_texts > self.max_queue:
            raise ValueError(
                f"max_texts ({self.max_texts}) must not exceed max_queue ({self.max_queue}): "
                "a request that big could never be queued"
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SC_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description="The Kafka cluster and its clients.")
    topics: TopicSettings = Field(
        default_factory=TopicSettings, description="The input, output and dead-letter topics."
    )
    input: InputSettings = Field(default_factory=InputSettings, description="How input records are read.")
    output: OutputSettings = Field(default_factory=OutputSettings, description="What output records contain.")
    batch: BatchSettings = Field(default_factory=BatchSettings, description="How records are batched for the model.")
    model: ModelSettings = Field(
        default_factory=ModelSettings, description="The model that labels the texts and how it runs."
    )
    labels: LabelSettings = Field(default_factory=LabelSettings, description="The label set the stream assigns.")
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings, description="Delivery guarantees, commits and their timeouts."
    )
    dead_letter_guard: GuardSettings = Field(
        default_factory=GuardSettings,
        description="Stops the stream when too large a share of the latest records is dead-lettered.",
    )
    review: ReviewSettings = Field(
        default_factory=ReviewSettings, description="Review candidates: the records the stream was least sure of."
    )
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings, description="The stream's metrics and health endpoint."
    )
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Log level and format.")
    serve: ServeSettings = Field(
        default_factory=ServeSettings, description="The HTTP server (stream-classifier serve)."
    )

    @model_validator(mode="after")
    def _exactly_once_needs_an_instance_id(self) -> Settings:
        if self.delivery.mode == "exactly_once" and not self.kafka.group_instance_id:
            raise ValueError(
                "kafka.group_instance_id: required when delivery.mode is exactly_once; a stable name per "
                "consumer process (e.g. the pod name). It makes the transactional.id, so a restarted "
                "process fences its predecessor instead of waiting for its transaction to time out"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls,
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings,
        file_secret_settings,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
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
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"settings file {path} is not UTF-8: {exc}") from None
        try:
            loaded = yaml.safe_load(text)
        # besides YAMLError, PyYAML's constructors raise whatever a malformed tagged or implicit scalar makes them
        # hit ("!!int " IndexError, 2020-13-45 ValueError), deep nesting RecursionError
        except Exception as exc:  # noqa: BLE001
            raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"settings file {path} must be a mapping at the top level")
        # a key such as 1 or null is no field name: as text, it is refused like any unknown field
        data = {str(key): value for key, value in (loaded or {}).items()}
    data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, source)) from None
    except pydantic_settings.SettingsError as exc:  # a variable for a section, list or mapping that is not JSON
        raise SettingsError(f"invalid settings ({source}):\n  {exc}: {exc.__cause__}") from None
    except RecursionError:
        raise SettingsError(f"invalid settings ({source}):\n  {_nested_too_deeply()}") from None


def _nested_too_deeply() -> str:
    """The SC_ variables whose JSON is nested deeper than Python parses, as fields."""
    prefix, delimiter = Settings.model_config["env_prefix"], Settings.model_config["env_nested_delimiter"]
    fields = []
    for name, value in os.environ.items():
        if name.upper().startswith(prefix):
            try:
                json.loads(value)
            except RecursionError:
                fields.append(f"{name[len(prefix) :].lower().replace(delimiter, '.')} ({name})")
            except ValueError:
                pass
    return f"{', '.join(fields) or 'a value'}: nested too deeply to parse"


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
