"""One typed settings object per process, read from ``SHRINKNETS_*`` environment variables.

``get_settings()`` is cached so every module of a process sees the same object; the
FastAPI app receives it through a dependency so tests can override it, and the CLI
builds its own from command-line flags layered over the environment.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import UnsafeSettingsError

__all__ = ["Settings", "get_settings", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Service configuration. Every field can be set as ``SHRINKNETS_<FIELD>``.

    ``storage_url`` defaults to the SQLite file ``<data_dir>/shrinknets.db``; a
    ``postgresql://`` URL is rewritten to the psycopg 3 driver
    (``postgresql+psycopg://``).
    """

    model_config = SettingsConfigDict(env_prefix="SHRINKNETS_", extra="ignore")

    storage_url: str = Field(
        default="", description="Optuna RDB URL (SQLite file or PostgreSQL); '' = default file"
    )
    data_dir: Path = Field(default=Path("./var"), description="SQLite file, uploads")
    api_token: SecretStr | None = Field(
        default=None, description="bearer token required on every mutating route when set"
    )
    read_only: bool = Field(default=False, description="refuse every mutating route")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=0, le=64, description="local worker processes of serve")
    root_path: str = Field(default="", description="URL prefix behind a reverse proxy")

    max_width: int = Field(default=1024, ge=1)
    max_depth: int = Field(default=8, ge=1)
    max_epochs: int = Field(default=500, ge=1)
    max_trials: int = Field(default=1000, ge=1)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    upload_parsers: int = Field(
        default=2, ge=1, le=64, description="uploads checked at once per API process (each "
        "may hold up to 10 × max_upload_bytes of text); others wait"
    )

    heartbeat_interval_s: int = Field(
        default=10, ge=1, description="seconds between trial and worker heartbeats"
    )
    grace_period_s: int = Field(
        default=60, ge=2, description="a RUNNING trial without heartbeat this long is failed"
    )
    worker_poll_s: float = Field(default=1.0, gt=0, description="idle worker poll period")
    worker_threads: int = Field(default=1, ge=1, description="torch threads per worker process")
    artifact_store: str = Field(
        default="", description="trained networks and λ-path checkpoints: '' = "
        "<data_dir>/artifacts, a folder, or s3://BUCKET (boto3)"
    )
    keep_models: Literal["all", "pareto", "none"] = Field(
        default="all", description="networks kept per study: every complete trial's, the "
        "Pareto front's (loss, parameters), or none"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="log level of serve, the API and workers"
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.storage_url:
            self.storage_url = f"sqlite:///{(self.data_dir / 'shrinknets.db').resolve()}"
        elif self.storage_url.startswith("postgresql://"):
            self.storage_url = "postgresql+psycopg://" + self.storage_url[len("postgresql://") :]
        elif self.storage_url.startswith("postgres://"):
            self.storage_url = "postgresql+psycopg://" + self.storage_url[len("postgres://") :]
        if self.api_token is not None and not self.api_token.get_secret_value().strip():
            self.api_token = None  # an empty token protects nothing
        if self.grace_period_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"grace_period_s={self.grace_period_s} must exceed heartbeat_interval_s="
                f"{self.heartbeat_interval_s}; set SHRINKNETS_GRACE_PERIOD_S to at least "
                f"{2 * self.heartbeat_interval_s}"
            )
        return self

    def check_safe_to_serve(self) -> None:
        """Refuse to expose the API beyond loopback without a token.

        Raises:
            UnsafeSettingsError: ``host`` is not a loopback address and ``api_token`` is unset.
        """
        if not is_loopback_host(self.host) and self.api_token is None and not self.read_only:
            raise UnsafeSettingsError(
                f"host={self.host!r} is reachable from other machines but no API token is set; "
                "set SHRINKNETS_API_TOKEN (clients send 'Authorization: Bearer <token>'), "
                "or SHRINKNETS_READ_ONLY=true, or bind to 127.0.0.1"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
