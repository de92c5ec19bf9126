"""The `omnichat` command: database migrations, a REST-only server, the terminal chat, the
AWS preflight."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _db(args: argparse.Namespace) -> int:
    from omnichat.config import get_settings
    from omnichat.db import migrate

    url = args.database_url or get_settings().resolved_database_url
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    elif args.db_command == "downgrade":
        migrate.downgrade(url, args.revision)
    print(f"database at revision {migrate.current(url)}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from omnichat.api.app import create_app
    from omnichat.config import get_settings
    from omnichat.db import migrate

    settings = get_settings()
    migrate.upgrade(settings.resolved_database_url)
    print(f"OmniChat REST API on http://{args.host}:{args.port}/api/docs", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from omnichat_cli.terminal import main as chat_main

    return chat_main(args.url, args.ws_url, args.api_key, args.email, args.model, sso=args.sso)


def _aws_preflight(args: argparse.Namespace) -> int:
    from omnichat.aws import preflight

    return preflight.main(preflight.Inputs(
        template_path=args.template, samconfig_path=args.samconfig, config_env=args.config_env,
        region=args.region or "", profile=args.profile, bedrock_models=tuple(args.bedrock_model)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omnichat", description="OmniChat command line")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("db_command", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", default="head")
    db.add_argument("--database-url", default="")
    db.set_defaults(func=_db)

    serve = sub.add_parser("serve", help="serve the REST API only (no WebSockets)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)

    chat = sub.add_parser("chat", help="chat in the terminal over the WebSocket API")
    chat.add_argument("--url", default="http://127.0.0.1:8080", help="the stack's base URL (REST API)")
    chat.add_argument("--ws-url", default=None, help="the WebSocket URL (default: from /config.json or <url>/ws)")
    chat.add_argument("--api-key", default=None, help="an API key (default: $OMNICHAT_API_KEY, else sign in)")
    chat.add_argument("--email", default=None)
    chat.add_argument("--sso", action="store_true",
                      help="sign in through the browser with the server's identity provider (single sign-on)")
    chat.add_argument("--model", default=None, help="model id, e.g. ollama/smollm2:135m")
    chat.set_defaults(func=_chat)

    aws = sub.add_parser("aws", help="AWS mode").add_subparsers(dest="aws_command", required=True)
    check = aws.add_parser("preflight", help="before `sam deploy`: what would fail in this account (read-only)")
    check.add_argument("--config-env", default="default", help="the samconfig.toml environment (default, dev, prod)")
    check.add_argument("--template", type=Path, default=Path("template.yaml"))
    check.add_argument("--samconfig", type=Path, default=Path("samconfig.toml"))
    check.add_argument("--region", default=None, help="default: samconfig.toml's, else the AWS configuration's")
    check.add_argument("--profile", default=None, help="an AWS CLI profile (default: the usual credential chain)")
    check.add_argument("--bedrock-model", action="append", default=[], metavar="ID",
                       help="a Bedrock model you will enable, e.g. anthropic.claude-sonnet-4-5-20250929-v1:0 (repeat)")
    check.set_defaults(func=_aws_preflight)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
