"""Settings from the environment: one typed, immutable object, read once per process.

Plain dataclass rather than pydantic-settings: it is read on every Lambda cold start and
costs nothing to import.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

SIGNUP_POLICIES = ("open", "approval", "closed")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(value: str | None, default: int) -> int:
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    # "local" (laptop, SQLite by default) or "aws" (deployed; refuses insecure defaults).
    environment: str = "local"
    home: Path = Path(".omnichat")
    database_url: str = ""
    # In AWS: the RDS secret (JSON with username/password) and the RDS Proxy endpoint.
    db_secret_arn: str = ""
    db_host: str = ""
    db_port: int = 5432
    db_name: str = "omnichat"
    # TLS to PostgreSQL: on in AWS (RDS Proxy refuses clients without it), off locally.
    db_tls: bool = False
    # JWT signing secret: the value itself, or a Secrets Manager ARN/name to fetch it from.
    jwt_secret: str = ""
    jwt_secret_arn: str = ""
    access_token_ttl_s: int = 12 * 3600
    ws_ticket_ttl_s: int = 60
    # Open WebSocket connections per user (a browser tab holds one).
    ws_max_connections_per_user: int = 20
    # Bodies above this many bytes answer 413; chat import gets its own, larger limit.
    max_body_bytes: int = 1 << 20
    # A synchronous Lambda takes a 6 MB event, the body in it JSON-escaped: 5 MiB leaves room.
    max_import_bytes: int = 5 << 20
    # An import still running after this long is rolled back: it must end before API
    # Gateway's 29 s integration timeout, or the client is told it failed while it commits.
    import_budget_s: float = 20.0
    max_message_chars: int = 200_000
    # Sign-in throttling: failures allowed per window, per account and per client address.
    signin_window_s: int = 15 * 60
    signin_max_failures_account: int = 5
    signin_max_failures_address: int = 30
    default_signup_policy: str = "open"
    # Sign-ups allowed per client address per hour (docs/security.md).
    signup_max_per_address: int = 10
    # Model backends.
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_enabled: bool = True
    bedrock_enabled: bool = False
    aws_region: str = "us-east-1"
    bedrock_runtime_endpoint: str = ""
    bedrock_endpoint: str = ""
    provider_connect_timeout_s: float = 5.0
    provider_read_timeout_s: float = 120.0
    provider_max_attempts: int = 4
    model_list_ttl_s: float = 30.0
    # Model pulls go to the pull worker beside Ollama (on in AWS) instead of running in the caller.
    pull_queue: bool = False
    # Streaming: a delta waits at most this long before it is posted (fewer posts vs. latency).
    coalesce_ms: int = 50
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.environment == "aws"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.db_secret_arn:
            return _url_from_secret(self.db_secret_arn, self.db_host, self.db_port, self.db_name)
        return f"sqlite:///{(self.home / 'omnichat.db').resolve()}"

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] | None = None) -> "Settings":
        e = os.environ if env is None else env
        ollama_host = e.get("OLLAMA_HOST", "") or "http://127.0.0.1:11434"
        if "://" not in ollama_host:
            ollama_host = f"http://{ollama_host}"
        return cls(
            environment=e.get("OMNICHAT_ENV", "local"),
            home=Path(e.get("OMNICHAT_HOME", ".omnichat")),
            database_url=e.get("DATABASE_URL", ""),
            db_secret_arn=e.get("OMNICHAT_DB_SECRET_ARN", ""),
            db_host=e.get("OMNICHAT_DB_HOST", ""),
            db_port=_int(e.get("OMNICHAT_DB_PORT"), 5432),
            db_name=e.get("OMNICHAT_DB_NAME", "omnichat"),
            db_tls=_bool(e.get("OMNICHAT_DB_TLS"), e.get("OMNICHAT_ENV", "local") == "aws"),
            jwt_secret=e.get("OMNICHAT_JWT_SECRET", ""),
            jwt_secret_arn=e.get("OMNICHAT_JWT_SECRET_ARN", ""),
            access_token_ttl_s=_int(e.get("OMNICHAT_ACCESS_TOKEN_TTL"), 12 * 3600),
            ws_ticket_ttl_s=min(60, _int(e.get("OMNICHAT_WS_TICKET_TTL"), 60)),
            ws_max_connections_per_user=max(1, _int(e.get("OMNICHAT_WS_MAX_CONNECTIONS_PER_USER"), 20)),
            max_body_bytes=_int(e.get("OMNICHAT_MAX_BODY_BYTES"), 1 << 20),
            max_import_bytes=_int(e.get("OMNICHAT_MAX_IMPORT_BYTES"), 5 << 20),
            default_signup_policy=e.get("OMNICHAT_SIGNUP_POLICY", "open"),
            signup_max_per_address=_int(e.get("OMNICHAT_SIGNUP_MAX_PER_ADDRESS"), 10),
            ollama_host=ollama_host.rstrip("/"),
            ollama_enabled=_bool(e.get("OMNICHAT_OLLAMA_ENABLED"), True),
            bedrock_enabled=_bool(e.get("OMNICHAT_BEDROCK_ENABLED"), False),
            aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            bedrock_runtime_endpoint=e.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", ""),
            bedrock_endpoint=e.get("AWS_ENDPOINT_URL_BEDROCK", ""),
            provider_connect_timeout_s=float(e.get("OMNICHAT_PROVIDER_CONNECT_TIMEOUT", 5.0)),
            provider_read_timeout_s=float(e.get("OMNICHAT_PROVIDER_READ_TIMEOUT", 120.0)),
            provider_max_attempts=_int(e.get("OMNICHAT_PROVIDER_MAX_ATTEMPTS"), 4),
            model_list_ttl_s=float(e.get("OMNICHAT_MODEL_LIST_TTL", 30.0)),
            coalesce_ms=max(0, _int(e.get("OMNICHAT_COALESCE_MS"), 50)),
            pull_queue=_bool(e.get("OMNICHAT_PULL_QUEUE"), e.get("OMNICHAT_ENV", "local") == "aws"),
        )


@lru_cache(maxsize=4)
def _url_from_secret(secret_arn: str, host: str, port: int, name: str) -> str:
    """postgresql+pg8000 URL from an RDS-managed secret; fetched once per process (the
    first time the database is used, never at import)."""
    import json
    from urllib.parse import quote

    from omnichat.aws.secrets import get_secret

    secret = json.loads(get_secret(secret_arn, max_age=3600))
    host = host or secret.get("host", "")
    user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
    return f"postgresql+pg8000://{user}:{password}@{host}:{port}/{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


_jwt_lock = threading.Lock()


def app_jwt_secret(state: Any) -> str:
    """An app's JWT secret (`state.settings`, cached in `state.jwt_secret`), loaded on first
    use: creating an app reads no secret, so neither a cold start that needs none nor a
    SnapStart snapshot holds one."""
    if getattr(state, "jwt_secret", None) is None:
        with _jwt_lock:
            if getattr(state, "jwt_secret", None) is None:
                state.jwt_secret = load_jwt_secret(state.settings)
    return str(state.jwt_secret)


def load_jwt_secret(settings: Settings) -> str:
    """The JWT secret: from the environment, from Secrets Manager, or (local mode only) a
    random secret kept in the local home so tokens survive restarts. Production never falls
    back to a generated or default secret."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.jwt_secret_arn:
        from omnichat.aws.secrets import get_secret

        return get_secret(settings.jwt_secret_arn, max_age=300)
    if settings.is_production:
        raise RuntimeError(
            "OMNICHAT_JWT_SECRET or OMNICHAT_JWT_SECRET_ARN must be set when OMNICHAT_ENV=aws"
        )
    path = settings.home / "jwt_secret"
    if not path.exists():
        _publish_once(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _publish_once(path: Path, text: str) -> None:
    """Writes `text` to `path` unless another process got there first. The file appears
    whole or not at all (written aside, then hard-linked into place), so processes starting
    together all read the same secret, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.link(draft, path)  # fails if the path exists: the first secret published wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
