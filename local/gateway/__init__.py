"""The local API Gateway: reads template.yaml and serves its HTTP API routes (payload 2.0),
its WebSocket API ($connect with the Lambda authorizer, route selection, $default,
$disconnect) and the @connections Management API on one port, running the very same
Lambda handlers in-process. `sam local` needs Docker and cannot serve WebSocket APIs.

    python -m local.gateway --template template.yaml --host 127.0.0.1 --port 8080 \
        [--env-vars env.json] [--static frontend/dist]

In-process (tests, benchmarks)::

    from local.gateway import start
    running = start("template.yaml", port=0)   # running.url, running.ws_url, running.port
    ...
    running.stop()

See README.md in this folder for what is emulated and what is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .limits import Limits
from .spec import TemplateError

if TYPE_CHECKING:
    from .server import RunningGateway

__all__ = ["Limits", "TemplateError", "load_template", "start"]


def start(*args: Any, **kwargs: Any) -> RunningGateway:
    from .server import start as _start  # lazy: importing the package stays cheap

    return _start(*args, **kwargs)


def load_template(*args: Any, **kwargs: Any) -> Any:
    from .template import load_template as _load

    return _load(*args, **kwargs)
