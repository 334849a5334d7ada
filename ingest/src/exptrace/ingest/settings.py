"""Typed settings of the receiver, read from arguments or ``EXPTRACE_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exptrace.ingest import defaults
from exptrace.ingest.door import DEFAULT_MAX_NESTED_VALUE_BYTES
from exptrace.ingest.schema import DEFAULT_DROP_KEYS, DEFAULT_MASKS, Redaction
from exptrace.propagation import invalid, setting, settings_from_env


@dataclass(frozen=True)
class IngestSettings:
    """Where to listen, where to keep data, how much to hold, what to redact.

    Each field names the variable it reads where it is declared (``EXPTRACE_DATA_DIR``,
    ``EXPTRACE_STORE``: ``chdb://PATH``, ``clickhouse://...``, ``http(s)://...``...).
    """

    data_dir: Path = field(
        default=Path(defaults.DATA_DIR),
        metadata=setting(env="EXPTRACE_DATA_DIR", flag="--data-dir"),
    )
    store: str | None = field(default=None, metadata=setting(env="EXPTRACE_STORE", flag="--store"))
    """Store URL; default: embedded chDB in ``<data_dir>/store``."""
    grpc_endpoint: str = field(
        default=defaults.GRPC_ENDPOINT,
        metadata=setting(env="EXPTRACE_GRPC_ENDPOINT", flag="--grpc"),
    )
    http_endpoint: str = field(
        default=defaults.HTTP_ENDPOINT,
        metadata=setting(env="EXPTRACE_HTTP_ENDPOINT", flag="--http"),
    )
    token: str | None = field(default=None, metadata=setting(env="EXPTRACE_TOKEN", flag="--token"))
    """When set, every export and API call needs ``Authorization: Bearer <token>``."""
    allowed_hosts: tuple[str, ...] = field(
        default=(), metadata=setting(env="EXPTRACE_ALLOWED_HOSTS", flag="--allowed-hosts")
    )
    """Host names the API and pages answer to besides the address they listen on (a guard
    against DNS rebinding); comma-separated."""
    tls_cert_file: str | None = field(default=None, metadata=setting(env="EXPTRACE_TLS_CERT_FILE"))
    tls_key_file: str | None = field(default=None, metadata=setting(env="EXPTRACE_TLS_KEY_FILE"))
    max_request_bytes: int = field(
        default=16 << 20, metadata=setting(env="EXPTRACE_MAX_REQUEST_BYTES")
    )
    wal_max_bytes: int = field(default=1 << 30, metadata=setting(env="EXPTRACE_WAL_MAX_BYTES"))
    wal_segment_bytes: int = field(
        default=16 << 20, metadata=setting(env="EXPTRACE_WAL_SEGMENT_BYTES")
    )
    """Bytes of a log segment: the most one insert into the store carries, which bounds the
    receiver's memory and sets its CPU per span. The engine's working set grows ~20 bytes per
    byte inserted on top of ~350 MiB (peak RSS with the ingest benchmark: 844 MiB with 4 MiB
    segments, 1,129 with 16 MiB, 1,296 with 32 MiB; ~390 MiB at rest); each insert also costs
    ~175 ms of CPU whatever its size (the views' analysis), so small segments cost CPU
    (26k spans per CPU-second with 4 MiB segments, 46k with 16 MiB, 49k with 32 MiB)."""
    flush_interval: float = field(default=1.0, metadata=setting(env="EXPTRACE_FLUSH_INTERVAL"))
    retry_after: float = field(default=5.0, metadata=setting(env="EXPTRACE_RETRY_AFTER"))
    """Seconds clients are told to wait when the log is full."""
    dedup_window: float = field(default=600.0, metadata=setting(env="EXPTRACE_DEDUP_WINDOW"))
    """Seconds within which an export identical to one already logged (a client's retry after
    a lost acknowledgement) is acknowledged without being stored again; 0: off."""
    store_retry_max_delay: float = field(
        default=5.0, metadata=setting(env="EXPTRACE_STORE_RETRY_MAX_DELAY")
    )
    """Longest wait between attempts to reach a failing store (the backoff doubles up to it)."""
    retention_days: int = field(
        default=defaults.RETENTION_DAYS,
        metadata=setting(env="EXPTRACE_RETENTION_DAYS", flag="--retention-days"),
    )
    """Days rows are kept (0: forever); older items are refused at the door."""
    max_future_seconds: float = field(
        default=3600.0, metadata=setting(env="EXPTRACE_MAX_FUTURE_SECONDS")
    )
    """Items stamped further ahead of the receiver's clock are refused at the door."""
    max_nested_value_bytes: int = field(
        default=DEFAULT_MAX_NESTED_VALUE_BYTES,
        metadata=setting(env="EXPTRACE_MAX_NESTED_VALUE_BYTES"),
    )
    """Items holding an array or key-value list value encoded in more bytes are refused at
    the door: the engine decodes such values at about a millisecond per byte."""
    http_header_timeout: float = field(
        default=10.0, metadata=setting(env="EXPTRACE_HTTP_HEADER_TIMEOUT")
    )
    """Seconds an HTTP client has to send a request's headers (from its first byte)."""
    http_body_timeout: float = field(
        default=60.0, metadata=setting(env="EXPTRACE_HTTP_BODY_TIMEOUT")
    )
    """Seconds an HTTP client has to send a request's body, once its headers are in."""
    known_experiments_only: bool = field(
        default=False, metadata=setting(env="EXPTRACE_KNOWN_EXPERIMENTS_ONLY")
    )
    """Attribute telemetry only to experiments registered in the registry (an allow-list)."""
    self_metrics_interval: float = field(
        default=0.0, metadata=setting(env="EXPTRACE_SELF_METRICS_INTERVAL")
    )
    """Seconds between snapshots of the receiver's own metrics stored as OTLP (0: off)."""
    watch_interval: float = field(
        default=60.0, metadata=setting(env="EXPTRACE_WATCH_INTERVAL", flag="--watch-interval")
    )
    """Seconds between the watcher's rounds in ``exptrace up`` (0: no watcher); the receiver
    alone (``exptrace-ingest``) has no watcher."""
    alertmanager_url: str | None = field(
        default=None, metadata=setting(env="EXPTRACE_ALERTMANAGER_URL", flag="--alertmanager")
    )
    """Alertmanager's base URL: the watcher's alerts are posted to its ``/api/v2/alerts``."""
    alert_webhook_url: str | None = field(
        default=None, metadata=setting(env="EXPTRACE_ALERT_WEBHOOK_URL", flag="--alert-webhook")
    )
    """A URL the watcher's alerts are posted to in Alertmanager's webhook format."""
    alert_interval: float = field(default=10.0, metadata=setting(env="EXPTRACE_ALERT_INTERVAL"))
    """Seconds between alert deliveries (and the first retry delay after a failed one)."""
    external_url: str | None = field(
        default=None, metadata=setting(env="EXPTRACE_EXTERNAL_URL", flag="--external-url")
    )
    """The base URL people open the pages at, for the links in alerts (default: the HTTP
    listening address)."""
    service_name: str = field(default="exptrace-ingest", metadata=setting(env="OTEL_SERVICE_NAME"))
    """Service name of the receiver's own telemetry (``OTEL_SERVICE_NAME``)."""
    cluster: str | None = field(default=None, metadata=setting(env="EXPTRACE_CLUSTER"))
    """Render the cluster form of the schema (ON CLUSTER, Replicated, Distributed)."""
    change_store_settings: bool = field(
        default=False, metadata=setting(env="EXPTRACE_CHANGE_STORE_SETTINGS")
    )
    """Apply this receiver's retention, redaction, allow-list and cluster settings to a store
    set up with others (otherwise such a store is refused)."""
    redact_drop_keys: tuple[str, ...] = field(
        default=DEFAULT_DROP_KEYS, metadata=setting(env="EXPTRACE_REDACT_DROP_KEYS")
    )
    redact_hash_keys: tuple[str, ...] = field(
        default=(), metadata=setting(env="EXPTRACE_REDACT_HASH_KEYS")
    )
    redact_masks: tuple[str, ...] = field(
        default=DEFAULT_MASKS, metadata=setting(env="EXPTRACE_REDACT_MASKS", json_array=True)
    )
    """RE2 patterns (a JSON array in ``EXPTRACE_REDACT_MASKS``: patterns hold commas)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> IngestSettings:
        given = {k: v for k, v in overrides.items() if v is not None}
        return settings_from_env(cls, environ, given)

    def http_url(self, port: int | None = None) -> str:
        """Where this machine reaches the HTTP side: the listening address (every interface
        shown as loopback) and ``port``, the one bound when the endpoint asked for any."""
        host, listening = split_endpoint(self.http_endpoint)
        shown = defaults.LOOPBACK_HOSTS[0] if host in defaults.WILDCARD_HOSTS else host
        scheme = "https" if self.tls_cert_file else "http"
        return f"{scheme}://{shown}:{listening if port is None else port}"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        for name in ("max_request_bytes", "wal_max_bytes", "wal_segment_bytes"):
            if getattr(self, name) < 1024:
                raise invalid(self, name, f"must be at least 1024 bytes, got {getattr(self, name)}")
        if self.wal_segment_bytes > self.wal_max_bytes:
            raise invalid(self, "wal_segment_bytes", "must not exceed EXPTRACE_WAL_MAX_BYTES")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise invalid(self, "tls_cert_file", "and EXPTRACE_TLS_KEY_FILE go together")
        for name in ("grpc_endpoint", "http_endpoint"):
            host, _, port = getattr(self, name).rpartition(":")
            if not host or not port.isdigit() or int(port) > 65535:
                problem = f"must be HOST:PORT, PORT 0 to 65535, got {getattr(self, name)!r}"
                raise invalid(self, name, problem)
        if self.max_nested_value_bytes < 1:
            problem = f"must be at least 1 byte, got {self.max_nested_value_bytes}"
            raise invalid(self, "max_nested_value_bytes", problem)
        if self.retention_days < 0:
            problem = f"must be 0 (keep) or more, got {self.retention_days}"
            raise invalid(self, "retention_days", problem)
        if self.watch_interval < 0:
            raise invalid(
                self, "watch_interval", f"must be 0 (off) or more, got {self.watch_interval}"
            )
        for name in (
            "max_future_seconds",
            "http_header_timeout",
            "http_body_timeout",
            "alert_interval",
        ):
            if not getattr(self, name) > 0:
                raise invalid(self, name, f"must be more than 0, got {getattr(self, name)}")

    @property
    def store_url(self) -> str:
        return self.store or f"chdb://{(self.data_dir / 'store').resolve()}"

    def redaction(self) -> Redaction:
        return Redaction(
            drop_keys=tuple(self.redact_drop_keys),
            hash_keys=tuple(self.redact_hash_keys),
            masks=tuple(self.redact_masks),
        )


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)
