"""The `omnichat` command: database migrations, a REST-only server, the terminal chat."""

from __future__ import annotations

import argparse
import sys


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
    from omnichat.client.terminal import main as chat_main

    return chat_main(args.url, args.ws_url, args.api_key, args.email, args.model)


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
    chat.add_argument("--model", default=None, help="model id, e.g. ollama/smollm2:135m")
    chat.set_defaults(func=_chat)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
