"""Every setting of Sports Prophet, read once from environment variables.

This is the one place configuration lives. Each setting names its variable and
its default; the defaults work on loopback with the stack that `scripts/stack up`
starts, so nothing needs setting for a local run. The README's table of
settings is generated from `SETTINGS` (`sports-prophet settings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _repo_path(value: str) -> Path:
    """A path setting; relative paths are taken from the repository root, not the current folder."""
    return REPO_ROOT / value


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _setting(var: str, default: str, doc: str, cast: type = str):
    """A dataclass field bound to one environment variable, documented where declared."""
    return field(
        default_factory=lambda: cast(_env(var, default)),
        metadata={"env": var, "default": default, "doc": doc},
    )


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = _setting(
        "SP_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port[,host:port])")
    kafka_controller_port: int = _setting(
        "SP_KAFKA_CONTROLLER_PORT", "9093", "Port of the local KRaft controller started by scripts/stack", int)
    cassandra_hosts: str = _setting(
        "SP_CASSANDRA_HOSTS", "127.0.0.1", "Cassandra contact points, comma separated")
    cassandra_port: int = _setting(
        "SP_CASSANDRA_PORT", "9042", "Cassandra CQL native port", int)
    cassandra_storage_port: int = _setting(
        "SP_CASSANDRA_STORAGE_PORT", "7000", "Cassandra inter-node port (local stack only)", int)
    cassandra_jmx_port: int = _setting(
        "SP_CASSANDRA_JMX_PORT", "7199", "Cassandra JMX port (local stack only)", int)
    keyspace: str = _setting(
        "SP_KEYSPACE", "sports_prophet", "Cassandra keyspace")
    replication_factor: int = _setting(
        "SP_REPLICATION_FACTOR", "1", "Replication factor used when the keyspace is created", int)
    app_id: str = _setting(
        "SP_APP_ID", "sports-prophet", "Faust app id: workers with the same id share the work")
    topic_partitions: int = _setting(
        "SP_TOPIC_PARTITIONS", "8", "Partitions of every per-run topic and of the table changelogs", int)
    web_host: str = _setting(
        "SP_WEB_HOST", "127.0.0.1", "Address the web views bind to and advertise")
    web_port: int = _setting(
        "SP_WEB_PORT", "8000", "Port of the web views (the old system's port)", int)
    admin_token: str = _setting(
        "SP_ADMIN_TOKEN", "",
        "Bearer token of the admin routes (devices, start/stop, topic deletion, token rotation); set, it turns "
        "auth on. Empty: nothing needs a token, and only a loopback SP_WEB_HOST is allowed")
    read_token: str = _setting(
        "SP_READ_TOKEN", "", "Bearer token the read routes (GET, WS /live) need when set; the admin token also reads")
    cors_origins: str = _setting(
        "SP_CORS_ORIGINS", "",
        "Browser origins allowed to call the API (comma separated, e.g. https://coach.example); empty: no CORS headers")
    data_dir: Path = _setting(
        "SP_DATA_DIR", ".data", "Where a worker keeps its RocksDB tables", _repo_path)
    stack_dir: Path = _setting(
        "SP_STACK_DIR", ".stack/main", "Data, logs and pids of the local Kafka and Cassandra", _repo_path)
    jars_dir: Path = _setting(
        "SP_JARS_DIR", ".stack/jars", "Kafka and Cassandra jars fetched from Maven Central", _repo_path)
    kafka_heap: str = _setting(
        "SP_KAFKA_HEAP", "1g", "Maximum heap of the local Kafka (fetches across thousands of partitions need it)")
    cassandra_heap: str = _setting(
        "SP_CASSANDRA_HEAP", "1g", "Maximum heap of the local Cassandra")
    max_message_bytes: int = _setting(
        "SP_MAX_MESSAGE_BYTES", "1048576", "Largest accepted WebSocket frame or HTTP body (bytes)", int)
    readings_per_record: int = _setting(
        "SP_READINGS_PER_RECORD", "500",
        "Most readings packed into one Kafka record (Faust's cost is per record, not per reading)", int)
    ingest_linger_ms: float = _setting(
        "SP_INGEST_LINGER_MS", "50",
        "How long a WebSocket whose frames come faster than this waits to pack more of them into its next "
        "Kafka record (0: never)", float)
    device_rate_limit: float = _setting(
        "SP_DEVICE_RATE_LIMIT", "0",
        "Readings/s one device may ingest through one worker, in bursts of 2 s worth (0: no limit)", float)
    registry_cache_seconds: float = _setting(
        "SP_REGISTRY_CACHE_SECONDS", "2", "How long a worker trusts its cached copy of a device schema", float)
    default_window_seconds: float = _setting(
        "SP_DEFAULT_WINDOW_SECONDS", "5", "Window size of a run that was never configured by /start-stream", float)
    forecast_horizon_seconds: float = _setting(
        "SP_FORECAST_HORIZON_SECONDS", "60",
        "Horizon of the forecasts a run issues at each closed window when its config names none", float)
    grace_seconds: float = _setting(
        "SP_GRACE_SECONDS", "2", "How late (event time) a reading may arrive and still land in its window", float)
    silence_seconds: float = _setting(
        "SP_SILENCE_SECONDS", "30", "A run silent this long (wall clock) gets a data-delay alert and its windows closed",
        float)
    finish_after_seconds: float = _setting(
        "SP_FINISH_AFTER_SECONDS", "600", "A run silent this long is finished and leaves the live subscription", float)
    window_history: int = _setting(
        "SP_WINDOW_HISTORY", "2000", "Closed windows kept per run in the live table (older ones: Cassandra)", int)
    segment_history: int = _setting(
        "SP_SEGMENT_HISTORY", "500",
        "Closed segments (intervals, laps, periods) kept per run and kind in the live table (all: Cassandra)", int)
    alert_history: int = _setting(
        "SP_ALERT_HISTORY", "500", "Alerts kept per run in the live table", int)
    match_history: int = _setting(
        "SP_MATCH_HISTORY", "1000",
        "Timeline events and win-probability points kept per match in the live table (all of them: Cassandra)", int)
    sink_concurrency: int = _setting(
        "SP_SINK_CONCURRENCY", "32", "Cassandra writes (single rows or one-partition batches) the sink keeps in flight",
        int)
    sink_batch_records: int = _setting(
        "SP_SINK_BATCH_RECORDS", "200", "Kafka records the sink writes per poll before committing their offsets", int)
    rocksdb_memory_mb: int = _setting(
        "SP_ROCKSDB_MEMORY_MB", "64",
        "Memory of all a worker's RocksDB tables together: one block cache, memtables charged to it", int)
    sql_max_result_bytes: int = _setting(
        "SP_SQL_MAX_RESULT_BYTES", "1048576",
        "Largest /get-latest-stats result (bytes of JSON rows); a bigger one is a 422 asking for a narrower query",
        int)
    webhook_max_attempts: int = _setting(
        "SP_WEBHOOK_MAX_ATTEMPTS", "5", "Attempts to deliver one alert to one webhook before it is dead-lettered", int)
    webhook_base_delay_seconds: float = _setting(
        "SP_WEBHOOK_BASE_DELAY_SECONDS", "0.5",
        "Back-off before a webhook's 2nd attempt; it doubles per attempt, with jitter (docs/operations.md)", float)
    webhook_max_delay_seconds: float = _setting(
        "SP_WEBHOOK_MAX_DELAY_SECONDS", "30", "Longest back-off between two attempts of one webhook delivery", float)
    webhook_timeout_seconds: float = _setting(
        "SP_WEBHOOK_TIMEOUT_SECONDS", "5", "How long one webhook attempt may take before it counts as failed", float)
    webhook_queue_size: int = _setting(
        "SP_WEBHOOK_QUEUE_SIZE", "1000",
        "Deliveries one webhook may have waiting; when full, the alert consumer waits (only for that webhook)", int)
    webhook_concurrency: int = _setting(
        "SP_WEBHOOK_CONCURRENCY", "4", "Deliveries (with their retries) one worker runs at once per webhook", int)
    dedup_ttl_seconds: int = _setting(
        "SP_DEDUP_TTL_SECONDS", "86400", "How long Sensor Logger message ids are remembered against retries", int)

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        host, _, port = self.kafka_bootstrap.split(",")[0].rpartition(":")
        return host, int(port)

    @property
    def cassandra_contact_points(self) -> list[str]:
        return [h.strip() for h in self.cassandra_hosts.split(",") if h.strip()]

    @property
    def cors_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for the README and `--help`."""
    return [(f.metadata["env"], f.metadata["default"], f.metadata["doc"]) for f in fields(Settings)]


settings = Settings()
