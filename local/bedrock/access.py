"""Model access, as a new AWS account meets it: third-party models (Anthropic, Meta, …) are
enabled on first invocation through an AWS Marketplace subscription, which the caller may
not be allowed to make, and Anthropic's also need a one-time use-case form. Until then
every runtime call to the model answers 403 AccessDeniedException with Bedrock's wording.

All models are enabled unless configured otherwise: `create_app(model_access={model_id:
state})`, `python -m local.bedrock --not-subscribed MODEL_ID`, or at run time
`POST /_emulator/access {"model_id", "state"}` (admin.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Literal, get_args

from .catalog import FoundationModel
from .errors import AwsError

AccessState = Literal["enabled", "not_subscribed", "use_case_form"]
STATES: tuple[str, ...] = get_args(AccessState)

# What Bedrock answers (paraphrased with its key phrases, which clients recognise).
DENIALS = {
    "not_subscribed": (
        "Model access is denied due to IAM user or service role is not authorized to perform the required "
        "AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable "
        "access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS "
        "Marketplace subscription for this model cannot be completed at this time. If you recently fixed "
        "this issue, try again after 15 minutes."
    ),
    "use_case_form": (
        "Model use case details have not been submitted for this account. Fill out the Anthropic use case "
        "details form before using the model. If you have already filled out the form, try again in 15 minutes."
    ),
}


class ModelAccess:
    """Which foundation models this account has not enabled (thread-safe: tests set it
    from their own thread while the server runs)."""

    def __init__(self, states: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        for model_id, state in (states or {}).items():
            self.set(model_id, state)

    def set(self, model_id: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown access state {state!r} (one of {', '.join(STATES)})")
        with self._lock:
            if state == "enabled":
                self._states.pop(model_id, None)
            else:
                self._states[model_id] = state

    def states(self) -> dict[str, str]:
        with self._lock:
            return dict(self._states)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()

    def check(self, model: FoundationModel) -> None:
        """Raise Bedrock's AccessDeniedException for a model the account has not enabled
        (called directly or through one of its inference profiles)."""
        with self._lock:
            state = self._states.get(model.model_id)
        if state is not None:
            raise AwsError("AccessDeniedException", DENIALS[state])
