"""Settings of `stream-classifier serve` (the `serve:` section of the settings file).

Only pydantic here, so the main settings can include this section without FastAPI installed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class LiveViewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True                 # read topics.output and topics.dead_letter for the page
    history: int = Field(default=300, ge=0, le=100_000)  # records read back per partition at start
    bucket_s: int = Field(default=5, ge=1, le=3600)      # width of a bar of the label-share chart
    buckets: int = Field(default=60, ge=2, le=1440)      # bars kept in the chart
    latest: int = Field(default=30, ge=1, le=500)        # latest records shown


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)     # 0: any free port (printed at start)
    # named label sets served by /v1/label-sets: files, keyed by the set's own `name`; the stream's
    # labels.file is always one of them
    label_files: list[Path] = Field(default_factory=list)
    # PUT /v1/label-sets/{name} needs `Authorization: Bearer <token>`; no token: writes refused
    token: SecretStr | None = None
    # False (continuous batching): an idle engine starts at once on what is queued, and what arrives
    # during a forward pass forms the next batch (batch.max_size, batch.max_tokens still bound it);
    # True: a batch waits up to batch.max_wait_ms for company, as the stream's does
    wait_when_idle: bool = False
    max_queue: int = Field(default=256, ge=1)           # texts waiting for the engine; then 429
    request_timeout_s: float = Field(default=10.0, gt=0)  # a request past this answers 503
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_texts: int = Field(default=64, ge=1)            # texts per request
    max_text_chars: int = Field(default=4000, ge=1)
    live: LiveViewSettings = Field(default_factory=LiveViewSettings)

    @model_validator(mode="after")
    def _a_request_fits_the_queue(self) -> "ServeSettings":
        if self.max_texts > self.max_queue:
            raise ValueError(f"max_texts ({self.max_texts}) must not exceed max_queue ({self.max_queue}): "
                             "a request that big could never be queued")
        return self
