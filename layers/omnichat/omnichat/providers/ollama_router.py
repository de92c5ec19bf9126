"""Several Ollama nodes behind the one Ollama provider interface (`stream_chat`, `embed`,
`list_models`, `pull`, `delete`, ...), so every surface that calls "ollama" — WebSocket
answers, `/v1`, titles, embeddings — is routed alike. The registry uses it when more than
one node may serve (`Settings.ollama_routed`); one node keeps the plain `OllamaProvider`.

Choosing a node for a model (docs/gateway.md, "Routing across Ollama nodes"):
1. the nodes that answer (ollama_nodes.py: ejected ones wait out a backoff, then a probe);
2. of those, the ones that have the model (`/api/tags`; all of them if none says so);
3. the lowest score: requests in flight there (ollama_leases.py, shared by every process)
   plus `COLD_PENALTY` if the model is not loaded there (`/api/ps`). Loading a model costs
   seconds to minutes, so a warm node is worth waiting behind a few requests; beyond that,
   a second node loads it too and the load spreads.

A node that fails before the first token (refused, 5xx, silent) is ejected and the request
goes to the next choice; once a token has been passed on, the request stays where it is:
a failure then is the caller's error, with the partial text.

Writes to the model store go to one node: the nodes share it (EFS in AWS, one models
directory in the local stack), so a pull by one is seen by all, and a second writer could
only corrupt it. A delete first unloads the model everywhere, then removes it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

from omnichat.config import Settings, get_settings

from .errors import ProviderError, ProviderUnavailable
from .ollama import PROVIDER
from .ollama_leases import DbLeases, FallbackLeases, Leases
from .ollama_nodes import Node, NodeSet, is_node_fault, model_key
from .types import ChatRequest, ModelInfo, StreamEvent

log = logging.getLogger("omnichat.providers.ollama")
COLD_PENALTY = 4.0  # in-flight requests that a model load on a cold node is worth
T = TypeVar("T")


class OllamaRouter:
    name = PROVIDER

    def __init__(self, settings: Settings | None = None, *, leases: Leases | None = None) -> None:
        self.settings = settings or get_settings()
        self.nodes = NodeSet(self.settings)
        self.leases: Leases = leases or FallbackLeases(DbLeases(self.settings.resolved_database_url))

    async def aclose(self) -> None:
        for node in self.nodes.known():
            await node.client.aclose()

    async def __aenter__(self) -> OllamaRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- choosing --------------------------------------------------------------------
    async def _usable(self, exclude: set[str] | None = None) -> list[Node]:
        nodes = [n for n in await self.nodes.all() if n.url not in (exclude or ())]
        await self.nodes.refresh(nodes)
        usable = [n for n in nodes if n.admitted]
        if not usable and nodes:  # every node ejected: probe them all now rather than refuse
            await self.nodes.refresh(nodes, force=True)
            usable = [n for n in nodes if n.admitted]
        return usable

    async def _claim(self, model: str, exclude: set[str]) -> tuple[str, Node] | None:
        usable = await self._usable(exclude)
        having = [n for n in usable if n.has(model)] or usable
        if not having:
            return None
        penalties = {n.url: 0.0 if n.is_loaded(model) else COLD_PENALTY for n in having}
        lease_id, url = await asyncio.to_thread(self.leases.claim, model, penalties)
        node = next(n for n in having if n.url == url)
        return lease_id, node

    async def _release(self, lease_id: str) -> None:
        try:
            await asyncio.to_thread(self.leases.release, lease_id)
        except asyncio.CancelledError:  # the caller is going away: still give the lease back
            self.leases.release(lease_id)
            raise

    async def _next(self, model: str, tried: set[str], last: ProviderError | None) -> tuple[str, Node]:
        """The next node for a request (with its lease) that has not been tried; when none
        is left, the last node's error (or: none answers)."""
        claimed = await self._claim(model, tried)
        if claimed is None:
            raise last or ProviderUnavailable("no Ollama node answers", provider=PROVIDER)
        tried.add(claimed[1].url)
        return claimed

    def _failed(self, node: Node, exc: ProviderError) -> bool:
        """True when the request may go to another node (the node failed, not the request)."""
        if not is_node_fault(exc):
            return False
        node.eject(exc)
        exc.log(log, f"Ollama node {node.url} (ejected; trying another)")
        return True

    async def _call(self, model: str, call: Callable[[Node], Awaitable[T]]) -> T:
        tried: set[str] = set()
        last: ProviderError | None = None
        while True:
            lease_id, node = await self._next(model, tried, last)
            try:
                return await call(node)
            except ProviderError as exc:
                if not self._failed(node, exc):
                    raise
                last = exc
            finally:
                await self._release(lease_id)

    # ---- chat and embeddings ---------------------------------------------------------
    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        tried: set[str] = set()
        last: ProviderError | None = None
        while True:
            lease_id, node = await self._next(request.model, tried, last)
            started = False
            try:
                # Closed with this generator: a caller that stops early ends the node's generation.
                stream = cast(AsyncGenerator[StreamEvent, None], node.client.stream_chat(request))
                async with contextlib.aclosing(stream) as events:
                    async for event in events:
                        if not started:
                            started = True
                            node.loaded.setdefault(model_key(request.model), {})  # loaded there now
                        yield event
                return
            except ProviderError as exc:
                if started or not self._failed(node, exc):
                    raise  # never to another node once a token went out from this one
                last = exc
            finally:
                await self._release(lease_id)

    async def embed(self, model: str, inputs: list[str], *, dimensions: int | None = None,
                    keep_alive: str | int | None = None) -> tuple[list[list[float]], int]:
        return await self._call(model, lambda node: node.client.embed(model, inputs, dimensions=dimensions,
                                                                       keep_alive=keep_alive))

    async def show(self, name: str) -> dict[str, Any]:
        """From a node that has the model (the store is shared: any says the same); no lease,
        as this is no work for the model."""
        usable = await self._usable()
        for node in [n for n in usable if n.has(name)] or usable:
            try:
                return await node.client.show(name)
            except ProviderError as exc:
                if not self._failed(node, exc):
                    raise
        raise ProviderUnavailable("no Ollama node answers", provider=PROVIDER)

    # ---- the model store: shared by every node -----------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """Every model some node has, once each."""
        nodes = await self._usable()
        results = await asyncio.gather(*(n.client.list_models() for n in nodes), return_exceptions=True)
        found: dict[str, ModelInfo] = {}
        errors = [r for r in results if isinstance(r, ProviderError)]
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, ProviderError):
                    raise result
                continue
            for model in result:
                found.setdefault(model.id, model)
        if not found and errors:
            raise errors[0]
        if not nodes:
            raise ProviderUnavailable("no Ollama node answers", provider=PROVIDER)
        return list(found.values())

    async def _writer(self) -> Node:
        """The node that writes to the shared store: the first that answers, in a stable order."""
        nodes = sorted(await self._usable(), key=lambda n: n.url)
        if not nodes:
            raise ProviderUnavailable("no Ollama node answers", provider=PROVIDER)
        return nodes[0]

    async def pull(self, name: str) -> AsyncIterator[dict[str, Any]]:
        node = await self._writer()
        async for progress in node.client.pull(name):
            yield progress
        for other in self.nodes.known():
            other.models_at = float("-inf")  # they all have it now: list again

    async def create(self, name: str, base: str, system: str | None = None,
                     parameters: dict[str, Any] | None = None) -> None:
        """Made once, by the node that writes to the shared store (as a pull)."""
        node = await self._writer()
        await node.client.create(name, base, system, parameters)
        for other in self.nodes.known():
            other.models_at = float("-inf")  # they all have it now: list again

    async def load(self, name: str, keep_alive: str | int | None = None) -> None:
        """A preload reaches every node that answers, so whichever a chat is routed to
        already holds the model (and the router sees it loaded everywhere)."""
        nodes = await self._usable()
        if not nodes:
            raise ProviderUnavailable("no Ollama node answers", provider=PROVIDER)
        await asyncio.gather(*(n.client.load(name, keep_alive) for n in nodes))
        for node in nodes:
            node.loaded_at = float("-inf")

    async def delete(self, name: str) -> None:
        nodes = await self._usable()
        await asyncio.gather(*(_unload(n, name) for n in nodes))
        await (await self._writer()).client.delete(name)
        for node in nodes:
            node.models_at = node.loaded_at = float("-inf")

    async def ps(self) -> list[dict[str, Any]]:
        nodes = await self._usable()
        await self.nodes.refresh(nodes, force=True)
        return [{**entry, "node": n.url} for n in nodes for entry in n.loaded.values()]

    async def version(self) -> str:
        return await (await self._writer()).client.version()

    # ---- the admin's view --------------------------------------------------------------
    async def status(self) -> list[dict[str, Any]]:
        """Every node as of now (each probed): health, loaded models, requests in flight."""
        nodes = await self.nodes.all()
        await self.nodes.refresh(nodes, force=True)
        counts = await asyncio.to_thread(self.leases.counts)
        return [{
            "url": n.url,
            "healthy": n.admitted,
            "error": n.last_error,
            "models": len(n.models or ()),
            "loaded": [{"model": name, "size_vram": int(entry.get("size_vram") or 0),
                        "expires_at": entry.get("expires_at")} for name, entry in sorted(n.loaded.items())],
            "in_flight": counts.get(n.url, 0),
        } for n in nodes]


async def _unload(node: Node, name: str) -> None:
    """Ask a node to drop a model from memory (`keep_alive: 0`); one that has not loaded
    it, or no longer has it, has nothing to do."""
    try:
        response = await node.client._http().post("/api/generate", json={"model": name, "keep_alive": 0})
        if response.status_code >= 500:
            log.warning("unloading %s on %s: HTTP %s", name, node.url, response.status_code)
    except Exception as exc:  # the delete goes on: the node unloads it when its keep-alive ends
        log.warning("unloading %s on %s failed: %s", name, node.url, exc)

