"""/api/admin/ollama/nodes: the Ollama nodes as the router sees them (admins only): health,
loaded models and requests in flight, each node probed when asked."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from omnichat.api.deps import AppSettings
from omnichat.api.inputs import CheckedRoute
from omnichat.api.openapi import error_responses
from omnichat.catalog import catalog
from omnichat.providers import registry

router = APIRouter(route_class=CheckedRoute, prefix="/api/admin/ollama", tags=["admin"])


class LoadedModelOut(BaseModel):
    model: str
    size_vram: int
    expires_at: str | None


class NodeOut(BaseModel):
    url: str
    healthy: bool
    error: str | None  # why it is ejected, in words a user may see
    models: int  # models on its store
    loaded: list[LoadedModelOut]
    in_flight: int


class NodesOut(BaseModel):
    routed: bool  # False: one node, requests go straight to it and are not counted
    discovery: str
    nodes: list[NodeOut]


@router.get("/nodes", response_model=NodesOut, responses=error_responses(404))
async def list_nodes(settings: AppSettings) -> NodesOut:
    if not registry.enabled(settings, "ollama"):
        raise catalog.ModelNotAvailable("The ollama provider is not enabled on this server")
    from omnichat.providers.ollama_leases import LocalLeases
    from omnichat.providers.ollama_router import OllamaRouter

    provider = registry.get_provider(settings, "ollama")
    if isinstance(provider, OllamaRouter):
        nodes = await provider.status()
    else:  # one node: the same view, from a router of its own that counts nothing
        async with OllamaRouter(settings, leases=LocalLeases()) as one:
            nodes = await one.status()
    return NodesOut(routed=settings.ollama_routed, discovery=settings.ollama_discovery,
                    nodes=[NodeOut.model_validate(n) for n in nodes])
