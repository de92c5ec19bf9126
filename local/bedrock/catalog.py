"""The emulator's model catalog: foundation models, system-defined inference profiles,
and how a `modelId` (id, ARN, profile id or profile ARN) resolves to one of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import AwsError, validation

ACCOUNT_ID = "123456789012"

# Regions a geographic cross-region profile routes to (what AWS lists in `models`).
_PROFILE_REGIONS = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3"),
    "apac": ("ap-northeast-1", "ap-southeast-1", "ap-southeast-2"),
}
# A global profile is offered in every source region and routes to any commercial one.
GLOBAL = "global"
_PROFILE_REGIONS[GLOBAL] = tuple(r for regions in list(_PROFILE_REGIONS.values()) for r in regions)


@dataclass(frozen=True)
class FoundationModel:
    model_id: str
    name: str
    provider: str
    engine: str = "deterministic"  # key into the emulator's engine table
    input_modalities: tuple[str, ...] = ("TEXT",)
    output_modalities: tuple[str, ...] = ("TEXT",)
    streaming: bool = True
    inference_types: tuple[str, ...] = ("ON_DEMAND",)
    lifecycle: str = "ACTIVE"
    context_window: int = 200_000
    max_output_tokens: int = 4096
    system_prompts: bool = True
    tools: bool = True
    # The toolChoice forms beyond `auto` it honours: Claude 3+ both, Nova a named tool only,
    # most others (Llama 3.1, ...) neither (a ValidationException naming the field).
    tool_choices: tuple[str, ...] = ("any", "tool")
    structured_output: bool = False  # honours outputConfig.textFormat (Claude 4.5 and later)
    reasoning: bool = False  # Anthropic-style `thinking` in additionalModelRequestFields
    prompt_cache: bool = False  # honours `cachePoint` blocks (caching.py)
    cache_min_tokens: int = 1024  # per checkpoint, since the previous one
    cache_tools: bool = True  # a checkpoint may end `toolConfig.tools` (Nova: no)
    profile_geos: tuple[str, ...] = ()  # e.g. ("us",) -> profile "us.<model_id>"

    @property
    def is_chat(self) -> bool:
        return self.output_modalities == ("TEXT",)

    @property
    def images(self) -> bool:
        return "IMAGE" in self.input_modalities

    def arn(self, region: str) -> str:
        return f"arn:aws:bedrock:{region}::foundation-model/{self.model_id}"

    def summary(self, region: str) -> dict:
        """A `FoundationModelSummary` as ListFoundationModels returns it."""
        return {
            "modelArn": self.arn(region),
            "modelId": self.model_id,
            "modelName": self.name,
            "providerName": self.provider,
            "inputModalities": list(self.input_modalities),
            "outputModalities": list(self.output_modalities),
            "responseStreamingSupported": self.streaming,
            "customizationsSupported": [],
            "inferenceTypesSupported": list(self.inference_types),
            "modelLifecycle": {"status": self.lifecycle},
        }


@dataclass(frozen=True)
class InferenceProfile:
    geo: str
    model: FoundationModel

    @property
    def profile_id(self) -> str:
        return f"{self.geo}.{self.model.model_id}"

    def arn(self, region: str) -> str:
        return f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{self.profile_id}"

    def summary(self, region: str) -> dict:
        """An `InferenceProfileSummary` as ListInferenceProfiles returns it."""
        return {
            "inferenceProfileName": f"{'Global' if self.geo == GLOBAL else self.geo.upper()} {self.model.name}",
            "description": f"Routes requests to {self.model.name} in "
            + ", ".join(_PROFILE_REGIONS[self.geo]),
            "createdAt": "2024-08-27T00:00:00Z",
            "updatedAt": "2024-08-27T00:00:00Z",
            "inferenceProfileArn": self.arn(region),
            "models": [{"modelArn": self.model.arn(r)} for r in _PROFILE_REGIONS[self.geo]],
            "inferenceProfileId": self.profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }


_BOTH = ("ON_DEMAND", "INFERENCE_PROFILE")
_PROFILE_ONLY = ("INFERENCE_PROFILE",)

DEFAULT_MODELS: tuple[FoundationModel, ...] = (
    FoundationModel(
        "anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic",
        input_modalities=("TEXT", "IMAGE"), inference_types=_BOTH, profile_geos=("us", "eu"),
    ),
    FoundationModel(
        "anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "Anthropic",
        inference_types=_PROFILE_ONLY, max_output_tokens=8192, profile_geos=("us",),
        prompt_cache=True, cache_min_tokens=2048,
    ),
    FoundationModel(
        "anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", "Anthropic",
        input_modalities=("TEXT", "IMAGE"), inference_types=_PROFILE_ONLY,
        max_output_tokens=64_000, reasoning=True, prompt_cache=True, profile_geos=("us", "eu"),
    ),
    FoundationModel(
        "anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", "Anthropic",
        input_modalities=("TEXT", "IMAGE"), inference_types=_PROFILE_ONLY, max_output_tokens=64_000,
        reasoning=True, prompt_cache=True, cache_min_tokens=4096, profile_geos=("us", "eu", "apac", GLOBAL),
        structured_output=True,
    ),
    FoundationModel(
        "amazon.nova-micro-v1:0", "Nova Micro", "Amazon", inference_types=_BOTH,
        context_window=128_000, max_output_tokens=10_000, prompt_cache=True,
        cache_min_tokens=1000, cache_tools=False, profile_geos=("us",), tool_choices=("tool",),
    ),
    FoundationModel(
        "amazon.nova-lite-v1:0", "Nova Lite", "Amazon",
        input_modalities=("TEXT", "IMAGE", "VIDEO"), inference_types=_BOTH,
        context_window=300_000, max_output_tokens=10_000, prompt_cache=True,
        cache_min_tokens=1000, cache_tools=False, profile_geos=("us",), tool_choices=("tool",),
    ),
    FoundationModel(
        "meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Meta",
        context_window=128_000, max_output_tokens=2048, tool_choices=(),
    ),
    FoundationModel(
        "meta.llama3-2-1b-instruct-v1:0", "Llama 3.2 1B Instruct", "Meta",
        inference_types=_PROFILE_ONLY, context_window=128_000, max_output_tokens=2048,
        tools=False, profile_geos=("us",),
    ),
    FoundationModel(
        "amazon.titan-text-lite-v1", "Titan Text G1 - Lite", "Amazon",
        context_window=4096, max_output_tokens=4096, system_prompts=False, tools=False,
        lifecycle="LEGACY",
    ),
    FoundationModel(
        "amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "Amazon",
        output_modalities=("EMBEDDING",), streaming=False, context_window=8192,
    ),
    FoundationModel(
        "stability.sd3-5-large-v1:0", "Stable Diffusion 3.5 Large", "Stability AI",
        input_modalities=("TEXT", "IMAGE"), output_modalities=("IMAGE",), streaming=False,
    ),
)

# Served by llama.cpp when the emulator is given a GGUF file.
LOCAL_GGUF_MODEL = FoundationModel(
    "local.smollm2-135m", "SmolLM2 135M Instruct (local GGUF)", "Local", engine="llama",
    context_window=8192, max_output_tokens=2048, tools=False,
)


class Catalog:
    def __init__(self, models: Iterable[FoundationModel], region: str = "us-east-1") -> None:
        self.region = region
        self.models = tuple(models)
        self._by_id = {m.model_id: m for m in self.models}
        # As on AWS, a region lists (and accepts) only the profiles that route within
        # its own geography: us-east-1 sees "us." profiles, eu-west-1 "eu." ones.
        self.profiles = tuple(
            InferenceProfile(geo, m)
            for m in self.models
            for geo in m.profile_geos
            if geo == GLOBAL or region in _PROFILE_REGIONS[geo]
        )
        self._profiles_by_id = {p.profile_id: p for p in self.profiles}

    def resolve(self, model_id: str) -> FoundationModel:
        """The model a runtime call targets; raises the error Bedrock would."""
        key = model_id
        if key.startswith("arn:aws:bedrock:"):
            _, _, resource = key.partition(":foundation-model/")
            if not resource:
                _, _, resource = key.partition(":inference-profile/")
            key = resource or key
        profile = self._profiles_by_id.get(key)
        if profile is not None:
            return profile.model
        model = self._by_id.get(key)
        if model is None:
            raise AwsError("ResourceNotFoundException", "Model not found: " + model_id)
        if "ON_DEMAND" not in model.inference_types:
            raise validation(
                f"Invocation of model ID {model.model_id} with on-demand throughput isn't "
                "supported. Retry your request with the ID or ARN of an inference profile "
                "that contains this model."
            )
        return model
