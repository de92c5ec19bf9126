"""The Ollama nodes this process knows: where they are (discovery), whether they answer
(ejection and probes), and what they hold (`/api/tags`, `/api/ps`, cached briefly).

Discovery: `static`, the configured URLs (OLLAMA_HOSTS); `dns`, every A record of
OLLAMA_HOST's name, re-read every `DNS_TTL_S`. In AWS that name is the Cloud Map service of
the ECS tasks, whose MULTIVALUE records list only healthy tasks (ECS reports container
health to Cloud Map): the functions find every node with one resolver query, no AWS API
call, no IAM permission and no VPC endpoint.

Health is per process: a node that refuses connections or answers 5xx is ejected for a
backoff (5 s, doubling to a minute), then its next `/api/ps` is the probe that re-admits
it. Sharing ejections through the database would cost a write per failure to save what
a refused connection costs anyway (a millisecond), and Cloud Map drops a dead task from DNS
within its health check's interval.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from omnichat.config import Settings

from .errors import ProviderError
from .ollama import OllamaProvider

DNS_TTL_S = 10.0  # the Cloud Map records' TTL (template.yaml)
PS_TTL_S = 2.0  # how stale the loaded-models view may be when choosing
PROBE_TIMEOUT_S = 2.0
EJECT_BASE_S, EJECT_MAX_S = 5.0, 60.0


def model_key(name: str) -> str:
    """Ollama's name for a model, with the tag it implies (`llama3.2` is `llama3.2:latest`)."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass
class Node:
    url: str
    client: OllamaProvider
    failures: int = 0
    ejected_until: float = 0.0  # monotonic; 0: admitted
    last_error: str | None = None
    models: set[str] | None = None  # /api/tags names; None: not known yet
    models_at: float = float("-inf")
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)  # /api/ps entries by name
    loaded_at: float = float("-inf")

    @property
    def admitted(self) -> bool:
        return self.failures == 0

    def due_for_probe(self, now: float) -> bool:
        return not self.admitted and now >= self.ejected_until

    def eject(self, error: ProviderError | None) -> None:
        self.failures += 1
        self.ejected_until = time.monotonic() + min(EJECT_MAX_S, EJECT_BASE_S * 2 ** (self.failures - 1))
        self.last_error = None if error is None else error.message
        self.loaded_at = self.models_at = float("-inf")

    def readmit(self) -> None:
        self.failures, self.ejected_until, self.last_error = 0, 0.0, None

    def has(self, model: str) -> bool:
        return self.models is None or model_key(model) in self.models

    def is_loaded(self, model: str) -> bool:
        return model_key(model) in self.loaded


class NodeSet:
    """The nodes, made once per URL and kept while discovery lists them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._nodes: dict[str, Node] = {}
        self._dns_urls: list[str] = []
        self._dns_at = float("-inf")

    async def all(self) -> list[Node]:
        urls = await self._urls()
        for url in urls:
            if url not in self._nodes:
                self._nodes[url] = Node(url, OllamaProvider(self.settings, host=url))
        return [self._nodes[url] for url in urls]

    def known(self) -> list[Node]:
        return list(self._nodes.values())

    async def _urls(self) -> list[str]:
        if self.settings.ollama_discovery != "dns":
            return list(self.settings.ollama_nodes)
        if time.monotonic() - self._dns_at >= DNS_TTL_S or not self._dns_urls:
            found = await _resolve_all(self.settings.ollama_host)
            if found:  # a failed lookup keeps the last answer
                self._dns_urls = found
            self._dns_at = time.monotonic()
        return self._dns_urls or [self.settings.ollama_host]

    async def refresh(self, nodes: list[Node], *, force: bool = False) -> None:
        """Fresh `/api/ps` (and, less often, `/api/tags`) from the nodes that may be used:
        admitted ones, and ejected ones whose backoff is over (this is their probe)."""
        now = time.monotonic()
        due = [n for n in nodes if force or n.admitted or n.due_for_probe(now)]
        await asyncio.gather(*(self._refresh_one(n, now, force) for n in due))

    async def _refresh_one(self, node: Node, now: float, force: bool) -> None:
        stale_ps = force or not node.admitted or now - node.loaded_at >= PS_TTL_S
        stale_tags = force or not node.admitted or now - node.models_at >= self.settings.model_list_ttl_s
        if not (stale_ps or stale_tags):
            return
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                if stale_ps:
                    node.loaded = {model_key(str(m.get("name") or m.get("model"))): m
                                   for m in await node.client.ps() if m.get("name") or m.get("model")}
                    node.loaded_at = time.monotonic()
                if stale_tags:
                    node.models = {model_key(m.name) for m in await node.client.list_models()}
                    node.models_at = time.monotonic()
        except TimeoutError:
            node.eject(None)
            node.last_error = f"no answer within {PROBE_TIMEOUT_S:g} s"
            return
        except ProviderError as exc:
            if is_node_fault(exc):
                node.eject(exc)
            return
        node.readmit()


def is_node_fault(exc: ProviderError) -> bool:
    """A failure of the node rather than of the request: refused or lost connections, 5xx,
    silence. (Bad requests, unknown models, context overflows would fail anywhere.)"""
    return exc.status >= 500


async def _resolve_all(url: str) -> list[str]:
    """One URL per address of the URL's host name (IPv4 and IPv6), sorted."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    addresses = sorted({str(info[4][0]) for info in infos})
    return [urlunsplit((parts.scheme, f"[{a}]:{port}" if ":" in a else f"{a}:{port}", parts.path, "", ""))
            .rstrip("/") for a in addresses]
