"""Configuration from environment variables only (pydantic-settings).

Local defaults come from ``.laotie/stack.env``, which ``make up`` writes; any variable in
the environment wins over it. Every *policy* number (docs/design.md) lives in a settings class.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Known to everyone who reads this file: accepted only with LAOTIE_ENV=local.
DEV_JWT_SECRET = "laotie-local-dev-secret-change-me-in-every-cluster"  # noqa: S105
STACK_ENV = os.environ.get("LAOTIE_STACK_ENV") or os.path.join(
    os.environ.get("LAOTIE_HOME", ".laotie"), "stack.env"
)


def positive(default: float, description: str) -> Any:
    """A setting that must be above zero, with its meaning for ``--help`` and the docs."""
    return Field(default=default, gt=0, description=description)


class KafkaSettings(BaseSettings):
    """How to reach Kafka. SASL/TLS are off locally and set from the environment in clusters."""

    model_config = SettingsConfigDict(env_file=STACK_ENV, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        description="Comma-separated host:port list; written by `make up` locally."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None

    def client_args(self) -> dict[str, object]:
        """Keyword arguments shared by every aiokafka client we create."""
        args: dict[str, object] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            args["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile)
        if self.kafka_sasl_mechanism:
            args["sasl_mechanism"] = self.kafka_sasl_mechanism
            args["sasl_plain_username"] = self.kafka_sasl_username
            args["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return args


class ServiceSettings(KafkaSettings):
    """Settings every service shares; a service subclasses it for its own policy."""

    @model_validator(mode="after")
    def _signing_fit_for_the_environment(self) -> ServiceSettings:
        if self.laotie_env == "local" or self.jwt_jwks_file is not None:
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == DEV_JWT_SECRET or len(secret.encode()) < 32:
            raise ValueError(
                "refusing to start: outside LAOTIE_ENV=local, bearer tokens need the issuer's"
                " public keys (JWT_JWKS_FILE) or a JWT_SECRET of at least 32 bytes that is not"
                " the built-in development key"
            )
        return self

    service_name: str = "laotie"
    database_url: str = Field(description="Postgres URL; written by `make up` locally.")
    db_schema: str | None = Field(
        default=None, description="The service's own Postgres schema (defaults to its name)."
    )
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Postgres statement_timeout on every pooled session."
    )
    db_lock_timeout_ms: int = Field(
        default=2_000,
        ge=0,
        description="Postgres lock_timeout on every pooled session: a row locked longer fails"
        " the statement (transient: a command answers 503, a consumer retries).",
    )

    db_acquire_timeout_s: float = positive(
        2.0,
        "Longest wait for a pooled connection: past it a command answers 503 (Retry-After)"
        " instead of queueing without end behind the pool.",
    )

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_max_in_flight: int = positive(
        1024,
        "Requests one process serves at once; beyond, 503 with Retry-After (/healthz, /readyz"
        " and /metrics are never shed).",
    )
    command_rate_per_principal: float = positive(
        50.0,
        "Commands per second one caller (token subject and role) may send to one process, with"
        " bursts up to command_burst_per_principal; beyond, 429 with Retry-After. The logistics"
        " and other platform services are not limited.",
    )
    command_burst_per_principal: int = positive(100, "Commands one caller may send at once.")
    http_header_timeout_s: float = positive(
        10.0,
        "A connection that has not sent a whole request head by then is closed (slow-loris); a"
        " request body must keep arriving at least this often.",
    )

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    laotie_env: Literal["local", "production"] = Field(
        default="production",
        description="`local` (the dev stack, tests) allows the built-in HS256 dev key; anything"
        " else must verify tokens with public keys (JWT_JWKS_FILE) or a key of 32+ bytes.",
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET),
        description="HS256 key for bearer tokens: local development only.",
    )
    jwt_jwks_file: Path | None = Field(
        default=None,
        description="A JWKS of the token issuer's public keys (EdDSA or RS256): when set, only"
        " tokens signed by one of them are accepted, and the services hold no signing key.",
    )
    jwt_max_lifetime_s: int = Field(
        default=24 * 3600, gt=0, description="A token may be valid for at most this long."
    )
    jwt_issuer: str = "laotie"
    jwt_audience: str = "laotie"

    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    outbox_retention_s: float = 24 * 3600
    outbox_prune_interval_s: float = 60.0
    processed_events_retention_s: float = Field(
        default=21 * 86400,
        gt=0,
        description="Keep consumed event ids this long: longer than any topic's retention.",
    )
    idempotency_key_retention_s: float = Field(
        default=48 * 3600, gt=0, description="Keep Idempotency-Keys and their answers this long."
    )
    housekeeping_interval_s: float = Field(default=60.0, gt=0)
    outbox_send_timeout_s: float = Field(
        default=30.0, gt=0, description="A relay batch not acknowledged by then is retried."
    )
    outbox_measure_interval_s: float = Field(
        default=5.0, gt=0, description="How often every replica measures the outbox backlog."
    )

    consumer_group: str | None = Field(
        default=None, description="Consumer group id (defaults to the service name)."
    )
    consumer_max_attempts: int = Field(
        default=5, description="Attempts for a record failing with an unknown error before DLQ."
    )
    consumer_backoff_initial_s: float = 0.1
    consumer_backoff_max_s: float = 5.0
    consumer_max_poll_interval_ms: int = 300_000
    consumer_stuck_after_cycles: int = Field(
        default=3,
        ge=1,
        description="Retry cycles (each CONSUMER_MAX_ATTEMPTS transient failures, then fetched"
        " again) after which a record is reported stuck.",
    )
    consumer_commit_interval_s: float = Field(
        default=0.2, gt=0, description="Commit offsets at least this often while consuming."
    )
    consumer_commit_every: int = Field(
        default=200, ge=1, description="...or after this many applied records, if sooner."
    )
    consumer_batch_max_records: int = Field(
        default=500, ge=1, description="Records applied in one Postgres transaction, at most."
    )
    consumer_batch_timeout_ms: int = Field(
        default=100, ge=1, description="How long a fetch waits for records when none are there."
    )

    command_group_max: int = Field(
        default=64,
        ge=1,
        description="Concurrent commands on one hot row (a flash sale's SKU) committed in one"
        " transaction, at most.",
    )

    graceful_timeout_s: float = 20.0

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.service_name
