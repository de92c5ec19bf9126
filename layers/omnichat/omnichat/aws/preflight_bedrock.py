"""The preflight's Bedrock checks: for each model the admin means to offer, is it sold in
this Region, is the account entitled to it (a third-party model's AWS Marketplace
agreement), and, for Anthropic's models, has the one-time use-case form been submitted.

Bedrock now grants access on a model's first invocation; for a third-party model that
first call subscribes the account through AWS Marketplace, which the stack's functions may
not do (least privilege). So a model without an agreement is reported with what an admin
does once, instead of a user meeting an AccessDeniedException later.
"""

from __future__ import annotations

from typing import Any

from .preflight import FAIL, OK, WARN, Finding, error_code, unchecked

GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")
FIRST_USE_FIX = ("an admin opens the model once in the Bedrock console's playground (this accepts its Marketplace"
                 " offer), or invokes it with aws-marketplace:Subscribe allowed")
ANTHROPIC_FORM_FIX = ("submit Anthropic's use-case form once: Bedrock console > Model catalog > an Anthropic model"
                      " (or aws bedrock put-use-case-for-model-access)")


def foundation_model_id(model: str) -> str:
    """`bedrock/us.anthropic.claude-x` -> `anthropic.claude-x`: the model behind a
    cross-Region inference profile, which is what access is granted to."""
    name = model.removeprefix("bedrock/")
    prefix, _, rest = name.partition(".")
    return rest if prefix in GEO_PREFIXES and "." in rest else name


def judge_availability(model: str, availability: dict[str, Any]) -> Finding:
    """GetFoundationModelAvailability's answer, as what a user's first call would meet."""
    check = f"Bedrock {model}"
    agreement = availability.get("agreementAvailability") or {}
    if availability.get("regionAvailability") == "NOT_AVAILABLE":
        return Finding(FAIL, check, "not offered in this Region",
                       "choose another model, or deploy in a Region that has it")
    if availability.get("authorizationStatus") == "NOT_AUTHORIZED":
        return Finding(FAIL, check, "the account is not authorized to use it (an SCP or IAM policy denies it)",
                       "ask the organisation's admin to allow this model")
    if agreement.get("status") == "PENDING":
        return Finding(WARN, check, "its Marketplace agreement is being processed",
                       "run the preflight again in a few minutes")
    if agreement.get("status") == "ERROR":
        reason = agreement.get("errorMessage", "")
        return Finding(FAIL, check, f"its Marketplace agreement failed: {reason}".rstrip(": "),
                       FIRST_USE_FIX)
    if agreement.get("status") == "NOT_AVAILABLE" or availability.get("entitlementAvailability") == "NOT_AVAILABLE":
        return Finding(FAIL, check, "no Marketplace agreement yet: a user's first call would be refused", FIRST_USE_FIX)
    return Finding(OK, check, "available to the account")


def check_bedrock(session: Any, models: tuple[str, ...]) -> list[Finding]:
    client = session.client("bedrock")
    findings: list[Finding] = []
    offered: set[str] | None = None
    try:
        summaries = client.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
        offered = {m["modelId"] for m in summaries}
        detail = f"{len(offered)} text models offered in this Region"
        findings.append(Finding(OK, "Bedrock", detail if models else detail + "; name the ones you will enable with"
                                " --bedrock-model to check the account's access to them"))
    except Exception as exc:  # noqa: BLE001
        findings.append(unchecked("Bedrock", "bedrock ListFoundationModels", exc))
    for model in models:
        model_id = foundation_model_id(model)
        if offered is not None and model_id not in offered:
            findings.append(Finding(FAIL, f"Bedrock {model}", f"{model_id} is not offered in this Region",
                                    "choose a model that `aws bedrock list-foundation-models` lists"))
            continue
        try:
            availability = client.get_foundation_model_availability(modelId=model_id)
        except Exception as exc:  # noqa: BLE001
            findings.append(unchecked(f"Bedrock {model}", "bedrock GetFoundationModelAvailability", exc))
            continue
        findings.append(judge_availability(model, availability))
    if any(foundation_model_id(m).startswith("anthropic.") for m in models):
        findings.append(check_anthropic_form(client))
    return findings


def check_anthropic_form(client: Any) -> Finding:
    check = "Anthropic first-time-use form"
    try:
        client.get_use_case_for_model_access()
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) == "ResourceNotFoundException":
            return Finding(FAIL, check, "not submitted for this account: Anthropic models refuse every call",
                           ANTHROPIC_FORM_FIX)
        return unchecked(check, "bedrock GetUseCaseForModelAccess", exc)
    return Finding(OK, check, "submitted")
