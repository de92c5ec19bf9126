"""Settings from the environment: one typed, immutable object, read once per process.

Plain dataclass rather than pydantic-settings: it is read on every Lambda cold start and
costs nothing to import. Each default is written once, on its field; `env("NAME", default)`
names the variable that overrides it, and `from_env` reads every such field by its type.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

SIGNUP_POLICIES = ("open", "approval", "closed")
OLLAMA_DISCOVERY = ("static", "dns")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(value: str | None, default: int) -> int:
    return int(value) if value not in (None, "") else default


def _float(value: str | None, default: float) -> float:
    return float(value) if value not in (None, "") else default


def _str(value: str | None, default: str) -> str:
    return default if value is None else value


def _path(value: str | None, default: Path) -> Path:
    return default if value is None else Path(value)


# How a field's variable is read, by the type of its default (bool before int: a bool is an int).
_READERS: dict[type, Any] = {bool: _bool, int: _int, float: _float, str: _str, Path: _path}
_ENV = "env"


def _read(value: str | None, default: Any) -> Any:
    return next(read for kind, read in _READERS.items() if isinstance(default, kind))(value, default)


def env(name: str, default: Any) -> Any:
    """A field overridable by environment variable `name` (from_env reads it)."""
    return field(default=default, metadata={_ENV: name})


@dataclass(frozen=True)
class Settings:
    # "local" (laptop, SQLite by default) or "aws" (deployed; refuses insecure defaults).
    environment: str = env("OMNICHAT_ENV", "local")
    home: Path = env("OMNICHAT_HOME", Path(".omnichat"))
    database_url: str = env("DATABASE_URL", "")
    # In AWS: the RDS secret (JSON with username/password) and the RDS Proxy endpoint.
    db_secret_arn: str = env("OMNICHAT_DB_SECRET_ARN", "")
    db_host: str = env("OMNICHAT_DB_HOST", "")
    db_port: int = env("OMNICHAT_DB_PORT", 5432)
    db_name: str = env("OMNICHAT_DB_NAME", "omnichat")
    # TLS to PostgreSQL: on in AWS (RDS Proxy refuses clients without it), off locally.
    db_tls: bool = env("OMNICHAT_DB_TLS", False)
    # JWT signing secret: the value itself, or a Secrets Manager ARN/name to fetch it from.
    jwt_secret: str = env("OMNICHAT_JWT_SECRET", "")
    jwt_secret_arn: str = env("OMNICHAT_JWT_SECRET_ARN", "")
    access_token_ttl_s: int = env("OMNICHAT_ACCESS_TOKEN_TTL", 12 * 3600)
    ws_ticket_ttl_s: int = env("OMNICHAT_WS_TICKET_TTL", 60)
    # Open WebSocket connections per user (a browser tab holds one).
    ws_max_connections_per_user: int = env("OMNICHAT_WS_MAX_CONNECTIONS_PER_USER", 20)
    # Bodies above this many bytes answer 413; chat import gets its own, larger limit.
    max_body_bytes: int = env("OMNICHAT_MAX_BODY_BYTES", 1 << 20)
    # A synchronous Lambda takes a 6 MB event, and the body travels in it JSON-escaped: an
    # export grows by about a quarter (every quote escaped), so 4 MiB is what fits.
    max_import_bytes: int = env("OMNICHAT_MAX_IMPORT_BYTES", 4 << 20)
    # An import still running after this long is rolled back: it must end before API
    # Gateway's 29 s integration timeout, or the client is told it failed while it commits.
    import_budget_s: float = 20.0
    max_message_chars: int = 200_000
    # Sign-in throttling: failures allowed per window, per account and per client address.
    signin_window_s: int = 15 * 60
    signin_max_failures_account: int = 5
    signin_max_failures_address: int = 30
    default_signup_policy: str = env("OMNICHAT_SIGNUP_POLICY", "open")
    # Sign-ups allowed per client address per hour (docs/security.md).
    signup_max_per_address: int = env("OMNICHAT_SIGNUP_MAX_PER_ADDRESS", 10)
    # Single sign-ons begun per client address per 10 minutes: each keeps a row for its
    # state until it is used or expires (docs/security.md).
    sso_max_starts_per_address: int = env("OMNICHAT_SSO_MAX_STARTS_PER_ADDRESS", 30)
    # Single sign-on with an OpenID Connect issuer (auth/sso.py, docs/sso.md): on when an
    # issuer and a client id are set. The client secret: the value, or a Secrets Manager
    # ARN/name to fetch it from; none for a public client (PKCE alone).
    oidc_issuer: str = env("OMNICHAT_OIDC_ISSUER", "")
    oidc_client_id: str = env("OMNICHAT_OIDC_CLIENT_ID", "")
    oidc_client_secret: str = env("OMNICHAT_OIDC_CLIENT_SECRET", "")
    oidc_client_secret_arn: str = env("OMNICHAT_OIDC_CLIENT_SECRET_ARN", "")
    oidc_scopes: str = env("OMNICHAT_OIDC_SCOPES", "openid email profile")
    # The id-token claim listing the user's groups (groups, cognito:groups, roles ...);
    # its values become OmniChat groups. The admin group's members are admins.
    oidc_groups_claim: str = env("OMNICHAT_OIDC_GROUPS_CLAIM", "groups")
    oidc_admin_group: str = env("OMNICHAT_OIDC_ADMIN_GROUP", "")
    oidc_display_name: str = env("OMNICHAT_OIDC_DISPLAY_NAME", "Single sign-on")
    # The callback URL registered at the issuer; empty: this API's /api/auth/sso/callback.
    oidc_redirect_uri: str = env("OMNICHAT_OIDC_REDIRECT_URI", "")
    # Where the browser lands after signing in at the issuer (the web page).
    oidc_return_url: str = env("OMNICHAT_OIDC_RETURN_URL", "/")
    oidc_timeout_s: float = env("OMNICHAT_OIDC_TIMEOUT", 10.0)
    # Password sign-in off: only break-glass admins may sign in with a password (the
    # admins listed here, comma-separated; none listed: every admin with a password).
    password_signin: bool = env("OMNICHAT_PASSWORD_SIGNIN", True)
    break_glass_emails: str = env("OMNICHAT_BREAK_GLASS_EMAILS", "")
    # Model backends.
    ollama_host: str = env("OLLAMA_HOST", "http://127.0.0.1:11434")
    # Several Ollama nodes (comma-separated URLs): the router spreads requests over them
    # (providers/ollama_router.py). Empty: OLLAMA_HOST alone.
    ollama_hosts: str = env("OLLAMA_HOSTS", "")
    # "static": the nodes above; "dns": every A record of OLLAMA_HOST's name is a node (in
    # AWS, the healthy ECS tasks Cloud Map lists under ollama.omnichat.internal).
    ollama_discovery: str = env("OMNICHAT_OLLAMA_DISCOVERY", "static")
    ollama_enabled: bool = env("OMNICHAT_OLLAMA_ENABLED", True)
    bedrock_enabled: bool = env("OMNICHAT_BEDROCK_ENABLED", False)
    aws_region: str = env("AWS_REGION", "us-east-1")
    bedrock_runtime_endpoint: str = env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "")
    bedrock_endpoint: str = env("AWS_ENDPOINT_URL_BEDROCK", "")
    provider_connect_timeout_s: float = env("OMNICHAT_PROVIDER_CONNECT_TIMEOUT", 5.0)
    provider_read_timeout_s: float = env("OMNICHAT_PROVIDER_READ_TIMEOUT", 120.0)
    provider_max_attempts: int = env("OMNICHAT_PROVIDER_MAX_ATTEMPTS", 3)  # botocore's standard mode
    model_list_ttl_s: float = env("OMNICHAT_MODEL_LIST_TTL", 30.0)
    # Model pulls go to the pull worker beside Ollama (on in AWS) instead of running in the caller.
    pull_queue: bool = env("OMNICHAT_PULL_QUEUE", False)
    # Streaming: a delta waits at most this long before it is posted (fewer posts vs. latency).
    coalesce_ms: int = env("OMNICHAT_COALESCE_MS", 50)
    # Documents (docs/documents.md). No bucket: files live under `home`/files (local mode).
    files_bucket: str = env("OMNICHAT_FILES_BUCKET", "")
    s3_endpoint: str = env("AWS_ENDPOINT_URL_S3", "")
    # No queue: the stack's in-process worker indexes (local mode); else SQS feeds the indexer.
    index_queue_url: str = env("OMNICHAT_INDEX_QUEUE_URL", "")
    sqs_endpoint: str = env("AWS_ENDPOINT_URL_SQS", "")
    embed_model: str = env("OMNICHAT_EMBED_MODEL", "ollama/all-minilm:l6-v2")
    # Memory for the vector store's per-process cache of searched scopes (documents/store.py).
    vector_cache_mb: int = env("OMNICHAT_VECTOR_CACHE_MB", 1024)
    max_file_bytes: int = env("OMNICHAT_MAX_FILE_BYTES", 25 << 20)
    max_user_file_bytes: int = env("OMNICHAT_MAX_USER_FILE_BYTES", 500 << 20)

    @property
    def ollama_nodes(self) -> tuple[str, ...]:
        """The configured Ollama node URLs: OLLAMA_HOSTS, else OLLAMA_HOST alone."""
        return node_urls(self.ollama_hosts) or (self.ollama_host,)

    @property
    def ollama_routed(self) -> bool:
        """More than one node may serve: requests go through the router. (An address in
        OLLAMA_HOST is one node whatever the discovery: only a name has several records.)"""
        if len(self.ollama_nodes) > 1:
            return True
        if self.ollama_discovery != "dns":
            return False
        import ipaddress
        from urllib.parse import urlsplit

        try:
            ipaddress.ip_address(urlsplit(self.ollama_host).hostname or "")
        except ValueError:
            return True
        return False

    @property
    def sso_enabled(self) -> bool:
        return bool(self.oidc_issuer and (self.oidc_client_id or self.oidc_client_secret_arn))

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

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] | None = None) -> Settings:
        e = os.environ if env is None else env
        read = {f.name: _read(e.get(f.metadata[_ENV]), f.default)
                for f in fields(cls) if _ENV in f.metadata}
        production = read["environment"] == "aws"
        node_urls(read["ollama_hosts"])  # a bad node URL stops the process here, saying which
        if read["ollama_discovery"] not in OLLAMA_DISCOVERY:
            raise ValueError(f"OMNICHAT_OLLAMA_DISCOVERY must be one of {', '.join(OLLAMA_DISCOVERY)}, "
                             f"not {read['ollama_discovery']!r}")
        ollama_host = read["ollama_host"] or cls.ollama_host
        return cls(**{
            **read,
            # Unset, these follow the environment: RDS Proxy requires TLS, and in AWS pulls
            # go to the worker beside Ollama.
            "db_tls": _bool(e.get("OMNICHAT_DB_TLS"), production),
            "pull_queue": _bool(e.get("OMNICHAT_PULL_QUEUE"), production),
            "ws_ticket_ttl_s": min(60, read["ws_ticket_ttl_s"]),  # a ticket is for connecting now
            "ws_max_connections_per_user": max(1, read["ws_max_connections_per_user"]),
            "coalesce_ms": max(0, read["coalesce_ms"]),
            "aws_region": e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or cls.aws_region,
            "ollama_host": (ollama_host if "://" in ollama_host else f"http://{ollama_host}").rstrip("/"),
        })


def node_urls(text: str) -> tuple[str, ...]:
    """Ollama node URLs from a comma-separated list, normalised as OLLAMA_HOST is (a bare
    `host:port` means http). Anything else than http(s) is a ValueError naming the entry."""
    from urllib.parse import urlsplit

    urls: list[str] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        url = (entry if "://" in entry else f"http://{entry}").rstrip("/")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  # raises ValueError for a port that is not a number
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OLLAMA_HOSTS: {entry!r} is not an http(s) URL of an Ollama server "
                             "(write http://host:11434 or https://host)")
        if url not in urls:
            urls.append(url)
    return tuple(urls)


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
