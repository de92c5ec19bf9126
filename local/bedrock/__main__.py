"""`python -m local.bedrock [--host 127.0.0.1] [--port 8766] [--gguf PATH|auto]`"""

from __future__ import annotations

import argparse
import os
import sys


def _gguf_path(value: str | None) -> str | None:
    """`auto` means the installed `smollm2:135m` from `python -m local.models fetch`."""
    if value != "auto":
        return value or None
    from local.models import ModelStore, default_models_dir

    model = ModelStore(default_models_dir()).get("smollm2:135m")
    if model is None:
        sys.exit("no local GGUF model installed: run `python -m local.models fetch` first")
    return str(model.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bedrock", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument(
        "--gguf", default=os.environ.get("OMNICHAT_BEDROCK_GGUF"),
        help="serve this GGUF file as local.smollm2-135m ('auto': the installed smollm2:135m)",
    )
    parser.add_argument("--not-subscribed", action="append", default=[], metavar="MODEL_ID",
                        help="answer this model with AccessDenied, as a new account's first use does")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    import uvicorn

    from .server import create_app

    app = create_app(gguf_path=_gguf_path(args.gguf), region=args.region,
                     model_access={model_id: "not_subscribed" for model_id in args.not_subscribed})
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
