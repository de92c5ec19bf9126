"""`python -m local.gateway`: the local API Gateway in the foreground (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import logging
import sys

from omnichat.aws.stack_config import StackConfigError, parse_overrides

from .spec import TemplateError


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    """KEY=VALUE arguments, read as SAM CLI reads parameter overrides."""
    try:
        return parse_overrides(values)
    except StackConfigError as exc:
        raise SystemExit(f"{flag}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.gateway",
                                     description="Local API Gateway (HTTP API, WebSocket API, @connections) "
                                                 "driven by template.yaml")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--env-vars",
                        help='JSON file as for `sam local --env-vars`: {"Parameters": {...}, "<LogicalId>": {...}}')
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set a variable for every function")
    parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE", help="template parameters")
    parser.add_argument("--static", help="serve this folder (e.g. frontend/dist) at / with single-page-app fallback")
    parser.add_argument("--max-workers", type=int, default=1024, help="threads for concurrent invocations")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .server import serve

    try:
        serve(args.template, args.host, args.port, env_vars=args.env_vars, env=_pairs(args.env, "--env"),
              static=args.static, parameter_overrides=_pairs(args.parameter_overrides, "--parameter-overrides"),
              max_workers=args.max_workers, log_level=args.log_level.lower(), access_log=args.access_log)
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down cleanly and re-raised it
        return 130
    except TemplateError as exc:
        print(f"error: {args.template}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
