"""A Bedrock emulator on the real wire protocol: Bedrock Runtime Converse /
ConverseStream (binary event stream), InvokeModel for Titan Text Embeddings V2
(invoke.py), and the control plane's ListFoundationModels /
ListInferenceProfiles, so unmodified boto3 clients work against it with `endpoint_url`.

    python -m local.bedrock --port 8766
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:8766 \\
    AWS_ENDPOINT_URL_BEDROCK=http://127.0.0.1:8766 ...

Models are served by `local.engines` (deterministic by default; `--gguf` adds a real
llama.cpp model as `local.smollm2-135m`). Faults for tests: see faults.py.
"""

from .faults import Fault, FaultInjector
from .server import EmulatorServer, create_app

__all__ = ["EmulatorServer", "Fault", "FaultInjector", "create_app"]
